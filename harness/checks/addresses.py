"""Small address helpers the checks share (no scapy: checks run in the main process)."""

from __future__ import annotations

import ipaddress
import secrets


def random_mac() -> str:
    """A locally administered unicast MAC that no real NIC has."""
    octets = [0x02, *secrets.token_bytes(5)]
    return ":".join(f"{o:02x}" for o in octets)


def marker_address() -> str:
    """A random link-local IPv4 address: no neighbour cache holds it, nobody answers it.

    Frames sent "from" it can be recognised in a capture and poison nothing, even with a
    spoofed ARP sender.
    """
    return str(ipaddress.IPv4Address("169.254.1.0") + secrets.randbelow(0xFD00))
