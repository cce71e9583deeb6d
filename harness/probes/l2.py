"""Layer-2 probes: hand-made Ethernet frames (genuine or with a spoofed source MAC)."""

from __future__ import annotations

from scapy.arch import get_if_hwaddr
from scapy.layers.inet import ICMP, IP
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Raw
from scapy.sendrecv import sendp

BROADCAST = "ff:ff:ff:ff:ff:ff"


def _frame(spec: dict, own_mac: str):
    eth_src = spec.get("eth_src") or own_mac
    ether = Ether(src=eth_src, dst=spec.get("eth_dst", BROADCAST))
    if spec["kind"] == "arp":
        return ether / ARP(op=1, hwsrc=spec.get("arp_hwsrc") or eth_src, psrc=spec["src"],
                           pdst=spec["dst"])
    if spec["kind"] == "icmp":
        return (ether / IP(src=spec["src"], dst=spec["dst"])
                / ICMP(type=8, id=int(spec.get("ident", 1)), seq=int(spec.get("seq", 1)))
                / Raw(str(spec.get("token", "harness")).encode()))
    raise ValueError(f"unknown frame kind {spec['kind']!r} (arp, icmp)")


def send_frames(iface: str, frames: list[dict], repeat: int = 3, interval: float = 0.05) -> dict:
    """Send each frame `repeat` times on `iface`; report what went out.

    A frame is {"kind": "arp"|"icmp", "src": IP, "dst": IP, "eth_src"?, "eth_dst"?,
    "arp_hwsrc"?, "ident"?, "seq"?, "token"?}; a missing eth_src is the interface's own MAC.
    """
    own = get_if_hwaddr(iface)
    packets = [_frame(spec, own) for spec in frames]
    sendp(packets * repeat, iface=iface, inter=interval, verbose=False)
    return {"iface": iface, "own_mac": own, "repeat": repeat,
            "sent": [p.summary() for p in packets]}
