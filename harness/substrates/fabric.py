"""The lab's network on this machine: a namespace per plain node, segments as bridges.

Shared by the substrates: the local one (every node a namespace) and the vagrant one (hosts
are VMs whose NICs are taps; upstream and the peers are namespaces here, made by this same
code). Layout of a lab with run id RID:
- the fabric: one Linux bridge per segment, the "switches". Locally it is a namespace of
  the lab's own, `hl-RID-fabric`, with bridges `seg0`, `seg1`, ...; a substrate may put the
  bridges into a namespace that other labs share (the VMs' `hl-libvirt`), where every name
  carries the run id: bridges `hl-RID-s0`, ..., fabric-side veth ends `RIDNODENIC`;
- `hl-RID-upstream`: the WAN router, on the default segment with one address per host subnet
  (the last usable one) and 198.51.100.1 on its loopback; every host routes default to it;
- `hl-RID-HOST`: a host, with `eth0` on the default segment plus its extra NICs (a host
  without a namespace here, a VM, is plugged in by its substrate: `links` names its tap);
- `hl-RID-PEER`: plain LAN nodes.
Every veth is created directly between two lab namespaces: nothing is ever attached to the
machine's own network, so no lab packet can leave the machine.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

from harness.shell import CommandError, run
from harness.substrates import procs
from harness.substrates.base import HostNode, Lab, Node
from harness.substrates.plumbing import IpBatch, write_sysctls
from harness.substrates.runs import netns_name, run_prefix
from harness.topology import UNDERLAY_NIC, UPSTREAM, UPSTREAM_WAN_ADDRESS, Topology

NODE_SYSCTLS = {"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.disable_ipv6": "1",
                "net.ipv6.conf.default.disable_ipv6": "1"}


def make_nodes(lab: Lab, topology: Topology, *, fabric_netns: str | None = None,
               hosts: bool = True) -> None:
    """A namespace per node (fabric, upstream, peers and, with `hosts`, the hosts), loopback
    up, sysctls set. `fabric_netns`: an existing namespace, shared with other labs, to hold
    the segments' bridges instead of a fabric namespace of the lab's own."""
    rid = lab.run_id
    lab.nodes["fabric"] = Node(name="fabric", kind="fabric",
                               netns=fabric_netns or netns_name(rid, "fabric"))
    lab.nodes[UPSTREAM] = Node(name=UPSTREAM, kind="upstream", netns=netns_name(rid, UPSTREAM))
    for peer in topology.peers:
        lab.nodes[peer] = Node(name=peer, kind="peer", netns=netns_name(rid, peer))
    if hosts:
        for host in topology.hosts:
            lab.hosts[host] = HostNode(
                name=host, kind="host", netns=netns_name(rid, host),
                lxd_dir=str(Path(lab.workdir) / host / lab.engine), engine=lab.engine,
            )
    nodes = [node for node in [*lab.nodes.values(), *lab.hosts.values()]
             if node.netns and not (node.kind == "fabric" and fabric_netns)]
    batch = IpBatch()
    for node in nodes:
        batch.add(None, "machine", "netns", "add", node.netns)
    batch.run()
    for node in nodes:
        # before any NIC exists: new devices take the namespace's defaults
        write_sysctls(node.netns, NODE_SYSCTLS, where=node.name)
        batch.add(node.netns, node.name, "link", "set", "lo", "up")
    batch.run()


def wire(lab: Lab, topology: Topology) -> None:
    """Segments, veths, addresses and routes: first everything in the fabric (which
    makes every veth and plugs its outer end), then every node's side, in parallel."""
    fabric, nodes = IpBatch(), IpBatch()
    for i, (name, segment) in enumerate(topology.segments.items()):
        bridge = bridge_name(lab, i)
        lab.segments[name] = bridge
        fabric.add(lab.fabric.netns, "fabric", "link", "add", bridge, "mtu",
                   str(segment.mtu), "type", "bridge", "stp_state", "0", "forward_delay", "0")
        # The fabric is a switch: it must not itself filter or answer anything.
        fabric.add(lab.fabric.netns, "fabric", "link", "set", bridge, "up")
    lan = topology.default_segment

    def ip(node: Node, *args: str) -> None:
        nodes.add(node.netns, node.name, *args)

    upstream = lab.nodes[UPSTREAM]
    _plug(lab, topology, fabric, nodes, upstream, UNDERLAY_NIC, lan)
    for gateway in {host.gateway for host in topology.hosts.values()}:
        prefix = next(h.underlay.network.prefixlen for h in topology.hosts.values()
                      if h.gateway == gateway)
        ip(upstream, "addr", "add", f"{gateway}/{prefix}", "dev", UNDERLAY_NIC)
    ip(upstream, "addr", "add", str(UPSTREAM_WAN_ADDRESS), "dev", "lo")

    for host in topology.hosts.values():
        node = lab.hosts[host.name]
        if not node.netns:  # a VM: its substrate plugs its taps in
            continue
        _plug(lab, topology, fabric, nodes, node, UNDERLAY_NIC, lan)
        ip(node, "addr", "add", str(host.underlay), "dev", UNDERLAY_NIC)
        ip(node, "route", "add", "default", "via", str(host.gateway))
        for nic in host.interfaces.values():
            _plug(lab, topology, fabric, nodes, node, nic.name, nic.segment, nic.mtu)
    for prefix, host_name in topology.upstream_routes.items():
        ip(upstream, "route", "add", prefix, "via", str(topology.hosts[host_name].underlay.ip))

    for peer in topology.peers.values():
        node = lab.nodes[peer.name]
        _plug(lab, topology, fabric, nodes, node, UNDERLAY_NIC, peer.segment)
        if peer.address is not None:
            ip(node, "addr", "add", str(peer.address), "dev", UNDERLAY_NIC)
            gateways = [h.gateway for h in topology.hosts.values()
                        if peer.address.ip in h.underlay.network]
            if gateways and peer.segment == lan:
                ip(node, "route", "add", "default", "via", str(gateways[0]))
    fabric.run()
    nodes.run()


