"""`fan`: the instance's address follows the fan mapping, and other hosts' slices are reached
by VXLAN encapsulation to the underlay address the mapping names.

With overlay 10.0.0.0/8 and underlay 172.21.0.0/16, the host 172.21.3.15 owns 10.3.15.0/24:
the instance must hold an address there. Then it pings an instance of another host of the
fan (say 10.5.20.7) while the host's underlay NIC is sniffed: the echo requests must leave
VXLAN-encapsulated to 172.21.5.20, the replies come back from it, and the ping be answered.
Where the kernel has no fan-map, or the engine has no fan bridges (Incus removed them), the
fan is the harness's emulation (see hostnet/fan.py), and the evidence says so.
"""

from __future__ import annotations

import ipaddress

from harness import engines
from harness.checks.base import Check, CheckContext, Inconclusive, Observation, register
from harness.checks.sniffing import SNIFF_LIMIT, window_line
from harness.hostnet import fan
from harness.topology import UNDERLAY_NIC

VXLAN_PORTS = [fan.VXLAN_PORT, 4789]


@register
class Fan(Check):

    def needed(self, ctx: CheckContext) -> tuple[str, ...]:
        return () if _own_fan(ctx) else ("vxlan_external",)

    def observe(self, ctx: CheckContext, part: str) -> Observation:
        overlay = ipaddress.IPv4Network(self.params["overlay"])
        underlay = ipaddress.IPv4Network(self.params["underlay"])
        source = self.params["instance"]
        host, _, _ = source.partition(":")
        evidence = [] if _own_fan(ctx) else [_emulated(ctx)]

        host_ip = ctx.topology.hosts[host].underlay.ip
        if host_ip not in underlay:
            return Observation(False, f"{host}'s underlay address {host_ip} is not in the fan's "
                               f"underlay {underlay}", evidence,
                               stimulus=f"{host}'s underlay address is {host_ip}")
        own_slice = fan.host_slice(overlay, underlay, host_ip)
        own_ip = ctx.address(source)
        evidence.append(f"{host} {host_ip} owns {own_slice} of {overlay}; {source} holds {own_ip}")
        if ipaddress.IPv4Address(own_ip) not in own_slice:
            return Observation(False, f"{source} holds {own_ip}, outside {host}'s fan slice "
                               f"{own_slice}", evidence,
                               stimulus=f"{ctx.engine.title} reports {own_ip}")

        target = _peer_instance(ctx, host, underlay)
        target_ip = ipaddress.IPv4Address(ctx.address(target))
        if target_ip not in overlay:
            return Observation(False, f"{target} holds {target_ip}, outside the overlay "
                               f"{overlay}", evidence,
                               stimulus=f"{ctx.engine.title} reports {target_ip}")
        remote = fan.underlay_of(overlay, underlay, target_ip)
        evidence.append(f"{target} holds {target_ip}: the mapping sends it to {remote}")

        netns, iface, where = _underlay_nic(ctx, host)
        pcap = ctx.pcap(self.spec.id, f"{host}-{UNDERLAY_NIC}")
        sniffer = ctx.probes.start(
            netns, "capture.capture", wait_ready=True, iface=iface,
            bpf=f"udp and host {host_ip}", duration=SNIFF_LIMIT, count=12, pcap=pcap,
            vxlan_ports=VXLAN_PORTS)
        reply = ctx.probes.call(ctx.netns(source), "icmp.ping", dst=str(target_ip), count=3)
        seen = sniffer.finish()
        packets = seen["packets"]
        # the emulation encapsulates with its own VNI; the kernel's fan-map picks its own
        vni = None if ctx.capability("fan_map")[0] else fan.vni_of(overlay)

        def ours(p: dict, src: str, dst: str) -> bool:
            return p.get("inner_src") == src and p.get("inner_dst") == dst and (
                vni is None or p.get("vni") == vni)

        out = [p for p in packets if ours(p, own_ip, str(target_ip))]
        back = [p for p in packets if ours(p, str(target_ip), own_ip)]
        evidence += [
            f"{source} -> {target}: {reply['sent']} echo requests, {reply['received']} replies",
            f"on {host} {UNDERLAY_NIC} ({where}): {len(packets)} UDP packet(s), "
            f"{len(out)} carrying the requests, {len(back)} the replies"
            + (f" (VNI {vni})" if vni is not None else ""),
            *[f"  {_describe(p)}" for p in (out[:2] + back[:2] or packets[:4])],
            window_line(f"{host} {UNDERLAY_NIC}", seen),
        ]
        wrong = sorted({p.get("dst") for p in out if p.get("dst") != str(remote)})
        if out and back and not wrong and reply["received"]:
            return Observation(True, f"{source} ({own_ip}) in {own_slice}; {target_ip} is "
                               f"VXLAN-encapsulated to {remote} (VNI {out[0].get('vni')})",
                               evidence, [pcap])
        crossed = f"the pings of {source} left {host} VXLAN-encapsulated"
        if wrong:
            return Observation(False, f"packets to {target_ip} went to {', '.join(wrong)}, not "
                               f"to {remote}", evidence, [pcap], stimulus=crossed)
        if not out:
            return Observation(False, f"no VXLAN packet carrying {own_ip} -> {target_ip} "
                               f"{'' if vni is None else f'with VNI {vni} '}on {host}",
                               evidence, [pcap])
        if not back:
            summary = f"requests were encapsulated to {remote}, but nothing came back"
        else:
            summary = f"encapsulated to {remote} both ways, but no echo reply reached {source}"
        return Observation(False, summary, evidence, [pcap], stimulus=crossed)


def _peer_instance(ctx: CheckContext, host: str, underlay: ipaddress.IPv4Network) -> str:
    """The first instance of another host whose underlay address is in the fan's underlay."""
    for name, other in ctx.topology.hosts.items():
        if name != host and other.underlay.ip in underlay and other.instances:
            return f"{name}:{next(iter(other.instances))}"
    raise Inconclusive(f"no instance on another host of the underlay {underlay} to reach")


def _underlay_nic(ctx: CheckContext, host: str) -> tuple[str, str, str]:
    link = ctx.lab.hosts[host].links.get(UNDERLAY_NIC)
    fabric = ctx.lab.nodes.get("fabric")
    if fabric is not None and link:
        return f"/run/netns/{fabric.netns}", link[1], f"its fabric-side end {link[1]}"
    return ctx.host_netns(host), UNDERLAY_NIC, "inside the host"


def _describe(packet: dict) -> str:
    outer = f"{packet.get('src')} > {packet.get('dst')}:{packet.get('dport')}"
    if "vni" not in packet:
        return f"UDP {outer} (not VXLAN)"
    return (f"UDP {outer} VNI {packet['vni']}: "
            f"{packet.get('inner_src', '?')} > {packet.get('inner_dst', '?')}")


def _own_fan(ctx: CheckContext) -> bool:
    """The engine's own fan bridge (kernel fan-map and an engine with `bridge.mode=fan`)."""
    return ctx.capability("fan_map")[0] and engines.has_fan_bridges(ctx.engine)


def _emulated(ctx: CheckContext) -> str:
    if not ctx.capability("fan_map")[0]:
        return fan.EMULATED
    return f"fan emulated with vxlan external + encap routes ({ctx.engine.removed_why})"
