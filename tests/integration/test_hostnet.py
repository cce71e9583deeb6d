"""Host networking on the real thing: Open vSwitch daemons, the vlan check, capability skips."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from harness.hostnet import ovs
from harness.results import Outcome
from harness.scenario import load_scenario, load_text
from harness.session import Options, ScenarioRun
from harness.substrates.capabilities import probe
from harness.substrates.runs import WORK_ROOT

pytestmark = pytest.mark.root

REPO = Path(__file__).resolve().parents[2]
needs_ovs = pytest.mark.skipif(bool(ovs.missing_tools()), reason="Open vSwitch is not installed")


def scenario(text: str, tmp_path: Path):
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(text))
    return load_text(path.read_text(), str(path))


def ovs_processes(workdir: str) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    return [line for line in out.splitlines()
            if workdir in line and ("ovsdb-server" in line or "ovs-vswitchd" in line)]


ONE_OVS_BRIDGE = """
    name: ovs-daemons
    hosts:
      host1:
        underlay: 172.31.0.11/24
        setup:
          - ovs-vsctl add-br br-test
      host2: {underlay: 172.31.0.12/24}
    checks:
      - ping: {from: host1, to: host2}
"""


@needs_ovs
def test_ovs_daemons_start_with_the_lab_and_stop_with_it(tmp_path):
    run = ScenarioRun(scenario(ONE_OVS_BRIDGE, tmp_path), Options(out_dir=tmp_path / "out"))
    lab = run.up()
    try:
        node = lab.hosts["host1"]
        running = ovs_processes(lab.workdir)
        assert len(running) == 2, running  # ovsdb-server and ovs-vswitchd of host1 only
        assert all(f"{lab.workdir}/host1/" in line for line in running)
        assert not lab.hosts["host2"].ovs_rundir  # no OVS where the scenario needs none
        bridge = subprocess.run(
            ["ip", "netns", "exec", node.netns, "ovs-vsctl", "--format=json",
             "--columns=name,datapath_type", "list", "bridge"],
            env={**os.environ, **node.lxc_env}, capture_output=True, text=True, check=True)
        rows = json.loads(bridge.stdout)["data"]
        datapath = "netdev" if not lab.capabilities["openvswitch_datapath"] else ""
        assert rows == [["br-test", datapath]], rows
        assert node.ovs_datapath == ("netdev" if datapath else "system")
    finally:
        assert run.down(lab) == []
    assert ovs_processes(lab.workdir) == []


UNTAGGED = """
    name: vlan-untagged
    segments: {lan: {}, trunk: {}}
    hosts:
      host1:
        underlay: 172.31.0.11/24
        interfaces: {enp4s0f1: {segment: trunk}}
        setup:
          - ip link add trunkbr type bridge
          - ip link set enp4s0f1 master trunkbr
          - ip link set trunkbr up
        instances:
          app1:
            devices:
              eth0: {type: nic, nictype: bridged, parent: trunkbr}
    checks:
      - vlan: {on: host1:enp4s0f1, vid: 409, instance: host1:app1}
"""


def test_vlan_check_fails_when_the_instance_is_on_an_untagged_bridge(tmp_path):
    result = ScenarioRun(scenario(UNTAGGED, tmp_path), Options(out_dir=tmp_path / "out")).run()
    assert result.error is None, result.error
    (check,) = result.checks
    assert check.outcome == Outcome.FAIL, check.reason
    assert "leave untagged" in check.reason, check.reason
    assert "untagged frames from the trunk reached host1:app1" in check.reason, check.reason


def _missing_kernel_feature() -> str | None:
    caps = probe(WORK_ROOT / "cache")
    return None if caps.works.get("gretap") else caps.reason("gretap")


@pytest.mark.parametrize("require_all", [False, True])
def test_missing_gretap_skips_the_gre_scenario_or_fails_it_with_require_all(tmp_path,
                                                                            require_all):
    reason = _missing_kernel_feature()
    if reason is None:
        pytest.skip("this kernel has gretap: nothing to skip")
    topology = load_scenario(REPO / "scenarios" / "gre.yaml")
    options = Options(out_dir=tmp_path / "out", require_all=require_all)
    result = ScenarioRun(topology, options).run()
    assert result.error is None, result.error
    assert "apply" not in result.phases  # LXD would refuse the GRE tunnel: not even tried
    expected = Outcome.FAIL if require_all else Outcome.SKIP
    assert [c.outcome for c in result.checks] == [expected] * len(topology.checks)
    suffix = " (--require-all)" if require_all else ""
    assert {c.reason for c in result.checks} == {reason + suffix}
    assert result.failed == require_all


def test_without_open_vswitch_the_ovs_scenario_skips_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(ovs, "missing_tools", lambda: ["ovs-vswitchd"])
    topology = load_scenario(REPO / "scenarios" / "openvswitch-vlan409.yaml")
    result = ScenarioRun(topology, Options(out_dir=tmp_path / "out")).run()
    assert result.error is None, result.error
    assert [c.outcome for c in result.checks] == [Outcome.SKIP] * len(topology.checks)
    assert all("Open vSwitch is not installed (missing ovs-vswitchd" in c.reason
               for c in result.checks), [c.reason for c in result.checks]
