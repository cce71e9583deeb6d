"""Leftover detection, run liveness and deferred interrupts, without root or a lab."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from harness.interrupts import deferred_interrupts
from harness.substrates import procs
from harness.substrates.base import Lab
from harness.substrates.gc import collect, why_alive
from harness.substrates.leftovers import RootNetwork, Snapshot, diff, snapshot

WORKDIR = "/var/tmp/lxd-harness/abc123"


def snap(**fields) -> Snapshot:
    return Snapshot(run_id="abc123", workdir=WORKDIR, **fields)


def test_a_clean_machine_has_nothing_to_report():
    root = RootNetwork(frozenset({"lo", "eth0"}), frozenset({"dst default dev eth0"}))
    assert diff(snap(root=root), snap(root=root)) == []


def test_everything_that_remains_is_named():
    after = snap(namespaces=("hl-abc123-host1",), workdir_exists=True,
                 workdir_entries=("host1", "lab.json"), mounts=(f"{WORKDIR}/host1/x",),
                 processes={(42, 7): "process 42 (lxd --group root): in a lab namespace"})
    assert diff(snap(), after) == [
        "namespace hl-abc123-host1",
        f"work folder {WORKDIR} (host1, lab.json)",
        f"mount {WORKDIR}/host1/x",
        "process 42 (lxd --group root): in a lab namespace",
    ]


def test_processes_there_before_the_run_are_not_blamed():
    running = {(42, 7): "process 42 (tcpdump): started by this process"}
    assert diff(snap(processes=running), snap(processes=running)) == []
    # the same PID with another start time is another process
    assert diff(snap(processes=running), snap(processes={(42, 8): "process 42 (x)"}))


def test_root_namespace_changes_are_reported_both_ways():
    before = snap(root=RootNetwork(frozenset({"lo", "eth0"}), frozenset(), frozenset()))
    after = snap(root=RootNetwork(frozenset({"lo", "eth0", "veth9"}), frozenset(),
                                  frozenset({"inet lxd"})))
    assert diff(before, after) == ["root namespace link 'veth9' appeared",
                                   "root namespace nft table 'inet lxd' appeared"]
    assert diff(after, before) == ["root namespace link 'veth9' vanished",
                                   "root namespace nft table 'inet lxd' vanished"]


def test_without_a_before_snapshot_the_root_namespace_is_not_judged():
    after = snap(root=RootNetwork(frozenset({"veth9"})))
    assert diff(None, after) == []


def test_snapshot_finds_a_process_naming_the_run_and_only_that_run(tmp_path):
    workdir = str(tmp_path / "abc123")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                             env={"LXD_DIR": f"{workdir}/host1/lxd"})
    try:
        ours = snapshot("abc123", workdir, own_run=False)
        neighbour = snapshot("abc124", str(tmp_path / "abc124"), own_run=False)
    finally:
        child.kill()
        child.wait()
    assert [k for k in ours.processes if k[0] == child.pid]
    assert "environ names the run" in next(iter(ours.processes.values()))
    assert not [k for k in neighbour.processes if k[0] == child.pid]


def test_unreaped_children_count_for_the_own_run(tmp_path):
    workdir = str(tmp_path / "abc123")
    child = subprocess.Popen(["sleep", "30"])
    try:
        key = (child.pid, procs.start_time(child.pid))
        found = snapshot("abc123", workdir, own_run=True).processes
    finally:
        child.kill()
        child.wait()
    assert found[key].endswith("started by this process")


def test_a_run_is_alive_while_its_owner_runs():
    me = os.getpid()
    lab = Lab(run_id="abc123", scenario="s", substrate="local", workdir=WORKDIR,
              owner_pid=me, owner_start=procs.start_time(me) or 0)
    assert why_alive(lab, set()) == f"its owner process {me} is running"
    lab.owner_start += 1  # the PID was reused by another process: the owner is gone
    assert why_alive(lab, set()) is None
    assert "harness up" in why_alive(lab, {WORKDIR})
    lab.owner_pid = 0
    assert "no owner" in why_alive(lab, set())


def test_gc_keeps_a_run_it_cannot_read_while_its_owner_runs(tmp_path):
    me = os.getpid()
    for run_id, owner in (("aaa111", me), ("bbb222", 0)):
        (tmp_path / run_id).mkdir()
        (tmp_path / run_id / "lab.json").write_text(json.dumps(
            {"run_id": run_id, "workdir": str(tmp_path / run_id), "owner_pid": owner,
             "owner_start": procs.start_time(me), "field_of_a_newer_harness": 1}))
    report = collect(tmp_path)
    assert report.kept["aaa111"].startswith(f"its owner process {me} is running")
    assert report.reaped == [] and len(report.problems) == 1 and "bbb222" in report.problems[0]
    assert (tmp_path / "aaa111").is_dir() and (tmp_path / "bbb222").is_dir()


def test_interrupts_wait_for_the_end_of_the_block():
    steps = []
    with pytest.raises(KeyboardInterrupt):
        with deferred_interrupts() as held:
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGINT)
            steps.append("finished the teardown")
            assert held.signals == [signal.SIGTERM, signal.SIGINT]
    assert steps == ["finished the teardown"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_nested_blocks_deliver_once_at_the_outermost_end():
    with pytest.raises(KeyboardInterrupt):
        with deferred_interrupts():
            with deferred_interrupts() as inner:
                os.kill(os.getpid(), signal.SIGINT)
            assert inner.signals == [signal.SIGINT]
            reached = True
    assert reached


def test_gc_removes_a_folder_whose_run_died_writing_its_first_lab_json(tmp_path):
    """Seen here: a run killed while writing lab.json left an empty one, and every later
    `harness gc` (the first step of `make test`) failed on it."""
    for run_id, age in (("ccc333", 120), ("ddd444", 5)):
        (tmp_path / run_id).mkdir()
        (tmp_path / run_id / "lab.json").write_text("")
        os.utime(tmp_path / run_id / "lab.json", (time.time() - age,) * 2)
    report = collect(tmp_path)
    assert report.reaped == ["ccc333"] and not (tmp_path / "ccc333").exists()
    # written a moment ago: perhaps being written now, so not touched
    assert (tmp_path / "ddd444").is_dir() and "ddd444" in report.problems[0]
