"""The process table, read from /proc: which processes belong to a lab run.

A process belongs to run RID when it lives in one of the run's network namespaces, when its
command line or environment names the run's work folder or a `hl-RID-` namespace, when its
mount table names the work folder (LXD, its `lxc monitor`s and the containers' init all see
their rootfs there), or when it descends from such a process. Nothing else is ever counted,
so labs running side by side never claim each other's processes.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.substrates.runs import run_prefix

PROC = Path("/proc")
NETNS_DIR = Path("/run/netns")


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    start: int  # clock ticks after boot: with the PID, names one process for good
    state: str
    comm: str

    @property
    def key(self) -> tuple[int, int]:
        return self.pid, self.start


def read_proc(pid: int) -> Proc | None:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # comm is in parentheses and may itself hold spaces or parentheses
    comm = stat[stat.index("(") + 1:stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2:].split()
    return Proc(pid=pid, ppid=int(fields[1]), start=int(fields[19]), state=fields[0], comm=comm)


def start_time(pid: int) -> int | None:
    proc = read_proc(pid)
    return None if proc is None or proc.state == "Z" else proc.start


def alive(pid: int) -> bool:
    """Is there a process `pid` that has not exited (a zombie has)?"""
    proc = read_proc(pid)
    return proc is not None and proc.state != "Z"


#: How long a killed process may take to finish exiting. SIGKILL cannot be refused, but the
#: exit itself needs CPU time (every thread, the address space): seconds on a loaded machine.
EXIT_TIMEOUT = 20.0


def stop(pids: Iterable[int], *, signum: int = signal.SIGTERM, to_group: bool = False,
         grace: float = 5.0, kill_group: bool = True,
         exit_timeout: float = EXIT_TIMEOUT) -> list[int]:
    """End processes: `signum` to each in turn (to its process group with `to_group`), each
    waited for before the next is signalled, all within `grace` seconds; then SIGKILL for
    what remains (its process group with `kill_group`), and a wait of up to `exit_timeout`
    until they have exited. The one way the harness ends processes. Children of this
    process are reaped; returns the PIDs that would not die."""
    started = {pid: start_time(pid) for pid in pids}
    deadline = time.monotonic() + grace
    for pid, start in started.items():
        if start is None:
            continue
        _signal(pid, signum, to_group)
        while is_running(pid, start) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.05)
        if is_running(pid, start):
            _signal(pid, signal.SIGKILL, kill_group)
    return wait_gone(started, exit_timeout)


def wait_gone(started: dict[int, int | None], timeout: float) -> list[int]:
    """Wait until each process (PID -> start time, see `start_time`) has exited, reaping
    this process' children; return the PIDs still running after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        for pid in started:
            _reap(pid)
        running = [pid for pid, start in started.items()
                   if start is not None and is_running(pid, start)]
        if not running or time.monotonic() >= deadline:
            return running
        time.sleep(0.02)


def _signal(pid: int, signum: int, group: bool) -> None:
    try:
        if group:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)
    except ProcessLookupError:  # gone, or (group) not a group leader: the process itself
        if group:
            _signal(pid, signum, False)
    except PermissionError:
        pass


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not our child: whoever started it reaps it
        pass


def is_running(pid: int, start: int) -> bool:
    """Is the process that had this PID and start time still there (not a reused PID)?"""
    return pid > 0 and start_time(pid) == start


def all_processes() -> list[Proc]:
    procs = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            proc = read_proc(int(entry.name))
            if proc is not None and proc.state != "Z":  # a zombie holds nothing but its PID
                procs.append(proc)
    return procs


def netns_inode(pid: int) -> int | None:
    try:
        return os.stat(PROC / str(pid) / "ns" / "net").st_ino
    except OSError:
        return None


def run_namespaces(run_id: str) -> list[str]:
    """Names under /run/netns that carry this run's id."""
    if not NETNS_DIR.is_dir():
        return []
    prefix = run_prefix(run_id)
    return sorted(p.name for p in NETNS_DIR.iterdir() if p.name.startswith(prefix))


