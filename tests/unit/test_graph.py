"""The topology diagram: DOT text against golden files, the setup reader, rendering.

Run with UPDATE_GOLDEN=1 to rewrite tests/golden/graph/*.dot after an intended change.
"""

from __future__ import annotations

import json
import os
import shlex
import textwrap
from pathlib import Path

import pytest

from harness.report import graph
from harness.report.graph import render_svg, setup_picture, topology_dot, topology_svg
from harness.scenario import load_text

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "corpus" / "good"
GOLDEN = ROOT / "tests" / "golden" / "graph"
DRAWN = ["design-example", "ovs-vlan", "vxlan-template", "macvlan-peer"]


def load(name: str):
    path = CORPUS / f"{name}.yaml"
    return load_text(path.read_text(), str(path.relative_to(ROOT)))


@pytest.mark.parametrize("name", DRAWN)
def test_dot_matches_golden(name):
    text = topology_dot(load(name))
    golden = GOLDEN / f"{name}.dot"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
        return
    assert golden.exists(), f"no {golden.name}: run the tests with UPDATE_GOLDEN=1"
    assert text == golden.read_text()


def test_instance_nic_follows_the_scenarios_commands():
    dot = topology_dot(load("ovs-vlan"))
    # `lxc config device override app1 eth0 parent=vlan409` moves eth0 off lxdbr0
    assert '"host1/app1" -- "host1/vlan409" [label="eth0"]' in dot
    assert '"host1/vlan409" -- "host1/ctr-bridge" [label="VID 409"]' in dot
    assert "lxdbr0" not in dot


def test_tunnel_is_one_edge_between_both_ends():
    dot = topology_dot(load("vxlan-template"))
    assert dot.count('"host1/br0" -- "host2/br0"') + dot.count('"host2/br0" -- "host1/br0"') == 1
    assert "tunnel host2: vxlan id 10 -> 172.31.0.12" in dot


def test_reservation_and_mac_filtering_are_on_the_nic_edge():
    dot = topology_dot(load("design-example"))
    edge = '"host1/app1" -- "host1/lxdbr1337" [label="eth0 bridged\\n10.13.37.66\\nmac filtering"]'
    assert edge in dot


def test_quotes_and_backslashes_in_text_stay_inside_labels():
    topology = load_text(textwrap.dedent("""
        name: quoting
        description: 'say "hi" \\ bye'
        hosts: {host1: {}}
    """), "quoting.yaml")
    dot = topology_dot(topology)
    assert 'label="quoting: say \\"hi\\" \\\\ bye"' in dot


def _setup(*lines: str):
    return setup_picture(tuple(shlex.split(line)) for line in lines)


def test_setup_reader_knows_bridges_ports_fake_bridges_and_links():
    picture = _setup(
        "brctl addbr lanbr", "brctl addif lanbr enp4s0f0",
        "ovs-vsctl --may-exist add-br ctr-bridge -- add-port ctr-bridge enp4s0f1 tag=7",
        "ovs-vsctl add-br vlan409 ctr-bridge 409",
        "ip link add link enp3s0 name macv0 type macvlan mode bridge",
        "ip link add br1 type bridge", "ip link set dev veth1 master br1",
        "ip addr add 192.0.2.1/24 dev br1", "ip link add vx0 type vxlan id 42 dstport 4789",
        "sysctl -w net.ipv4.ip_forward=1",
    )
    assert {name: link.kind for name, link in picture.links.items()} == {
        "lanbr": "Linux bridge (brctl)", "ctr-bridge": "OVS bridge",
        "vlan409": "OVS fake bridge", "macv0": "macvlan", "br1": "bridge", "vx0": "vxlan"}
    assert picture.links["vx0"].details == ["VNI 42", "port 4789"]
    assert picture.edges == [
        ("lanbr", "enp4s0f0", "port"), ("ctr-bridge", "enp4s0f1", "tag 7"),
        ("vlan409", "ctr-bridge", "VID 409"), ("macv0", "enp3s0", "macvlan"),
        ("br1", "veth1", "port")]
    assert picture.addresses == {"br1": ["192.0.2.1/24"]}


def test_setup_reader_knows_veth_pairs_and_ovs_tunnel_ports():
    picture = _setup(
        "ip link add vint type veth peer name vint-lan",
        "ovs-vsctl add-port br-int gre0 -- set interface gre0 type=gre"
        " options:remote_ip=192.168.77.12 options:key=10",
    )
    assert picture.links["vint-lan"].kind == "veth"
    assert ("vint", "vint-lan", "veth pair") in picture.edges
    assert picture.links["gre0"].kind == "OVS gre port"
    assert picture.links["gre0"].details == ["key 10", "-> 192.168.77.12"]
    assert picture.tunnels == [("gre0", "192.168.77.12", "gre key 10")]


def test_ovs_gre_ports_on_two_hosts_are_one_tunnel_edge():
    hosts = {}
    for index, (mine, theirs) in enumerate([("11", "12"), ("12", "11")], start=1):
        hosts[f"host{index}"] = {"setup": [
            "ovs-vsctl add-br br-phy", f"ip addr add 192.168.77.{mine}/24 dev br-phy",
            "ovs-vsctl add-br br-int",
            "ovs-vsctl add-port br-int gre0 -- set interface gre0 type=gre"
            f" options:remote_ip=192.168.77.{theirs} options:key=10"]}
    topology = load_text(json.dumps({"name": "gre", "hosts": hosts}), "gre.yaml")
    dot = topology_dot(topology)
    assert dot.count('"host1/gre0" -- "host2/gre0" [label="gre key 10"') == 1
    assert '"host2/gre0" -- "host1/gre0"' not in dot


def test_without_graphviz_there_is_no_diagram_and_no_error(monkeypatch):
    monkeypatch.setattr(graph.shutil, "which", lambda name: None)
    assert render_svg("graph x {}") is None
    assert topology_svg(load("minimal-defaults")) is None


@pytest.mark.skipif(not graph.graphviz_available(), reason="Graphviz `dot` is not installed")
def test_dot_draws_an_svg():
    svg = topology_svg(load("design-example"))
    assert svg is not None and svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert "lxdbr1337" in svg and "app1" in svg


def test_a_link_no_line_drew_is_a_dashed_box_inside_its_host():
    topology = load_text(textwrap.dedent("""
        name: tap
        hosts:
          host1:
            setup: [brctl addbr lanbr, ip tuntap add dev tap0 mode tap, brctl addif lanbr tap0]
    """), "tap.yaml")
    lines = topology_dot(topology).splitlines()
    tap = next(i for i, line in enumerate(lines) if line.strip().startswith('"host1/tap0" ['))
    end_of_cluster = lines.index("  }")
    assert tap < end_of_cluster and 'style="dashed"' in lines[tap]
    assert '  "host1/lanbr" -- "host1/tap0" [label="port"]' in lines


def test_multicast_vxlan_joins_every_member_of_the_group():
    bridge = {"config": {"ipv4.address": "none", "tunnel.lan.protocol": "vxlan"}}
    hosts = {f"host{i}": {"networks": {"br0": bridge}} for i in (1, 2, 3)}
    dot = topology_dot(load_text(json.dumps({"name": "mc", "hosts": hosts}), "mc.yaml"))
    assert "tunnel lan: vxlan multicast 239.0.0.1" in dot  # LXD's default group
    assert '"host1/br0" -- "host2/br0" [label="vxlan 239.0.0.1"' in dot
    assert '"host1/br0" -- "host3/br0" [label="vxlan 239.0.0.1"' in dot
