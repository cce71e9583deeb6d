"""Each packet check's decision, made by its own code on packets recorded in real runs
(tests/fixtures/pcaps, written by `harness run` of the scenarios and of the broken labs),
including the ways it could be fooled into a pass: an empty capture, someone else's traffic
(unrelated GRE, other pings), a NAK, a reply from the wrong address."""

from __future__ import annotations

import dataclasses
import time

import pytest
from fake_lab import FIXTURES, Done, FakeLab, recorded
from scapy.layers.inet import IP
from scapy.utils import rdpcap

from harness.checks.base import run_check
from harness.probes import icmp
from harness.results import Outcome
from harness.topology import CheckSpec

NOWHERE = "nothing-recorded"  # a captures folder without files: every capture saw nothing


def judge(lab: FakeLab, index: int, **changes) -> tuple[Outcome, str]:
    spec = lab.topology.checks[index]
    if "params" in changes:
        changes["params"] = {**spec.params, **changes["params"]}
    (result,) = run_check(dataclasses.replace(spec, **changes), lab)
    return result.outcome, result.reason


def own_ident(folder: str, label: str) -> int:
    """The ICMP id of the echo requests in a recording: the probe's own."""
    return next(p["icmp_id"] for p in recorded(folder, label) if p.get("icmp_type") == 8)


# --------------------------------------------------------------------------- nat
def nat_lab(scenario: str, captures: str, source: str, own: str, ident: int,
            received: int, network: str, config: dict) -> FakeLab:
    return FakeLab(scenario, captures, addresses={source: own, "host1": "172.31.0.11"},
                   ping={"sent": 2, "received": received, "ident": ident},
                   parents={source: network}, networks={"host1": {network: config}})


def custom_bridge_nat(ident: int | None = None, captures: str = "custom-bridge") -> FakeLab:
    ident = ident or own_ident("custom-bridge", "2-nat-upstream-eth0")
    return nat_lab("scenarios/custom-bridge.yaml", captures, "host1:app1", "10.13.37.22",
                   ident, 2, "lxdbr1337", {"ipv4.nat": "true"})


def test_nat_passes_on_its_own_masqueraded_pings():
    outcome, reason = judge(custom_bridge_nat(), 2)
    assert outcome == Outcome.PASS, reason
    assert reason == "10.13.37.22 leaves as 172.31.0.11 and the reply comes back"


def test_nat_does_not_take_somebody_elses_pings_for_its_own():
    outcome, reason = judge(custom_bridge_nat(ident=1), 2, expect_failure=True)
    assert outcome == Outcome.FAIL
    assert reason == "inconclusive: nothing from host1:app1 reached upstream"


def test_nat_with_an_empty_capture_never_fails_as_expected():
    outcome, reason = judge(custom_bridge_nat(captures=NOWHERE), 2, expect_failure=True)
    assert (outcome, reason) == (Outcome.FAIL,
                                 "inconclusive: nothing from host1:app1 reached upstream")


def test_nat_off_is_seen_in_the_sources_and_fails_as_expected():
    ident = own_ident("nat-options", "2-nat-upstream-eth0")
    lab = nat_lab("scenarios/nat-options.yaml", "nat-options", "host1:app2", "10.13.38.168",
                  ident, 0, "lxdbr1338", {"ipv4.nat": "false"})
    outcome, reason = judge(lab, 2)
    assert outcome == Outcome.PASS, reason
    assert reason == ("fails as expected: 10.13.38.168 reaches upstream as 10.13.38.168, "
                      "not as 172.31.0.11")


# --------------------------------------------------------------------------- gre
def gre_lab(app1: str = "10.77.0.41", app2: str = "10.77.0.87",
            captures: str = "gre-ovs") -> FakeLab:
    return FakeLab("scenarios/gre-ovs.yaml", captures,
                   addresses={"host1:app1": app1, "host2:app2": app2},
                   host_addresses={"host1": ["10.218.1.1", "10.77.0.1", "172.31.0.11",
                                             "192.168.77.11"],
                                   "host2": ["10.218.2.1", "172.31.0.12", "192.168.77.12"]})


