"""The vagrant substrate: every host is a VM made by Vagrant (provider libvirt), driven over SSH.

- The box is built locally by vagrant/box/build.sh (debootstrap; LXD, Open vSwitch, dnsmasq,
  python3 + scapy baked in), cached in BOX_DIR and rebuilt only when the recipe changes.
- libvirtd, virtlogd, every VM and their isolated management network live in one network
  namespace (`hl-libvirt`): nothing is attached to this machine's own network. The harness
  starts those daemons when absent and stops them when the last Vagrant lab is gone.
- The Vagrantfile is rendered from vagrant/Vagrantfile.j2: one VM per host, each segment a
  point-to-point libvirt UDP tunnel over 127.0.0.1 (so a segment joins at most two NICs).
- python-vagrant runs `vagrant up` (libvirt brings the VMs up in parallel), `status`,
  `ssh-config` and `destroy`; fabric does the rest (harness/substrates/remote.py).
- KVM when it can boot a kernel here, else QEMU software emulation (TCG): found by booting
  the box's kernel once per boot of this machine, and reported in the lab's notes.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import jinja2

import vagrant
from harness.hostnet import ovs
from harness.lxd.image import build_busybox_image
from harness.shell import run
from harness.substrates.base import HostNode, Lab, SubstrateError, progress
from harness.substrates.capabilities import Capabilities
from harness.substrates.cgroups import CGROUP_V1_MOUNTS
from harness.substrates.remote import (
    RemoteHost,
    RemoteHostsSubstrate,
    SshTarget,
    combine_capabilities,
    forget_hosts,
    prepare_lxd,
    probe_capabilities,
    probes_dir_for,
    remote_host,
    stop_process,
)
from harness.topology import DEFAULT_SEGMENT, Host, Topology

log = logging.getLogger(__name__)

RECIPE_DIR = Path(__file__).resolve().parents[2] / "vagrant"
BOX_NAME = "harness/debian12"
BOX_DIR = Path(os.environ.get("HARNESS_BOX_DIR", "/var/cache/lxd-harness/boxes/debian12"))
BOX_FILE = "harness-debian12.box"
LIBVIRT_NETNS = "hl-libvirt"
LIBVIRT_IMAGES = Path("/var/lib/libvirt/images")  # libvirt's default pool
MEMORY_MB = 1024
BOOT_TIMEOUT = 600  # seconds Vagrant waits for SSH; TCG boots take one to two minutes
UP_GRACE = 600  # on top of BOOT_TIMEOUT for all of `vagrant up` (the first box upload)
#: what a console shows when a VM will never come up
DEAD_BOOT = ("Kernel panic", "(initramfs)", "Dropping to a shell", "You are in emergency mode",
             "Give root password for maintenance")

REQUIRED_TOOLS = {
    "vagrant": "vagrant",
    "libvirtd": "libvirt-daemon-system",
    "virsh": "libvirt-clients",
    "qemu-system-x86_64": "qemu-system-x86",
    "qemu-img": "qemu-utils",
    "ssh": "openssh-client",
}

# libvirtd expects the cgroup hierarchy; `ip netns exec` gives a fresh /sys without it.
_LIBVIRT_LAUNCHER = "set -e\n" + CGROUP_V1_MOUNTS + """\
if [ "$HIDE_KVM" = 1 ]; then
    # A /dev/kvm that cannot boot a guest makes libvirt re-probe QEMU on every call (minutes
    # per `vagrant up`): libvirt finds KVM usable when QEMU's user may open /dev/kvm, and the
    # probe then finds no KVM. In libvirtd's own mount namespace its qemu.conf runs QEMU as
    # nobody, who may not, so libvirt settles for software emulation at once.
    conf=$(mktemp /run/hl-qemu.conf.XXXXXX)
    cat /etc/libvirt/qemu.conf > "$conf"
    printf '\n# lxd-harness: TCG only\nuser = "nobody"\ngroup = "nogroup"\n' >> "$conf"
    mount --bind "$conf" /etc/libvirt/qemu.conf
    rm -f "$conf"
