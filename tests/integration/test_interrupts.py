"""Ctrl-C and SIGTERM at every stage of a real `harness run`: clean teardown, partial report."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from lab_helpers import (
    SLOW_APPLY,
    HarnessProcess,
    run_dirs,
    wait_until_gone,
)

pytestmark = pytest.mark.root


def _lxd_starting(h: HarnessProcess) -> bool:
    return any((d / "host1" / "lxd").exists() for d in run_dirs(h.work_root))


#: stage -> (signal, to the whole process group like a terminal's Ctrl-C, when to send it,
#:           seconds to wait after that)
STAGES: dict[str, tuple[int, bool, Callable[[HarnessProcess], bool], float]] = {
    "bring-up": (signal.SIGTERM, False, _lxd_starting, 0.0),  # inside the LXD thread pool
    "apply": (signal.SIGTERM, False, lambda h: h.saw(": applying"), 0.0),  # before `sleep 3` ends
    "checks": (signal.SIGINT, True, lambda h: h.saw(": check "), 0.0),
    "teardown": (signal.SIGTERM, False, lambda h: h.saw("tearing down"), 0.0),
}


@pytest.mark.parametrize("stage", list(STAGES))
def test_interrupt_tears_down_and_reports_where(stage: str, work_root: Path, tmp_path: Path):
    scenario = tmp_path / "slow.yaml"
    scenario.write_text(SLOW_APPLY.format(name=f"interrupt-{stage}"))
    out = tmp_path / "out"
    signum, group, when, delay = STAGES[stage]
    harness = HarnessProcess(["run", str(scenario), "--workdir", str(work_root), "--out",
                              str(out), "--json", str(out / "results.json")], work_root)
    try:
        harness.wait_for(lambda: when(harness), timeout=60, what=f"{stage} marker")
        time.sleep(delay)
        harness.note_runs()
        harness.signal(signum, group=group)
        if stage == "checks":  # an impatient second Ctrl-C must not cut the teardown short
            harness.wait_for(lambda: harness.saw("tearing down"), timeout=30, what="teardown")
            harness.signal(signum, group=group)
        code = harness.finish(timeout=60)
    finally:
        harness.kill()
    log = harness.log()
    assert code == 130, log
    assert "Traceback" not in log
    assert harness.run_ids, "the run's work folder was never seen"
    assert wait_until_gone(work_root, harness.run_ids, timeout=5) == [], log

    (scenario_result,) = json.loads((out / "results.json").read_text())["scenarios"]
    assert scenario_result["interrupted"] == stage, log
    assert "Interrupted" in "\n".join(harness.out)
    outcomes = [c["outcome"] for c in scenario_result["checks"]]
    assert len(outcomes) == 3
    if stage in ("bring-up", "apply"):
        assert all(c["reason"] == f"interrupted during {stage}"
                   for c in scenario_result["checks"]), scenario_result["checks"]
    if stage == "teardown":
        assert outcomes == ["pass"] * 3, scenario_result["checks"]