def test_gre_passes_on_its_own_pings_carried_with_the_key():
    outcome, reason = judge(gre_lab(), 0)
    assert outcome == Outcome.PASS, reason
    assert reason == ("host1:app1 -> host2:app2 crosses 192.168.77.11 <-> 192.168.77.12 as "
                      "GRE carrying Ethernet (0x6558) with key 10")


def test_gre_between_the_hosts_that_carries_other_traffic_proves_nothing():
    outcome, reason = judge(gre_lab(app1="10.77.0.5", app2="10.77.0.6"), 0,
                            expect_failure=True)
    assert (outcome, reason) == (Outcome.FAIL, "inconclusive: GRE seen on host1, but none "
                                 "carrying 10.77.0.5 <-> 10.77.0.6")


def test_gre_with_another_key_is_seen_for_what_it_is():
    outcome, reason = judge(gre_lab(), 0, params={"key": 99})
    assert outcome == Outcome.FAIL
    assert reason == ("expected GRE carrying Ethernet (0x6558) with key 99; seen protocol "
                      "0x6558 key 10")
    outcome, reason = judge(gre_lab(), 0, params={"key": 99}, expect_failure=True)
    assert outcome == Outcome.PASS, reason


def test_gre_with_an_empty_capture_never_fails_as_expected():
    outcome, reason = judge(gre_lab(captures=NOWHERE), 0, expect_failure=True)
    assert outcome == Outcome.FAIL and reason.startswith("inconclusive: no GRE at all on host1")


# --------------------------------------------------------------------------- vxlan
def vxlan_lab(scenario: str, captures: str, app1: str, app2: str, tunnel: str,
              vni: str, monkeypatch) -> FakeLab:
    marker = next(p["arp_psrc"] for p in recorded(captures, "0-vxlan-host1-eth0")
                  if p.get("arp_psrc", "").startswith("169.254."))
    monkeypatch.setattr("harness.checks.vxlan.check.marker_address", lambda: marker)
    config = {f"tunnel.{tunnel}.protocol": "vxlan", f"tunnel.{tunnel}.id": vni}
    return FakeLab(scenario, captures, addresses={"host1:app1": app1, "host2:app2": app2},
                   parents={"host1:app1": "br0", "host2:app2": "br0"},
                   networks={"host1": {"br0": config}, "host2": {"br0": config}})


def unicast(monkeypatch, captures: str = "vxlan-unicast") -> FakeLab:
    return vxlan_lab("scenarios/vxlan-unicast.yaml", captures, "10.10.10.211", "10.10.10.80",
                     "host2", "10", monkeypatch)


def test_vxlan_passes_on_its_own_pings_with_the_vni(monkeypatch):
    outcome, reason = judge(unicast(monkeypatch), 0)
    assert outcome == Outcome.PASS, reason
    assert reason == ("host1:app1 -> host2:app2 crosses 11.11.11.11 -> 99.99.99.99 as VXLAN "
                      "VNI 10 on UDP 8472")


def test_vxlan_with_another_vni_or_port_is_seen_for_what_it_is(monkeypatch):
    assert judge(unicast(monkeypatch), 0, params={"vni": 11}) == (
        Outcome.FAIL, "the pings crossed as UDP 8472 VNI 10, not UDP 8472 VNI 11")
    assert judge(unicast(monkeypatch), 0, params={"port": 4789}) == (
        Outcome.FAIL, "the pings crossed as UDP 8472 VNI 10, not UDP 4789 VNI 10")


