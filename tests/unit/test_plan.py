"""`harness plan`: the scenario as commands, host by host, in apply's order, shell-quoted."""

from __future__ import annotations

import shlex
import textwrap

from harness.lxd.plan import format_plan, plan
from harness.scenario import load_text

SCENARIO = """
    name: planned
    description: every kind of object
    hosts:
      host1:
        interfaces: {enp3s0: {}}
        setup:
          - brctl addbr lanbr
          - brctl addif lanbr enp3s0
        networks:
          lxdbr0:
            config: {ipv4.address: 10.0.9.1/24}
          lxdbr1337:
            config: {ipv4.address: 10.13.37.1/24, ipv4.nat: true, ipv6.address: none}
          macnet:
            type: macvlan
            config: {parent: enp3s0}
        profiles:
          default:
            devices:
              eth0: {type: nic, network: lxdbr1337}
          office:
            config: {user.note: two words}
            devices:
              eth1: {type: nic, nictype: macvlan, parent: enp3s0}
        instances:
          app1:
            profiles: [default, office]
            config: {limits.cpu: 1}
            devices:
              eth0: {type: nic, nictype: bridged, parent: lxdbr1337, ipv4.address: 10.13.37.66}
          bare:
            image: images:debian/12
            profiles: []
        commands:
          - lxc config device set app1 eth0 security.mac_filtering true
          - lxc restart app1
      host2:
        instances:
          app2: {}
"""


def topology():
    return load_text(textwrap.dedent(SCENARIO), "planned.yaml")


def commands(lines: list[str]) -> list[str]:
    return [line for line in lines if not line.startswith("#")]


def test_host_plan_in_apply_order_with_quoting():
    assert commands(plan(topology())["host1"]) == [
        "brctl addbr lanbr",
        "brctl addif lanbr enp3s0",
        "lxc network set lxdbr0 ipv4.address=10.0.9.1/24",
        "lxc network create lxdbr1337 ipv4.address=10.13.37.1/24 ipv4.nat=true ipv6.address=none",
        "lxc network create macnet --type=macvlan parent=enp3s0",
        "lxc profile device remove default eth0",
        "lxc profile device add default eth0 nic network=lxdbr1337",
        "lxc profile create office",
        "lxc profile set office user.note='two words'",
        "lxc profile device add office eth1 nic nictype=macvlan parent=enp3s0",
        "lxc image import busybox-image.tar.gz --alias busybox",
        "lxc init busybox app1 -p default -p office",
        "lxc config set app1 limits.cpu=1",
        "lxc config device add app1 eth0 nic nictype=bridged parent=lxdbr1337"
        " ipv4.address=10.13.37.66",
        "lxc init images:debian/12 bare --no-profiles",
        "lxc start app1",
        "lxc start bare",
        "lxc config device set app1 eth0 security.mac_filtering true",
        "lxc restart app1",
    ]


def test_every_line_splits_back_into_the_intended_words():
    for line in commands(plan(topology())["host1"]):
        words = shlex.split(line)
        assert words[0] in ("brctl", "lxc")
    assert shlex.split("lxc config set app1 limits.cpu=1 user.note='two words'")[
        -1] == "user.note=two words"


def test_the_image_line_says_the_harness_builds_busybox():
    lines = plan(topology())["host2"]
    note = next(line for line in lines if line.startswith("#"))
    assert "harness image build" in note and "busybox" in note
    assert commands(lines) == [
        "lxc image import busybox-image.tar.gz --alias busybox",
        "lxc init busybox app2 -p default",
        "lxc start app2",
    ]


def test_format_plan_has_one_block_per_host():
    text = format_plan(topology())
    assert text.startswith("# planned: every kind of object\n")
    assert "# ---- host1: eth0 172.31.0.11/24 on segment lan; enp3s0 on segment lan\n" in text
    assert "\n# ---- host2: eth0 172.31.0.12/24 on segment lan\n" in text
    assert text.index("---- host1") < text.index("---- host2")
