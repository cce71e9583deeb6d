"""Labs side by side: the same scenario twice at once, and pytest-xdist with two workers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from lab_helpers import REPO, HarnessProcess, wait_until_gone

pytestmark = pytest.mark.root

SCENARIO = REPO / "scenarios" / "custom-bridge.yaml"


def test_same_scenario_twice_at_once(work_root: Path, tmp_path: Path):
    runs = []
    for i in (1, 2):
        out = tmp_path / f"out{i}"
        runs.append((out, HarnessProcess(["run", str(SCENARIO), "--workdir", str(work_root),
                                          "--out", str(out), "--json", str(out / "r.json")],
                                         work_root)))
    try:
        first = runs[0][1]  # both share the work root: it sees either run's folder
        first.wait_for(lambda: len(first.run_ids) == 2, timeout=60, what="two run folders")
        codes = [run.finish(timeout=180) for _, run in runs]
    finally:
        for _, run in runs:
            run.kill()
    logs = "\n----\n".join(run.log() for _, run in runs)
    assert codes == [0, 0], logs
    run_ids = first.run_ids
    assert len(run_ids) == 2, run_ids
    for out, _ in runs:
        (result,) = json.loads((out / "r.json").read_text())["scenarios"]
        assert result["error"] is None, result["error"]  # no "teardown left: ..." either
    assert wait_until_gone(work_root, run_ids, timeout=5) == []


def _another_scenario() -> Path:
    others = sorted(p for p in (REPO / "scenarios").glob("*.yaml") if p != SCENARIO)
    if not others:
        pytest.skip("only one scenario in scenarios/")
    preferred = REPO / "scenarios" / "default-bridge.yaml"
    return preferred if preferred in others else others[0]


def test_pytest_xdist_two_workers(tmp_path: Path):
    other = _another_scenario()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2",
         str(SCENARIO), str(other), "--lab-out", str(tmp_path / "out"),
         "--junitxml", str(tmp_path / "junit.xml")],
        cwd=REPO, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout
