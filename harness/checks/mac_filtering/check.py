"""`mac_filtering`: frames with a spoofed source MAC never leave the instance; genuine ones do.

From inside the instance, three kinds of broadcast frames are sent: genuine (the NIC's own
MAC), spoofed Ethernet source (ARP and ICMP), and a genuine Ethernet source carrying a
spoofed ARP sender address. They are sniffed where they would arrive: on the instance's
parent bridge in the host, and at `peer` when given. LXD's `security.mac_filtering`
(nftables bridge rules here) must drop both spoofed kinds and nothing else.
"""

from __future__ import annotations

import ipaddress
import secrets

from harness.checks.addresses import marker_address, random_mac
from harness.checks.base import Check, CheckContext, Inconclusive, Observation, register
from harness.checks.sniffing import SNIFF_LIMIT, finish_all, window_line

REPEAT = 3


@register
class MacFiltering(Check):

    def observe(self, ctx: CheckContext, part: str) -> Observation:
        endpoint = self.params["instance"]
        host, _, name = endpoint.partition(":")
        nic = self.params.get("nic", "eth0")
        genuine = ctx.instance_mac(host, name, nic)
        spoofed = random_mac()
        marker = marker_address()
        frames = _frames(genuine, spoofed, marker)

        points = self._sniff_points(ctx, host, name, nic)
        bpf = f"ether src {genuine} or ether src {spoofed}"
        sniffers = []
        pcaps = []
        for label, netns, iface in points:
            pcap = ctx.pcap(self.spec.id, label)
            pcaps.append(pcap)
            sniffers.append((label, ctx.probes.start(
                netns, "capture.capture", wait_ready=True, iface=iface, bpf=bpf,
                duration=SNIFF_LIMIT, count=len(frames) * REPEAT * 4, pcap=pcap)))
        sent = ctx.probes.call(ctx.netns(endpoint), "l2.send_frames", iface=nic,
                               frames=frames, repeat=REPEAT)
        evidence = [f"{endpoint} {nic} (MAC {genuine}) sent {REPEAT}x each (marker {marker}):",
                    *[f"  {line}" for line in sent["sent"]]]
        present = True
        problems = []
        leaks: list[str] = []
        captured = finish_all(sniffer for _, sniffer in sniffers)
        for (label, _), seen in zip(sniffers, captured, strict=True):
            evidence.append(window_line(label, seen))
            packets = seen["packets"]
            leaked = [p for p in packets
                      if spoofed in (p.get("eth_src"), p.get("arp_hwsrc"))]
            passed = [p for p in packets if _is_genuine(p, genuine, marker)]
            evidence.append(f"at {label}: {len(passed)} genuine frame(s), "
                            f"{len(leaked)} spoofed frame(s)")
            evidence.extend(f"  leaked: {_describe(p)}" for p in leaked[:4])
            if leaked:
                present = False
                problems.append(f"{len(leaked)} spoofed frame(s) reached {label}")
                leaks.append(label)
            if not passed:
                present = False
                problems.append(f"no genuine frame reached {label}")
        if present:
            summary = (f"spoofed source {spoofed} dropped, genuine {genuine} forwarded "
                       f"(seen at {', '.join(label for label, *_ in points)})")
            return Observation(True, summary, evidence, pcaps)
        # a spoofed frame that arrived proves the point; a genuine one that never did only
        # shows that nothing was seen (a stopped instance, a capture in the wrong place)
        stimulus = f"spoofed frames from {endpoint} reached {', '.join(leaks)}" if leaks else None
        return Observation(False, "; ".join(problems), evidence, pcaps, stimulus=stimulus)

    def _sniff_points(self, ctx: CheckContext, host: str, name: str,
                      nic: str) -> list[tuple[str, str, str]]:
        """(label, netns path, interface) of every place the frames are looked for."""
        points = []
        parent = ctx.instance_parent_network(host, name, nic)
        if parent is None:
            raise Inconclusive(f"{host}:{name} {nic} has no parent bridge to sniff")
        points.append((f"{host}:{parent}", ctx.host_netns(host), parent))
        peer = self.params.get("peer")
        if peer:
            points.append((peer, ctx.netns(peer), "eth0"))
        return points


def _frames(genuine: str, spoofed: str, marker: str) -> list[dict]:
    """Broadcast frames, so every port of the bridge (and the bridge itself) would get them.

    Their IPv4 addresses are a link-local `marker` (see marker_address) and the limited
    broadcast: nobody answers or forwards them.
    """
    ident = secrets.randbelow(0xFFFF) + 1
    arp = {"kind": "arp", "src": marker, "dst": str(ipaddress.IPv4Address(marker) + 1)}
    icmp = {"kind": "icmp", "src": marker, "dst": "255.255.255.255", "ident": ident}
    return [
        arp, icmp,
        {**arp, "eth_src": spoofed}, {**icmp, "eth_src": spoofed},
        {**arp, "arp_hwsrc": spoofed},
    ]


def _is_genuine(packet: dict, genuine: str, marker: str) -> bool:
    if packet.get("eth_src") != genuine:
        return False
    if "arp_op" in packet:
        return packet.get("arp_hwsrc") == genuine and packet.get("arp_psrc") == marker
    return packet.get("src") == marker


def _describe(packet: dict) -> str:
    arp = f", ARP sender {packet['arp_hwsrc']}" if "arp_hwsrc" in packet else ""
    return f"from {packet.get('eth_src')}{arp}: {packet['summary']}"
