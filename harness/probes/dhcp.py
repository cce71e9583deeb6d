"""DHCP probes: a fresh DISCOVER/OFFER/REQUEST/ACK exchange from inside a network namespace."""

from __future__ import annotations

import random
import time

from scapy.arch import get_if_hwaddr
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.sendrecv import srp1
from scapy.utils import mac2str

MESSAGE_TYPES = {1: "discover", 2: "offer", 3: "request", 4: "decline", 5: "ack", 6: "nak",
                 7: "release", 8: "inform"}


def _options(packet) -> dict:
    options = {}
    for option in packet[DHCP].options:
        if isinstance(option, tuple) and len(option) >= 2:
            key, value = option[0], option[1]
            options[str(key)] = value.decode(errors="replace") if isinstance(value, bytes) \
                else (value if isinstance(value, (int, str)) else str(value))
    return options


def _send(iface: str, mac: str, xid: int, options: list, timeout: float):
    frame = (Ether(src=mac, dst="ff:ff:ff:ff:ff:ff")
             / IP(src="0.0.0.0", dst="255.255.255.255")
             / UDP(sport=68, dport=67)
             / BOOTP(chaddr=mac2str(mac), xid=xid, flags=0x8000)
             / DHCP(options=options))
    return srp1(frame, iface=iface, timeout=timeout, filter="udp and port 68")


def exchange(iface: str = "eth0", mac: str | None = None, hostname: str | None = None,
             timeout: float = 3.0, attempts: int = 3) -> dict:
    """Ask for a lease as the instance would (same MAC and client id); report what is offered."""
    mac = mac or get_if_hwaddr(iface)
    client_id = b"\x01" + mac2str(mac)  # what busybox's udhcpc sends
    base = [("client_id", client_id)] + ([("hostname", hostname)] if hostname else [])
    result: dict = {"iface": iface, "mac": mac, "offer": None, "ack": None, "server": None,
                    "attempts": 0}
    started = time.monotonic()
    for _ in range(attempts):
        result["attempts"] += 1
        xid = random.randrange(1, 0xFFFFFFFF)
        offer = _send(iface, mac, xid, [("message-type", "discover"), *base, "end"], timeout)
        if offer is None or not offer.haslayer(DHCP):
            continue
        options = _options(offer)
        result["offer"] = offer[BOOTP].yiaddr
        result["server"] = options.get("server_id")
        result["offer_options"] = options
        request = [("message-type", "request"), ("requested_addr", offer[BOOTP].yiaddr),
                   ("server_id", options.get("server_id")), *base, "end"]
        ack = _send(iface, mac, xid, request, timeout)
        if ack is not None and ack.haslayer(DHCP):
            kind = MESSAGE_TYPES.get(_options(ack).get("message-type", 0), "?")
            result["ack"] = ack[BOOTP].yiaddr if kind == "ack" else None
            result["ack_type"] = kind
        break
    result["seconds"] = round(time.monotonic() - started, 3)
    return result
