"""What a lab leaves on this machine: the machine before bring-up against after teardown.

Two kinds of things are compared:
- what carries this run's id: namespaces `hl-RID-*`, the run's work folder, mounts under
  it or on its namespace files, and the run's processes (see `procs`), plus anything this
  process started during the run and did not reap (a probe that never ended). Labs running
  side by side (`pytest -n 2`) therefore never blame each other;
- the root network namespace's links, routes and nft tables, which no lab may change at all.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from harness.shell import run
from harness.substrates import procs
from harness.substrates.runs import run_prefix


@dataclass(frozen=True)
class RootNetwork:
    """The machine's own network configuration (its root network namespace)."""

    links: frozenset[str] = frozenset()
    routes: frozenset[str] = frozenset()
    nft_tables: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Snapshot:
    run_id: str
    workdir: str
    namespaces: tuple[str, ...] = ()
    workdir_entries: tuple[str, ...] = ()  # empty when the folder does not exist
    workdir_exists: bool = False
    mounts: tuple[str, ...] = ()
    #: (pid, start) -> description, for the run's processes and this process' children
    processes: dict[tuple[int, int], str] = field(default_factory=dict)
    root: RootNetwork | None = None  # None: not taken from the root namespace


def _in_root_netns() -> bool:
    """True unless this process runs inside some named namespace (`ip netns exec`)."""
    own = os.stat("/proc/self/ns/net").st_ino
    named = procs.NETNS_DIR.iterdir() if procs.NETNS_DIR.is_dir() else []
    for path in named:
        try:
            if os.stat(path).st_ino == own:
                return False
        except OSError:
            pass
    return True


def _json(argv: list[str]) -> list[dict]:
    proc = run(argv, check=False, timeout=10)
    if proc.returncode != 0 or not proc.stdout.strip():
        return []
    data = json.loads(proc.stdout)
    return data.get("nftables", []) if isinstance(data, dict) else data


def root_network() -> RootNetwork | None:
    if not _in_root_netns():
        return None
    links = frozenset(link["ifname"] for link in _json(["ip", "-j", "link", "show"]))
    routes = set()
    for family in ("-4", "-6"):
        for route in _json(["ip", "-j", family, "route", "show", "table", "all"]):
            # only what defines the route: lifetimes and flags change by themselves
            routes.add(" ".join(f"{key} {route[key]}" for key in
                                ("type", "dst", "gateway", "dev", "table") if key in route))
    tables = frozenset(f"{item['table']['family']} {item['table']['name']}"
                       for item in _json(["nft", "-j", "list", "tables"]) if "table" in item)
    return RootNetwork(links, frozenset(routes), tables)


def _mounts(run_id: str, workdir: str) -> tuple[str, ...]:
    tagged = (workdir.rstrip("/") + "/", f"{procs.NETNS_DIR}/{run_prefix(run_id)}")
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mount_point = line.split()[4].replace("\\040", " ")
        if mount_point == workdir.rstrip("/") or mount_point.startswith(tagged):
            found.append(mount_point)
    return tuple(sorted(found))


def snapshot(run_id: str, workdir: str, netns_inodes: Iterable[int] = (),
             own_run: bool = True) -> Snapshot:
    """What of run `run_id` is on the machine now (`netns_inodes`: its namespaces, which may
    already be deleted while a process still holds one). `own_run`: the run is this
    process' own, so its unreaped children and the root namespace count too."""
    folder = Path(workdir)
    table = procs.all_processes()
    found = {proc.key: f"{procs.describe(proc)}: {why}"
             for proc, why in procs.run_processes(run_id, workdir, netns_inodes, table).items()}
    by_pid = {p.pid: p for p in table}
    for pid in procs.own_descendants(table) if own_run else ():
        proc = by_pid[pid]
        found.setdefault(proc.key, f"{procs.describe(proc)}: started by this process")
    try:
        entries, exists = tuple(sorted(p.name for p in folder.iterdir())), True
    except FileNotFoundError:
        entries, exists = (), False
    return Snapshot(
        run_id=run_id, workdir=workdir,
        namespaces=tuple(procs.run_namespaces(run_id)),
        workdir_exists=exists,
        workdir_entries=entries,
        mounts=_mounts(run_id, workdir),
        processes=found,
        root=root_network() if own_run else None,
    )


def diff(before: Snapshot | None, after: Snapshot) -> list[str]:
    """What is on the machine after that was not before, one readable line each."""
    problems = [f"namespace {name}" for name in after.namespaces
                if before is None or name not in before.namespaces]
    if after.workdir_exists and not (before and before.workdir_exists):
        shown = ", ".join(after.workdir_entries[:5]) or "empty"
        problems.append(f"work folder {after.workdir} ({shown})")
    problems += [f"mount {m}" for m in after.mounts if before is None or m not in before.mounts]
    problems += [text for key, text in sorted(after.processes.items())
                 if before is None or key not in before.processes]
    if before is not None and before.root is not None and after.root is not None:
        for what, old, new in (("link", before.root.links, after.root.links),
                               ("route", before.root.routes, after.root.routes),
                               ("nft table", before.root.nft_tables, after.root.nft_tables)):
            problems += [f"root namespace {what} {item!r} appeared" for item in sorted(new - old)]
            problems += [f"root namespace {what} {item!r} vanished" for item in sorted(old - new)]
    return problems


def settle(before: Snapshot | None, run_id: str, workdir: str, netns_inodes: Iterable[int],
           timeout: float = 3.0) -> list[str]:
    """`diff` after teardown, giving killed processes a moment to finish dying."""
    inodes = set(netns_inodes)
    deadline = time.monotonic() + timeout
    while True:
        after = snapshot(run_id, workdir, inodes, own_run=before is not None)
        problems = diff(before, after)
        dying = set(after.processes) - set(before.processes if before else ())
        if not dying or time.monotonic() >= deadline:
            return problems
        time.sleep(0.1)