def test_vxlan_broadcasts_must_go_to_the_group(monkeypatch):
    outcome, reason = judge(unicast(monkeypatch), 0, params={"group": "239.0.0.1"})
    assert (outcome, reason) == (Outcome.FAIL, "broadcast frames went to 99.99.99.99, not to "
                                 "the multicast group 239.0.0.1")
    multicast = vxlan_lab("scenarios/vxlan-multicast.yaml", "vxlan-multicast", "10.10.20.115",
                          "10.10.20.22", "lan", "1", monkeypatch)
    outcome, reason = judge(multicast, 0)
    assert outcome == Outcome.PASS and reason.endswith("broadcasts go to group 239.0.0.1")


def test_vxlan_with_an_empty_capture_never_fails_as_expected(monkeypatch):
    outcome, reason = judge(unicast(monkeypatch), 0, params={"vni": 11}, expect_failure=True)
    assert outcome == Outcome.PASS, reason  # recorded traffic with VNI 10: really absent
    lab = unicast(monkeypatch)
    lab.captures = NOWHERE
    outcome, reason = judge(lab, 0, params={"vni": 11}, expect_failure=True)
    assert outcome == Outcome.FAIL and reason.startswith("inconclusive: no UDP at all on host1")


# --------------------------------------------------------------------------- fan
def fan_lab(captures: str = "fan") -> FakeLab:
    return FakeLab("scenarios/fan.yaml", captures,
                   addresses={"host1:app1": "10.3.15.214", "host2:app2": "10.5.20.245"},
                   capabilities={"fan_map": False})


def test_fan_passes_on_its_own_pings_encapsulated_to_the_mapped_host():
    outcome, reason = judge(fan_lab(), 0)
    assert outcome == Outcome.PASS, reason
    assert reason == ("host1:app1 (10.3.15.214) in 10.3.15.0/24; 10.5.20.245 is "
                      "VXLAN-encapsulated to 172.21.5.20 (VNI 10)")


def test_fan_with_pings_of_other_addresses_or_nothing_proves_nothing():
    lab = fan_lab()
    lab.addresses["host2:app2"] = "10.5.20.9"  # the recording carries 10.5.20.245
    outcome, reason = judge(lab, 0, expect_failure=True)
    assert outcome == Outcome.FAIL and reason.startswith(
        "inconclusive: no VXLAN packet carrying 10.3.15.214 -> 10.5.20.9 with VNI 10")
    outcome, reason = judge(fan_lab(captures=NOWHERE), 0, expect_failure=True)
    assert outcome == Outcome.FAIL and reason.startswith("inconclusive: ")


# --------------------------------------------------------------------------- mac_filtering
def mac_lab(scenario: str, captures: str, index: int, genuine: str, marker: str,
            monkeypatch) -> FakeLab:
    spoofed = {mac for label in ("host1_lxdbr1337", "host1_app1", "host1_app2")
               for p in recorded(captures, f"{index}-mac_filtering-{label}")
               for mac in (p.get("eth_src"), p.get("arp_hwsrc")) if mac and mac != genuine}
    module = "harness.checks.mac_filtering.check"
    monkeypatch.setattr(f"{module}.random_mac", lambda: next(iter(spoofed), "02:00:00:00:00:01"))
    monkeypatch.setattr(f"{module}.marker_address", lambda: marker)
    instance = "host1:app2" if index == 1 else "host1:app1"
    return FakeLab(scenario, captures, addresses={}, macs={instance: genuine},
                   parents={instance: "lxdbr1337"})


def test_mac_filtering_passes_when_only_the_genuine_frames_arrive(monkeypatch):
    lab = mac_lab("scenarios/port-security.yaml", "port-security", 0, "00:16:3e:6f:81:42",
                  "169.254.136.163", monkeypatch)
    outcome, reason = judge(lab, 0)
    assert outcome == Outcome.PASS, reason


