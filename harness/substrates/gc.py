"""`harness gc`: remove what dead runs left behind (a SIGKILLed harness, a crashed CI job).

A run is a folder WORK_ROOT/RID with a lab.json. It is dead when the process recorded as its
owner is gone (PID and start time, so a reused PID does not keep it alive), and no
`harness up` state file keeps it up on purpose. Reaping a dead run kills its processes (by
PID: those in its namespaces, naming its work folder, or recorded in lab.json, and their
descendants), deletes its `hl-RID-*` namespaces and removes its folder. Nothing without a
lab.json in the work root is touched: namespaces of other work roots, and anything not
made by the harness, stay as they are.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.shell import run
from harness.substrates import procs, substrate_class
from harness.substrates.base import Lab
from harness.substrates.leftovers import settle

KILL_WAIT = 5.0


@dataclass
class GcReport:
    reaped: list[str] = field(default_factory=list)  # run ids removed
    kept: dict[str, str] = field(default_factory=dict)  # run id -> why it is alive
    problems: list[str] = field(default_factory=list)  # what could not be removed


def _kept_up(work_root: Path) -> set[str]:
    """Work folders `harness up` keeps running on purpose (until `harness down`)."""
    kept = set()
    for state in (work_root / "by-name").glob("*.json"):
        try:
            kept.add(str(Path(json.loads(state.read_text())["lab"]).parent))
        except (OSError, ValueError, KeyError):
            continue
    return kept


def why_alive(lab: Lab, kept_up: set[str]) -> str | None:
    """Why this run must not be reaped, or None when it is dead."""
    if lab.workdir in kept_up:
        return "kept up by `harness up` (use `harness down`)"
    if not lab.owner_pid:
        return "lab.json names no owner process, so gc cannot tell it is dead: not touched"
    if procs.is_running(lab.owner_pid, lab.owner_start):
        return f"its owner process {lab.owner_pid} is running"
    return None


def collect(work_root: Path, dry_run: bool = False, vms: bool = False) -> GcReport:
    """Reap dead runs, then the VM pool's slots nobody uses (all idle ones with `vms`)."""
    report = GcReport()
    if not work_root.is_dir():
        return report
    _collect_runs(work_root, dry_run, report)
    if (work_root / "vm-pool").is_dir():
        from harness.substrates.vagrant.pool import sweep

        swept = sweep(work_root, everything=vms, dry_run=dry_run)
        report.reaped += swept.reaped
        report.kept.update(swept.kept)
        report.problems += swept.problems
    return report


def _collect_runs(work_root: Path, dry_run: bool, report: GcReport) -> None:
    kept_up = _kept_up(work_root)
    for folder in sorted(p for p in work_root.iterdir() if (p / "lab.json").is_file()):
        if _emptied_by_a_kill(folder):
            if not dry_run:
                shutil.rmtree(folder, ignore_errors=True)
            report.reaped.append(folder.name)
            continue
        try:
            lab = Lab.load(folder / "lab.json")
        except (OSError, ValueError, TypeError, KeyError) as exc:
            owner = _running_owner(folder / "lab.json")
            if owner is not None:  # e.g. written by another version of the harness
                report.kept[folder.name] = (f"its owner process {owner} is running (its "
                                            f"lab.json is not readable here: {exc})")
            else:
                report.problems.append(f"{folder}/lab.json unreadable ({exc}): not touched")
            continue
        if Path(lab.workdir) != folder or folder.name != lab.run_id:
            report.problems.append(f"{folder}/lab.json describes {lab.workdir}: not touched")
            continue
        reason = why_alive(lab, kept_up)
        if reason:
            report.kept[lab.run_id] = reason
            continue
        if not dry_run:
            report.problems += reap(lab)
        report.reaped.append(lab.run_id)


def _emptied_by_a_kill(folder: Path) -> bool:
    """A folder holding only an empty lab.json, a minute old, and no namespace of its run:
    a run killed while it wrote its first lab.json (before lab.json was written aside and
    renamed), so it recorded, and made, nothing."""
    lab_json = folder / "lab.json"
    try:
        if lab_json.stat().st_size or time.time() - lab_json.stat().st_mtime < 60:
            return False
    except OSError:
        return False
    if any(path.name != "lab.json" for path in folder.iterdir()):
        return False
    return not procs.run_namespaces(folder.name)


def _running_owner(lab_json: Path) -> int | None:
    """The owner PID a lab.json records, when that process still runs (read as plain JSON,
    for a lab.json this harness cannot load)."""
    try:
        data = json.loads(lab_json.read_text())
        pid, start = int(data["owner_pid"]), int(data["owner_start"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return pid if procs.is_running(pid, start) else None


def reap(lab: Lab) -> list[str]:
    """Remove every trace of a dead run; return what could not be removed."""
    problems = []
    try:
        substrate = substrate_class(lab.substrate)
        if not substrate.local_only:  # VMs, remote hosts: only their substrate knows them
            problems += substrate(Path(lab.workdir).parent, lab.run_id).down(lab)
    except Exception as exc:  # the local sweep below must still run
        problems.append(f"{lab.substrate} teardown of {lab.run_id}: {exc}")
    with procs.held_namespaces(lab.run_id) as inodes:  # their numbers stay ours till settled
        _kill_run_processes(lab, inodes)
        for name in procs.run_namespaces(lab.run_id):
            run(["ip", "netns", "del", name], check=False)
        _unmount_under(Path(lab.workdir))
        shutil.rmtree(lab.workdir, ignore_errors=True)
        state = Path(lab.workdir).parent / "by-name" / f"{lab.scenario}.json"
        if state.exists() and _names_lab(state, lab):
            state.unlink()
        return problems + settle(None, lab.run_id, lab.workdir, inodes)


def _names_lab(state: Path, lab: Lab) -> bool:
    try:
        return Path(json.loads(state.read_text())["lab"]).parent == Path(lab.workdir)
    except (OSError, ValueError, KeyError):
        return False


def _recorded_pids(lab: Lab, table: list[procs.Proc]) -> set[int]:
    """Daemons lab.json lists, as long as they still look like the lab's own (PIDs get
    reused: only one in the lab's namespaces or naming its work folder qualifies)."""
    recorded = {pid for node in [*lab.hosts.values(), *lab.nodes.values()] for pid in node.pids}
    ours = {p.pid for p in procs.run_processes(lab.run_id, lab.workdir, (), table)}
    return recorded & ours


def _kill_run_processes(lab: Lab, inodes: set[int]) -> None:
    deadline = time.monotonic() + KILL_WAIT
    while time.monotonic() < deadline:
        table = procs.all_processes()
        targets = {p.pid for p in procs.run_processes(lab.run_id, lab.workdir, inodes, table)}
        targets |= _recorded_pids(lab, table)
        targets -= _never_kill()
        if not targets:
            return
        procs.stop(targets, signum=signal.SIGKILL, grace=0, kill_group=False)
        time.sleep(0.1)


def _never_kill() -> set[int]:
    """PID 1, this process and its ancestors, whatever a confused scan might say."""
    spared, pid = {0, 1}, os.getpid()
    while pid > 1:
        spared.add(pid)
        proc = procs.read_proc(pid)
        pid = proc.ppid if proc else 0
    return spared


def _unmount_under(folder: Path) -> None:
    """Mounts under the folder (in this mount namespace) would make removing it dangerous."""
    prefix = str(folder).rstrip("/") + "/"
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point.startswith(prefix):
            points.append(point)
    for point in sorted(points, key=len, reverse=True):
        run(["umount", "-l", point], check=False)
