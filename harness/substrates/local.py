"""The local substrate: every node is a network namespace on this machine.

Layout of a lab with run id RID:
- `hl-RID-fabric`: one Linux bridge per segment (`seg0`, `seg1`, ...), the "switches";
- `hl-RID-upstream`: the WAN router, on the default segment with one address per host subnet
  (the last usable one) and 198.51.100.1 on its loopback; every host routes default to it;
- `hl-RID-HOST`: a host, with `eth0` on the default segment plus its extra NICs, and its own
  LXD daemon (own LXD_DIR, own mount namespace with the cgroup hierarchy LXD expects);
- `hl-RID-PEER`: plain LAN nodes.
Every veth is created directly between two lab namespaces: nothing is ever attached to the
machine's own network, so no lab packet can leave the machine.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import stat
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pylxd

from harness.hostnet import ovs
from harness.hostnet.fan import write_fanctl
from harness.hostnet.ovs_vsctl import write_ovs_vsctl
from harness.interrupts import deferred_interrupts
from harness.lxd.image import IMAGE_ALIAS, build_busybox_image
from harness.lxd.preseed import preseed
from harness.shell import CommandError, run
from harness.substrates import capabilities, procs
from harness.substrates.base import HostNode, Lab, Node, Substrate, SubstrateError, progress
from harness.substrates.cgroups import CGROUP_V1_MOUNTS
from harness.substrates.lxd_ready import wait_ready
from harness.substrates.plumbing import IpBatch, write_sysctls
from harness.substrates.runs import WORK_ROOT, netns_name
from harness.topology import (
    DEFAULT_SEGMENT,
    UPSTREAM,
    UPSTREAM_WAN_ADDRESS,
    Host,
    Topology,
)

log = logging.getLogger(__name__)

LXD_READY_TIMEOUT = 30

# LXD inside `ip netns exec` sees a fresh /sys without cgroups; give it the hierarchy it expects.
_LXD_LAUNCHER = "set -e\n" + CGROUP_V1_MOUNTS + """\
mkdir /sys/fs/cgroup/unified; mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified
# dnsmasq forwards to the lab's upstream resolver, never to this machine's
mount --bind "$LXD_DIR/../resolv.conf" /etc/resolv.conf
exec lxd --group root --logfile "$LXD_DIR/lxd.log"
"""

_NODE_SYSCTLS = {"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.disable_ipv6": "1",
                 "net.ipv6.conf.default.disable_ipv6": "1"}

REQUIRED_TOOLS = {
    "ip": "iproute2",
    "lxd": "lxd",
    "lxc": "lxd-client (or lxd)",
    "dnsmasq": "dnsmasq-base",
    "nft": "nftables",
    "busybox": "busybox-static",
}


class LocalSubstrate(Substrate):
    needs_root = "network namespaces, LXD daemons"
    required_tools = REQUIRED_TOOLS
    local_only = True
    checks_leftovers = True

    def __init__(self, work_root: Path | None = None, run_id: str | None = None):
        super().__init__(work_root, run_id)
        self._daemons: dict[int, object] = {}  # pid -> Popen, so that we reap what we start

    # ---------------------------------------------------------------- preflight
    def check(self, topology: Topology) -> list[str]:
        if not Path("/proc/self/ns/net").exists():
            return ["this kernel has no network namespaces"]
        return []

    # ---------------------------------------------------------------- up
    def before_up(self, workdir: Path) -> None:
        self._check_traversable(self.work_root)

    def created(self, lab: Lab, topology: Topology) -> None:
        # Unprivileged containers (uid 100000+) must traverse the path to their rootfs.
        os.chmod(self.work_root, 0o711)
        os.chmod(lab.workdir, 0o711)

    def bring_up(self, lab: Lab, topology: Topology) -> None:
        pool = ThreadPoolExecutor(max_workers=max(1, len(topology.hosts)))
        try:
            self._make_nodes(lab, topology)
            lab.save(Path(lab.workdir) / "lab.json")
            self._wire(lab, topology)
            caps = capabilities.probe(self.work_root / "cache",
                                      netns=netns_name(self.run_id, "capprobe"))
            lab.capabilities, lab.capability_notes = caps.works, caps.notes
            image = build_busybox_image(self.work_root / "cache")
            for host in topology.hosts.values():  # before LXD: it must find OVS at start
                self._start_host_network(lab, topology, host)
            futures = [pool.submit(self._start_lxd, lab, host, image)
                       for host in topology.hosts.values()]
            for future in futures:
                future.result()
        except BaseException:
            with deferred_interrupts():
                # An interrupt reaches only this thread: the LXD starters must finish (and
                # record their daemons' PIDs) before the teardown looks for what to stop.
                pool.shutdown(wait=True, cancel_futures=True)
            raise
        finally:
            pool.shutdown(wait=True)

    @staticmethod
    def _check_traversable(work_root: Path) -> None:
        """Unprivileged containers must be able to walk down to their root filesystem."""
        for folder in [*reversed(work_root.resolve().parents)]:
            if folder.exists() and not folder.stat().st_mode & 0o001:
                raise SubstrateError(
                    f"work folder {work_root}: {folder} is not searchable by others "
                    f"(mode {folder.stat().st_mode & 0o777:o}); unprivileged containers could "
                    f"not reach their root filesystem. Choose another --workdir "
                    f"(default {WORK_ROOT}).")

    def _make_nodes(self, lab: Lab, topology: Topology) -> None:
        rid = self.run_id
        for name, kind in [("fabric", "fabric"), (UPSTREAM, "upstream")]:
            lab.nodes[name] = Node(name=name, kind=kind, netns=netns_name(rid, name))
        for peer in topology.peers:
            lab.nodes[peer] = Node(name=peer, kind="peer", netns=netns_name(rid, peer))
        for host in topology.hosts:
            lab.hosts[host] = HostNode(
                name=host, kind="host", netns=netns_name(rid, host),
                lxd_dir=str(Path(lab.workdir) / host / "lxd"),
            )
        nodes = [*lab.nodes.values(), *lab.hosts.values()]
        batch = IpBatch()
        for node in nodes:
            batch.add(None, "machine", "netns", "add", node.netns)
        batch.run()
        for node in nodes:
            # before any NIC exists: new devices take the namespace's defaults
            write_sysctls(node.netns, _NODE_SYSCTLS, where=node.name)
            batch.add(node.netns, node.name, "link", "set", "lo", "up")
        batch.run()

    def _default_segment(self, topology: Topology) -> str:
        return DEFAULT_SEGMENT if DEFAULT_SEGMENT in topology.segments else next(
            iter(topology.segments))

    def _wire(self, lab: Lab, topology: Topology) -> None:
        """Segments, veths, addresses and routes: first everything in the fabric (which
        makes every veth and plugs its outer end), then every node's side, in parallel."""
        fabric, nodes = IpBatch(), IpBatch()
        for i, (name, segment) in enumerate(topology.segments.items()):
            bridge = f"seg{i}"
            lab.segments[name] = bridge
            fabric.add(lab.fabric.netns, "fabric", "link", "add", bridge, "mtu",
                       str(segment.mtu), "type", "bridge", "stp_state", "0", "forward_delay", "0")
            # The fabric is a switch: it must not itself filter or answer anything.
            fabric.add(lab.fabric.netns, "fabric", "link", "set", bridge, "up")
        lan = self._default_segment(topology)

        def ip(node: Node, *args: str) -> None:
            nodes.add(node.netns, node.name, *args)

        upstream = lab.nodes[UPSTREAM]
        self._plug(lab, topology, fabric, nodes, upstream, "eth0", lan)
        for gateway in {host.gateway for host in topology.hosts.values()}:
            prefix = next(h.underlay.network.prefixlen for h in topology.hosts.values()
                          if h.gateway == gateway)
            ip(upstream, "addr", "add", f"{gateway}/{prefix}", "dev", "eth0")
        ip(upstream, "addr", "add", str(UPSTREAM_WAN_ADDRESS), "dev", "lo")

        for host in topology.hosts.values():
            node = lab.hosts[host.name]
            self._plug(lab, topology, fabric, nodes, node, "eth0", lan)
            ip(node, "addr", "add", str(host.underlay), "dev", "eth0")
            ip(node, "route", "add", "default", "via", str(host.gateway))
            for nic in host.interfaces.values():
                self._plug(lab, topology, fabric, nodes, node, nic.name, nic.segment, nic.mtu)

        for peer in topology.peers.values():
            node = lab.nodes[peer.name]
            self._plug(lab, topology, fabric, nodes, node, "eth0", peer.segment)
            if peer.address is not None:
                ip(node, "addr", "add", str(peer.address), "dev", "eth0")
                gateways = [h.gateway for h in topology.hosts.values()
                            if peer.address.ip in h.underlay.network]
                if gateways and peer.segment == lan:
                    ip(node, "route", "add", "default", "via", str(gateways[0]))
        fabric.run()
        nodes.run()

        self._start_upstream_dns(lab, upstream)
        for peer in topology.peers.values():
            if peer.dhcp_range is not None:
                self._start_peer_dhcp(lab, lab.nodes[peer.name], peer.dhcp_range)

    def _start_upstream_dns(self, lab: Lab, upstream: Node) -> None:
        """The lab's "internet" resolver: knows only upstream.test, NXDOMAIN for the rest.

        (A REFUSED would make a forwarding dnsmasq give up silently, and clients time out.)
        """
        import subprocess

        proc = subprocess.Popen(
            ["ip", "netns", "exec", upstream.netns, "dnsmasq", "--keep-in-foreground",
             "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--bind-interfaces",
             f"--listen-address={UPSTREAM_WAN_ADDRESS.ip}", "--pid-file=", "--user=root",
             f"--address=/upstream.test/{UPSTREAM_WAN_ADDRESS.ip}", "--local=/#/",
             "--log-facility=-"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        self._daemons[proc.pid] = proc
        upstream.pids.append(proc.pid)

    def _start_peer_dhcp(self, lab: Lab, node: Node, dhcp_range: str) -> None:
        """A LAN's own DHCP server (for macvlan or external bridges, where LXD serves none).

        It hands out `dhcp_range` ("first,last") on the peer's eth0 and names itself as
        router; no DNS (port 0), no ping before an offer (fast, and the lab is private).
        """
        import subprocess

        leases = Path(lab.workdir) / f"{node.name}.leases"
        proc = subprocess.Popen(
            ["ip", "netns", "exec", node.netns, "dnsmasq", "--keep-in-foreground",
             "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--port=0",
             "--interface=eth0", "--bind-interfaces", f"--dhcp-range={dhcp_range},1h",
             f"--dhcp-leasefile={leases}", "--no-ping", "--pid-file=", "--user=root",
             "--log-facility=-"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        self._daemons[proc.pid] = proc
        node.pids.append(proc.pid)

    def _plug(self, lab: Lab, topology: Topology, fabric_batch: IpBatch, node_batch: IpBatch,
              node: Node, nic: str, segment: str, mtu: int | None = None) -> None:
        """A veth from `nic` in the node to the segment's bridge in the fabric (queued)."""
        fabric = lab.fabric.netns
        used = {end for n in [*lab.nodes.values(), *lab.hosts.values()]
                for _, end in n.links.values()}
        base = f"{node.name[:6]}-{nic[:8]}"
        outer, counter = base, 0
        while outer in used:
            counter += 1
            outer = f"{base[:12]}{counter}"
        seg_mtu = str(topology.segments[segment].mtu)
        fabric_batch.add(fabric, "fabric", "link", "add", outer, "mtu", seg_mtu, "type", "veth",
                         "peer", "name", nic, "mtu", str(mtu or seg_mtu), "netns", node.netns)
        fabric_batch.add(fabric, "fabric", "link", "set", outer, "master",
                         lab.segments[segment], "up")
        node_batch.add(node.netns, node.name, "link", "set", nic, "up")
        node.links[nic] = [segment, outer]

    def _ip(self, node: Node, *args: str) -> None:
        run(["ip", "-n", node.netns, *args], where=node.name)

    # ---------------------------------------------------------------- LXD
    def _start_host_network(self, lab: Lab, topology: Topology, host: Host) -> None:
        """Open vSwitch and stand-in tools (see harness.hostnet), for hosts that need them."""
        node = lab.hosts[host.name]
        tool_dir = Path(lab.workdir) / host.name / "bin"
        if ovs.needed_by(host):
            if not lab.capabilities.get("openvswitch"):
                progress.info("%s: Open vSwitch not started: %s", host.name,
                              lab.capability_notes.get("openvswitch"))
            else:
                dirs = ovs.OvsDirs(Path(lab.workdir) / host.name / "ovs")
                for proc in ovs.start(node.netns, dirs):
                    self._daemons[proc.pid] = proc
                    node.pids.append(proc.pid)
                node.ovs_rundir = str(dirs.run)
                node.ovs_datapath = (ovs.KERNEL if lab.capabilities.get("openvswitch_datapath")
                                     else ovs.USERSPACE)
                if node.ovs_datapath == ovs.USERSPACE:
                    write_ovs_vsctl(tool_dir)
                    node.tool_dir = str(tool_dir)
                progress.info("%s: Open vSwitch started (datapath %s)", host.name,
                              node.ovs_datapath)
        if any(argv[0] == "fanctl" for argv in host.setup) and shutil.which("fanctl") is None:
            peers = [str(h.underlay.ip) for h in topology.hosts.values() if h.name != host.name]
            write_fanctl(tool_dir, peers, fan_map=lab.capabilities.get("fan_map", False))
            node.tool_dir = str(tool_dir)

    def _start_lxd(self, lab: Lab, host: Host, image: Path) -> None:
        import subprocess

        node = lab.hosts[host.name]
        lxd_dir = Path(node.lxd_dir)
        lxd_dir.mkdir(parents=True)
        os.chmod(lxd_dir.parent, 0o711)
        (lxd_dir.parent / "resolv.conf").write_text(f"nameserver {UPSTREAM_WAN_ADDRESS.ip}\n")
        started = time.monotonic()
        env = {**os.environ, **node.lxc_env}
        with open(lxd_dir.parent / "daemon.out", "wb") as out:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", node.netns, "sh", "-c", _LXD_LAUNCHER],
                env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self._daemons[proc.pid] = proc
        node.pids.append(proc.pid)
        problem = wait_ready(node.lxd_socket, proc, LXD_READY_TIMEOUT)
        if problem is not None:
            tail = (lxd_dir.parent / "daemon.out").read_text(errors="replace")[-2000:]
            raise SubstrateError(f"{host.name}: LXD did not start ({problem}):\n{tail}")
        _root_only(Path(node.lxd_socket))
        run(["lxd", "init", "--preseed"], env=node.lxc_env, input=preseed(host),
            where=host.name)
        client = pylxd.Client(endpoint=node.lxd_socket)
        created = client.images.create(image.read_bytes(), wait=True)
        created.add_alias(IMAGE_ALIAS, "busybox built by the harness")
        progress.info("%s: LXD ready in %.1f s", host.name, time.monotonic() - started)

    # ---------------------------------------------------------------- down
    def tear_down(self, lab: Lab) -> list[str]:
        netns_inodes = procs.run_netns_inodes(lab.run_id)
        leftovers: list[str] = []
        with ThreadPoolExecutor(max_workers=max(1, len(lab.hosts))) as pool:
            for problems in pool.map(self._stop_lxd, lab.hosts.values()):
                leftovers.extend(problems)
        for node in lab.nodes.values():
            self._kill(node.pids, signal.SIGTERM)
        # Processes that outlived their LXD (a stop that timed out under load) but still run
        # in one of this lab's network namespaces are ours to end. Anything that merely names
        # the run (a shell in its work folder) is reported by the leftover check, not killed.
        stragglers = procs.run_processes(lab.run_id, lab.workdir, netns_inodes)
        for proc in (p for p, why in stragglers.items() if why == "in a lab namespace"):
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for node in [*lab.hosts.values(), *lab.nodes.values()]:
            leftovers.extend(self._remove_namespace(node))
        return leftovers

    def _stop_lxd(self, node: HostNode) -> list[str]:
        # Newest first: LXD, then what it needed running until it stopped (Open vSwitch).
        pids = list(reversed(node.pids))
        if not Path(node.lxd_socket).exists():
            return self._kill(pids, signal.SIGTERM)
        try:
            client = pylxd.Client(endpoint=node.lxd_socket)
            running = [i for i in client.instances.all() if i.status != "Stopped"]
            # LXD stops them side by side; one at a time costs about 0.5 s each
            with ThreadPoolExecutor(max_workers=max(1, min(len(running), 8))) as pool:
                list(pool.map(lambda instance: instance.stop(force=True, wait=True), running))
        except Exception as exc:  # a broken daemon must not stop the teardown
            log.warning("%s: could not stop instances: %s", node.name, exc)
        try:
            run(["lxd", "shutdown", "--timeout=10"], env=node.lxc_env, timeout=20,
                where=node.name)
        except CommandError as exc:
            log.warning("%s: lxd shutdown: %s", node.name, exc)
        return self._kill(pids, signal.SIGTERM)

    def _kill(self, pids: list[int], first: signal.Signals | None = None) -> list[str]:
        """Wait for our daemons to exit; SIGKILL their process group if they do not."""
        deadline = time.monotonic() + 5
        for pid in pids:
            if first is not None and _alive(pid):
                os.kill(pid, first)
            proc = self._daemons.pop(pid, None)
            while _alive(pid) and time.monotonic() < deadline:
                if proc is not None and proc.poll() is not None:  # type: ignore[attr-defined]
                    break
                time.sleep(0.05)
            if _alive(pid):
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if proc is not None:
                proc.wait(timeout=5)  # type: ignore[attr-defined]
        return []

    def _remove_namespace(self, node: Node) -> list[str]:
        if not Path(f"/run/netns/{node.netns}").exists():
            return []
        # Whatever still runs in a lab namespace was started by this lab (dnsmasq, OVS, ...).
        pids = run(["ip", "netns", "pids", node.netns], check=False).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            run(["ip", "netns", "del", node.netns], where=node.name)
        except CommandError as exc:
            return [f"namespace {node.netns}: {exc}"]
        return []


def _root_only(socket: Path) -> None:
    """LXD's API socket grants full control of the daemon: root (user and group) only."""
    info = socket.stat()
    if (info.st_uid, info.st_gid) != (0, 0):
        os.chown(socket, 0, 0)
    if stat.S_IMODE(info.st_mode) & ~0o660:
        os.chmod(socket, stat.S_IMODE(info.st_mode) & 0o660)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"