def _plug(lab: Lab, topology: Topology, fabric_batch: IpBatch, node_batch: IpBatch,
          node: Node, nic: str, segment: str, mtu: int | None = None) -> None:
    """A veth from `nic` in the node to the segment's bridge in the fabric (queued)."""
    fabric = lab.fabric.netns
    used = {end for n in [*lab.nodes.values(), *lab.hosts.values()]
            for _, end in n.links.values()}
    base = (f"{node.name[:6]}-{nic[:8]}" if own_fabric(lab)
            else f"{lab.run_id}{node.name[:5]}{nic[:4]}")  # unique among all labs' ends
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


def own_fabric(lab: Lab) -> bool:
    """Is the fabric the lab's own namespace (else one shared with other labs)?"""
    return lab.fabric.netns == netns_name(lab.run_id, "fabric")


def bridge_name(lab: Lab, index: int) -> str:
    """The bridge of the lab's `index`-th segment (names carry the run id when shared)."""
    return f"seg{index}" if own_fabric(lab) else f"{run_prefix(lab.run_id)}s{index}"


def remove_segments(lab: Lab) -> list[str]:
    """In a shared fabric: delete the lab's bridges and fabric-side ends (a lab fabric of its
    own goes with its namespace). What remains is returned."""
    if "fabric" not in lab.nodes or own_fabric(lab):
        return []
    netns = lab.fabric.netns
    if not Path(f"/run/netns/{netns}").exists():
        return []
    ends = {end for node in [*lab.nodes.values(), *lab.hosts.values()]
            for _, end in node.links.values() if end.startswith(lab.run_id)}
    mine = ends | set(lab.segments.values())
    # Ends first: deleting a bridge would only unplug its ports. An end whose other side was
    # in a namespace just deleted may still be listed, and be gone when deleted.
    for name in [*sorted(ends & _links(netns)), *sorted(set(lab.segments.values()))]:
        run(["ip", "-n", netns, "link", "del", name], check=False)
    return [f"link {name} in namespace {netns}" for name in sorted(mine & _links(netns))]


def _links(netns: str) -> set[str]:
    listing = run(["ip", "-n", netns, "-j", "link", "show"], check=False).stdout
    return {link["ifname"] for link in json.loads(listing or "[]")}


def remove_namespace(node: Node) -> list[str]:
    if not Path(f"/run/netns/{node.netns}").exists():
        return []
    # Whatever still runs in a lab namespace was started by this lab (dnsmasq, OVS, ...).
    pids = run(["ip", "netns", "pids", node.netns], check=False).stdout.split()
    procs.stop([int(pid) for pid in pids], signum=signal.SIGKILL, grace=0, kill_group=False)
    try:
        run(["ip", "netns", "del", node.netns], where=node.name)
    except CommandError as exc:
        return [f"namespace {node.netns}: {exc}"]
    return []
