"""libvirtd and virtlogd inside one network namespace of their own (`hl-libvirt`), with every
VM and their isolated management networks: nothing is attached to this machine's network.
The harness starts those daemons when absent and stops them when the last Vagrant lab is gone.
KVM is used when it can boot a kernel here, else QEMU software emulation (TCG).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

from harness.shell import run
from harness.substrates import procs
from harness.substrates.base import SubstrateError
from harness.substrates.cgroups import cgroup_mounts
from harness.substrates.runs import NETNS_PREFIX

LIBVIRT_NETNS = f"{NETNS_PREFIX}libvirt"
LIBVIRT_IMAGES = Path("/var/lib/libvirt/images")  # libvirt's default pool
LIBVIRT_DOMAINS = Path("/etc/libvirt/qemu")  # persistent domain definitions
#: the VMs' management network (SSH from this machine only): isolated, no route anywhere,
#: one for every VM, made with libvirtd and gone with it
MGMT_NETWORK = f"{NETNS_PREFIX}vms-mgmt"
MGMT_SUBNET = "10.254.0.0/24"
_MGMT_XML = f"""<network>
  <name>{MGMT_NETWORK}</name>
  <bridge name='{MGMT_NETWORK}' stp='off' delay='0'/>
  <ip address='10.254.0.1' netmask='255.255.255.0'>
    <dhcp><range start='10.254.0.2' end='10.254.0.254'/></dhcp>
  </ip>
</network>
"""

# libvirtd expects the cgroup hierarchy; `ip netns exec` gives a fresh /sys without it.
_LIBVIRT_LAUNCHER = "set -e\n" + cgroup_mounts() + """\
# libvirt probes QEMU's capabilities (finding KVM when /dev/kvm opens), then on every lookup
# checks that QEMU's user may open /dev/kvm; when the two disagree (a /dev/kvm whose group is
# not QEMU's, as here) it probes again on every call: seconds each, minutes per `vagrant up`
# (measured: "KVM was enabled when probing ..., but it is not available now", 4 s a time).
# In libvirtd's own mount namespace its qemu.conf runs QEMU as root, so they agree. Whether a
# VM uses KVM is the domain's type (the Vagrantfile's driver), not this.
conf=$(mktemp /run/hl-qemu.conf.XXXXXX)
cat /etc/libvirt/qemu.conf > "$conf"
printf '\n# lxd-harness: QEMU as root (see harness/substrates/vagrant/libvirtd.py)\n' >> "$conf"
printf 'user = "root"\ngroup = "root"\n' >> "$conf"
mount --bind "$conf" /etc/libvirt/qemu.conf
rm -f "$conf"
virtlogd -d
libvirtd -d
"""
_PIDFILES = {"libvirtd": Path("/run/libvirtd.pid"), "virtlogd": Path("/run/virtlogd.pid")}


def choose_driver(cache_dir: Path, box_dir: Path) -> tuple[str, str]:
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


def pidfile_alive(name: str) -> int | None:
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


def ensure_libvirtd() -> None:
    """libvirtd + virtlogd inside LIBVIRT_NETNS, started unless already there."""
    pid = pidfile_alive("libvirtd")
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
    run(["ip", "netns", "exec", LIBVIRT_NETNS, "sh", "-c", _LIBVIRT_LAUNCHER], where="libvirt")
    deadline = time.monotonic() + 20
    while run(["virsh", "-c", "qemu:///system", "version"], check=False).returncode != 0:
        if time.monotonic() > deadline:
            raise SubstrateError("libvirtd did not answer in 20 s")
        time.sleep(0.2)
    _ensure_mgmt_network()


#: vagrant-libvirt's description of a domain it defined: "Source: FOLDER/Vagrantfile"
_SOURCE = re.compile(r"^Source: (/\S+)/Vagrantfile$", re.MULTILINE)


def defined_domains() -> list[str]:
    """The harness's domains libvirt will define when it starts (read from its files)."""
    return sorted(path.stem for path in LIBVIRT_DOMAINS.glob(f"{NETNS_PREFIX}*-vm.xml"))


