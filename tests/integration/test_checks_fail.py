"""Broken scenarios: each check must FAIL, for the reason the breakage causes.

A check that cannot fail proves nothing. Every file in broken/ misconfigures something on
purpose (no MAC filtering, no NAT, a wrong reservation, macvlan from its own host, a wrong
VNI, an MTU the tunnel does not carry); the checks are written as if all were well, and
each must fail with an observation (not an error, not "inconclusive").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.results import Outcome
from harness.scenario import load_scenario
from harness.session import Options, ScenarioRun

pytestmark = pytest.mark.root

BROKEN = Path(__file__).parent / "broken"

#: file -> check id -> a phrase the failure reason must contain
EXPECTED_FAILURES = {
    "bridge.yaml": {
        "0-mac_filtering": "spoofed frame(s) reached host1:app2",
        "1-nat": "not as 172.31.0.11",
        "2-dhcp": "expected 10.13.37.67; DHCP leases 10.13.37.66",
    },
    "macvlan.yaml": {
        "0-macvlan": "not reachable from host1",
    },
    "vxlan.yaml": {
        "0-vxlan": "crossed as UDP 8472 VNI 10, not UDP 8472 VNI 11",
        "1-mtu": "the largest that passes is 1400",
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
        assert check.evidence, f"{check_id} gives no evidence"
