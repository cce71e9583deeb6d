"""DHCP probes: a fresh DISCOVER/OFFER/REQUEST/ACK exchange from inside a network namespace."""

from __future__ import annotations

import random
import time

from scapy.arch import get_if_hwaddr
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.sendrecv import sendp, srp1
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


def _send(iface: str, mac: str, xid: int, options: list, timeout: float,
          frame_src: str | None = None):
    frame = (Ether(src=frame_src or mac, dst="ff:ff:ff:ff:ff:ff")
             / IP(src="0.0.0.0", dst="255.255.255.255")
             / UDP(sport=68, dport=67)
             / BOOTP(chaddr=mac2str(mac), xid=xid, flags=0x8000)
             / DHCP(options=options))
    return srp1(frame, iface=iface, timeout=timeout, filter="udp and port 68")


def exchange(iface: str = "eth0", mac: str | None = None, hostname: str | None = None,
             timeout: float = 3.0, attempts: int = 3, frame_src: str | None = None) -> dict:
    """Ask for a lease as the instance would (same MAC and client id); report what is offered.

    `mac` is the client's hardware address (chaddr, and the client id derives from it);
    `frame_src` the Ethernet source, when that must differ (the NIC's own MAC, so that
    `security.mac_filtering` lets a made-up client through).
    """
    mac = mac or get_if_hwaddr(iface)
    client_id = b"\x01" + mac2str(mac)  # what busybox's udhcpc sends
    base = [("client_id", client_id)] + ([("hostname", hostname)] if hostname else [])
    result: dict = {"iface": iface, "mac": mac, "offer": None, "ack": None, "server": None,
                    "attempts": 0}
    started = time.monotonic()
    for _ in range(attempts):
        result["attempts"] += 1
        xid = random.randrange(1, 0xFFFFFFFF)
        offer = _send(iface, mac, xid, [("message-type", "discover"), *base, "end"], timeout,
                      frame_src)
        if offer is None or not offer.haslayer(DHCP):
            continue
        options = _options(offer)
        result["offer"] = offer[BOOTP].yiaddr
        result["server"] = options.get("server_id")
        result["offer_options"] = options
        request = [("message-type", "request"), ("requested_addr", offer[BOOTP].yiaddr),
                   ("server_id", options.get("server_id")), *base, "end"]
        ack = _send(iface, mac, xid, request, timeout, frame_src)
        if ack is not None and ack.haslayer(DHCP):
            kind = MESSAGE_TYPES.get(_options(ack).get("message-type", 0), "?")
            result["ack"] = ack[BOOTP].yiaddr if kind == "ack" else None
            result["ack_type"] = kind
        break
    result["seconds"] = round(time.monotonic() - started, 3)
    return result


def fresh_clients(iface: str = "eth0", macs: list[str] | None = None, timeout: float = 2.0) -> dict:
    """One full exchange per made-up client MAC (each its own client id), then release all.

    Leases are held until every client has asked, so a small pool really runs out;
    releasing them afterwards leaves the pool as it was for the next run.
    """
    own = get_if_hwaddr(iface)
    clients = [exchange(iface, mac=mac, timeout=timeout, attempts=1, frame_src=own)
               for mac in macs or []]
    for client in clients:
        if client["ack"] and client["server"]:
            _release(iface, own, client["mac"], client["ack"], client["server"])
    return {"iface": iface, "frame_src": own, "clients": clients}


def _release(iface: str, frame_src: str, mac: str, address: str, server: str) -> None:
    frame = (Ether(src=frame_src, dst="ff:ff:ff:ff:ff:ff")
             / IP(src=address, dst=server)
             / UDP(sport=68, dport=67)
             / BOOTP(chaddr=mac2str(mac), ciaddr=address, xid=random.randrange(1, 0xFFFFFFFF))
             / DHCP(options=[("message-type", "release"), ("server_id", server),
                             ("client_id", b"\x01" + mac2str(mac)), "end"]))
    sendp(frame, iface=iface, verbose=False)
