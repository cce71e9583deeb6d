"""Bounded packet capture: what was seen on one interface, as readable dicts and a pcap."""

from __future__ import annotations

from collections.abc import Callable

from scapy.layers.dhcp import BOOTP
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import ARP, GRE, Dot1Q, Ether
from scapy.layers.vxlan import VXLAN
from scapy.packet import bind_layers
from scapy.utils import wrpcap

from harness.probes.listening import sniff_window

# LXD's VXLAN tunnels use the Linux default port 8472, not IANA's 4789
bind_layers(UDP, VXLAN, dport=8472)


def describe(packet) -> dict:
    """The fields the checks reason about, flat and JSON-able."""
    info: dict = {"summary": packet.summary(), "length": len(packet)}
    if packet.haslayer(Ether):
        info["eth_src"], info["eth_dst"] = packet[Ether].src, packet[Ether].dst
    if packet.haslayer(Dot1Q):
        info["vlan"] = int(packet[Dot1Q].vlan)
    if packet.haslayer(ARP):
        arp = packet[ARP]
        info.update(arp_op=int(arp.op), arp_psrc=arp.psrc, arp_pdst=arp.pdst, arp_hwsrc=arp.hwsrc)
    if packet.haslayer(IP):
        ip = packet[IP]
        info.update(src=ip.src, dst=ip.dst, proto=int(ip.proto), ip_len=int(ip.len),
                    df=bool(int(ip.flags) & 2))
    if packet.haslayer(UDP):
        info.update(sport=int(packet[UDP].sport), dport=int(packet[UDP].dport))
    elif packet.haslayer(TCP):
        info.update(sport=int(packet[TCP].sport), dport=int(packet[TCP].dport))
    if packet.haslayer(ICMP):
        icmp = packet[ICMP]
        info.update(icmp_type=int(icmp.type), icmp_code=int(icmp.code))
        if icmp.type in (0, 8):
            info["icmp_id"] = int(icmp.id)
    if packet.haslayer(VXLAN):
        info["vni"] = int(packet[VXLAN].vni)
        inner = packet[VXLAN].payload
        if inner.haslayer(IP):
            info.update(inner_src=inner[IP].src, inner_dst=inner[IP].dst)
    if packet.haslayer(GRE):
        gre = packet[GRE]
        info["gre_proto"] = int(gre.proto)
        if gre.key_present:
            info["gre_key"] = int(gre.key)
        inner = gre.payload  # Ethernet (0x6558) or IP: the addresses the tunnel carries
        if inner.haslayer(IP):
            info.update(inner_src=inner[IP].src, inner_dst=inner[IP].dst)
        elif inner.haslayer(ARP):  # a ping's first frames: who has the target's address
            info.update(inner_src=inner[ARP].psrc, inner_dst=inner[ARP].pdst, inner_arp=True)
    if packet.haslayer(BOOTP):
        info.update(bootp_op=int(packet[BOOTP].op), yiaddr=packet[BOOTP].yiaddr)
    return info


def capture(iface: str, bpf: str = "", duration: float = 30.0, count: int = 200,
            pcap: str | None = None, promisc: bool = True,
            ready: Callable[[], None] | None = None, vxlan_ports: list[int] | None = None) -> dict:
    """Sniff `iface`, shown to be listening first, until stopped (see listening.py), at most
    `duration` seconds or `count` packets.

    `vxlan_ports`: further UDP destination ports to decode as VXLAN (tunnel.NAME.port).
    """
    for port in vxlan_ports or ():
        bind_layers(UDP, VXLAN, dport=int(port))
    window = sniff_window(iface, bpf or None, duration=duration, count=count, promisc=promisc,
                          ready=ready)
    if pcap:
        wrpcap(pcap, window.packets)
    return {"iface": iface, "filter": bpf, "count": len(window.packets), "pcap": pcap,
            **window.describe(), "packets": [describe(p) for p in window.packets]}