fi
virtlogd -d
libvirtd -d
"""
_PIDFILES = {"libvirtd": Path("/run/libvirtd.pid"), "virtlogd": Path("/run/virtlogd.pid")}


# ---------------------------------------------------------------------- the Vagrantfile
@dataclass(frozen=True)
class VmNic:
    """One NIC of a VM: its end of a segment's UDP tunnel."""

    name: str  # the name the harness gives it inside the VM (found by its MAC)
    segment: str
    mac: str
    local_port: int
    remote_port: int
    peer: str  # "HOST:NIC" at the other end, or "nobody"


def mgmt_mac(host: Host) -> str:
    """The box names the NIC with this MAC `mgmt0` (vagrant/box/build.sh)."""
    return f"52:54:00:ff:00:{host.index:02x}"


def default_segment(topology: Topology) -> str:
    return DEFAULT_SEGMENT if DEFAULT_SEGMENT in topology.segments else next(
        iter(topology.segments))


def segment_ends(topology: Topology) -> dict[str, list[tuple[str, str]]]:
    """segment -> [(host, nic)]: every host's eth0 on the default segment, then its NICs."""
    ends: dict[str, list[tuple[str, str]]] = {name: [] for name in topology.segments}
    lan = default_segment(topology)
    for host in topology.hosts.values():
        ends[lan].append((host.name, "eth0"))
        for nic in host.interfaces.values():
            ends[nic.segment].append((host.name, nic.name))
    return ends


def link_problems(topology: Topology) -> list[str]:
    problems = []
    for segment, ends in segment_ends(topology).items():
        if len(ends) > 2:
            shown = ", ".join(f"{h}:{n}" for h, n in ends)
            problems.append(
                f"segment {segment} joins {len(ends)} NICs ({shown}); on the vagrant substrate "
                "a segment is a point-to-point UDP tunnel: give each pair its own segment")
    for peer in topology.peers.values():
        if not peer.implicit:
            problems.append(f"peer {peer.name}: plain LAN nodes are not supported on the "
                            "vagrant substrate yet")
    return problems


def plan_nics(topology: Topology, port_base: int) -> dict[str, list[VmNic]]:
    """The NICs of every VM, with UDP ports and MACs that are unique in the lab."""
    problems = link_problems(topology)
    if problems:
        raise SubstrateError("; ".join(problems))
    nics: dict[str, list[VmNic]] = {name: [] for name in topology.hosts}
    port = port_base
    for seg_index, (segment, ends) in enumerate(segment_ends(topology).items()):
        ports = {end: port + i for i, end in enumerate(ends)}
        port += len(ends)
        for host_name, nic in ends:
            others = [end for end in ends if end != (host_name, nic)]
            host = topology.hosts[host_name]
            number = len(nics[host_name]) + 1
            nics[host_name].append(VmNic(
                name=nic, segment=segment,
                mac=f"52:54:00:{host.index:02x}:{seg_index:02x}:{number:02x}",
                local_port=ports[(host_name, nic)],
                # a lone NIC sends into a port nobody listens on, like an unplugged cable
                remote_port=ports[others[0]] if others else port_base - 1,
                peer=f"{others[0][0]}:{others[0][1]}" if others else "nobody"))
    return nics


def port_base_for(run_id: str) -> int:
    return 20000 + (int(run_id, 16) % 1000) * 40


def mgmt_subnet_for(run_id: str) -> str:
    return f"10.254.{int(run_id, 16) % 250}.0/24"


def render_vagrantfile(topology: Topology, run_id: str, workdir: Path, *, driver: str,
                       box_dir: Path = BOX_DIR, memory: int = MEMORY_MB,
                       boot_timeout: int = BOOT_TIMEOUT, kernel_args: str = "") -> str:
    nics = plan_nics(topology, port_base_for(run_id))
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(RECIPE_DIR),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    hosts = [{"name": host.name, "mgmt_mac": mgmt_mac(host), "nics": nics[host.name],
              "console": str(workdir / host.name / "console.log")}
             for host in topology.hosts.values()]
    return env.get_template("Vagrantfile.j2").render(
        scenario=topology.name, run_id=run_id, netns=LIBVIRT_NETNS, box=BOX_NAME,
        boot_timeout=boot_timeout, driver=driver, memory=memory, cpus=1,
        kernel_args=f"root=/dev/vda rw console=ttyS0 net.ifnames=0 {kernel_args}".strip(),
        kernel=str(box_dir / "vmlinuz"), initrd=str(box_dir / "initrd.img"),
        mgmt_network=f"hl-{run_id}-mgmt", mgmt_subnet=mgmt_subnet_for(run_id),
        prefix=f"hl-{run_id}-", hosts=hosts)


