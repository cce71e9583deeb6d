"""Host networking pieces that need no root: the fan mapping, the ovs-vsctl rewrite, lint."""

from __future__ import annotations

import ipaddress

import pytest

from harness.hostnet import fan
from harness.hostnet.ovs_vsctl import commands, rewrite
from harness.scenario.lint import created_links

OVERLAY = ipaddress.IPv4Network("10.0.0.0/8")
UNDERLAY = ipaddress.IPv4Network("172.21.0.0/16")


def test_fan_slice_is_the_host_bits_of_the_underlay_address():
    slice_ = fan.host_slice(OVERLAY, UNDERLAY, ipaddress.IPv4Address("172.21.3.15"))
    assert slice_ == ipaddress.IPv4Network("10.3.15.0/24")


def test_fan_maps_an_overlay_address_back_to_its_host():
    owner = fan.underlay_of(OVERLAY, UNDERLAY, ipaddress.IPv4Address("10.5.20.7"))
    assert owner == ipaddress.IPv4Address("172.21.5.20")


def test_fan_rejects_an_address_outside_the_underlay():
    with pytest.raises(ValueError, match="not in the underlay"):
        fan.host_slice(OVERLAY, UNDERLAY, ipaddress.IPv4Address("172.22.0.1"))


def test_emulated_fan_routes_every_other_host_of_the_underlay():
    me = fan.Fan(OVERLAY, ipaddress.IPv4Interface("172.21.3.15/16"))
    peers = [ipaddress.IPv4Address(a) for a in ("172.21.3.15", "172.21.5.20", "192.0.2.9")]
    argvs = fan.up_commands(me, peers, underlay_mtu=1500)
    assert argvs[0][:3] == ["ip", "link", "add"] and "external" in argvs[0]
    assert argvs[0][argvs[0].index("mtu") + 1] == "1450"
    routes = [a for a in argvs if a[:2] == ["ip", "route"]]
    assert routes == [["ip", "route", "replace", "10.5.20.0/24", "via", "10.5.20.1", "dev",
                       "ftun-10", "onlink", "encap", "ip", "id", "10", "dst", "172.21.5.20"]]
    neighbours = [a for a in argvs if a[:2] == ["ip", "neigh"]]
    assert neighbours[0][3:5] == ["10.5.20.1", "lladdr"]
    assert neighbours[0][5] == fan.tunnel_mac(ipaddress.IPv4Address("172.21.5.20"))


def test_fan_bridge_is_named_like_fanctl_names_it():
    me = fan.Fan(OVERLAY, ipaddress.IPv4Interface("172.21.3.15/16"))
    assert me.bridge == "fan-10"
    assert fan.lxd_network(me, fan_map=False)[3:] == [
        "fan-10", "ipv4.address=10.3.15.1/24", "ipv4.nat=false", "ipv6.address=none"]
    assert "bridge.mode=fan" in fan.lxd_network(me, fan_map=True)
    assert fan.lxd_network(me, fan_map=False, client="incus")[:3] == [
        "incus", "network", "create"]


def test_lint_knows_the_bridge_fanctl_makes():
    assert created_links(("fanctl", "up", "-o", "10.0.0.0/8", "-u", "172.21.3.15/16")) == [
        "fan-10"]
    assert created_links(("fanctl", "show")) == []


@pytest.mark.parametrize(("args", "expected"), [
    (["add-br", "ctr-bridge"],
     ["add-br", "ctr-bridge", "--", "set", "bridge", "ctr-bridge", "datapath_type=netdev"]),
    (["--may-exist", "add-br", "b", "--", "set", "bridge", "b", "mtu_request=1400"],
     ["--may-exist", "add-br", "b", "--", "set", "bridge", "b", "mtu_request=1400",
      "--", "set", "bridge", "b", "datapath_type=netdev"]),
    # a fake VLAN bridge has no Bridge row of its own: left alone
    (["add-br", "vlan409", "ctr-bridge", "409"], ["add-br", "vlan409", "ctr-bridge", "409"]),
    (["-t", "5", "br-exists", "x"], ["-t", "5", "br-exists", "x"]),
])
def test_ovs_vsctl_wrapper_sets_the_userspace_datapath_on_new_bridges(args, expected):
    assert rewrite(args)[0] == expected


def test_ovs_vsctl_wrapper_notes_the_ports_it_adds():
    args = ["add-port", "br-int", "gre0", "--", "set", "interface", "gre0", "type=gre",
            "--", "--may-exist", "add-port", "ctr-bridge", "veth1234"]
    assert commands(args)[0] == ["add-port", "br-int", "gre0"]
    assert rewrite(args)[1] == ["gre0", "veth1234"]
