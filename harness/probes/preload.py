"""Imported once by the probe fork server, so that no probe pays for scapy's import."""

import scapy.all  # noqa: F401
from scapy.config import conf

conf.verb = 0
conf.checkIPaddr = False  # DHCP offers come from the server, not from the broadcast address

from harness.probes import capture, dhcp, dns, icmp  # noqa: E402, F401
from harness.probes import l2  # noqa: E402, F401
