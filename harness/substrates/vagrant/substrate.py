"""The vagrant substrate: every host is a VM made by Vagrant (provider libvirt), driven over SSH.

- The box is built locally by vagrant/box/build.sh (debootstrap; LXD, Open vSwitch, dnsmasq,
  python3 + scapy baked in), cached in BOX_DIR and rebuilt only when the recipe changes.
- libvirtd, virtlogd, every VM and their isolated management network live in one network
  namespace (`hl-libvirt`): nothing is attached to this machine's own network. The harness
  starts those daemons when absent and stops them when the last VM is gone.
- VMs come from a pool (pool.py): booted once, reverted to a snapshot between labs.
- The lab's network is made by the same code as on the local substrate (harness/substrates/
  fabric.py): segments are bridges, here in `hl-libvirt`, where the VMs' NICs are taps;
  `upstream` and the peers are namespaces on this machine plugged into those bridges. So a
  segment joins any number of NICs, and NAT, DNS to upstream and LAN peers work as locally.
- Commands, LXD's socket and probes go over SSH (harness/substrates/remote.py).
- KVM when it can boot a kernel here, else QEMU software emulation (TCG): found by booting
  the box's kernel once per boot of this machine, and reported in the lab's notes.
"""

from __future__ import annotations

import logging
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness.hostnet import ovs
from harness.lxd.image import build_busybox_image
from harness.shell import run
from harness.substrates import dnsmasq, fabric, procs
from harness.substrates.base import HostNode, Lab, SubstrateError, progress
from harness.substrates.capabilities import Capabilities
from harness.substrates.plumbing import IpBatch
from harness.substrates.remote import (
    RemoteHost,
    RemoteHostsSubstrate,
    combine_capabilities,
    forget_hosts,
    prepare_lxd,
    probes_dir_for,
    remote_host,
    tool_path,
)
from harness.substrates.vagrant.box import BOX_DIR, BOX_FILE, ensure_box, locked, recipe_digest
from harness.substrates.vagrant.cli import vagrant_env
from harness.substrates.vagrant.libvirtd import (
    LIBVIRT_NETNS,
    choose_driver,
    ensure_libvirtd,
    release_libvirtd,
    remove_orphans,
)
from harness.substrates.vagrant.pool import Slot, pool_for
from harness.substrates.vagrant.render import BOOT_TIMEOUT, MAX_SLOTS
from harness.topology import UNDERLAY_NIC, UPSTREAM, UPSTREAM_WAN_ADDRESS, Host, Topology

log = logging.getLogger(__name__)

REQUIRED_TOOLS = {
    "vagrant": "vagrant",
    "libvirtd": "libvirt-daemon-system",
    "virsh": "libvirt-clients",
    "qemu-system-x86_64": "qemu-system-x86",
    "qemu-img": "qemu-utils",
    "ssh": "openssh-client",
    "dnsmasq": "dnsmasq-base",
}