def run_netns_inodes(run_id: str) -> set[int]:
    inodes = set()
    for name in run_namespaces(run_id):
        try:
            inodes.add(os.stat(NETNS_DIR / name).st_ino)
        except OSError:
            pass
    return inodes


@contextmanager
def held_namespaces(run_id: str) -> Iterator[set[int]]:
    """The inodes of run `run_id`'s namespaces, each held open until the block ends.

    Once a namespace is freed the kernel may give its number to the next one made, by
    another lab running beside this one; its processes would then look like this run's
    leftovers. A namespace someone holds open is never freed, so its number stays ours.
    """
    fds: list[int] = []
    inodes: set[int] = set()
    try:
        for name in run_namespaces(run_id):
            try:
                fd = os.open(NETNS_DIR / name, os.O_RDONLY)
            except OSError:
                continue
            fds.append(fd)
            inodes.add(os.fstat(fd).st_ino)
        yield inodes
    finally:
        for fd in fds:
            os.close(fd)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _names_run(pid: int, tags: re.Pattern[bytes], workdir: re.Pattern[bytes]) -> str | None:
    base = PROC / str(pid)
    for what, pattern in (("cmdline", tags), ("environ", tags), ("mountinfo", workdir)):
        if pattern.search(_read(base / what)):
            return what
    return None


def descendants(procs: Iterable[Proc], roots: set[int]) -> set[int]:
    children: dict[int, list[int]] = {}
    for proc in procs:
        children.setdefault(proc.ppid, []).append(proc.pid)
    found, todo = set(), list(roots)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def run_processes(run_id: str, workdir: str, netns_inodes: Iterable[int] = (),
                  procs: list[Proc] | None = None) -> dict[Proc, str]:
    """Processes of run `run_id` -> why they count as the run's."""
    procs = all_processes() if procs is None else procs
    inodes = set(netns_inodes) | run_netns_inodes(run_id)
    path = re.escape(workdir.rstrip("/").encode())
    workdir_re = re.compile(path + rb"(?=/|\x00|\s|$)")
    tags_re = re.compile(path + rb"(?=/|\x00|\s|$)|" + re.escape(run_prefix(run_id).encode()))
    own = os.getpid()
    found: dict[int, str] = {}
    for proc in procs:
        if proc.pid == own:
            continue
        if inodes and netns_inode(proc.pid) in inodes:
            found[proc.pid] = "in a lab namespace"
            continue
        reason = _names_run(proc.pid, tags_re, workdir_re)
        if reason:
            found[proc.pid] = f"its {reason} names the run"
    for pid in descendants(procs, set(found)) - set(found) - {own}:
        found[pid] = "descends from a lab process"
    by_pid = {p.pid: p for p in procs}
    return {by_pid[pid]: why for pid, why in found.items() if pid in by_pid}


#: Helpers Python's multiprocessing starts once per process and keeps: not a lab's doing.
_LONG_LIVED_HELPERS = (b"from multiprocessing.forkserver import main",
                       b"from multiprocessing.resource_tracker import main")


def own_descendants(procs: list[Proc]) -> set[int]:
    """Processes this process started that still run, less multiprocessing's own helpers.

    The probe fork server stays for the whole pytest session, but a probe it forked for this
    run must be gone by the end of the run: helpers are exempt, their children are not.
    """
    own = os.getpid()
    helpers = {p.pid for p in procs if p.ppid == own
               and any(h in _read(PROC / str(p.pid) / "cmdline") for h in _LONG_LIVED_HELPERS)}
    return descendants(procs, {own}) - helpers


def describe(proc: Proc) -> str:
    cmdline = _read(PROC / str(proc.pid) / "cmdline").replace(b"\x00", b" ").strip()
    shown = cmdline.decode(errors="replace")[:80] or proc.comm
    return f"process {proc.pid} ({shown})"