def orphan_domains() -> list[str]:
    """The harness's domains (hl-SLOT-vm) whose pool slot is gone: a run killed between
    its folder's removal and the domain's, or while libvirtd was down. A slot's folder and
    slot.json exist before its domain is defined and go only after it, so a domain without
    them belongs to no one."""
    names = run(["virsh", "-q", "list", "--all", "--name"], check=False).stdout.split()
    orphans = []
    for name in names:
        if not re.fullmatch(rf"{NETNS_PREFIX}[0-9a-f]+-vm", name):
            continue  # not one of ours
        source = _SOURCE.search(run(["virsh", "desc", name], check=False).stdout)
        if source and not (Path(source.group(1)) / "slot.json").exists():
            orphans.append(name)
    return orphans


def remove_domain(name: str) -> bool:
    """Stop and undefine one domain with its storage and snapshots; True when it is gone."""
    run(["virsh", "destroy", name], check=False)
    undefined = run(["virsh", "undefine", name, "--remove-all-storage",
                     "--snapshots-metadata"], check=False)
    run(["virsh", "vol-delete", "--pool", "default", f"{name}.img"], check=False)
    return undefined.returncode == 0


def remove_orphans() -> tuple[list[str], list[str]]:
    """(removed, could not remove) among the orphan domains."""
    removed, stuck = [], []
    for name in orphan_domains():
        (removed if remove_domain(name) else stuck).append(name)
    return removed, stuck


def _ensure_mgmt_network() -> None:
    """The management network, transient (no <forward>: isolated; gone with libvirtd)."""
    if run(["virsh", "net-info", MGMT_NETWORK], check=False).returncode == 0:
        return
    created = run(["virsh", "net-create", "/dev/stdin"], input=_MGMT_XML, check=False)
    if created.returncode != 0 and \
            run(["virsh", "net-info", MGMT_NETWORK], check=False).returncode != 0:
        raise SubstrateError(f"libvirt: could not make the management network {MGMT_NETWORK}: "
                             f"{created.stderr.strip() or created.stdout.strip()}")


def domain_taps(domain: str) -> dict[str, str]:
    """MAC -> the tap of that NIC of `domain` (in LIBVIRT_NETNS)."""
    listing = run(["virsh", "-q", "domiflist", domain], where=domain).stdout
    taps = {}
    for line in listing.splitlines():
        fields = line.split()
        if len(fields) == 5 and fields[0] != "-":
            taps[fields[4].lower()] = fields[0]
    return taps


def release_libvirtd(active_dir: Path) -> list[str]:
    """Stop libvirtd, virtlogd and the namespace once no Vagrant lab is left."""
    if any(active_dir.glob("*")):
        return []
    leftovers = []
    if pidfile_alive("libvirtd") is not None:
        remove_orphans()
    domains = run(["virsh", "-q", "list", "--all", "--name"], check=False).stdout.split()
    if domains:
        return [f"libvirt still has domains {', '.join(domains)}: libvirtd left running"]
    run(["virsh", "net-destroy", MGMT_NETWORK], check=False)
    for name in ("libvirtd", "virtlogd"):
        pid = pidfile_alive(name)
        if pid is not None and _in_libvirt_netns(pid):
            procs.stop([pid], grace=10, kill_group=False)
    if Path(f"/run/netns/{LIBVIRT_NETNS}").exists():
        stray = run(["ip", "netns", "pids", LIBVIRT_NETNS], check=False).stdout.split()
        # libvirt's dnsmasq for the management networks
        procs.stop([int(pid) for pid in stray], grace=0.3, kill_group=False)
        if run(["ip", "netns", "del", LIBVIRT_NETNS], check=False).returncode != 0:
            leftovers.append(f"namespace {LIBVIRT_NETNS}")
    return leftovers
