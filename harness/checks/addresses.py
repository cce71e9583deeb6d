"""Small address helpers the checks share (no scapy: checks run in the main process)."""

from __future__ import annotations

import secrets


def random_mac() -> str:
    """A locally administered unicast MAC that no real NIC has."""
    octets = [0x02, *secrets.token_bytes(5)]
    return ":".join(f"{o:02x}" for o in octets)