# ---------------------------------------------------------------------- box and accelerator
def recipe_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted((RECIPE_DIR / "box").rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(RECIPE_DIR)).encode() + path.read_bytes())
    return digest.hexdigest()[:16]


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_box(box_dir: Path = BOX_DIR) -> float:
    """Build the box when absent or stale, and add it to Vagrant; return seconds spent building."""
    stamp = box_dir / "recipe.sha256"
    wanted = recipe_digest()
    with _locked(box_dir.parent / f".{box_dir.name}.lock"):
        built = 0.0
        if not (stamp.exists() and stamp.read_text().strip() == wanted
                and (box_dir / BOX_FILE).exists()):
            progress.info("vagrant: building box %s (debootstrap, a few minutes)", BOX_NAME)
            started = time.monotonic()
            stamp.unlink(missing_ok=True)
            log_path = box_dir.parent / f"{box_dir.name}-build.log"
            with open(log_path, "wb") as out:
                proc = subprocess.run(["sh", str(RECIPE_DIR / "box" / "build.sh"), str(box_dir)],
                                      stdout=out, stderr=subprocess.STDOUT)
            if proc.returncode != 0:
                tail = log_path.read_text(errors="replace")[-3000:]
                raise SubstrateError(f"box build failed (exit {proc.returncode}), "
                                     f"{log_path}:\n{tail}")
            built = time.monotonic() - started
            progress.info("vagrant: box built in %.0f s", built)
        added = box_dir / "vagrant-added.sha256"
        if not (added.exists() and added.read_text().strip() == wanted):
            _forget_old_box_volumes()
            run(["vagrant", "box", "add", "--force", "--name", BOX_NAME,
                 str(box_dir / BOX_FILE)], env=_vagrant_env(), timeout=600, where="vagrant")
            added.write_text(wanted)
        stamp.write_text(wanted)
        return built


def _forget_old_box_volumes() -> None:
    """vagrant-libvirt keeps each uploaded box image in libvirt's pool (named after the box
    file's mtime); the images of an older box go, unless a running lab may still use one."""
    if _pidfile_alive("libvirtd"):
        return  # VMs may be running on them: left for a later rebuild
    prefix = BOX_NAME.replace("/", "-VAGRANTSLASH-") + "_vagrant_box_image_"
    for image in LIBVIRT_IMAGES.glob(f"{prefix}*"):
        image.unlink(missing_ok=True)  # the pool is refreshed when libvirtd activates it


def choose_driver(cache_dir: Path, box_dir: Path = BOX_DIR) -> tuple[str, str]:
    """("kvm" | "qemu", why): KVM only if it boots the box's kernel here (cached per boot)."""
    boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    cache = cache_dir / f"accelerator-{boot_id}.json"
    if cache.exists():
        data = json.loads(cache.read_text())
        return data["driver"], data["why"]
    driver, why = "qemu", "/dev/kvm is absent: QEMU software emulation (TCG)"
    if os.access("/dev/kvm", os.R_OK | os.W_OK):
        # Without a root filesystem the kernel panics at once: proof that it ran.
        argv = ["timeout", "20", "qemu-system-x86_64", "-accel", "kvm", "-m", "256",
                "-kernel", str(box_dir / "vmlinuz"), "-append", "console=ttyS0 panic=-1",
                "-nographic", "-no-reboot", "-nodefaults", "-serial", "stdio"]
        out = subprocess.run(argv, capture_output=True, text=True, errors="replace").stdout
        if "Kernel panic" in out or "Linux version" in out:
            driver, why = "kvm", "KVM boots a kernel here"
        else:
            why = ("/dev/kvm is present but does not boot a kernel within 20 s: "
                   "QEMU software emulation (TCG)")
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"driver": driver, "why": why}))
    return driver, why


# ---------------------------------------------------------------------- libvirtd
def _pidfile_alive(name: str) -> int | None:
    try:
        pid = int(_PIDFILES[name].read_text().split()[0])
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except (OSError, ValueError, IndexError):
        return None
    return pid if comm == name else None


def _in_libvirt_netns(pid: int) -> bool:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(
            f"/run/netns/{LIBVIRT_NETNS}").st_ino
    except OSError:
        return False


