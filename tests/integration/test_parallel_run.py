"""`harness run -j 2`: scenarios side by side in child processes, one merged report."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
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


def _stderr_lines(proc: subprocess.Popen) -> queue.Queue:
    """Every stderr line of `proc` as it comes (None at the end), read by a thread."""
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        for line in proc.stderr:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def _wait_for_lines(lines: queue.Queue, wanted: set[str], seen: list[str],
                    timeout: float) -> None:
    """Collect lines into `seen` until each of `wanted` is part of one of them."""
    deadline = time.monotonic() + timeout
    missing = set(wanted)
    while missing:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"no {sorted(missing)} within {timeout:.0f} s:\n"
                                 f"{''.join(seen)}") from None
        assert line is not None, f"harness ended before {sorted(missing)}:\n{''.join(seen)}"
        seen.append(line)
        missing = {text for text in missing if text not in line}


def test_sigterm_reaches_every_child_and_the_report_says_so(tmp_path: Path):
    out = tmp_path / "out"
    proc = subprocess.Popen(harness("run", "-j", "2", *SCENARIOS, "--out", str(out)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines, seen = _stderr_lines(proc), []
    # each child is bringing its lab up (so its own SIGTERM handler is in place)
    _wait_for_lines(lines, {f"{Path(s).stem}: bringing up" for s in SCENARIOS}, seen, 120)
    proc.send_signal(signal.SIGTERM)
    proc.stdout.read()
    proc.wait(timeout=120)
    while (line := lines.get(timeout=10)) is not None:
        seen.append(line)
    err = "".join(seen)
    assert proc.returncode == 130, err
    data = json.loads((out / "results.json").read_text())
    assert len(data["scenarios"]) == 2
    # a scenario that finished before the signal keeps its result; the others say where
    assert any(s["interrupted"] for s in data["scenarios"]), data["scenarios"]
