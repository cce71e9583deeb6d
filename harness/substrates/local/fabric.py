"""The lab's network on this machine: a namespace per node, segments as bridges in the fabric.

Layout of a lab with run id RID:
- `hl-RID-fabric`: one Linux bridge per segment (`seg0`, `seg1`, ...), the "switches";
- `hl-RID-upstream`: the WAN router, on the default segment with one address per host subnet
  (the last usable one) and 198.51.100.1 on its loopback; every host routes default to it;
- `hl-RID-HOST`: a host, with `eth0` on the default segment plus its extra NICs;
- `hl-RID-PEER`: plain LAN nodes.
Every veth is created directly between two lab namespaces: nothing is ever attached to the
machine's own network, so no lab packet can leave the machine.
"""

from __future__ import annotations

from pathlib import Path

from harness.substrates.base import HostNode, Lab, Node
from harness.substrates.plumbing import IpBatch, write_sysctls
from harness.substrates.runs import netns_name
from harness.topology import UNDERLAY_NIC, UPSTREAM, UPSTREAM_WAN_ADDRESS, Topology

NODE_SYSCTLS = {"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.disable_ipv6": "1",
                "net.ipv6.conf.default.disable_ipv6": "1"}


def make_nodes(lab: Lab, topology: Topology) -> None:
    """A namespace per node (fabric, upstream, peers, hosts), loopback up, sysctls set."""
    rid = lab.run_id
    for name, kind in [("fabric", "fabric"), (UPSTREAM, "upstream")]:
        lab.nodes[name] = Node(name=name, kind=kind, netns=netns_name(rid, name))
    for peer in topology.peers:
        lab.nodes[peer] = Node(name=peer, kind="peer", netns=netns_name(rid, peer))
    for host in topology.hosts:
        lab.hosts[host] = HostNode(
            name=host, kind="host", netns=netns_name(rid, host),
            lxd_dir=str(Path(lab.workdir) / host / lab.engine), engine=lab.engine,
        )
    nodes = [*lab.nodes.values(), *lab.hosts.values()]
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
        bridge = f"seg{i}"
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
