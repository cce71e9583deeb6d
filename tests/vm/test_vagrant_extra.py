"""Slower VM tests, opt-in (markers `vm` and `vm_extra`): `make test-vm-extra`; `make test-vm`
leaves them out (`-m "vm and not vm_extra"`).

- the ssh substrate end to end: VMs from the pool, brought up by the vagrant substrate (their
  underlay, upstream, LXD) but not applied, are the inventory of a full scenario run;
- the local substrate inside a VM, for the scenarios whose kernel features this machine lacks.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from harness.results import Outcome
from harness.scenario import load_scenario
from harness.session import Options, ScenarioRun
from harness.substrates.ssh import INVENTORY_ENV
from harness.substrates.vagrant import VagrantSubstrate
from harness.substrates.vagrant.inside import run_inside

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"

pytestmark = [
    pytest.mark.vm,  # so that every `-m "not vm"` leaves these out too
    pytest.mark.vm_extra,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("vagrant") is None,
                       reason="needs root, vagrant, vagrant-libvirt, libvirt and QEMU"),
]


def test_nat_dns_and_dhcp_reservation_on_a_vm(tmp_path):
    scenario_run = ScenarioRun(load_scenario(SCENARIOS / "static-ip.yaml"),
                               Options(substrate="vagrant", out_dir=tmp_path))
    result = scenario_run.run()
    outcomes = {c.id: (str(c.outcome), c.reason) for c in result.checks}
    print("phases:", result.phases, "\noutcomes:", outcomes)
    assert result.error is None, result.error
    assert all(c.outcome == Outcome.PASS or _other_engine(c.outcome, c.reason)
               for c in result.checks), outcomes


def _other_engine(outcome: str, reason: str) -> bool:
    """A skip of a check written for Incus (`requires: [incus]`): these VMs run LXD."""
    return outcome == Outcome.SKIP and "Incus" in reason


def test_the_ssh_substrate_runs_a_scenario_on_real_remote_lxd_machines(tmp_path, monkeypatch):
    topology = load_scenario(SCENARIOS / "gre.yaml")
    vms = VagrantSubstrate()
    lab = vms.up(topology)  # the machines: addresses, segments, LXD; nothing applied
    try:
        inventory = {"hosts": {name: {
            "address": node.remote["address"], "user": node.remote["user"],
            "key": node.remote["key"], "check_host_key": False,
            "from_netns": node.remote["netns"]} for name, node in lab.hosts.items()}}
        path = tmp_path / "inventory.yaml"
        path.write_text(yaml.safe_dump(inventory))
        monkeypatch.setenv(INVENTORY_ENV, str(path))
        scenario_run = ScenarioRun(topology, Options(substrate="ssh", out_dir=tmp_path))
        result = scenario_run.run()
        outcomes = {c.id: (str(c.outcome), c.reason) for c in result.checks}
        print("phases:", result.phases, "\noutcomes:", outcomes)
        assert result.substrate == "ssh" and result.error is None, result.error
        assert all(c.outcome == Outcome.PASS for c in result.checks), outcomes
        assert len(result.checks) == 4
    finally:
        assert vms.down(lab) == []


FULL_KERNEL = ["gre.yaml", "gre-ovs.yaml", "openvswitch-vlan409.yaml", "fan.yaml", "mtu-lab.yaml"]


def test_the_local_substrate_inside_a_vm_has_a_full_kernel(tmp_path):
    """What a CI runner does: the scenarios this machine's kernel cannot run (gretap, 802.1Q,
    the OVS datapath) with --substrate local inside a VM: nothing skipped."""
    results = run_inside([SCENARIOS / name for name in FULL_KERNEL], tmp_path)
    data = json.loads(results.read_text())
    checks = {(s["name"], c["id"]): (c["outcome"], c["reason"])
              for s in data["scenarios"] for c in s["checks"]}
    print(json.dumps({k[0] + " " + k[1]: v for k, v in checks.items()}, indent=1))
    assert len(data["scenarios"]) == len(FULL_KERNEL)
    assert all(outcome == "pass" or _other_engine(outcome, reason)
               for outcome, reason in checks.values()), checks
    for scenario in data["scenarios"]:
        assert scenario["substrate"] == "local"
        capabilities = next(iter(scenario["capabilities"].values()))
        assert capabilities["gretap"] and capabilities["8021q"], capabilities
        assert capabilities["openvswitch_datapath"], capabilities
