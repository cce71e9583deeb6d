"""`harness lab` verbs on a real lab: start, check (FAIL with hints, then PASS), next, solve,
reset, and the same MACs and addresses on every start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.root

COURSE = Path(__file__).parent / "labs" / "bridge-course.yaml"


def harness(work_root: Path, *args: str) -> subprocess.CompletedProcess:
    """`harness VERB [SUBVERB] --workdir W ...` (options go right after the verbs)."""
    split = 2 if args[0] == "lab" else 1
    argv = [*args[:split], "--workdir", str(work_root), *args[split:]]
    return subprocess.run([sys.executable, "-m", "harness.cli", *argv], capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)


def ok(out: subprocess.CompletedProcess) -> str:
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def addresses(work_root: Path) -> tuple[str, str]:
    mac = ok(harness(work_root, "exec", "host1", "--", "lxc", "config", "get", "app1",
                     "volatile.eth0.hwaddr")).strip()
    listed = ok(harness(work_root, "exec", "host1", "--", "lxc", "list", "-c", "4",
                        "--format", "csv")).strip()
    return mac, listed


def test_a_learner_works_through_the_stages(work_root, tmp_path):
    out = ok(harness(work_root, "lab", "start", str(COURSE)))
    assert "Stage 1/3: custom-bridge" in out and "Goal: Create the bridge lxdbr1337" in out
    try:
        check = harness(work_root, "lab", "check", "--out", str(tmp_path))
        assert check.returncode == 1
        assert "FAIL  the DNS server of lxdbr1337 on host1 answers upstream.test" in check.stdout
        assert "hint: `lxc network create NAME KEY=VALUE...`" in check.stdout
        assert "why:  host1 has no LXD network 'lxdbr1337'" in check.stdout
        assert (tmp_path / "results.json").exists()

        ok(harness(work_root, "exec", "host1", "--", "lxc network create lxdbr1337 "
                   "ipv6.address=none ipv4.address=10.13.37.1/24 ipv4.nat=true"))
        check = harness(work_root, "lab", "check", "--out", str(tmp_path))
        assert check.returncode == 0, check.stdout
        assert "PASS: stage custom-bridge is done" in check.stdout

        assert "Stage 2/3: attach" in ok(harness(work_root, "lab", "next"))
        assert harness(work_root, "lab", "check", "--out", str(tmp_path)).returncode == 1
        assert "lxc network attach lxdbr1337 app1 eth0" in ok(harness(work_root, "lab", "solve"))
        assert harness(work_root, "lab", "check", "--out", str(tmp_path)).returncode == 0
        assert "> 2. attach" in ok(harness(work_root, "lab", "status"))

        # reset: the stage from scratch, the same MAC and addresses each time
        ok(harness(work_root, "lab", "reset"))
        first = addresses(work_root)
        assert first[0].startswith("00:16:3e:") and "10.218.1." in first[1]
        assert harness(work_root, "lab", "check", "--out", str(tmp_path)).returncode == 1
        ok(harness(work_root, "lab", "reset", "--stage", "attach"))
        assert addresses(work_root) == first
        wrong = harness(work_root, "lab", "reset", "--stage", "atach")
        assert wrong.returncode == 2 and "did you mean 'attach'" in wrong.stderr
    finally:
        out = ok(harness(work_root, "lab", "stop"))
    assert "bridge-course is down" in out
    assert harness(work_root, "lab", "status").returncode == 2


def test_lab_start_refuses_a_plain_scenario(work_root):
    scenario = Path(__file__).parents[2] / "scenarios" / "static-ip.yaml"
    out = harness(work_root, "lab", "start", str(scenario))
    assert out.returncode == 2 and "has no `stages:`" in out.stderr
