"""Helpers for tests that drive `harness` as a real subprocess and then look at the machine."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HARNESS = str(Path(sys.executable).with_name("harness"))

#: a one-host bridge lab whose host setup takes 3 s (a window to interrupt `apply` in)
SLOW_APPLY = """\
name: {name}
description: a bridge lab whose host setup takes a while
hosts:
  host1:
    underlay: 172.31.0.11/24
    setup:
      - sleep 3
    networks:
      lxdbr1337:
        type: bridge
        config: {{ipv4.address: 10.13.37.1/24, ipv4.nat: "true", ipv6.address: none}}
    instances:
      app1:
        devices:
          eth0: {{type: nic, nictype: bridged, parent: lxdbr1337}}
checks:
  - ping: {{from: host1:app1, to: upstream}}
  - nat: {{from: host1:app1, expect_source: host1}}
  - ping: {{from: host1, to: host1:app1}}
"""


def make_work_root() -> Path:
    """A private work root: /var/tmp, since unprivileged containers must traverse it."""
    root = Path(tempfile.mkdtemp(prefix="harness-test-", dir="/var/tmp"))
    os.chmod(root, 0o711)
    return root


def remove_work_root(root: Path) -> None:
    """Reap whatever a failed test left in it, then remove it."""
    subprocess.run([HARNESS, "gc", "--workdir", str(root)], capture_output=True, timeout=60)
    for state in (root / "by-name").glob("*.json"):
        subprocess.run([HARNESS, "down", state.stem, "--workdir", str(root)],
                       capture_output=True, timeout=60)
    shutil.rmtree(root, ignore_errors=True)


def run_dirs(root: Path) -> list[Path]:
    return [p for p in root.iterdir() if p.name not in ("cache", "by-name")] \
        if root.exists() else []


def namespaces(run_ids: set[str]) -> list[str]:
    netns = Path("/run/netns")
    if not netns.is_dir():
        return []
    return sorted(p.name for p in netns.iterdir()
                  if any(p.name.startswith(f"hl-{rid}-") for rid in run_ids))


def processes_naming(text: str) -> list[str]:
    """Processes whose command line, environment or mounts mention `text`."""
    found = []
    needle = text.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        for what in ("cmdline", "environ", "mountinfo"):
            try:
                if needle in (entry / what).read_bytes():
                    found.append(f"{entry.name} ({what})")
                    break
            except OSError:
                break
    return found


def leftovers(root: Path, run_ids: set[str]) -> list[str]:
    """What of these runs is still on the machine (their state files aside)."""
    problems = [f"namespace {n}" for n in namespaces(run_ids)]
    problems += [f"folder {p}" for p in run_dirs(root)]
    problems += [f"process {p}" for p in processes_naming(str(root) + "/")]
    return problems


def wait_until_gone(root: Path, run_ids: set[str], timeout: float = 10) -> list[str]:
    deadline = time.monotonic() + timeout
    while (left := leftovers(root, run_ids)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


class HarnessProcess:
    """`harness ARGS` in its own session (so a group signal reaches it and its children
    only), with stderr collected line by line and the run ids it creates noted."""

    def __init__(self, args: list[str], work_root: Path):
        self.work_root = work_root
        self.lines: list[str] = []
        self.run_ids: set[str] = set()
        self.proc = subprocess.Popen(
            [HARNESS, *args], cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, start_new_session=True)
        self.out: list[str] = []
        self._readers = [threading.Thread(target=self._read, args=(stream, sink), daemon=True)
                         for stream, sink in ((self.proc.stderr, self.lines),
                                              (self.proc.stdout, self.out))]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream, sink: list[str]) -> None:
        for line in stream:
            sink.append(line.rstrip("\n"))

    def note_runs(self) -> None:
        self.run_ids |= {p.name for p in run_dirs(self.work_root)}

    def wait_for(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.note_runs()
            if condition():
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"harness exited ({self.proc.returncode}) before {what}:\n"
                                     + "\n".join(self.lines[-30:]))
            time.sleep(0.02)
        raise AssertionError(f"no {what} in {timeout} s:\n" + "\n".join(self.lines[-30:]))

    def saw(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def signal(self, signum: int, group: bool = False) -> None:
        if group:
            os.killpg(self.proc.pid, signum)
        else:
            self.proc.send_signal(signum)

    def finish(self, timeout: float = 120) -> int:
        self.proc.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=5)
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log(self) -> str:
        return "\n".join(self.lines)


def harness(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([HARNESS, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
