"""`harness shell` / `harness exec` on a lab brought up with `harness up`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.lab import transcript

pytestmark = pytest.mark.root

COURSE = Path(__file__).parent / "labs" / "bridge-course.yaml"


def harness(*args: str, work_root: Path, check: bool = True) -> subprocess.CompletedProcess:
    verb, *rest = args
    out = subprocess.run([sys.executable, "-m", "harness.cli", verb, "--workdir", str(work_root),
                          *rest], capture_output=True, text=True, timeout=240,
                         stdin=subprocess.DEVNULL)
    if check:
        assert out.returncode == 0, out.stdout + out.stderr
    return out


def test_exec_reaches_the_hosts_lxd_and_is_recorded(work_root):
    harness("up", str(COURSE), work_root=work_root)
    try:
        listed = harness("exec", "host1", "--", "lxc", "list", "-c", "n", "--format", "csv",
                         work_root=work_root)
        assert listed.stdout.split() == ["app1"]
        piped = harness("exec", "host1", "--", "ip -br link | grep -c ^eth0",
                        work_root=work_root)
        assert piped.stdout.strip() == "1"
        failing = harness("exec", "host1", "--", "lxc", "info", "nosuch", work_root=work_root,
                          check=False)
        assert failing.returncode != 0
        entries = transcript.read(transcript.host_file(work_root, "bridge-course", "host1"))
        assert [(e.command, e.status) for e in entries] == [
            ("lxc list -c n --format csv", 0), ("ip -br link | grep -c ^eth0", 0),
            ("lxc info nosuch", failing.returncode)]
        wrong = harness("exec", "hots1", "--", "true", work_root=work_root, check=False)
        assert wrong.returncode == 2
        assert "no host 'hots1' (did you mean 'host1'?)" in wrong.stderr
    finally:
        harness("down", "bridge-course", work_root=work_root)


def test_no_lab_up_says_how_to_start_one(work_root):
    out = harness("exec", "host1", "--", "true", work_root=work_root, check=False)
    assert out.returncode == 2
    assert "harness lab start FILE" in out.stderr