def prepare_vms(work_root: Path, box_dir: Path = BOX_DIR, lab: Lab | None = None) -> str:
    """The box (built when stale), KVM or not, libvirtd running: what booting a VM needs.
    Returns the libvirt driver ("kvm" | "qemu"); `lab`'s capabilities say which, and why."""
    built = ensure_box(box_dir)
    driver, why = choose_driver(work_root / "cache", box_dir)
    if lab is not None:
        lab.timings["box_build"] = built
        # not a feature checks need: shown in the report, so that it says which was used
        lab.capabilities["kvm"] = driver == "kvm"
        lab.capability_notes["kvm"] = why
    progress.info("vagrant: VMs run on %s (%s)", driver, why)
    with locked(work_root / ".libvirtd.lock"):
        ensure_libvirtd()
        removed, stuck = remove_orphans()
    if removed or stuck:
        progress.info("vagrant: removed VMs whose pool slot was gone (a killed run's): %s%s",
                      ", ".join(removed) or "none",
                      f"; could not remove {', '.join(stuck)}" if stuck else "")
    return driver


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

    @property
    def pool(self):
        return pool_for(self.work_root, self.box_dir)

    # ---------------------------------------------------------------- preflight
    def check(self, topology: Topology) -> list[str]:
        problems = []
        plugins = run(["vagrant", "plugin", "list"], env=vagrant_env(), check=False).stdout \
            if shutil.which("vagrant") else ""
        if shutil.which("vagrant") and "vagrant-libvirt" not in plugins:
            problems.append("Vagrant has no libvirt provider: install Debian's vagrant-libvirt")
        if not (self.box_dir / BOX_FILE).exists() and shutil.which("debootstrap") is None:
            problems.append("the box must be built and `debootstrap` is missing: install "
                            "Debian's debootstrap")
        if len(topology.hosts) > MAX_SLOTS:
            problems.append(f"{len(topology.hosts)} hosts: the vagrant substrate runs at most "
                            f"{MAX_SLOTS} VMs")
        return problems

    # ---------------------------------------------------------------- up
    def created(self, lab: Lab, topology: Topology) -> None:
        # libvirtd stays while any Vagrant lab or pool VM is active (see release_libvirtd)
        self.active_dir.mkdir(parents=True, exist_ok=True)
        (self.active_dir / self.run_id).write_text(lab.workdir)

    def bring_up(self, lab: Lab, topology: Topology) -> None:
        workdir = Path(lab.workdir)
        started = time.monotonic()
        driver = prepare_vms(self.work_root, self.box_dir, lab)
        lab.timings["box_and_libvirtd"] = round(time.monotonic() - started, 1)
        # upstream, the peers and the segments: the local substrate's own code, with the
        # segments' bridges in the libvirt namespace where the VMs' taps are
        fabric.make_nodes(lab, topology, fabric_netns=LIBVIRT_NETNS, hosts=False)
        for host in topology.hosts.values():
            (workdir / host.name).mkdir()
            lab.hosts[host.name] = HostNode(name=host.name, kind="host", netns="",
                                            lxd_dir=str(workdir / host.name / "lxd"))
        lab.save(workdir / "lab.json")
        fabric.wire(lab, topology)
        self._start_dnsmasqs(lab, topology)
        lab.save(workdir / "lab.json")
        needs = {host.name: 1 + len(host.interfaces) for host in topology.hosts.values()}
        slots = self.pool.acquire(self.run_id, needs, box=recipe_digest(), driver=driver,
                                  kernel_args=self.kernel_args, boot_timeout=self.boot_timeout)
        for host, slot in zip(topology.hosts.values(), slots, strict=True):
            node = lab.hosts[host.name]
            node.vm = slot.id
            probes_dir = probes_dir_for(self.run_id)
            node.remote = {**slot.ssh, "probes_dir": probes_dir}
            if any(argv[0] == "fanctl" for argv in host.setup):  # the stand-in, first
                node.remote["env"] = {"PATH": tool_path(probes_dir)}
        lab.save(workdir / "lab.json")
        for host, slot in zip(topology.hosts.values(), slots, strict=True):
            self._plug(lab, topology, host, slot)
        lab.save(workdir / "lab.json")
        image = build_busybox_image(self.work_root / "cache")
        with ThreadPoolExecutor(max_workers=max(1, len(topology.hosts))) as pool:
            futures = [pool.submit(self._prepare, lab, topology, host, slot, image)
                       for host, slot in zip(topology.hosts.values(), slots, strict=True)]
            for future in futures:
                future.result()
        caps = combine_capabilities([Capabilities(dict(s.capabilities),
                                                  dict(s.capability_notes)) for s in slots])
        lab.capabilities.update(caps.works)
        lab.capability_notes.update(caps.notes)

    def _start_dnsmasqs(self, lab: Lab, topology: Topology) -> None:
        dnsmasq.start_upstream_dns(lab.nodes[UPSTREAM])
        for peer in topology.peers.values():
            if peer.dhcp_range is not None:
                dnsmasq.start_peer_dhcp(Path(lab.workdir), lab.nodes[peer.name],
                                        peer.dhcp_range)

    @staticmethod
    def _nics(host: Host, slot: Slot) -> list[tuple[str, str, int | None, str]]:
        """(NIC, segment, MTU, MAC) of the host, on its VM's data NICs in order ("": lan)."""
        nics = [(UNDERLAY_NIC, "", None),
                *[(nic.name, nic.segment, nic.mtu) for nic in host.interfaces.values()]]
        # the VM may have more data NICs than the host needs: those stay unplugged
        return [(*nic, mac) for nic, mac in zip(nics, slot.shape.data_macs, strict=False)]

    def _plug(self, lab: Lab, topology: Topology, host: Host, slot: Slot) -> None:
        """The host's taps into its segments' bridges (as the fabric plugs a veth)."""
        node = lab.hosts[host.name]
        batch = IpBatch()
        for nic, segment, _mtu, mac in self._nics(host, slot):
            segment = segment or topology.default_segment
            tap = slot.taps[mac]
            mtu = str(topology.segments[segment].mtu)
            batch.add(LIBVIRT_NETNS, host.name, "link", "set", tap, "down", "nomaster")
            batch.add(LIBVIRT_NETNS, host.name, "link", "set", tap, "mtu", mtu, "master",
                      lab.segments[segment], "up")
            node.links[nic] = [segment, tap]
        batch.run()

    def _prepare(self, lab: Lab, topology: Topology, host: Host, slot: Slot,
                 image: Path) -> None:
        node = lab.hosts[host.name]
        remote = remote_host(node)
        remote.run(["hostname", host.name])
        remote.run(["sh", "-c", f'echo "127.0.1.1 {host.name}" >> /etc/hosts'])  # for sudo
        self._name_nics(remote, host, slot)
        remote.run(["ip", "addr", "add", str(host.underlay), "dev", UNDERLAY_NIC])
        remote.run(["ip", "route", "replace", "default", "via", str(host.gateway),
                    "dev", UNDERLAY_NIC])
        # LXD's dnsmasq forwards to the lab's upstream resolver, as on the local substrate
        remote.run(["sh", "-c", f'rm -f /etc/resolv.conf; '
                    f'echo "nameserver {UPSTREAM_WAN_ADDRESS.ip}" > /etc/resolv.conf'])
        if ovs.needed_by(host):
            node.ovs_datapath = ovs.KERNEL
        prepare_lxd(host, node, remote, image)
        if any(argv[0] == "fanctl" for argv in host.setup):
            peers = [str(h.underlay.ip) for h in topology.hosts.values() if h.name != host.name]
            remote.install_fanctl(peers, fan_map=bool(slot.capabilities.get("fan_map")))

    def _name_nics(self, remote: RemoteHost, host: Host, slot: Slot) -> None:
        """Give the NICs the scenario's names, found by MAC (first to temporary names)."""
        links = remote.run(["ip", "-o", "link", "show"]).stdout
        by_mac = {}
        for line in links.splitlines():
            fields = line.split()
            if "link/ether" in fields:
                by_mac[fields[fields.index("link/ether") + 1]] = fields[1].rstrip(":").split("@")[0]
        nics = self._nics(host, slot)
        for i, (nic, _segment, _mtu, mac) in enumerate(nics):
            current = by_mac.get(mac)
            if current is None:
                raise SubstrateError(f"{host.name}: no NIC with MAC {mac} for {nic} "
                                     f"(links: {', '.join(by_mac.values())})")
            remote.run(["ip", "link", "set", "dev", current, "down"])
            remote.run(["ip", "link", "set", "dev", current, "name", f"hltmp{i}"])
        for i, (nic, _segment, mtu, _mac) in enumerate(nics):
            remote.run(["ip", "link", "set", "dev", f"hltmp{i}", "name", nic])
            if mtu:
                remote.run(["ip", "link", "set", "dev", nic, "mtu", str(mtu)])
            remote.run(["ip", "link", "set", "dev", nic, "up"])

    # ---------------------------------------------------------------- down
    def tear_down(self, lab: Lab) -> list[str]:
        leftovers: list[str] = []
        forget_hosts(lab)
        for node in lab.hosts.values():
            for pid in node.pids:  # the LXD socket forwards
                procs.stop([pid], to_group=True, grace=3.0)
        for node in lab.hosts.values():
            if node.vm:
                leftovers.extend(f"{node.name}: {problem}"
                                 for problem in self.pool.release(node.vm))
        for node in lab.nodes.values():
            if node.kind != "fabric":
                procs.stop(node.pids)
                leftovers.extend(fabric.remove_namespace(node))
        leftovers.extend(fabric.remove_segments(lab))
        (self.active_dir / lab.run_id).unlink(missing_ok=True)
        with locked(self.work_root / ".libvirtd.lock"):
            leftovers.extend(release_libvirtd(self.active_dir))
        return leftovers
