"""`vxlan`: instance traffic between two hosts crosses the underlay as VXLAN with the right VNI.

Of each host, the first instance on a tunnelled network takes part: the first host's pings
the second host's while the first host's underlay NIC is sniffed. Present when the pings
are answered and the underlay carried them as UDP to the expected port with the expected
VNI (inner addresses: the two instances). The expected port is `port`, else the
`tunnel.NAME.port` of the host's LXD tunnel with that VNI, else 8472 (LXD leaves the kernel
default, not IANA's 4789). A broadcast frame sent first shows where BUM traffic goes: to the
remote (unicast) or to the multicast `group`.
"""

from __future__ import annotations

import ipaddress

from harness.checks.addresses import marker_address
from harness.checks.base import Check, CheckContext, Inconclusive, Observation, register
from harness.checks.sniffing import SNIFF_LIMIT, window_line
from harness.topology import UNDERLAY_NIC

LINUX_VXLAN_PORT = 8472


@register
class Vxlan(Check):
    needs = ("vxlan",)

    def observe(self, ctx: CheckContext, part: str) -> Observation:
        first, second = self.params["between"]
        vni = int(self.params["vni"])
        port, port_source = self._expected_port(ctx, first, vni)
        source, target = _instance_of(ctx, first), _instance_of(ctx, second)
        src_ip, dst_ip = ctx.address(source), ctx.address(target)

        pcap = ctx.pcap(self.spec.id, f"{first}-{UNDERLAY_NIC}")
        sniffer = ctx.probes.start(
            ctx.host_netns(first), "capture.capture", wait_ready=True, iface=UNDERLAY_NIC,
            bpf="udp and not port 53", duration=SNIFF_LIMIT, count=32, pcap=pcap,
            vxlan_ports=sorted({port, LINUX_VXLAN_PORT, 4789}))
        # one broadcast frame first: it shows where BUM traffic goes (the remote, or the group)
        marker = marker_address()
        ctx.probes.call(ctx.netns(source), "l2.send_frames", iface="eth0", repeat=1, frames=[
            {"kind": "arp", "src": marker, "dst": str(ipaddress.IPv4Address(marker) + 1)}])
        reply = ctx.probes.call(ctx.netns(source), "icmp.ping", dst=dst_ip, count=3)
        seen = sniffer.finish()
        packets = seen["packets"]
        flooded = sorted({p["dst"] for p in packets
                          if p.get("arp_psrc") == marker and p.get("vni") is not None})

        ours = [p for p in packets if {p.get("inner_src"), p.get("inner_dst")} == {src_ip, dst_ip}]
        matching = [p for p in ours if p.get("vni") == vni and p.get("dport") == port]
        evidence = [
            f"{source} ({src_ip}) -> {target} ({dst_ip}): {reply['sent']} echo requests, "
            f"{reply['received']} replies",
            f"expected on {first} {UNDERLAY_NIC}: UDP port {port} ({port_source}), VNI {vni}",
            f"seen: {len(packets)} UDP packet(s), {len(ours)} carrying the pings, "
            f"{len(matching)} with port {port} and VNI {vni}",
            f"a broadcast ARP from {source} crossed to: "
            + (", ".join(_flood_target(d) for d in flooded) or "nowhere seen"),
            *[f"  {_describe(p)}" for p in (ours or packets)[:6]],
            window_line(f"{first} {UNDERLAY_NIC}", seen),
        ]
        group = self.params.get("group")
        crossed = f"the pings of {source} crossed {first} {UNDERLAY_NIC} as VXLAN"
        if matching and reply["received"] and group and group not in flooded:
            # where the broadcast went must have been seen for that to say anything
            return Observation(False, f"broadcast frames went to "
                               f"{', '.join(flooded) or 'no seen destination'}, not to the "
                               f"multicast group {group}", evidence, [pcap],
                               stimulus=f"the broadcast of {source} crossed to "
                               f"{', '.join(flooded)}" if flooded else None)
        if matching and reply["received"]:
            outer = matching[0]
            summary = (f"{source} -> {target} crosses {outer['src']} -> {outer['dst']} as "
                       f"VXLAN VNI {vni} on UDP {port}")
            if group:
                summary += f"; broadcasts go to group {group}"
            return Observation(True, summary, evidence, [pcap])
        if matching:
            return Observation(False, f"VXLAN VNI {vni} on UDP {port} seen, but no echo reply "
                               "came back", evidence, [pcap], stimulus=crossed)
        if ours:
            seen = sorted({(p.get("dport"), p.get("vni")) for p in ours}, key=str)
            return Observation(False, f"the pings crossed as "
                               f"{', '.join(f'UDP {d} VNI {v}' for d, v in seen)}, "
                               f"not UDP {port} VNI {vni}", evidence, [pcap], stimulus=crossed)
        if packets:
            summary = f"no VXLAN packet carrying {src_ip} <-> {dst_ip} on {first} {UNDERLAY_NIC}"
        else:
            summary = f"no UDP at all on {first} {UNDERLAY_NIC} while {source} pinged {target}"
        return Observation(False, summary, evidence, [pcap])

    def _expected_port(self, ctx: CheckContext, host: str, vni: int) -> tuple[int, str]:
        if "port" in self.params:
            return int(self.params["port"]), "from the check"
        for network, config in ctx.networks(host).items():
            for key, value in config.items():
                if not (key.startswith("tunnel.") and key.endswith(".protocol")):
                    continue
                tunnel = key.removeprefix("tunnel.").removesuffix(".protocol")
                # LXD gives a tunnel without `id` VNI 1 (measured: `ip -d link`)
                if value != "vxlan" or config.get(f"tunnel.{tunnel}.id", "1") != str(vni):
                    continue
                port_key = f"tunnel.{tunnel}.port"
                if port_key in config:
                    return int(config[port_key]), f"{port_key} of {network}"
                return LINUX_VXLAN_PORT, f"{network} tunnel {tunnel} sets no port"
        return LINUX_VXLAN_PORT, "the kernel default"


def _instance_of(ctx: CheckContext, host: str) -> str:
    """The first instance of `host` on a network with tunnels (else simply the first)."""
    instances = list(ctx.topology.hosts[host].instances)
    if not instances:
        raise Inconclusive(f"{host} has no instance to send through the tunnel")
    for name in instances:
        network = ctx.instance_parent_network(host, name)
        if not network or not ctx.is_lxd_network(host, network):  # a parent LXD doesn't manage
            continue
        config = ctx.network_config(host, network)
        if any(key.startswith("tunnel.") for key in config):
            return f"{host}:{name}"
    return f"{host}:{instances[0]}"


def _describe(packet: dict) -> str:
    outer = f"{packet.get('src')}:{packet.get('sport')} > {packet.get('dst')}:{packet.get('dport')}"
    if "vni" not in packet:
        return f"UDP {outer} (not VXLAN)"
    inner = f"{packet.get('inner_src', '?')} > {packet.get('inner_dst', '?')}"
    return f"UDP {outer} VNI {packet['vni']}: {inner}"


def _flood_target(address: str) -> str:
    if ipaddress.IPv4Address(address).is_multicast:
        return f"{address} (multicast group)"
    return f"{address} (unicast remote)"
