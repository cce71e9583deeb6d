"""What a capture tells the checks about a tunnelled frame (pure: packets built with scapy)."""

from __future__ import annotations

from scapy.layers.inet import ICMP, IP
from scapy.layers.l2 import ARP, GRE, Ether

from harness.probes.capture import describe

OUTER = IP(src="172.31.0.11", dst="172.31.0.12") / GRE(proto=0x6558)


def wire(packet) -> Ether:
    return Ether(bytes(packet))  # as a capture dissects it


def test_gre_carrying_a_ping_names_its_inner_addresses():
    seen = describe(wire(Ether() / OUTER / Ether() / IP(src="10.10.10.10", dst="10.10.10.200")
                         / ICMP()))
    assert (seen["inner_src"], seen["inner_dst"], seen["gre_proto"]) == (
        "10.10.10.10", "10.10.10.200", 0x6558)
    assert "inner_arp" not in seen


def test_gre_carrying_the_arp_before_a_ping_names_its_addresses_too():
    """With no tunnel back, a ping never gets past ARP: those frames are the ping's traffic
    crossing one way (measured on VMs: the gre check read them as unrelated GRE)."""
    seen = describe(wire(Ether() / OUTER / Ether(dst="ff:ff:ff:ff:ff:ff")
                         / ARP(psrc="10.10.10.10", pdst="10.10.10.200")))
    assert (seen["inner_src"], seen["inner_dst"], seen["inner_arp"]) == (
        "10.10.10.10", "10.10.10.200", True)
