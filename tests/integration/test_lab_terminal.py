"""A learner at a terminal (tmux): start the lab, open a shell on host1, type the tutorial's
line, read PASS; type a wrong line, read FAIL with the hint; `reset` brings the stage back."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.lab import transcript

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")]

ROOT = Path(__file__).resolve().parents[2]
COURSE = ROOT / "tests" / "integration" / "labs" / "bridge-course.yaml"
HARNESS = f"{sys.executable} -m harness.cli"


class Terminal:
    """One tmux window on a private server; what a person would type and read."""

    def __init__(self, socket: Path):
        self.socket = str(socket)
        self.tmux("new-session", "-d", "-s", "learner", "-x", "220", "-y", "50",
                  f"cd {ROOT} && exec env PYTHONPATH={ROOT} HARNESS_NO_BASHRC=1 PS1='$ ' "
                  "bash --norc --noprofile")
        self.marks = 0

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-S", self.socket, *args], capture_output=True,
                              text=True, check=True).stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-J", "-S", "-500", "-t", "learner")

    def type(self, line: str) -> None:
        self.tmux("send-keys", "-t", "learner", "-l", line)
        self.tmux("send-keys", "-t", "learner", "Enter")

    def clear(self) -> None:
        self.tmux("clear-history", "-t", "learner")
        self.type("clear")
        time.sleep(0.3)

    def wait_for(self, text: str, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.3)
        raise AssertionError(f"{text!r} never appeared; the screen:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], capture_output=True)


def test_learner_at_a_terminal(work_root, tmp_path):
    term = Terminal(tmp_path / "tmux.sock")
    harness = f"{HARNESS} lab"
    where = f"--workdir {work_root}"
    try:
        term.type(f"{harness} start {where} {COURSE}")
        term.wait_for("Stage 1/3: custom-bridge")
        term.type(f"{HARNESS} shell {where} host1")
        term.wait_for("(bridge-course) root@host1:")
        term.type("lxc network create lxdbr1337 ipv6.address=none ipv4.address=10.13.37.1/24 "
                  "ipv4.nat=true")
        term.wait_for("Network lxdbr1337 created")
        term.type(f"{harness} check {where} --out {tmp_path}/r")  # from inside the shell
        screen = term.wait_for("PASS: stage custom-bridge is done")
        assert "PASS  the DNS server of lxdbr1337 on host1 answers upstream.test" in screen

        term.type(f"{harness} next {where}")
        term.wait_for("Stage 2/3: attach")
        term.clear()
        term.type("lxc network attach lxdbr0 app1 eth0")  # the wrong bridge
        term.type("lxc restart app1")
        term.type("exit")
        term.type(f"{harness} check {where} --out {tmp_path}/r")
        screen = term.wait_for("FAIL: stage attach is not done yet")
        assert "FAIL  app1 on host1 gets an address in 10.13.37.2 - 10.13.37.254 by DHCP" in screen
        assert "why:  host1:app1 leased 10.218.1." in screen
        assert "hint: `lxc network attach BRIDGE INSTANCE DEVICE`" in screen

        term.clear()
        term.type(f"{harness} reset {where}")
        term.wait_for("was rebuilt from scratch")
        term.type(f"{HARNESS} shell {where} host1")
        term.wait_for("(bridge-course) root@host1:")
        term.type("lxc network list --format csv | cut -d, -f1 | grep -c lxdbr1337; "
                  "lxc config device show app1 | grep -c parent")
        term.wait_for("1\n0\n")  # stage 1's bridge is there, the wrong attach is gone
        term.type("lxc network attach lxdbr1337 app1 eth0")
        term.type("lxc restart app1")
        term.type("exit")
        term.type(f"{harness} check {where} --out {tmp_path}/r")
        term.wait_for("PASS: stage attach is done")
    finally:
        term.close()
        subprocess.run([*HARNESS.split(), "lab", "stop", "--workdir", str(work_root)],
                       capture_output=True, timeout=120)
    typed = [e.command for e in transcript.read(
        transcript.host_file(work_root, "bridge-course", "host1"))]
    assert typed[0].startswith("lxc network create lxdbr1337")
    assert "lxc network attach lxdbr0 app1 eth0" in typed
    assert typed[-2:] == ["lxc network attach lxdbr1337 app1 eth0", "lxc restart app1"]
