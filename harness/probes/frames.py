"""Marked Ethernet frames: send them (tagged or not) and watch for the marks elsewhere.

A mark is a short text in the payload of a frame with the local experimental EtherType
0x88b5, so a watcher recognises exactly the frames a check sent, whatever else is on the wire.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from scapy.arch import get_if_hwaddr
from scapy.layers.l2 import Dot1Q, Ether
from scapy.packet import Raw
from scapy.sendrecv import sendp
from scapy.utils import wrpcap

from harness.probes.listening import sniff_window

ETHERTYPE = 0x88B5
BROADCAST = "ff:ff:ff:ff:ff:ff"


def _frame(iface: str, mark: str, vlan: int | None, src: str | None, dst: str):
    source = src or get_if_hwaddr(iface)
    if vlan is None:
        return Ether(src=source, dst=dst, type=ETHERTYPE) / Raw(mark.encode())
    return Ether(src=source, dst=dst) / Dot1Q(vlan=vlan, type=ETHERTYPE) / Raw(mark.encode())


def send_marked(iface: str, frames: list[dict], repeat: int = 3, interval: float = 0.05) -> dict:
    """Send each frame {mark, vlan?, src?, dst?} `repeat` times on `iface`."""
    sent = 0
    for _ in range(repeat):
        for spec in frames:
            packet = _frame(iface, spec["mark"], spec.get("vlan"), spec.get("src"),
                            spec.get("dst", BROADCAST))
            sendp(packet, iface=iface, verbose=False)
            sent += 1
        time.sleep(interval)
    return {"iface": iface, "sent": sent}


def _mark_of(packet, marks: list[str]) -> str | None:
    if not packet.haslayer(Raw):
        return None
    data = bytes(packet[Raw].load)
    return next((m for m in marks if m.encode() in data), None)


def watch(iface: str, marks: list[str], duration: float = 30.0, count: int = 0,
          pcap: str | None = None, ready: Callable[[], None] | None = None) -> dict:
    """Sniff `iface`, shown to be listening first, until stopped (see listening.py), at most
    `duration` s or `count` marked frames: per mark, the VLAN ids it was seen with (None:
    untagged)."""
    window = sniff_window(iface, lfilter=lambda p: _mark_of(p, marks) is not None,
                          duration=duration, count=count, ready=ready)
    if pcap:
        wrpcap(pcap, window.packets)
    seen: dict[str, list[int | None]] = {mark: [] for mark in marks}
    for packet in window.packets:
        mark = _mark_of(packet, marks)
        vlan = int(packet[Dot1Q].vlan) if packet.haslayer(Dot1Q) else None
        seen[mark].append(vlan)  # type: ignore[index]
    return {"iface": iface, "seen": seen, "pcap": pcap, **window.describe()}