def test_mac_filtering_leaks_are_seen_and_fail_or_fail_as_expected(monkeypatch):
    lab = mac_lab("scenarios/port-security.yaml", "port-security", 1, "00:16:3e:fe:82:db",
                  "169.254.71.23", monkeypatch)
    outcome, reason = judge(lab, 1)
    assert outcome == Outcome.PASS and reason.startswith(
        "fails as expected: 9 spoofed frame(s) reached host1:lxdbr1337"), reason
    broken = mac_lab("tests/integration/broken/bridge.yaml", "broken-bridge", 0,
                     "00:16:3e:2e:c0:12", "169.254.152.136", monkeypatch)
    outcome, reason = judge(broken, 0)
    assert outcome == Outcome.FAIL and reason.startswith(
        "9 spoofed frame(s) reached host1:lxdbr1337"), reason


def test_mac_filtering_that_saw_nothing_never_fails_as_expected(monkeypatch):
    lab = mac_lab("scenarios/port-security.yaml", NOWHERE, 1, "00:16:3e:fe:82:db",
                  "169.254.71.23", monkeypatch)
    outcome, reason = judge(lab, 1)
    assert (outcome, reason) == (Outcome.FAIL, "inconclusive: no genuine frame reached "
                                 "host1:lxdbr1337; no genuine frame reached host1:app1")


# --------------------------------------------------------------------------- dhcp
def dhcp_lab(reply: dict) -> FakeLab:
    return FakeLab("scenarios/static-ip.yaml", NOWHERE,
                   addresses={"host1:app1": "10.13.37.66"}, macs={"host1:app1": "00:16:3e:01"},
                   answers={"dhcp.exchange": {"attempts": 1, "seconds": 0.1, **reply}})


OFFER = {"offer": "10.13.37.66", "server": "10.13.37.1"}


def test_dhcp_an_offer_then_a_nak_is_no_lease():
    lab = dhcp_lab({**OFFER, "ack": None, "ack_type": "nak"})
    assert judge(lab, 0) == (Outcome.FAIL, "host1:app1 was offered 10.13.37.66 by 10.13.37.1, "
                                           "but the REQUEST got a NAK: no lease")
    assert judge(dhcp_lab({**OFFER, "ack": "10.13.37.66", "ack_type": "ack"}), 0)[0] == \
        Outcome.PASS


def test_dhcp_an_offer_left_unanswered_or_no_offer_proves_nothing():
    unanswered = dhcp_lab({**OFFER, "ack": None})
    outcome, reason = judge(unanswered, 0, expect_failure=True)
    assert outcome == Outcome.FAIL and reason.startswith("inconclusive: ") and "no answer" in reason
    silent = dhcp_lab({"offer": None, "ack": None, "server": None})
    assert judge(silent, 0, expect_failure=True) == (
        Outcome.FAIL, "inconclusive: no DHCP server answered host1:app1")


# --------------------------------------------------------------------------- ping
class RecordedSocket:
    """Hands the ICMP probe recorded IP packets, as its raw socket would."""

    def __init__(self, packets: list[bytes]):
        self.packets = packets

    def recv(self, size: int) -> bytes:
        if not self.packets:
            raise BlockingIOError
        return self.packets.pop(0)


def test_a_reply_from_another_address_is_not_the_targets():
    reply = next(p for p in rdpcap(str(FIXTURES / "custom-bridge" / "2-nat-upstream-eth0.pcap"))
                 if p.haslayer(IP) and p[IP].src == "198.51.100.1")
    seq, ident = int(reply["ICMP"].seq), int(reply["ICMP"].id)

    def collect(dst: str) -> dict:
        result = {"dst": dst, "received": 0, "rtt_ms": [], "reply_from": [], "errors": []}
        icmp._collect(RecordedSocket([bytes(reply[IP])]), ident,
                      {seq: (time.monotonic(), result)}, [result], time.monotonic() + 0.2)
        return result

    assert collect("198.51.100.1")["received"] == 1
    wrong = collect("10.9.9.9")
    assert wrong["received"] == 0 and wrong["stray_replies"] == ["198.51.100.1"]


