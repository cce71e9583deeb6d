"""The lab network in a fabric namespace shared with other labs (how VM labs get theirs).

The vagrant substrate puts the segments' bridges into the libvirt namespace, where the VMs'
taps are, and makes upstream and the peers with the local substrate's own code. Here a
scratch namespace stands in for it and a veth for a VM's tap: one segment joins three NICs
(upstream, a peer, the "VM"), two labs side by side never share a name, and removing a lab
leaves the shared namespace as it was.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
from pathlib import Path

import pytest

from harness.substrates import dnsmasq, fabric, procs
from harness.substrates.base import HostNode, Lab
from harness.substrates.runs import new_run_id
from harness.topology import UPSTREAM, Host, Peer, Segment, Topology

pytestmark = pytest.mark.root


def links(netns: str) -> set[str]:
    out = subprocess.run(["ip", "-n", netns, "-j", "link", "show"], capture_output=True,
                         text=True, check=True).stdout
    return {link["ifname"] for link in json.loads(out)} - {"lo"}


def topology() -> Topology:
    host = Host(name="host1", index=1, underlay=ipaddress.IPv4Interface("172.31.0.11/24"))
    peer = Peer(name="lan-peer", segment="lan",
                address=ipaddress.IPv4Interface("172.31.0.50/24"))
    return Topology(name="shared", segments={"lan": Segment("lan")}, hosts={"host1": host},
                    peers={"lan-peer": peer})


def bring_up(tmp_path: Path, shared: str) -> Lab:
    run_id = new_run_id()
    lab = Lab(run_id=run_id, scenario="shared", substrate="vagrant",
              workdir=str(tmp_path / run_id))
    fabric.make_nodes(lab, topology(), fabric_netns=shared, hosts=False)
    lab.hosts["host1"] = HostNode(name="host1", kind="host", netns="", lxd_dir="")
    fabric.wire(lab, topology())
    return lab


def tear_down(lab: Lab) -> None:
    for node in lab.nodes.values():
        if node.kind != "fabric":
            procs.stop(node.pids)
            assert fabric.remove_namespace(node) == []
    assert fabric.remove_segments(lab) == []


def test_a_segment_joins_any_number_of_nics_and_goes_without_a_trace(tmp_path, scratch_netns):
    shared = scratch_netns  # the fabric namespace the labs share
    lab = bring_up(tmp_path, shared)
    vm = f"hl-{lab.run_id}-vm"  # a namespace standing in for the VM, a veth for its tap
    try:
        bridge = lab.segments["lan"]
        assert bridge == f"hl-{lab.run_id}-s0"
        assert lab.fabric.netns == shared and not fabric.own_fabric(lab)
        ends = {end for node in lab.nodes.values() for _, end in node.links.values()}
        assert ends and all(end.startswith(lab.run_id) and len(end) <= 15 for end in ends)
        dnsmasq.start_upstream_dns(lab.nodes[UPSTREAM])
        subprocess.run(["ip", "netns", "add", vm], check=True)
        subprocess.run(["ip", "-n", shared, "link", "add", "tapvm", "type", "veth", "peer",
                        "name", "eth0", "netns", vm], check=True)
        subprocess.run(["ip", "-n", shared, "link", "set", "tapvm", "master", bridge, "up"],
                       check=True)
        for line in (["addr", "add", "172.31.0.11/24", "dev", "eth0"],
                     ["link", "set", "eth0", "up"],
                     ["route", "add", "default", "via", "172.31.0.254"]):
            subprocess.run(["ip", "-n", vm, *line], check=True)
        members = subprocess.run(["ip", "-n", shared, "-o", "link", "show", "master", bridge],
                                 capture_output=True, text=True, check=True).stdout
        assert members.count("\n") == 3  # upstream, the peer, the "VM"
        for target in ("172.31.0.50", "172.31.0.254", "198.51.100.1"):
            ping = subprocess.run(["ip", "netns", "exec", vm, "ping", "-c", "1", "-W", "2",
                                   target], capture_output=True, text=True)
            assert ping.returncode == 0, f"{target}: {ping.stdout}{ping.stderr}"
        upstream_dns = subprocess.run(
            ["ip", "netns", "exec", vm, "busybox", "nslookup", "upstream.test", "198.51.100.1"],
            capture_output=True, text=True)
        assert "Name:\tupstream.test\nAddress: 198.51.100.1" in upstream_dns.stdout, \
            upstream_dns.stdout + upstream_dns.stderr
    finally:
        subprocess.run(["ip", "netns", "del", vm], check=False)
        tear_down(lab)
    assert links(shared) == set()
    assert not [n for n in procs.run_namespaces(lab.run_id)]


def test_two_labs_side_by_side_never_share_a_name(tmp_path, scratch_netns):
    shared = scratch_netns  # the fabric namespace the labs share
    first, second = bring_up(tmp_path, shared), bring_up(tmp_path, shared)
    try:
        mine = [{*first.segments.values(),
                 *(end for node in first.nodes.values() for _, end in node.links.values())},
                {*second.segments.values(),
                 *(end for node in second.nodes.values() for _, end in node.links.values())}]
        assert not mine[0] & mine[1]
        assert links(shared) == mine[0] | mine[1]
    finally:
        tear_down(first)
        assert links(shared) == mine[1]
        tear_down(second)
    assert links(shared) == set()
