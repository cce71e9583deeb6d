"""`ip_filtering`: frames with a spoofed IPv4 source or ARP sender never leave the instance.

From inside the instance, with the NIC's own MAC, four kinds of broadcast frames are sent:
IPv4 and ARP from the instance's own address (genuine), and IPv4 and ARP claiming another
address (spoofed IPv4 source, spoofed ARP sender). They are sniffed where they would arrive:
on the instance's parent bridge in the host, and at `peer` when given. Then a DHCP exchange
runs from inside the instance (from 0.0.0.0, which the filter must let through to the
bridge's DHCP server). LXD's `security.ipv4_filtering` must drop both spoofed kinds and
nothing else.
"""

from __future__ import annotations

import ipaddress
import secrets

from harness.checks.addresses import marker_address
from harness.checks.base import Check, CheckContext, Inconclusive, Observation, register
from harness.checks.sniffing import SNIFF_LIMIT, finish_all, window_line

REPEAT = 3
KINDS = ("genuine IPv4", "genuine ARP", "spoofed IPv4 source", "spoofed ARP sender")


@register
class IpFiltering(Check):
    type = "ip_filtering"

    def observe(self, ctx: CheckContext, part: str) -> Observation:
        endpoint = self.params["instance"]
        host, _, name = endpoint.partition(":")
        nic = "eth0"
        own_ip = ctx.instance_address(host, name, nic)
        mac = ctx.instance_mac(host, name, nic)
        spoofed = marker_address()  # link-local: a leaked ARP poisons no real neighbour
        probe_target = marker_address()  # nobody answers the genuine ARP request
        ident = secrets.randbelow(0xFFFF) + 1
        # the subnet's broadcast, not 255.255.255.255: with br_netfilter on, LXD's masquerade
        # rule (daddr outside the subnet) rewrites the source of bridged limited broadcasts
        broadcast = _subnet_broadcast(ctx, host, name, nic, own_ip)
        frames = [
            {"kind": "icmp", "src": own_ip, "dst": broadcast, "ident": ident},
            {"kind": "arp", "src": own_ip, "dst": probe_target},
            {"kind": "icmp", "src": spoofed, "dst": broadcast, "ident": ident},
            {"kind": "arp", "src": spoofed, "dst": probe_target},
        ]
        points = self._sniff_points(ctx, host, name, nic)
        sniffers, pcaps = [], []
        for label, netns, iface in points:
            pcap = ctx.pcap(self.spec.id, label)
            pcaps.append(pcap)
            sniffers.append((label, ctx.probes.start(
                netns, "capture.capture", wait_ready=True, iface=iface, bpf=f"ether src {mac}",
                duration=SNIFF_LIMIT, count=len(frames) * REPEAT * 4, pcap=pcap)))
        instance_ns = ctx.netns(endpoint)
        sent = ctx.probes.call(instance_ns, "l2.send_frames", iface=nic, frames=frames,
                               repeat=REPEAT)
        windows = dict(zip((label for label, _ in sniffers),
                           finish_all(sniffer for _, sniffer in sniffers), strict=True))
        seen = {label: window["packets"] for label, window in windows.items()}
        lease = ctx.probes.call(instance_ns, "dhcp.exchange", iface=nic, attempts=2)
        evidence = [f"{endpoint} {nic} (MAC {mac}, address {own_ip}) sent {REPEAT}x each; "
                    f"spoofed address {spoofed}:", *[f"  {line}" for line in sent["sent"]],
                    *[window_line(label, window) for label, window in windows.items()]]
        return judge(endpoint, own_ip, spoofed, broadcast, seen, lease, evidence, pcaps)

    def _sniff_points(self, ctx: CheckContext, host: str, name: str,
                      nic: str) -> list[tuple[str, str, str]]:
        parent = ctx.instance_parent_network(host, name, nic)
        if parent is None:
            raise Inconclusive(f"{host}:{name} {nic} has no parent bridge to sniff")
        points = [(f"{host}:{parent}", ctx.host_netns(host), parent)]
        peer = self.params.get("peer")
        if peer:
            points.append((peer, ctx.netns(peer), "eth0"))
        return points


def _subnet_broadcast(ctx: CheckContext, host: str, name: str, nic: str, own_ip: str) -> str:
    state = ctx.instance_state(host, name)
    for address in (state.network or {}).get(nic, {}).get("addresses", []):
        if address["family"] == "inet" and address["address"] == own_ip:
            network = ipaddress.IPv4Interface(f"{own_ip}/{address['netmask']}").network
            if network.prefixlen < 31:
                return str(network.broadcast_address)
    return "255.255.255.255"


def kind_of(packet: dict, own_ip: str, spoofed: str, broadcast: str) -> str | None:
    """Which of KINDS a captured packet is (None: not one the check sent)."""
    if "arp_op" in packet:
        if packet.get("arp_psrc") == own_ip:
            return "genuine ARP"
        return "spoofed ARP sender" if packet.get("arp_psrc") == spoofed else None
    if packet.get("dst") != broadcast or packet.get("icmp_type") != 8:
        return None
    if packet.get("src") == own_ip:
        return "genuine IPv4"
    return "spoofed IPv4 source" if packet.get("src") == spoofed else None


def judge(endpoint: str, own_ip: str, spoofed: str, broadcast: str, seen: dict[str, list[dict]],
          lease: dict, evidence: list[str], pcaps: list[str]) -> Observation:
    """The verdict's facts from the captures and the DHCP exchange (pure)."""
    problems, leaks, genuine_everywhere = [], [], True
    for label, packets in seen.items():
        counts = dict.fromkeys(KINDS, 0)
        for packet in packets:
            kind = kind_of(packet, own_ip, spoofed, broadcast)
            if kind is not None:
                counts[kind] += 1
        evidence.append(f"at {label}: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
        leaked = [k for k in KINDS[2:] if counts[k]]
        if leaked:
            leaks.append(label)
            problems.append(f"{' and '.join(leaked)} frames reached {label}")
        if not (counts["genuine IPv4"] and counts["genuine ARP"]):
            genuine_everywhere = False
            problems.append(f"genuine frames from {own_ip} did not all reach {label}")
    dhcp_ok = bool(lease.get("ack"))
    answer = lease.get("ack_type") or "no answer to the request"
    evidence.append(f"DHCP from inside {endpoint}: offer {lease.get('offer')}, {answer} "
                    f"{lease.get('ack') or ''} from {lease.get('server')} after "
                    f"{lease.get('attempts')} attempt(s)")
    if not dhcp_ok:
        problems.append("DHCP did not get through the filter (no ACK)")
    if not problems:
        return Observation(True, f"spoofed IPv4 source and ARP sender {spoofed} dropped; "
                                 f"genuine {own_ip} and DHCP pass (seen at "
                                 f"{', '.join(seen)})", evidence, pcaps)
    if leaks:
        stimulus = f"spoofed frames from {endpoint} reached {', '.join(leaks)}"
    elif genuine_everywhere:
        stimulus = f"genuine frames from {endpoint} reached {', '.join(seen)}"
    else:
        stimulus = None  # nothing of the instance's was seen: the filter was never tested
    return Observation(False, "; ".join(problems), evidence, pcaps, stimulus=stimulus)
