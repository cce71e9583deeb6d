"""A training lab's stages outside `harness lab`, on real LXD: `pytest FILE` (one test per
stage check, the stages run in order, each solution on top of the earlier ones, as `harness
run` does) and `harness plan --stage` (its lines typed by hand pass that stage's checks)."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from harness.lab.views import format_staged_plan, stage_index
from harness.lxd.apply import wait_for_addresses
from harness.lxd.client import connect
from harness.results import Outcome
from harness.scenario import load_scenario
from harness.session import Options, ScenarioRun

pytestmark = pytest.mark.root

COURSE = Path(__file__).parent / "labs" / "bridge-course.yaml"


def test_pytest_runs_each_stages_checks_after_its_solution(tmp_path):
    tested = subprocess.run(
        [sys.executable, "-m", "pytest", str(COURSE), "-p", "no:cacheprovider", "-p", "no:xdist",
         "-q", "-rA", "--lab-out", str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)
    out = tested.stdout + tested.stderr
    assert tested.returncode == 0, out
    passed = [line.split("::", 1)[1] for line in tested.stdout.splitlines()
              if line.startswith("PASSED ")]
    # attach's DHCP check passes only once custom-bridge's solution made lxdbr1337, and
    # static-ip's only after attach's moved app1 there: the stages ran in order, cumulatively
    assert passed == ["custom-bridge/0-dns", "attach/0-dhcp", "attach/1-nat",
                      "static-ip/0-dhcp"], out


def test_plan_at_a_stage_typed_by_hand_passes_that_stages_checks(tmp_path):
    """`harness plan --stage static-ip` is what `harness lab` does to get there and through it."""
    topology = load_scenario(COURSE)
    index = stage_index(topology, "static-ip")
    run = ScenarioRun(topology, Options(out_dir=tmp_path))
    lab = run.substrate.up(run.topology)
    try:
        host = None
        for line in format_staged_plan(topology, run.engine, index).splitlines():
            if line.startswith("# ---- "):  # `# ---- host1: eth0 ...` or `# ---- host1`
                host = line.removeprefix("# ---- ").split(":")[0]
            elif line and not line.startswith("#") and " image import " not in f" {line}":
                run.substrate.runner(lab.hosts[host])(shlex.split(line))
        for name, node in lab.hosts.items():
            wait_for_addresses(topology.hosts[name], connect(run.engine, node.lxd_socket),
                               timeout=8)
        results = run.verify(lab, topology.stages[index].checks)
    finally:
        assert run.down(lab) == []
    assert [(r.id, r.outcome) for r in results] == [("static-ip/0-dhcp", Outcome.PASS)], \
        [(r.id, str(r.outcome), r.reason) for r in results]
