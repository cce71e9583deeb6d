"""Imported once by the probe fork server, so that no probe pays for scapy's import."""

import scapy.all  # noqa: F401
from scapy.config import conf

conf.verb = 0
conf.checkIPaddr = False  # DHCP offers come from the server, not from the broadcast address

from harness.probes import (  # noqa: E402, F401
    capture,
    dhcp,
    dns,
    frames,
    hostinfo,
    icmp,
    l2,  # noqa: E402, F401
)
