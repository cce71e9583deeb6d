"""The tutorial's own mistakes, caught before anything is built: errors with file:line, and
the MTU too big for its encapsulation as a warning that `validate --strict` turns into one."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.cli import main
from harness.scenario import ScenarioError, load_scenario, load_text

ROOT = Path(__file__).resolve().parents[2]

VXLAN_MTU = """\
name: t
hosts:
  host1:
    networks:
      br0:
        config: {ipv4.address: 10.10.10.1/24, tunnel.h2.protocol: vxlan,
                 tunnel.h2.local: 172.31.0.11, tunnel.h2.remote: 172.31.0.12}
    instances:
      app1:
        devices:
          eth0: {type: nic, network: br0, mtu: "{mtu}"}
  host2: {}
"""


def test_the_tutorials_fan_mtu_is_a_warning_at_its_line():
    topology = load_scenario(ROOT / "scenarios" / "fan.yaml")
    assert len(topology.warnings) == 2
    assert ("fan.yaml:25 hosts.host1.commands.1: mtu 1498 of app1's eth0 is above what VXLAN "
            "on fan-10 carries over the 1500-byte underlay (1450)") in topology.warnings[0]


def test_validate_prints_warnings_and_strict_fails_on_them(capsys):
    fan = str(ROOT / "scenarios" / "fan.yaml")
    assert main(["validate", fan]) == 0
    assert "warning: " in capsys.readouterr().err
    assert main(["validate", "--strict", fan]) == 2
    assert main(["validate", "--strict", str(ROOT / "scenarios" / "static-ip.yaml")]) == 0


@pytest.mark.parametrize("mtu, warned", [(1450, False), (1451, True)])
def test_a_declared_mtu_on_a_vxlan_tunnel_network(mtu, warned):
    topology = load_text(VXLAN_MTU.replace("{mtu}", str(mtu)), "t.yaml")
    assert bool(topology.warnings) == warned
    if warned:
        assert topology.warnings[0].startswith(
            "t.yaml:11 hosts.host1.instances.app1.devices.eth0.mtu: mtu 1451")


def test_the_tutorials_vxlan_line_with_keys_given_twice():
    text = textwrap.dedent("""\
        name: t
        hosts:
          host2:
            commands:
              - lxc network create br0 tunnel.lan.protocol=vxlan ipv4.address=none ipv4.address=none tunnel.lan.protocol=vxlan
        """)  # noqa: E501
    with pytest.raises(ScenarioError) as info:
        load_text(text, "t.yaml")
    messages = [p.message for p in info.value.problems]
    assert [p.line for p in info.value.problems] == [5, 5]
    assert any(m.startswith("ipv4.address is given twice") for m in messages)
    assert any(m.startswith("tunnel.lan.protocol is given twice") for m in messages)


def test_fanctl_may_use_an_address_the_setup_gives_the_host():
    text = textwrap.dedent("""\
        name: t
        hosts:
          host1:
            interfaces: {enp5s0: {}}
            setup:
              - ip addr add 172.21.3.15/16 dev enp5s0
              - fanctl up -o 10.0.0.0/8 -u 172.21.3.15/16
        """)
    assert load_text(text, "t.yaml").warnings == ()
