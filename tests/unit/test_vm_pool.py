"""The VM pool's bookkeeping (no VM is booted here: boot and destroy are stand-ins)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from harness.substrates import procs
from harness.substrates.runs import VM_OWNER_ENV
from harness.substrates.vagrant.pool import DATA_NICS, Pool, Slot
from harness.substrates.vagrant.render import VmShape


def idle_slot(pool: Pool, slot_id: str, index: int, nics: int = DATA_NICS, *,
              owner: int = 0, keep: bool = False, box: str = "box1") -> Slot:
    slot = Slot(shape=VmShape(slot_id, index, nics, "qemu"), box=box, state="idle",
                owner_pid=owner or os.getpid(),
                owner_start=procs.start_time(owner or os.getpid()) or 0, keep=keep)
    pool.slot_dir(slot_id).mkdir(parents=True)
    pool.save(slot)
    return slot


@pytest.fixture
def pool(tmp_path: Path, monkeypatch) -> Pool:
    booted: list[str] = []
    destroyed: list[str] = []

    def boot(self, slot, boot_timeout):
        slot.state = "idle"
        booted.append(slot.id)

    def destroy(self, slot):
        destroyed.append(slot.id)
        shutil.rmtree(self.slot_dir(slot.id))
        self._unclaim(slot.id)
        return []

    monkeypatch.setattr(Pool, "_boot", boot)
    monkeypatch.setattr(Pool, "destroy", destroy)
    pool = Pool(tmp_path)
    pool.booted, pool.destroyed = booted, destroyed  # type: ignore[attr-defined]
    return pool


def test_an_idle_vm_that_fits_is_reused_and_one_that_does_not_is_left(pool):
    idle_slot(pool, "aaaaaa", 1, nics=2)
    idle_slot(pool, "bbbbbb", 2, nics=4)
    idle_slot(pool, "cccccc", 3, nics=4, box="older")  # another box: never reused
    slots = pool.acquire("run001", {"host1": 3}, box="box1", driver="qemu")
    assert [s.id for s in slots] == ["bbbbbb"] and pool.booted == []
    assert pool.load("bbbbbb").state == "in-use" and pool.load("bbbbbb").lab == "run001"


def test_what_no_idle_vm_fits_is_booted_with_an_index_of_its_own(pool):
    idle_slot(pool, "aaaaaa", 1)
    slots = pool.acquire("run001", {"host1": 1, "host2": 6}, box="box1", driver="qemu")
    assert slots[0].id == "aaaaaa" and pool.booted == [slots[1].id]
    assert slots[1].shape.index == 2 and slots[1].shape.data_nics == 6


def test_a_slot_claimed_by_another_process_is_not_taken(pool, tmp_path):
    idle_slot(pool, "aaaaaa", 1)
    other = Pool(tmp_path)  # its own descriptors: like another process
    assert other._claim("aaaaaa")
    slots = pool.acquire("run001", {"host1": 1}, box="box1", driver="qemu")
    assert slots[0].id != "aaaaaa" and slots[0].shape.index == 2


def test_a_used_vm_is_reverted_before_the_next_lab(pool, monkeypatch):
    slot = idle_slot(pool, "aaaaaa", 1)
    slot.used = True
    pool.save(slot)
    reverted = []
    monkeypatch.setattr(Pool, "revert", lambda self, s: reverted.append(s.id))
    pool.acquire("run001", {"host1": 1}, box="box1", driver="qemu")
    assert reverted == ["aaaaaa"]


def test_release_gives_the_vm_back_used_and_shutdown_destroys_only_our_idle_ones(pool):
    slots = pool.acquire("run001", {"host1": 1}, box="box1", driver="qemu")
    idle_slot(pool, "kept00", 2, keep=True)
    idle_slot(pool, "theirs", 3, owner=1)  # owned by another (running) process
    assert pool.release(slots[0].id) == []
    released = pool.load(slots[0].id)
    assert released.state == "idle" and released.used and not pool.holds(slots[0].id)
    assert pool.shutdown() == []
    assert pool.destroyed == [slots[0].id]


def test_a_child_of_run_j_hands_its_idle_vms_to_its_parent(pool, monkeypatch):
    """`harness run -j` runs each scenario in a child: the VMs a child leaves idle belong
    to the parent (VM_OWNER_ENV), so the child's end does not destroy them; the parent's does."""
    parent = os.getppid()
    monkeypatch.setenv(VM_OWNER_ENV, f"{parent} {procs.start_time(parent)}")
    slots = pool.acquire("run001", {"host1": 1}, box="box1", driver="qemu")
    assert pool.load(slots[0].id).owner_pid == os.getpid()  # in use: the child's
    assert pool.release(slots[0].id) == []
    assert pool.load(slots[0].id).owner_pid == parent
    assert pool.shutdown() == [] and pool.destroyed == []  # the child ends: the VM stays
    monkeypatch.setenv(VM_OWNER_ENV, "999999 1")  # a parent that is gone: this process keeps it
    monkeypatch.setattr(Pool, "revert", lambda self, slot: None)
    slots = pool.acquire("run002", {"host1": 1}, box="box1", driver="qemu")
    assert pool.release(slots[0].id) == []
    assert pool.load(slots[0].id).owner_pid == os.getpid()


def test_gc_sweeps_dead_owners_and_with_vms_every_idle_one(pool):
    idle_slot(pool, "alive0", 1, owner=1)  # its owner runs
    idle_slot(pool, "kept00", 2, keep=True)
    dead = idle_slot(pool, "dead00", 3)
    dead.owner_pid, dead.owner_start = 999999, 1
    pool.save(dead)
    in_use = idle_slot(pool, "inuse0", 4)
    in_use.state, in_use.lab = "in-use", "run009"
    pool.save(in_use)
    (pool.work_root / "run009").mkdir()
    (pool.work_root / "run009" / "lab.json").write_text("{}")
    report = pool.sweep()
    assert report.reaped == ["VM dead00"] and pool.destroyed == ["dead00"]
    assert set(report.kept) == {"VM alive0", "VM kept00", "VM inuse0"}
    report = pool.sweep(everything=True)
    assert sorted(report.reaped) == ["VM alive0", "VM kept00"]