def ensure_libvirtd(hide_kvm: bool) -> None:
    """libvirtd + virtlogd inside LIBVIRT_NETNS, started unless already there."""
    pid = _pidfile_alive("libvirtd")
    if pid is not None:
        if not _in_libvirt_netns(pid):
            raise SubstrateError(
                f"a libvirtd (pid {pid}) not started by the harness runs in another network "
                f"namespace; the vagrant substrate keeps its VMs inside {LIBVIRT_NETNS}: "
                "stop that libvirtd first")
        return
    if not Path(f"/run/netns/{LIBVIRT_NETNS}").exists():
        run(["ip", "netns", "add", LIBVIRT_NETNS], where="libvirt")
        run(["ip", "-n", LIBVIRT_NETNS, "link", "set", "lo", "up"], where="libvirt")
    run(["ip", "netns", "exec", LIBVIRT_NETNS, "sh", "-c", _LIBVIRT_LAUNCHER],
        env={"HIDE_KVM": "1" if hide_kvm and Path("/dev/kvm").exists() else "0"},
        where="libvirt")
    deadline = time.monotonic() + 20
    while run(["virsh", "-c", "qemu:///system", "version"], check=False).returncode != 0:
        if time.monotonic() > deadline:
            raise SubstrateError("libvirtd did not answer in 20 s")
        time.sleep(0.2)


def release_libvirtd(active_dir: Path) -> list[str]:
    """Stop libvirtd, virtlogd and the namespace once no Vagrant lab is left."""
    if any(active_dir.glob("*")):
        return []
    leftovers = []
    domains = run(["virsh", "-q", "list", "--all", "--name"], check=False).stdout.split()
    if domains:
        return [f"libvirt still has domains {', '.join(domains)}: libvirtd left running"]
    for name in ("libvirtd", "virtlogd"):
        pid = _pidfile_alive(name)
        if pid is not None and _in_libvirt_netns(pid):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            if Path(f"/proc/{pid}").exists():
                os.kill(pid, signal.SIGKILL)
    if Path(f"/run/netns/{LIBVIRT_NETNS}").exists():
        stray = run(["ip", "netns", "pids", LIBVIRT_NETNS], check=False).stdout.split()
        for pid in stray:  # libvirt's dnsmasq for the management networks
            try:
                os.kill(int(pid), signal.SIGTERM)
            except ProcessLookupError:
                pass
        time.sleep(0.3)
        if run(["ip", "netns", "del", LIBVIRT_NETNS], check=False).returncode != 0:
            leftovers.append(f"namespace {LIBVIRT_NETNS}")
    return leftovers


def _vagrant_env() -> dict[str, str]:
    return {"VAGRANT_CHECKPOINT_DISABLE": "1", "VAGRANT_DEFAULT_PROVIDER": "libvirt",
            "VAGRANT_NO_COLOR": "1", "VAGRANT_LOG": os.environ.get("VAGRANT_LOG", "warn")}


