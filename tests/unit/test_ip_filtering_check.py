"""`ip_filtering`: captured frames sorted into genuine and spoofed, and the verdict."""

from __future__ import annotations

from harness.checks.ip_filtering.check import judge, kind_of

OWN, SPOOFED, BROADCAST = "10.13.37.10", "169.254.9.9", "10.13.37.255"
MAC = "00:16:3e:00:00:01"


def icmp(src: str, dst: str = BROADCAST) -> dict:
    return {"eth_src": MAC, "src": src, "dst": dst, "icmp_type": 8, "summary": "icmp"}


def arp(psrc: str) -> dict:
    return {"eth_src": MAC, "arp_op": 1, "arp_psrc": psrc, "arp_hwsrc": MAC, "summary": "arp"}


def test_kinds():
    assert kind_of(icmp(OWN), OWN, SPOOFED, BROADCAST) == "genuine IPv4"
    assert kind_of(arp(OWN), OWN, SPOOFED, BROADCAST) == "genuine ARP"
    assert kind_of(icmp(SPOOFED), OWN, SPOOFED, BROADCAST) == "spoofed IPv4 source"
    assert kind_of(arp(SPOOFED), OWN, SPOOFED, BROADCAST) == "spoofed ARP sender"
    # a masqueraded broadcast (source rewritten by the host) or someone else's ping
    assert kind_of(icmp("10.13.37.1"), OWN, SPOOFED, BROADCAST) is None
    assert kind_of(icmp(OWN, dst="10.13.37.20"), OWN, SPOOFED, BROADCAST) is None


ACK = {"offer": OWN, "ack": OWN, "ack_type": "ack", "server": "10.13.37.1", "attempts": 1}


def observe(seen: dict, lease: dict = ACK):
    return judge("host1:app1", OWN, SPOOFED, BROADCAST, seen, lease, [], [])


def test_filtered_genuine_passing_and_dhcp_is_present():
    seen = observe({"host1:lxdbr1337": [icmp(OWN), arp(OWN)]})
    assert seen.present


def test_a_leak_names_which_kind_leaked_and_where():
    seen = observe({"host1:lxdbr1337": [icmp(OWN), arp(OWN), arp(SPOOFED)]})
    assert not seen.present
    assert "spoofed ARP sender frames reached host1:lxdbr1337" in seen.summary
    assert "spoofed IPv4 source" not in seen.summary and seen.stimulus


def test_dhcp_blocked_is_absent_with_the_genuine_frames_as_stimulus():
    seen = observe({"host1:lxdbr1337": [icmp(OWN), arp(OWN)]},
                   {"offer": None, "ack": None, "server": None, "attempts": 2})
    assert not seen.present and "DHCP did not get through" in seen.summary and seen.stimulus


def test_an_empty_capture_proves_nothing():
    seen = observe({"host1:lxdbr1337": []})
    assert not seen.present and seen.stimulus is None