@pytest.mark.parametrize("reply, outcome, reason", [
    ({"sent": 3, "received": 0}, Outcome.PASS, "fails as expected: "),
    ({"sent": 0, "received": 0, "local_errors": ["EPERM: Operation not permitted"] * 3},
     Outcome.FAIL, "inconclusive: host1:app1 could not send to upstream (EPERM"),
    ({"sent": 0, "received": 0, "local_errors": ["ENETUNREACH: Network is unreachable"] * 3},
     Outcome.PASS, "fails as expected: host1:app1 has no route to upstream"),
])
def test_ping_absent_only_when_the_requests_left(reply, outcome, reason):
    lab = FakeLab("scenarios/custom-bridge.yaml", NOWHERE,
                  addresses={"host1:app1": "10.13.37.22", "upstream": "198.51.100.1"},
                  ping=reply)
    got = judge(lab, 1, expect_failure=True)
    assert got[0] == outcome and got[1].startswith(reason), got


# --------------------------------------------------------------------------- dhcp across a tunnel
def tunnelled_dhcp(server: str) -> FakeLab:
    """vxlan-unicast: host2's br0 has no address of its own; host1's br0 serves DHCP."""
    return FakeLab(
        "scenarios/vxlan-unicast.yaml", NOWHERE, addresses={"host2:app2": "10.10.10.80"},
        macs={"host2:app2": "00:16:3e:00:00:02"}, parents={"host2:app2": "br0"},
        networks={"host1": {"br0": {"ipv4.address": "10.10.10.1/24"}},
                  "host2": {"br0": {"ipv4.address": "none"}}},
        answers={"dhcp.exchange": {"attempts": 1, "seconds": 0.1, "offer": "10.10.10.80",
                                   "server": server, "ack": "10.10.10.80", "ack_type": "ack"}})


def test_dhcp_is_judged_by_the_network_that_served_the_lease():
    spec = tunnelled_dhcp("10.10.10.1").topology.checks[2]
    without_range = {k: v for k, v in spec.params.items() if k != "range"}
    (result,) = run_check(dataclasses.replace(spec, params=without_range),
                          tunnelled_dhcp("10.10.10.1"))
    assert result.outcome == Outcome.PASS, result.reason
    assert result.reason == ("host2:app2 leased 10.10.10.80 from 10.10.10.1, inside "
                             "10.10.10.2-10.10.10.254")
    assert any("br0 on host1 served the lease" in line for line in result.evidence)
    (result,) = run_check(dataclasses.replace(spec, params=without_range),
                          tunnelled_dhcp("10.10.10.9"))
    assert result.reason == ("inconclusive: the lease came from 10.10.10.9, which is neither "
                             "an LXD network nor a peer of this lab: cannot tell its range")


# --------------------------------------------------------------------------- user's terms
def test_a_node_the_substrate_does_not_provide_is_named_not_a_keyerror(tmp_path):
    """A skip naming the substrate and the node (like a missing kernel feature)."""
    from harness.checks.context import CheckContext
    from harness.scenario import load_scenario
    from harness.substrates.base import HostNode, Lab
    from harness.substrates.ssh import SshSubstrate

    topology = load_scenario(FIXTURES.parents[2] / "scenarios" / "custom-bridge.yaml")
    lab = Lab(run_id="r", scenario="custom-bridge", substrate="ssh", workdir=str(tmp_path),
              hosts={"host1": HostNode("host1", "host", "")})
    probes = Done(None)  # never reached: the upstream node is looked up first
    probes.start = probes.call = lambda *args, **kwargs: pytest.fail("a probe ran")
    ctx = CheckContext(topology, lab, probes=probes, artifacts=tmp_path,
                       substrate=SshSubstrate(tmp_path))
    spec = CheckSpec(0, "nat", {"from": "host1", "expect_source": "host1"})
    (result,) = run_check(spec, ctx)
    assert result.outcome == Outcome.SKIP
    assert result.reason.startswith("the ssh substrate uses existing machines")
    assert "no `upstream` node" in result.reason
