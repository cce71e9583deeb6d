"""`harness run -j 2`: scenarios side by side in child processes, one merged report."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.root
SCENARIOS = ["scenarios/custom-bridge.yaml", "scenarios/dns-modes.yaml"]


def harness(*args: str) -> list[str]:
    return [sys.executable, "-m", "harness.cli", *args]


def test_two_scenarios_side_by_side_give_one_report(tmp_path: Path):
    out = tmp_path / "out"
    proc = subprocess.run(harness("run", "-j", "2", *SCENARIOS, "--out", str(out),
                                  "--junit", str(tmp_path / "j.xml")),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads((out / "results.json").read_text())
    assert [s["name"] for s in data["scenarios"]] == ["custom-bridge", "dns-modes"]
    assert all(c["outcome"] == "pass" for s in data["scenarios"] for c in s["checks"])
    assert "custom-bridge::0-dhcp" in (tmp_path / "j.xml").read_text()
    assert "<svg" in (out / "report.html").read_text() or "data:image/svg" in (
        out / "report.html").read_text()


def test_sigterm_reaches_every_child_and_the_report_says_so(tmp_path: Path):
    out = tmp_path / "out"
    proc = subprocess.Popen(harness("run", "-j", "2", *SCENARIOS, "--out", str(out)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(4)  # both labs are coming up or being applied
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    data = json.loads((out / "results.json").read_text())
    assert len(data["scenarios"]) == 2
    # a scenario that finished before the signal keeps its result; the others say where
    assert any(s["interrupted"] for s in data["scenarios"]), data["scenarios"]
