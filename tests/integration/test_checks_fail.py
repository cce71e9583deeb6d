"""Broken scenarios: each check must FAIL, for the reason the breakage causes.

A check that cannot fail proves nothing. Every file in broken/ misconfigures something on
purpose (no MAC filtering, no NAT, wrong reservations and ranges, macvlan from its own host,
a wrong VNI, port and group, an MTU the tunnel does not carry, the wrong VLAN, a host left off
the fan, no IP filtering, no route, no limit, an ACL without the rule, a forward to the wrong
port, a routed address nobody looks up) or stops an instance; the checks are written as if
all were well. Each must fail with an observation, except where nothing can be observed (a
stopped instance): there it must fail as inconclusive, also under expect_failure, never
"fail as expected". One lab per file carries as many broken things as it can, to keep this
quick.

GRE is not here: this kernel has no gretap (LXD's GRE tunnels), and GRE through Open
vSwitch's userspace datapath has no key to get wrong that a local lab could show; the wrong
key / no tunnel cases run in the VM tier (tests/vm/labs/gre-broken.yaml).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.results import Outcome
from harness.scenario import load_scenario
from harness.session import Options, ScenarioRun

pytestmark = pytest.mark.root

BROKEN = Path(__file__).parent / "broken"
INCONCLUSIVE = "inconclusive: "
STOPPED = "instance host1:app3 is not running (Stopped)"

#: file -> check id -> a phrase the failure reason must contain
EXPECTED_FAILURES = {
    "bridge.yaml": {
        "0-mac_filtering": "spoofed frame(s) reached host1:app2",
        "1-nat": "not as 172.31.0.11",
        "2-dhcp": "expected 10.13.37.67; DHCP leases 10.13.37.66",
        "3-dhcp": "10.13.37.100 outside 10.13.37.2-10.13.37.50",
        "4-dhcp": "outside 10.13.37.100-10.13.37.100",
        "5-dhcp": "expected 10.13.37.67; DHCP leases 10.13.37.66",
        "6-dhcp": INCONCLUSIVE + STOPPED,
        "7-dns": "app9.lxd has no A record (NXDOMAIN)",
        "8-ping": "3 echo requests sent, 0 replies",
        "9-ping": INCONCLUSIVE + "instance host1:app3 is not running",
        "10-nat": INCONCLUSIVE,
        "11-mac_filtering": INCONCLUSIVE,
    },
    "lxd-suite.yaml": {
        "0-ip_filtering": "spoofed IPv4 source and spoofed ARP sender frames reached "
                          "host1:lxdbr1337",
        "1-ping": "0 replies",
        "2-mtu": "expected 1400, the largest that passes is 1500",
        "3-bandwidth": "more than 10 +- 20%",
        "4-start_refused": "LXD started host1:app3",
    },
    "lxd-suite-acl.yaml": {
        "0-flow": "rejected with ICMP destination unreachable (port unreachable) from "
                  "10.13.37.1 (host1 lxdbr1337)",
        "1-flow": "dropped: no answer, no RST, no ICMP error",
        "2-flow": "rejected with ICMP destination unreachable (port unreachable) from "
                  "172.31.0.11 (host1)",
        "3-flow": "rejected with a TCP RST from 172.31.0.11 (host1)",
    },
    "macvlan.yaml": {
        "0-macvlan": "not reachable from host1",
        "1-macvlan": "reachable from router too",
    },
    "vxlan.yaml": {
        "0-vxlan": "crossed as UDP 8472 VNI 10, not UDP 8472 VNI 11",
        "1-mtu": "the largest that passes is 1400",
        "2-vxlan": "crossed as UDP 8472 VNI 10, not UDP 4789 VNI 10",
        "3-vxlan": "broadcast frames went to 172.31.0.12, not to the multicast group 239.0.0.1",
    },
    "vlan.yaml": {
        "0-vlan": "leave VID 410 x3, not tagged 409",
    },
    "fan.yaml": {
        "0-fan": "outside host2's fan slice 10.5.20.0/24",
        "1-fan": INCONCLUSIVE + "no VXLAN packet carrying 10.3.15.",
    },
}


def test_every_broken_file_is_covered():
    assert sorted(p.name for p in BROKEN.glob("*.yaml")) == sorted(EXPECTED_FAILURES)


@pytest.mark.parametrize("name", sorted(EXPECTED_FAILURES))
def test_broken_scenario_fails(name: str, tmp_path: Path):
    topology = load_scenario(BROKEN / name)
    result = ScenarioRun(topology, Options(out_dir=tmp_path)).run()
    assert result.error is None, result.error
    outcomes = {check.id: check for check in result.checks}
    assert sorted(outcomes) == sorted(EXPECTED_FAILURES[name])
    for check_id, phrase in EXPECTED_FAILURES[name].items():
        check = outcomes[check_id]
        assert check.outcome == Outcome.FAIL, f"{check_id}: {check.outcome} {check.reason}"
        assert phrase in check.reason, f"{check_id}: {check.reason}"
        if not phrase.startswith(INCONCLUSIVE):  # a broken config is observed, not guessed
            assert not check.reason.startswith(INCONCLUSIVE), f"{check_id}: {check.reason}"
            assert check.evidence, f"{check_id} gives no evidence"