# ---------------------------------------------------------------------- the substrate
class VagrantSubstrate(RemoteHostsSubstrate):
    needs_root = "libvirtd, network namespaces"
    required_tools = REQUIRED_TOOLS
    pytest_marks = ("vm",)  # the slow tier: `-m "not vm"` leaves it out

    def __init__(self, work_root: Path | None = None, run_id: str | None = None,
                 box_dir: Path = BOX_DIR, boot_timeout: int = BOOT_TIMEOUT,
                 kernel_args: str = ""):
        super().__init__(work_root, run_id)
        self.box_dir = box_dir
        self.boot_timeout = boot_timeout
        self.kernel_args = kernel_args  # appended to the VMs' kernel command line

    @property
    def active_dir(self) -> Path:
        return self.work_root / "vagrant-active"

    # ---------------------------------------------------------------- preflight
    def check(self, topology: Topology) -> list[str]:
        problems = []
        plugins = run(["vagrant", "plugin", "list"], env=_vagrant_env(), check=False).stdout \
            if shutil.which("vagrant") else ""
        if shutil.which("vagrant") and "vagrant-libvirt" not in plugins:
            problems.append("Vagrant has no libvirt provider: install Debian's vagrant-libvirt")
        if not (self.box_dir / BOX_FILE).exists() and shutil.which("debootstrap") is None:
            problems.append("the box must be built and `debootstrap` is missing: install "
                            "Debian's debootstrap")
        problems.extend(link_problems(topology))
        return problems

    # ---------------------------------------------------------------- up
    def created(self, lab: Lab, topology: Topology) -> None:
        # libvirtd stays while any Vagrant lab is active (see release_libvirtd)
        self.active_dir.mkdir(parents=True, exist_ok=True)
        (self.active_dir / self.run_id).write_text(lab.workdir)

    def bring_up(self, lab: Lab, topology: Topology) -> None:
        workdir = Path(lab.workdir)
        lab.timings["box_build"] = ensure_box(self.box_dir)
        driver, why = choose_driver(self.work_root / "cache", self.box_dir)
        # not a feature checks need: shown in the report, so that it says which was used
        lab.capabilities["kvm"] = driver == "kvm"
        lab.capability_notes["kvm"] = why
        progress.info("vagrant: VMs run on %s (%s)", driver, why)
        with _locked(self.work_root / ".libvirtd.lock"):
            ensure_libvirtd(hide_kvm=driver != "kvm")
        for host in topology.hosts.values():
            (workdir / host.name).mkdir()
            lab.hosts[host.name] = HostNode(
                name=host.name, kind="host", netns="",
                lxd_dir=str(workdir / host.name / "lxd"))
        (workdir / "Vagrantfile").write_text(
            render_vagrantfile(topology, self.run_id, workdir, driver=driver,
                               box_dir=self.box_dir, boot_timeout=self.boot_timeout,
                               kernel_args=self.kernel_args))
        lab.save(workdir / "lab.json")
        self._vagrant_up(lab, topology)
        lab.save(workdir / "lab.json")
        image = build_busybox_image(self.work_root / "cache")
        nics = plan_nics(topology, port_base_for(self.run_id))
        with ThreadPoolExecutor(max_workers=max(1, len(topology.hosts))) as pool:
            futures = [pool.submit(self._prepare, lab, topology, host, nics[host.name], image)
                       for host in topology.hosts.values()]
            per_host = [future.result() for future in futures]
        caps = combine_capabilities(per_host)
        lab.capabilities.update(caps.works)
        lab.capability_notes.update(caps.notes)

    # ---------------------------------------------------------------- reachability
    def far_end(self, lab: Lab, host: str, iface: str) -> tuple[str, str, str] | None:
        """Frames injected into one end of a VM's point-to-point link (`links[iface]` is
        [segment, "PEERHOST:PEERNIC"]) arrive at the other end from the wire."""
        link = lab.hosts[host].links.get(iface)
        if not link or ":" not in link[1]:
            return None
        peer_host, _, peer_nic = link[1].partition(":")
        return (self.place(lab, peer_host), peer_nic,
                f"the far end of the link, {peer_host} {peer_nic}")

    def _vagrant(self, lab: Lab) -> vagrant.Vagrant:
        workdir = Path(lab.workdir)
        wrapper = workdir / "bin" / "vagrant"
        if not wrapper.exists():
            # Vagrant reaches the VMs' management addresses only inside the libvirt namespace.
            wrapper.parent.mkdir(parents=True, exist_ok=True)
            wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {LIBVIRT_NETNS} '
                               f'{shutil.which("vagrant") or "vagrant"} "$@"\n')
            wrapper.chmod(0o755)
        log_cm = vagrant.make_file_cm(str(workdir / "vagrant.log"))
        env = {**os.environ, **_vagrant_env()}
        machine = vagrant.Vagrant(root=str(workdir), env=env, out_cm=log_cm, err_cm=log_cm)
        machine._vagrant_exe = str(wrapper)
        return machine

    def _vagrant_up(self, lab: Lab, topology: Topology) -> None:
        started = time.monotonic()
        progress.info("vagrant: booting %d VM(s) in parallel", len(topology.hosts))
        machine = self._vagrant(lab)
        # python-vagrant's command, run here so that a VM that cannot boot stops it at once
        # (Vagrant itself would wait ten minutes for a DHCP lease that never comes).
        command = machine._make_vagrant_command(["up", "--provider=libvirt"])
        timeline = Path(lab.workdir) / "vagrant-up.log"
        with open(timeline, "w") as out:  # Vagrant's lines, with the second they came
            proc = subprocess.Popen(command, cwd=lab.workdir, env=machine.env, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
            verdict: list[str] = []
            watchdog = threading.Thread(target=self._watch_boot, daemon=True,
                                        args=(lab, proc, started, verdict))
            watchdog.start()
            try:
                assert proc.stdout is not None
                for line in proc.stdout:
                    if "Progress:" in line:
                        continue
                    out.write(f"[{time.monotonic() - started:6.1f}s] {line}")
                    out.flush()
                    if line.startswith("==> ") and ("Starting domain" in line
                                                    or "booted and ready" in line):
                        progress.info("vagrant: %s", line[4:].strip())
                proc.wait()
            finally:
                if proc.poll() is None:  # interrupted: Vagrant must not go on alone
                    stop_process(proc.pid)
                watchdog.join()
        if proc.returncode != 0 or verdict:
            reason = verdict[0] if verdict else f"vagrant up failed (exit {proc.returncode})"
            raise SubstrateError(self._boot_failure(lab, machine, reason))
        lab.timings["vagrant_up"] = time.monotonic() - started
        progress.info("vagrant: VMs up in %.0f s", lab.timings["vagrant_up"])
        for host in topology.hosts.values():
            config = machine.conf(vm_name=host.name)
            lab.hosts[host.name].remote = SshTarget(
                address=config["HostName"], port=int(config.get("Port", 22)),
                user=config.get("User", "vagrant"), key=config.get("IdentityFile"),
                # a VM made a minute ago by Vagrant, reachable only inside LIBVIRT_NETNS
                check_host_key=False, netns=LIBVIRT_NETNS,
                probes_dir=probes_dir_for(lab.run_id)).to_dict()

    def _watch_boot(self, lab: Lab, proc: subprocess.Popen, started: float,
                    verdict: list[str]) -> None:
        """Stop `vagrant up` when a console shows a dead boot, or when it takes too long."""
        deadline = started + self.boot_timeout + UP_GRACE
        while proc.poll() is None:
            for name in lab.hosts:
                console = Path(lab.workdir) / name / "console.log"
                text = console.read_text(errors="replace") if console.exists() else ""
                dead = next((sign for sign in DEAD_BOOT if sign in text), None)
                if dead:
                    verdict.append(f"VM {name} did not boot: its console shows {dead!r}")
            if not verdict and time.monotonic() > deadline:
                verdict.append(f"vagrant up took longer than {self.boot_timeout + UP_GRACE} s")
            if verdict:
                stop_process(proc.pid)
                return
            time.sleep(1)

    def _boot_failure(self, lab: Lab, machine: vagrant.Vagrant, reason: str) -> str:
        """Which VM did not come up, with its console log and Vagrant's own words."""
        workdir = Path(lab.workdir)
        lines = [reason]
        try:
            states = {s.name: s.state for s in machine.status()}
        except subprocess.CalledProcessError:
            states = {}
        for name in lab.hosts:
            lines.append(f"{name}: domain {states.get(name, 'unknown')}")
            console = workdir / name / "console.log"
            tail = console.read_text(errors="replace")[-2500:] if console.exists() else ""
            lines.append(f"--- console log of {name} ({console}):\n"
                         f"{tail.strip() or '(empty: the VM never wrote to its console)'}")
        for log_name in ("vagrant-up.log", "vagrant.log"):
            vagrant_log = workdir / log_name
            if vagrant_log.exists():
                text = re.sub(r"(\x1b\[K)?Progress: \d+%", "",
                              vagrant_log.read_text(errors="replace"))
                lines.append(f"--- {log_name}:\n" + text[-2500:])
        return "\n".join(lines)

    def _prepare(self, lab: Lab, topology: Topology, host: Host, nics: list[VmNic],
                 image: Path) -> Capabilities:
        node = lab.hosts[host.name]
        remote = remote_host(node)
        remote.run(["hostname", host.name])
        remote.run(["sh", "-c", f'echo "127.0.1.1 {host.name}" >> /etc/hosts'])  # for sudo
        remote.run(["modprobe", "-a", "openvswitch", "ip_gre", "gre", "8021q", "vxlan"],
                   check=False)
        # With ip_gre loaded, every new namespace gets gre0/gretap0/erspan0 fallback devices,
        # and the busybox image's DHCP client would pick one of those instead of eth0.
        remote.run(["sysctl", "-qw", "net.core.fb_tunnels_only_for_init_net=2"])
        self._name_nics(remote, host, nics)
        node.links = {nic.name: [nic.segment, nic.peer] for nic in nics}
        remote.run(["ip", "addr", "add", str(host.underlay), "dev", "eth0"])
        # No upstream router between VMs: other hosts' underlays in other subnets are on-link.
        for other in topology.hosts.values():
            if other.name != host.name and other.underlay.ip not in host.underlay.network:
                remote.run(["ip", "route", "add", f"{other.underlay.ip}/32", "dev", "eth0"])
        if ovs.needed_by(host):
            node.ovs_datapath = ovs.KERNEL
        prepare_lxd(host, node, remote, image)
        return probe_capabilities(remote)

    def _name_nics(self, remote: RemoteHost, host: Host, nics: list[VmNic]) -> None:
        """Give the NICs the scenario's names, found by MAC (first to temporary names)."""
        links = remote.run(["ip", "-o", "link", "show"]).stdout
        by_mac = {}
        for line in links.splitlines():
            fields = line.split()
            if "link/ether" in fields:
                by_mac[fields[fields.index("link/ether") + 1]] = fields[1].rstrip(":").split("@")[0]
        for i, nic in enumerate(nics):
            current = by_mac.get(nic.mac)
            if current is None:
                raise SubstrateError(f"{host.name}: no NIC with MAC {nic.mac} for {nic.name} "
                                     f"(links: {', '.join(by_mac.values())})")
            remote.run(["ip", "link", "set", "dev", current, "down"])
            remote.run(["ip", "link", "set", "dev", current, "name", f"hltmp{i}"])
        mtus = {nic.name: host.interfaces[nic.name].mtu for nic in nics
                if nic.name in host.interfaces and host.interfaces[nic.name].mtu}
        for i, nic in enumerate(nics):
            remote.run(["ip", "link", "set", "dev", f"hltmp{i}", "name", nic.name])
            if nic.name in mtus:
                remote.run(["ip", "link", "set", "dev", nic.name, "mtu", str(mtus[nic.name])])
            remote.run(["ip", "link", "set", "dev", nic.name, "up"])

    # ---------------------------------------------------------------- down
    def tear_down(self, lab: Lab) -> list[str]:
        leftovers: list[str] = []
        workdir = Path(lab.workdir)
        forget_hosts(lab)
        for node in lab.hosts.values():
            for pid in node.pids:  # the LXD socket forwards
                stop_process(pid)
        if (workdir / "Vagrantfile").exists():
            try:
                self._vagrant(lab).destroy()
            except subprocess.CalledProcessError as exc:
                log.warning("vagrant destroy failed (exit %s); removing domains by hand",
                            exc.returncode)
        leftovers.extend(self._remove_libvirt_objects(lab))
        (self.active_dir / lab.run_id).unlink(missing_ok=True)
        with _locked(self.work_root / ".libvirtd.lock"):
            leftovers.extend(release_libvirtd(self.active_dir))
        return leftovers

    def _remove_libvirt_objects(self, lab: Lab) -> list[str]:
        """Whatever `vagrant destroy` left of this lab: domains, volumes, the mgmt network."""
        if not _pidfile_alive("libvirtd"):
            return []
        prefix = f"hl-{lab.run_id}-"
        leftovers = []
        domains = run(["virsh", "-q", "list", "--all", "--name"], check=False).stdout.split()
        for domain in [d for d in domains if d.startswith(prefix)]:
            run(["virsh", "destroy", domain], check=False)
            undefine = run(["virsh", "undefine", domain, "--remove-all-storage"], check=False)
            if undefine.returncode != 0:
                leftovers.append(f"libvirt domain {domain}")
        networks = run(["virsh", "-q", "net-list", "--all", "--name"], check=False).stdout.split()
        for network in [n for n in networks if n.startswith(prefix)]:
            run(["virsh", "net-destroy", network], check=False)
            if run(["virsh", "net-undefine", network], check=False).returncode != 0:
                leftovers.append(f"libvirt network {network}")
        volumes = run(["virsh", "-q", "vol-list", "--pool", "default"], check=False).stdout
        for line in volumes.splitlines():
            name = line.split()[0] if line.split() else ""
            if name.startswith(prefix):
                run(["virsh", "vol-delete", "--pool", "default", name], check=False)
        return leftovers
