"""What a network namespace holds: its IPv4 addresses (as scapy sees them after a resync)."""

from __future__ import annotations

from scapy.config import conf


def addresses() -> dict:
    """Every IPv4 address of every interface but loopback, per interface."""
    found = {iface.name: list(iface.ips.get(4, [])) for iface in conf.ifaces.values()
             if iface.name != "lo"}
    return {"addresses": {name: ips for name, ips in found.items() if ips}}
