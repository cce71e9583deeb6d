"""`gre`: instance traffic between two hosts crosses the underlay as GRE carrying Ethernet.

An instance of the first host pings an instance of the second while every NIC of the first
host is sniffed for IP protocol 47 (on the local substrate at the NICs' fabric-side ends).
Present when the pings are answered and GRE packets carrying Ethernet (protocol 0x6558, as
LXD's gretap tunnels and Open vSwitch GRE ports send) and the pings themselves (inner
addresses: the two instances, in IP or in the ARP that precedes it) went both ways between an
address of one host and an address of the other, all with `key` when one is given. Other GRE
on the wire does not count.

LXD's GRE tunnels need the kernel's gretap; GRE ports of Open vSwitch's userspace datapath
do not, so the check needs `openvswitch` instead when either host runs OVS.
"""

from __future__ import annotations

from harness.checks.base import Check, CheckContext, Inconclusive, Observation, register
from harness.checks.sniffing import SNIFF_LIMIT, finish_all, window_line
from harness.hostnet import ovs

TRANSPARENT_ETHERNET = 0x6558


@register
class Gre(Check):

    def needed(self, ctx: CheckContext) -> tuple[str, ...]:
        hosts = [ctx.topology.hosts[h] for h in self.params["between"] if h in ctx.topology.hosts]
        return ("openvswitch",) if any(ovs.needed_by(h) for h in hosts) else ("gretap",)

    def observe(self, ctx: CheckContext, part: str) -> Observation:
        first, second = self.params["between"]
        key = self.params.get("key")
        source, target = _instance_of(ctx, first), _instance_of(ctx, second)
        src_ip, dst_ip = ctx.address(source), ctx.address(target)
        own = {host: _addresses(ctx, host) for host in (first, second)}

        sniffers = []
        pcaps = []
        for nic, (netns, iface) in _nics(ctx, first).items():
            pcap = ctx.pcap(self.spec.id, f"{first}-{nic}")
            pcaps.append(pcap)
            sniffers.append((nic, ctx.probes.start(
                netns, "capture.capture", wait_ready=True, iface=iface, bpf="ip proto 47",
                duration=SNIFF_LIMIT, count=20, pcap=pcap)))
        reply = ctx.probes.call(ctx.netns(source), "icmp.ping", dst=dst_ip, count=3)
        packets = []
        windows = []
        for (nic, _), seen in zip(sniffers, finish_all(s for _, s in sniffers), strict=True):
            packets += [{**p, "nic": nic} for p in seen["packets"]]
            windows.append(window_line(f"{first} {nic}", seen))

        # only GRE that carries the probe's own pings counts, not any GRE between the hosts
        ours = [p for p in packets if {p.get("inner_src"), p.get("inner_dst")} == {src_ip, dst_ip}]
        outbound = _from_to(ours, own[first], own[second])
        inbound = _from_to(ours, own[second], own[first])
        between = outbound + inbound

        def right(p: dict) -> bool:
            return p.get("gre_proto") == TRANSPARENT_ETHERNET and (
                key is None or p.get("gre_key") == int(key))

        evidence = [
            f"{source} ({src_ip}) -> {target} ({dst_ip}): {reply['sent']} echo requests, "
            f"{reply['received']} replies",
            f"addresses: {first} {', '.join(sorted(own[first]))}; "
            f"{second} {', '.join(sorted(own[second]))}",
            f"sniffed {first} NICs {', '.join(nic for nic, _ in sniffers)} for IP protocol 47: "
            f"{len(packets)} packet(s), {len(ours)} carrying the pings, {len(outbound)} "
            f"{first}->{second}, {len(inbound)} {second}->{first}",
            *[f"  {_describe(p)}" for p in (outbound[:3] + inbound[:3] or packets[:6])],
            *windows,
        ]
        datapaths = {h: ctx.lab.hosts[h].ovs_datapath for h in (first, second)
                     if ctx.lab.hosts[h].ovs_datapath}
        if datapaths:
            evidence.append("Open vSwitch datapath_type: " + ", ".join(
                f"{host} {datapath}" for host, datapath in datapaths.items()))
        wanted = "GRE carrying Ethernet (0x6558)" + (f" with key {key}" if key is not None else "")
        if between and all(right(p) for p in between) and outbound and inbound \
                and reply["received"]:
            outer = outbound[0]
            return Observation(True, f"{source} -> {target} crosses {outer['src']} <-> "
                               f"{outer['dst']} as {wanted}", evidence, pcaps)
        crossed = f"the pings of {source} crossed as GRE ({len(between)} packets)"
        if not packets:
            return Observation(False, f"no GRE at all on {first} while {source} pinged "
                               f"{target}", evidence, pcaps)
        if not ours:
            return Observation(False, f"GRE seen on {first}, but none carrying {src_ip} <-> "
                               f"{dst_ip}", evidence, pcaps)
        if not between:
            return Observation(False, f"the pings crossed as GRE, but not between {first} and "
                               f"{second}", evidence, pcaps,
                               stimulus=f"the pings of {source} crossed as GRE")
        if not all(right(p) for p in between):
            seen = sorted({(p.get("gre_proto"), p.get("gre_key")) for p in between}, key=str)
            summary = f"expected {wanted}; seen " + ", ".join(
                f"protocol {_hex(proto)} key {k}" for proto, k in seen)
        elif not (outbound and inbound):
            summary = f"GRE went one way only ({len(outbound)} out, {len(inbound)} back)"
        else:
            summary = f"{wanted} seen, but no echo reply came back"
        return Observation(False, summary, evidence, pcaps, stimulus=crossed)


def _instance_of(ctx: CheckContext, host: str) -> str:
    instances = ctx.topology.hosts[host].instances
    if not instances:
        raise Inconclusive(f"{host} has no instance to send through the tunnel")
    return f"{host}:{next(iter(instances))}"


def _addresses(ctx: CheckContext, host: str) -> set[str]:
    found = ctx.probes.call(ctx.host_netns(host), "hostinfo.addresses")["addresses"]
    return {ip for ips in found.values() for ip in ips}


def _nics(ctx: CheckContext, host: str) -> dict[str, tuple[str, str]]:
    """NIC -> (namespace, interface) to sniff it at: its fabric-side end when there is one."""
    node = ctx.lab.hosts[host]
    fabric = ctx.lab.nodes.get("fabric")
    names = ["eth0", *ctx.topology.hosts[host].interfaces]
    result = {}
    for nic in names:
        link = node.links.get(nic)
        if fabric is not None and link:
            result[nic] = (f"/run/netns/{fabric.netns}", link[1])
        else:
            result[nic] = (ctx.host_netns(host), nic)
    return result


def _from_to(packets: list[dict], sources: set[str], destinations: set[str]) -> list[dict]:
    return [p for p in packets if p.get("src") in sources and p.get("dst") in destinations]


def _hex(value: int | None) -> str:
    return "?" if value is None else f"0x{value:04x}"


def _describe(packet: dict) -> str:
    key = packet.get("gre_key")
    inner = (f": {'ARP ' if packet.get('inner_arp') else ''}{packet['inner_src']} > "
             f"{packet['inner_dst']}" if "inner_src" in packet else "")
    return (f"[{packet['nic']}] {packet.get('src')} > {packet.get('dst')} GRE protocol "
            f"{_hex(packet.get('gre_proto'))}" + (f" key {key}" if key is not None else " no key")
            + inner)
