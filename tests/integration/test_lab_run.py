"""`harness run` on a training lab: every stage's solution in order, every stage's checks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.lab.staged import StagedRun
from harness.results import Outcome
from harness.scenario import load_text
from harness.session import Options

pytestmark = pytest.mark.root

COURSE = Path(__file__).parent / "labs" / "bridge-course.yaml"

#: a stage this kernel cannot do (no gretap here): skipped, its solution never applied
GRE_STAGE = """
  - name: gre
    goal: needs gretap
    solution:
      host1: [lxc network set lxdbr0 tunnel.host2.protocol gre]
    checks:
      - dhcp: {instance: host1:app1, requires: [gretap]}
"""


def test_run_applies_each_stage_then_checks_it(tmp_path, work_root):
    out = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", str(COURSE), "--out", str(tmp_path),
         "--workdir", str(work_root)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    checks = results["scenarios"][0]["checks"]
    assert [c["id"] for c in checks] == [
        "custom-bridge/0-dns", "attach/0-dhcp", "attach/1-nat", "static-ip/0-dhcp"]
    assert {c["outcome"] for c in checks} == {"pass"}
    assert "stage attach: applying its solution" in out.stderr


def test_a_stage_without_its_kernel_feature_is_skipped_not_applied(tmp_path, work_root):
    text = COURSE.read_text().replace("stages:\n", "stages:\n" + GRE_STAGE.lstrip("\n"), 1)
    topology = load_text(text, "gre-first.yaml")
    run = StagedRun(topology, Options(out_dir=tmp_path, work_root=work_root))
    result = run.run()
    outcomes = {c.id: c.outcome for c in result.checks}
    if outcomes["gre/0-dhcp"] != Outcome.SKIP:
        pytest.skip("this kernel has gretap")
    assert "gretap" in next(c.reason for c in result.checks if c.id == "gre/0-dhcp")
    assert outcomes["custom-bridge/0-dns"] == Outcome.PASS  # gre's line never ran
    assert result.error is None
