"""Booted VMs kept for the next lab: a VM boots once, not once per scenario.

Each VM is a *slot*: a Vagrant project of one VM in WORK_ROOT/vm-pool/SLOT (its
Vagrantfile, console log and `slot.json`). Right after its boot the VM is prepared (kernel
modules, LXD running but not initialised, its capabilities probed once) and a snapshot
`clean` of it, memory included, is taken. A lab claims slots, moves their taps into its
segments' bridges and initialises LXD; when the lab is done, the taps go back to the slot's
idle bridge and the slot is idle, marked used. The next lab that claims it first reverts
it to `clean`: every network, link, OVS bridge, firewall rule, process and file of the last
lab is gone with the memory and disk they lived in.

Claims work across processes (`pytest -n`, `harness run -j`): a slot is claimed by an
exclusive flock on its `claim.lock`, held by the process using it, so a process that dies
lets go at once. Slot indexes (hence MACs) are handed out under the pool's own lock.
What booted VMs become at the end of a process: `shutdown()` (also at exit) destroys the
idle slots nobody claims, unless the pool keeps them (`HARNESS_KEEP_VMS=1`): then the next
run starts on them, and `harness gc --vms` removes them.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import logging
import os
import re
import shutil
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness import engines
from harness.interrupts import deferred_interrupts
from harness.progress import progress
from harness.shell import CommandError, run
from harness.substrates import procs
from harness.substrates.base import SubstrateError
from harness.substrates.capabilities import Capabilities
from harness.substrates.gc import GcReport
from harness.substrates.remote import (
    RemoteHost,
    SshTarget,
    probe_capabilities,
    wait_for_daemon,
)
from harness.substrates.runs import VM_OWNER_ENV, new_run_id
from harness.substrates.vagrant.box import BOX_DIR, locked
from harness.substrates.vagrant.cli import VagrantCli
from harness.substrates.vagrant.libvirtd import (
    LIBVIRT_NETNS,
    defined_domains,
    domain_taps,
    ensure_libvirtd,
    pidfile_alive,
    release_libvirtd,
    remove_domain,
    remove_orphans,
)
from harness.substrates.vagrant.render import (
    BOOT_TIMEOUT,
    MAX_SLOTS,
    VmShape,
    render_vagrantfile,
)

log = logging.getLogger(__name__)

KEEP_ENV = "HARNESS_KEEP_VMS"
SNAPSHOT = "clean"
#: data NICs of a VM at least (eth0 and up to three `interfaces:`); more when a host needs
DATA_NICS = 4
UP_GRACE = 600  # on top of the boot timeout for all of `vagrant up` (the first box upload)
#: what a console shows when a VM will never come up
DEAD_BOOT = ("Kernel panic", "(initramfs)", "Dropping to a shell", "You are in emergency mode",
             "Give root password for maintenance")
#: kernel modules the labs use, loaded before the snapshot
MODULES = ["openvswitch", "ip_gre", "gre", "8021q", "vxlan", "bridge", "veth", "macvlan"]


@dataclass
class Slot:
    shape: VmShape
    box: str  # the box recipe's digest it booted from
    #: booting | idle | in-use
    state: str = "booting"
    lab: str = ""  # run id of the lab using it
    last_lab: str = ""  # run id of the lab that used it last
    #: a lab used it since the snapshot: the next lab reverts it first
    used: bool = False
    keep: bool = False
    owner_pid: int = 0
    owner_start: int = 0
    ssh: dict[str, Any] = field(default_factory=dict)  # SshTarget
    taps: dict[str, str] = field(default_factory=dict)  # data MAC -> its tap in LIBVIRT_NETNS
    capabilities: dict[str, bool] = field(default_factory=dict)
    capability_notes: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.shape.slot

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Slot:
        data = dict(data)
        data["shape"] = VmShape(**data["shape"])
        return cls(**data)


class Pool:
    """The slots under one work root, as this process sees and claims them."""

    def __init__(self, work_root: Path, box_dir: Path = BOX_DIR):
        self.work_root = work_root
        self.dir = work_root / "vm-pool"
        self.box_dir = box_dir
        self.keep = os.environ.get(KEEP_ENV, "") not in ("", "0")
        self._claims: dict[str, int] = {}  # slot id -> fd holding its claim lock
        self._booting: dict[str, subprocess.Popen] = {}  # slot id -> its `vagrant up`
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ state
    def slot_dir(self, slot_id: str) -> Path:
        return self.dir / slot_id

    def load(self, slot_id: str) -> Slot | None:
        try:
            return Slot.from_dict(json.loads((self.slot_dir(slot_id) / "slot.json").read_text()))
        except (OSError, ValueError, TypeError, KeyError):
            return None

    def save(self, slot: Slot) -> None:
        path = self.slot_dir(slot.id) / "slot.json"
        path.with_suffix(".tmp").write_text(json.dumps(slot.to_dict(), indent=2))
        path.with_suffix(".tmp").replace(path)

    def slots(self) -> list[Slot]:
        found = []
        for folder in sorted(self.dir.glob("*/slot.json")) if self.dir.is_dir() else []:
            slot = self.load(folder.parent.name)
            if slot is not None:
                found.append(slot)
        return found

    def _claim(self, slot_id: str) -> bool:
        """Take the slot's claim lock without waiting; True when this process holds it."""
        with self._lock:
            if slot_id in self._claims:
                return False  # claimed by this process already (another lab of it)
            path = self.slot_dir(slot_id) / "claim.lock"
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError:
                return False
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return False
            self._claims[slot_id] = fd
            return True

    def _unclaim(self, slot_id: str) -> None:
        with self._lock:
            fd = self._claims.pop(slot_id, None)
        if fd is not None:
            os.close(fd)  # the lock goes with the descriptor

    def holds(self, slot_id: str) -> bool:
        return slot_id in self._claims

    # ------------------------------------------------------------------ acquire
    def acquire(self, run_id: str, hosts: dict[str, int], *, box: str, driver: str,
                kernel_args: str = "", boot_timeout: int = BOOT_TIMEOUT) -> list[Slot]:
        """One slot per host (name -> the data NICs it needs), in that order: idle slots
        that fit, reverted to their snapshot when used, else freshly booted ones. A failure
        names the host whose VM it is."""
        names, needs = list(hosts), list(hosts.values())
        chosen: list[Slot | None] = [None] * len(needs)
        fresh: list[tuple[int, VmShape]] = []
        self.dir.mkdir(parents=True, exist_ok=True)
        with locked(self.dir / ".lock"):
            idle = [s for s in self.slots() if s.state == "idle" and s.box == box
                    and s.shape.driver == driver and s.shape.kernel_args == kernel_args]
            for i in sorted(range(len(needs)), key=lambda i: -needs[i]):
                fits = sorted((s for s in idle if s.shape.data_nics >= needs[i]),
                              key=lambda s: s.shape.data_nics)
                for slot in fits:
                    if self._claim(slot.id):
                        idle.remove(slot)
                        current = self.load(slot.id)  # as it is now that it is ours
                        if current is None or current.state != "idle":
                            self._unclaim(slot.id)
                            continue
                        chosen[i] = current
                        break
            taken = {s.shape.index for s in self.slots()}
            for i, need in enumerate(needs):
                if chosen[i] is not None:
                    continue
                index = next((n for n in range(1, MAX_SLOTS + 1) if n not in taken), None)
                if index is None:
                    self._release_claims([s for s in chosen if s is not None])
                    raise SubstrateError(f"the VM pool has {MAX_SLOTS} VMs already: "
                                         "`harness gc --vms` removes idle ones")
                taken.add(index)
                shape = VmShape(slot=new_run_id(), index=index,
                                data_nics=max(need, DATA_NICS), driver=driver,
                                kernel_args=kernel_args)
                slot = Slot(shape=shape, box=box, keep=self.keep)
                self._own(slot)
                self.slot_dir(slot.id).mkdir(parents=True)
                self.save(slot)
                self._claim(slot.id)
                fresh.append((i, shape))
                chosen[i] = slot
        slots = [s for s in chosen if s is not None]
        try:
            self._make_ready(slots, names, {i for i, _ in fresh}, boot_timeout)
        except BaseException:
            for i, slot in enumerate(slots):
                if i in {j for j, _ in fresh}:
                    self.destroy(slot)
                else:
                    self._release_claims([slot])
            raise
        for slot in slots:
            slot.state, slot.lab = "in-use", run_id
            self._own(slot)
            self.save(slot)
        return slots

    def _make_ready(self, slots: list[Slot], names: list[str], fresh: set[int],
                    boot_timeout: int) -> None:
        """Boot the fresh slots, revert the used ones, side by side. The first failure (or
        Ctrl-C) stops the boots still running, then is raised naming the host."""
        workers = ThreadPoolExecutor(max_workers=max(1, len(slots)))
        try:
            jobs = [(names[i], workers.submit(self._boot, slot, boot_timeout) if i in fresh
                     else workers.submit(self.revert, slot))
                    for i, slot in enumerate(slots) if i in fresh or slot.used]
            for name, job in jobs:
                try:
                    job.result()
                except (SubstrateError, CommandError) as exc:
                    raise SubstrateError(f"{name}: {exc}") from exc
        except BaseException:
            with deferred_interrupts():
                for proc in list(self._booting.values()):
                    procs.stop([proc.pid], to_group=True, grace=3.0)
                workers.shutdown(wait=True, cancel_futures=True)
            raise
        finally:
            workers.shutdown(wait=True)

    def _own(self, slot: Slot, *, handed_over: bool = False) -> None:
        """This process owns the slot; an idle one (`handed_over`) goes to the process named
        by VM_OWNER_ENV instead, when that one runs."""
        slot.owner_pid, slot.owner_start = (idle_owner() if handed_over
                                            else (os.getpid(), procs.start_time(os.getpid()) or 0))

    # ------------------------------------------------------------------ boot
    def _boot(self, slot: Slot, boot_timeout: int) -> None:
        started = time.monotonic()
        folder = self.slot_dir(slot.id)
        (self.work_root / "vagrant-active").mkdir(parents=True, exist_ok=True)
        (self.work_root / "vagrant-active" / f"vm-{slot.id}").write_text(str(folder))
        run(["ip", "-n", LIBVIRT_NETNS, "link", "add", slot.shape.idle_bridge, "type", "bridge"],
            where=slot.id)
        (folder / "Vagrantfile").write_text(
            render_vagrantfile(slot.shape, folder, box_dir=self.box_dir,
                               boot_timeout=boot_timeout))
        self._vagrant_up(slot, boot_timeout)
        slot.timings["boot"] = round(time.monotonic() - started, 1)
        vagrant = VagrantCli(folder)
        config = vagrant.ssh_config("vm")
        slot.ssh = SshTarget(
            address=config["HostName"], port=int(config.get("Port", 22)),
            user=config.get("User", "vagrant"), key=config.get("IdentityFile"),
            # a VM made a minute ago by Vagrant, reachable only inside LIBVIRT_NETNS
            check_host_key=False, netns=LIBVIRT_NETNS).to_dict()
        taps = domain_taps(slot.shape.domain)
        slot.taps = {mac: taps[mac] for mac in slot.shape.data_macs if mac in taps}
        if len(slot.taps) != slot.shape.data_nics:
            raise SubstrateError(f"VM {slot.shape.domain}: libvirt lists taps for "
                                 f"{sorted(taps)}, not for every data NIC "
                                 f"{slot.shape.data_macs}")
        self.save(slot)
        prepared = time.monotonic()
        self._baseline(slot)
        slot.timings["prepare"] = round(time.monotonic() - prepared, 1)
        snapped = time.monotonic()
        run(["virsh", "snapshot-create-as", slot.shape.domain, SNAPSHOT, "--atomic"],
            timeout=600, where=slot.shape.domain)
        slot.timings["snapshot"] = round(time.monotonic() - snapped, 1)
        slot.state = "idle"
        self.save(slot)
        progress.info("vagrant: VM %s ready in %.0f s (boot %.0f s, snapshot %.0f s)",
                      slot.id, time.monotonic() - started, slot.timings["boot"],
                      slot.timings["snapshot"])

    def _baseline(self, slot: Slot) -> None:
        """What every lab needs, done once before the snapshot: kernel modules, LXD running
        (not initialised), the kernel's capabilities."""
        remote = RemoteHost(slot.id, SshTarget.from_dict(slot.ssh))
        try:
            remote.run(["modprobe", "-a", *MODULES], check=False)
            # With ip_gre loaded, every new namespace gets gre0/gretap0/erspan0 fallback
            # devices, and the busybox image's DHCP client would pick one instead of eth0.
            remote.run(["sysctl", "-qw", "net.core.fb_tunnels_only_for_init_net=2"])
            # the box's engine (vagrant/box/build.sh)
            wait_for_daemon(remote, engines.LXD, f"VM {slot.id}", timeout=300)
            caps: Capabilities = probe_capabilities(remote)
            slot.capabilities, slot.capability_notes = caps.works, caps.notes
            remote.run(["sync"])
        finally:
            remote.close()

    def _vagrant_up(self, slot: Slot, boot_timeout: int) -> None:
        folder = self.slot_dir(slot.id)
        vagrant = VagrantCli(folder)
        started = time.monotonic()
        # Run here, not waited for blindly, so that a VM that cannot boot stops it at once
        # (Vagrant itself would wait ten minutes for a DHCP lease that never comes).
        command = vagrant.argv("up", "--provider=libvirt")
        timeline = folder / "vagrant-up.log"
        with open(timeline, "w") as out:  # Vagrant's lines, with the second they came
            proc = subprocess.Popen(command, cwd=folder, env=vagrant.env, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
            self._booting[slot.id] = proc
            verdict: list[str] = []
            watchdog = threading.Thread(target=self._watch_boot, daemon=True,
                                        args=(slot, proc, started, boot_timeout, verdict))
            watchdog.start()
            try:
                assert proc.stdout is not None
                for line in proc.stdout:
                    if "Progress:" in line:
                        continue
                    out.write(f"[{time.monotonic() - started:6.1f}s] {line}")
                    out.flush()
                proc.wait()
            finally:
                if proc.poll() is None:  # interrupted: Vagrant must not go on alone
                    procs.stop([proc.pid], to_group=True, grace=3.0)
                watchdog.join()
                self._booting.pop(slot.id, None)
        if proc.returncode != 0 or verdict:
            reason = verdict[0] if verdict else f"vagrant up failed (exit {proc.returncode})"
            raise SubstrateError(self._boot_failure(slot, reason))

    def _watch_boot(self, slot: Slot, proc: subprocess.Popen, started: float,
                    boot_timeout: int, verdict: list[str]) -> None:
        """Stop `vagrant up` when the console shows a dead boot, or when it takes too long."""
        console = self.slot_dir(slot.id) / "console.log"
        deadline = started + boot_timeout + UP_GRACE
        while proc.poll() is None:
            text = console.read_text(errors="replace") if console.exists() else ""
            dead = next((sign for sign in DEAD_BOOT if sign in text), None)
            if dead:
                verdict.append(f"did not boot: its console shows {dead!r}")
            elif time.monotonic() > deadline:
                verdict.append(f"vagrant up took longer than {boot_timeout + UP_GRACE} s")
            if verdict:
                procs.stop([proc.pid], to_group=True, grace=3.0)
                return
            time.sleep(1)

    def _boot_failure(self, slot: Slot, reason: str) -> str:
        """Which VM did not come up and why, with its console log and Vagrant's own words.
        The caller puts the lab's host name in front."""
        folder = self.slot_dir(slot.id)
        try:
            state = VagrantCli(folder).states().get("vm", "unknown")
        except subprocess.CalledProcessError:
            state = "unknown"
        console = folder / "console.log"
        tail = console.read_text(errors="replace")[-2500:] if console.exists() else ""
        lines = [f"VM {slot.shape.domain} {reason} (domain {state})",
                 f"--- console log ({console}):\n"
                 f"{tail.strip() or '(empty: the VM never wrote to its console)'}"]
        for name in ("vagrant-up.log", "vagrant.log"):
            path = folder / name
            if path.exists():
                text = re.sub(r"(\x1b\[K)?Progress: \d+%", "", path.read_text(errors="replace"))
                lines.append(f"--- {name}:\n" + text[-2500:])
        return "\n".join(lines)

    # ------------------------------------------------------------------ reuse
    def revert(self, slot: Slot) -> None:
        """Back to the snapshot taken after boot (memory, disk, every process and link)."""
        started = time.monotonic()
        run(["virsh", "snapshot-revert", slot.shape.domain, SNAPSHOT, "--running"],
            timeout=600, where=slot.shape.domain)
        # libvirt restarts QEMU to revert: new taps (on the idle bridge), maybe new names
        taps = domain_taps(slot.shape.domain)
        slot.taps = {mac: taps[mac] for mac in slot.shape.data_macs if mac in taps}
        slot.used = False
        slot.timings["revert"] = round(time.monotonic() - started, 1)
        progress.info("vagrant: VM %s reverted to its snapshot in %.1f s", slot.id,
                      slot.timings["revert"])

    def release(self, slot_id: str, *, reuse: bool = True) -> list[str]:
        """A lab is done with the slot: its taps back on the idle bridge, the slot idle (or
        destroyed, without `reuse`). Returns what could not be undone."""
        slot = self.load(slot_id)
        if slot is None:
            return []
        problems = unplug(slot)
        if reuse and not problems:
            slot.state, slot.last_lab, slot.lab, slot.used = "idle", slot.lab, "", True
            self._own(slot, handed_over=True)
            self.save(slot)
            self._unclaim(slot_id)
            return []
        return problems + self.destroy(slot)

    def _release_claims(self, slots: list[Slot]) -> None:
        for slot in slots:
            self._unclaim(slot.id)

    # ------------------------------------------------------------------ destroy
    def destroy(self, slot: Slot) -> list[str]:
        """The VM, its volume, its idle bridge and its folder."""
        folder = self.slot_dir(slot.id)
        leftovers = []
        if (folder / "Vagrantfile").exists() and pidfile_alive("libvirtd"):
            try:
                VagrantCli(folder).destroy()
            except subprocess.CalledProcessError as exc:
                log.warning("vagrant destroy of %s failed (exit %s); removing it by hand",
                            slot.id, exc.returncode)
        if pidfile_alive("libvirtd"):
            domain = slot.shape.domain
            names = run(["virsh", "-q", "list", "--all", "--name"], check=False).stdout.split()
            if domain not in names:  # gone with `vagrant destroy`; its volume too?
                run(["virsh", "vol-delete", "--pool", "default", f"{domain}.img"], check=False)
            elif not remove_domain(domain):
                leftovers.append(f"libvirt domain {domain}")
        if Path(f"/run/netns/{LIBVIRT_NETNS}").exists():
            run(["ip", "-n", LIBVIRT_NETNS, "link", "del", slot.shape.idle_bridge], check=False)
        if not leftovers:
            shutil.rmtree(folder, ignore_errors=True)
            (self.work_root / "vagrant-active" / f"vm-{slot.id}").unlink(missing_ok=True)
        self._unclaim(slot.id)  # only now: nobody may claim a VM half destroyed
        return leftovers

    def shutdown(self) -> list[str]:
        """Destroy the idle slots this process owns, unless they are kept for later runs."""
        me = (os.getpid(), procs.start_time(os.getpid()) or 0)
        doomed = []
        if not self.dir.is_dir():
            return []
        with locked(self.dir / ".lock"):  # against another process' acquire()
            for slot in self.slots():
                if slot.state == "idle" and not slot.keep \
                        and (slot.owner_pid, slot.owner_start) == me \
                        and (self.holds(slot.id) or self._claim(slot.id)):
                    doomed.append(slot)
        # side by side, on plain threads: this also runs at exit, when executors are refused
        results: list[list[str]] = [[] for _ in doomed]

        def destroy(i: int) -> None:
            results[i] = self.destroy(doomed[i])

        threads = [threading.Thread(target=destroy, args=(i,)) for i in range(len(doomed))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return [problem for problems in results for problem in problems]

    def sweep(self, everything: bool = False, dry_run: bool = False) -> GcReport:
        """`harness gc`: destroy the slots nobody will use again (dead boots, idle ones of
        dead processes, those of labs that are gone); with `everything`, also idle ones
        kept for later runs or whose owner still runs."""
        report = GcReport()
        doomed = []
        if not self.dir.is_dir():
            return report
        with locked(self.dir / ".lock"):  # against another process' acquire()
            for slot in self.slots():
                why = self._why_alive(slot, everything)
                if why is None and not dry_run \
                        and not (self.holds(slot.id) or self._claim(slot.id)):
                    why = "claimed by a running process"
                if why:
                    report.kept[f"VM {slot.id}"] = why
                    continue
                report.reaped.append(f"VM {slot.id}")
                doomed.append(slot)
        if not dry_run:
            for slot in doomed:
                report.problems += self.destroy(slot)
        return report

    def _why_alive(self, slot: Slot, everything: bool) -> str | None:
        # this process (gc) may own it: a lab it has just reaped gave it back
        owner_runs = slot.owner_pid != os.getpid() and \
            procs.is_running(slot.owner_pid, slot.owner_start)
        if slot.state == "in-use":
            if (self.work_root / slot.lab / "lab.json").exists():
                return f"used by lab {slot.lab}"
            return None
        if slot.state == "booting":
            return f"booting in process {slot.owner_pid}" if owner_runs else None
        if everything:
            return None
        if slot.keep:
            return f"kept for later runs ({KEEP_ENV}; `harness gc --vms` removes it)"
        if owner_runs:
            return f"idle, owned by the running process {slot.owner_pid}"
        return None


def unplug(slot: Slot) -> list[str]:
    """Every data tap of the slot back on its idle bridge, down (no frame in or out)."""
    if not Path(f"/run/netns/{LIBVIRT_NETNS}").exists():
        return []
    problems = []
    for tap in slot.taps.values():
        done = run(["ip", "-n", LIBVIRT_NETNS, "link", "set", tap, "down", "master",
                    slot.shape.idle_bridge], check=False)
        if done.returncode != 0 and "Cannot find device" not in done.stderr:
            problems.append(f"tap {tap} of VM {slot.shape.domain}: {done.stderr.strip()}")
    return problems


def idle_owner() -> tuple[int, int]:
    """(pid, start time) of the process an idle VM belongs to: VM_OWNER_ENV's while it runs,
    else this one."""
    given = os.environ.get(VM_OWNER_ENV, "").split()
    if len(given) == 2 and given[0].isdigit() and given[1].isdigit() \
            and procs.is_running(int(given[0]), int(given[1])):
        return int(given[0]), int(given[1])
    return os.getpid(), procs.start_time(os.getpid()) or 0


# ---------------------------------------------------------------------- one pool per process
_pools: dict[Path, Pool] = {}
_pools_lock = threading.Lock()


def pool_for(work_root: Path, box_dir: Path = BOX_DIR) -> Pool:
    with _pools_lock:
        if work_root not in _pools:
            _pools[work_root] = Pool(work_root, box_dir)
            if len(_pools) == 1:
                atexit.register(shutdown_all)
        return _pools[work_root]


def shutdown_all() -> list[str]:
    """The end of this process' VM work: destroy what it booted and nobody uses or keeps."""
    leftovers = []
    with _pools_lock:
        pools = list(_pools.values())
    for pool in pools:
        try:
            leftovers += pool.shutdown()
            with locked(pool.work_root / ".libvirtd.lock"):
                leftovers += release_libvirtd(pool.work_root / "vagrant-active")
        except Exception as exc:  # at exit: say it, never raise
            leftovers.append(f"VM pool {pool.dir}: {exc}")
    if leftovers:
        log.error("VM pool left: %s", "; ".join(leftovers))
    return leftovers


def sweep(work_root: Path, everything: bool = False, dry_run: bool = False) -> GcReport:
    """`harness gc` for the VM pool under `work_root` (then libvirtd, when nothing is left)."""
    pool = pool_for(work_root)
    report = pool.sweep(everything, dry_run)
    if not dry_run and (pidfile_alive("libvirtd") or defined_domains()):
        with locked(work_root / ".libvirtd.lock"):
            try:
                ensure_libvirtd()
            except SubstrateError as exc:
                report.problems.append(f"libvirt domains {', '.join(defined_domains())}: "
                                       f"not removed, {exc}")
                return report
            removed, stuck = remove_orphans()
            report.reaped += [f"VM {name} (its pool slot was gone)" for name in removed]
            report.problems += [f"libvirt domain {name} (its pool slot is gone)"
                                for name in stuck]
            report.problems += release_libvirtd(work_root / "vagrant-active")
    return report
