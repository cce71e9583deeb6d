"""Replaying a host's `lxc` commands over its declared objects (what diagrams draw)."""

from __future__ import annotations

import json

from harness.lxd.effective import effective_host
from harness.scenario import load_text


def host(commands: list[str]):
    scenario = {
        "name": "replay",
        "hosts": {"host1": {
            "networks": {"br1": {"config": {"ipv4.address": "10.1.1.1/24"}}},
            "setup": ["ovs-vsctl add-br vlan409"],
            "instances": {"app1": {}, "app2": {}},
            "commands": commands,
        }},
    }
    return load_text(json.dumps(scenario), "replay.yaml").hosts["host1"]


def test_default_profile_gives_eth0_on_lxdbr0():
    state = effective_host(host([]))
    assert state.nics("app1") == {"eth0": {"type": "nic", "network": "lxdbr0", "name": "eth0"}}


def test_override_with_empty_network_swaps_network_for_parent():
    state = effective_host(host(
        ["lxc config device override app1 eth0 nictype=bridged parent=vlan409 network="]))
    assert state.nics("app1")["eth0"] == {
        "type": "nic", "name": "eth0", "nictype": "bridged", "parent": "vlan409"}
    assert state.nics("app2")["eth0"]["network"] == "lxdbr0"  # the profile is untouched


def test_set_in_both_forms_and_network_attach():
    state = effective_host(host([
        "lxc network attach br1 app1 eth0",
        "lxc config device set app1 eth0 ipv4.address 10.1.1.66",
        "lxc config device set app1 eth0 security.mac_filtering=true mtu=1400",
        "lxc network set br1 ipv4.nat=true",
    ]))
    assert state.nics("app1")["eth0"] == {
        "type": "nic", "network": "br1", "ipv4.address": "10.1.1.66",
        "security.mac_filtering": "true", "mtu": "1400"}
    assert state.networks["br1"] == {"ipv4.address": "10.1.1.1/24", "ipv4.nat": "true"}


def test_profile_device_set_reaches_every_instance_of_the_profile():
    state = effective_host(host(["lxc profile device set default eth0 parent=vlan409"]))
    assert state.nics("app1")["eth0"]["parent"] == "vlan409"
    assert state.nics("app2")["eth0"]["parent"] == "vlan409"


def test_add_and_remove_devices():
    state = effective_host(host([
        "lxc config device add app1 eth1 nic nictype=macvlan parent=eth0",
        "lxc config device remove app2 eth0",
    ]))
    assert state.nics("app1")["eth1"] == {"type": "nic", "nictype": "macvlan", "parent": "eth0"}
    # removing a local device that does not exist leaves the profile's one in place
    assert "eth0" in state.nics("app2")
