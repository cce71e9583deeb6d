"""Pure parts of the packet checks (mac_filtering, macvlan, vxlan, mtu, dhcp): no lab needed."""

from __future__ import annotations

import textwrap

import pytest

from harness.checks.addresses import random_mac
from harness.checks.dhcp import check as dhcp
from harness.checks.mac_filtering import check as mac_filtering
from harness.checks.mtu import check as mtu
from harness.checks.vxlan import check as vxlan
from harness.scenario import ScenarioError, load_text

SCENARIO = """
    name: t
    hosts:
      host1: {instances: {app1: {}, app2: {}}}
      host2: {instances: {app3: {}}}
    checks:
      - {check}
"""


def load_check(check: str):
    return load_text(textwrap.dedent(SCENARIO).replace("{check}", check)).checks[0]


# --------------------------------------------------------------------------- schema
def test_dhcp_unique_and_clients_are_accepted():
    assert load_check("dhcp: {unique: [host1:app1, host1:app2]}").params["unique"] == [
        "host1:app1", "host1:app2"]
    assert load_check("dhcp: {instance: host1:app1, clients: 4}").params["clients"] == 4


@pytest.mark.parametrize("check, message", [
    ("dhcp: {expect: 10.0.0.5}", "needs instance, or unique"),
    ("dhcp: {instance: host1:app1, unique: [host1:app1, host1:app2]}", "not both"),
    ("dhcp: {unique: [host1:app1, host1:app2], clients: 2}", "unique takes no"),
    ("dhcp: {instance: host1:app1, expect: 10.0.0.5, clients: 2}", "expect or clients"),
    ("dhcp: {unique: [host1:app1, host1:nope]}", "no instance 'nope'"),
    ("vxlan: {between: [host1, host2], vni: 1, group: 239.0.0}", "not an IPv4 address"),
])
def test_bad_packet_check_parameters_are_refused(check, message):
    with pytest.raises(ScenarioError) as info:
        load_check(check)
    assert message in str(info.value)


def test_vxlan_group_is_a_parameter():
    assert load_check("vxlan: {between: [host1, host2], vni: 1, group: 239.0.0.1}").params[
        "group"] == "239.0.0.1"


# --------------------------------------------------------------------------- mac_filtering
def test_spoofed_frames_are_told_from_genuine_ones():
    genuine, spoofed, marker = "00:16:3e:00:00:01", random_mac(), "169.254.7.7"
    frames = mac_filtering._frames(genuine, spoofed, marker)
    assert sum(spoofed in (f.get("eth_src"), f.get("arp_hwsrc")) for f in frames) == 3
    assert all(f["src"] == marker for f in frames)
    arp = {"eth_src": genuine, "arp_op": 1, "arp_hwsrc": genuine, "arp_psrc": marker}
    assert mac_filtering._is_genuine(arp, genuine, marker)
    assert not mac_filtering._is_genuine({**arp, "arp_hwsrc": spoofed}, genuine, marker)
    assert not mac_filtering._is_genuine({**arp, "arp_psrc": "10.0.0.1"}, genuine, marker)
    icmp = {"eth_src": genuine, "src": marker}
    assert mac_filtering._is_genuine(icmp, genuine, marker)
    assert not mac_filtering._is_genuine({**icmp, "eth_src": spoofed}, genuine, marker)


def test_random_macs_are_locally_administered_unicast():
    first = int(random_mac().split(":")[0], 16)
    assert first & 0x02 and not first & 0x01


# --------------------------------------------------------------------------- mtu
def prober_with(reply: dict) -> mtu._Prober:
    prober = mtu._Prober(ctx=None, netns="", dst="10.0.0.2")  # type: ignore[arg-type]
    prober.seen[1401] = {"sent": 2, "received": 0, "errors": [], "local_errors": [], **reply}
    return prober


@pytest.mark.parametrize("reply, fate", [
    ({"received": 2}, "passes"),
    ({"sent": 0, "local_errors": ["EMSGSIZE: Message too long"]}, "refused by the sender"),
    ({"errors": [{"from": "10.0.0.1", "type": 3, "code": 4, "next_hop_mtu": 1400}]},
     "fragmentation needed from 10.0.0.1, next-hop MTU 1400"),
    ({"errors": [{"from": "10.0.0.1", "type": 3, "code": 4, "next_hop_mtu": 1400}],
      "local_errors": ["EMSGSIZE: Message too long"]}, "learnt the path MTU"),
    ({"errors": [{"from": "10.0.0.1", "type": 3, "code": 1}]}, "ICMP type 3 code 1"),
    ({}, "silently dropped"),
])
def test_what_became_of_the_bigger_packet(reply, fate):
    assert fate in prober_with(reply).fate(1401)


def test_bisection_finds_the_largest_size_that_passes():
    class Limit(mtu._Prober):
        def passes(self, size: int) -> bool:
            self.seen.setdefault(size, {"received": int(size <= 1372)})
            return size <= 1372

    prober = Limit(ctx=None, netns="", dst="x")  # type: ignore[arg-type]
    assert prober.bisect(84, 1450) == 1372
    assert len(prober.seen) <= 12


# --------------------------------------------------------------------------- dhcp, vxlan
def test_shared_addresses_are_named():
    assert dhcp._shared({"h:a": "10.0.0.5", "h:b": "10.0.0.6"}) == []
    assert dhcp._shared({"h:a": "10.0.0.5", "h:b": "10.0.0.5"}) == ["h:a and h:b share 10.0.0.5"]


def test_vxlan_packets_are_described():
    packet = {"src": "11.11.11.11", "sport": 1234, "dst": "99.99.99.99", "dport": 8472,
              "vni": 10, "inner_src": "10.10.10.2", "inner_dst": "10.10.10.3"}
    assert vxlan._describe(packet) == (
        "UDP 11.11.11.11:1234 > 99.99.99.99:8472 VNI 10: 10.10.10.2 > 10.10.10.3")
    plain_udp = {k: v for k, v in packet.items() if k != "vni"}
    assert vxlan._describe(plain_udp) == "UDP 11.11.11.11:1234 > 99.99.99.99:8472 (not VXLAN)"
    assert vxlan._flood_target("239.0.0.1").endswith("(multicast group)")
    assert vxlan._flood_target("99.99.99.99").endswith("(unicast remote)")
