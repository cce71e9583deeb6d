"""Semantic rules (lint.py): each rule's hits and, as important, its non-hits."""

from __future__ import annotations

import textwrap

import pytest

from harness.scenario import ScenarioError, load_text
from harness.scenario.lint import created_links, tunnel_key_problem


def lint_messages(text: str) -> list[str]:
    """All problems of a scenario as 'LINE FIELD: MESSAGE' ([] when it loads)."""
    try:
        load_text(textwrap.dedent(text), "s.yaml")
    except ScenarioError as error:
        return [str(p).removeprefix("s.yaml:") for p in error.problems]
    return []


def host_with(body: str, checks: str = "") -> str:
    """A scenario with host1 (body indented under it), host2 with app2, and checks."""
    body = textwrap.indent(textwrap.dedent(body).strip("\n") + "\n", "    ")
    text = "name: lint\nhosts:\n  host1:\n" + body + "  host2:\n    instances: {app2: {}}\n"
    if checks:
        text += "checks:\n" + textwrap.indent(textwrap.dedent(checks), "  ")
    return text


# --- setup parsing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        ("brctl addbr lanbr", ["lanbr"]),
        ("brctl addif lanbr enp4s0f0", []),
        ("/sbin/ip link add lanbr type bridge", ["lanbr"]),
        ("ip link add link enp3s0 name macv0 type macvlan mode bridge", ["macv0"]),
        ("ip -n ns1 link add dev br9 mtu 9000 type bridge", ["br9"]),
        ("ip link add veth0 type veth peer name veth1", ["veth0", "veth1"]),
        ("ip link set lanbr up", []),
        ("ip tuntap add dev tap0 mode tap", ["tap0"]),
        ("ovs-vsctl add-br ctr-bridge", ["ctr-bridge"]),
        ("ovs-vsctl --may-exist add-br vlan409 ctr-bridge 409", ["vlan409"]),
        ("ovs-vsctl add-port ctr-bridge enp4s0f1", []),
        ("fanctl up -o 10.0.0.0/8 -u 172.21.3.5/16", ["fan-10"]),
    ],
)
def test_created_links(argv: str, names: list[str]):
    assert created_links(tuple(argv.split())) == names


# --- NIC devices ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "parent",
    ["lxdbr0", "lxdbr1337", "lanbr", "macv0", "vlan409", "enp4s0f0", "eth0"],
)
def test_nic_parent_may_be_any_known_link(parent: str):
    text = host_with(
        f"""
        interfaces: {{enp4s0f0: {{}}}}
        setup:
          - brctl addbr lanbr
          - ip link add link enp4s0f0 name macv0 type macvlan
          - ovs-vsctl add-br vlan409 ctr-bridge 409
        networks: {{lxdbr1337: {{}}}}
        instances:
          app1:
            devices: {{eth0: {{type: nic, nictype: bridged, parent: {parent}}}}}
        """
    )
    assert lint_messages(text) == []


def test_nic_parent_unknown_in_instance_and_profile():
    text = host_with(
        """
        profiles:
          p1: {devices: {eth1: {type: nic, nictype: macvlan, parent: enp9}}}
        instances:
          app1:
            devices: {eth0: {nictype: bridged, parent: lanbr}, root: {type: disk, path: /}}
        """
    )
    assert lint_messages(text) == [
        "5 hosts.host1.profiles.p1.devices.eth1.parent: parent 'enp9' is neither an LXD network "
        "of host1, a link created by its setup, a host interface, nor lxdbr0",
        "8 hosts.host1.instances.app1.devices.eth0.parent: parent 'lanbr' is neither an LXD "
        "network of host1, a link created by its setup, a host interface, nor lxdbr0",
    ]


def test_nic_network_must_be_an_lxd_network():
    text = host_with(
        """
        setup: [brctl addbr lanbr]
        instances:
          app1: {devices: {eth0: {type: nic, network: lanbr}, eth1: {type: nic, network: lxdbr0}}}
        """
    )
    assert lint_messages(text) == [
        "6 hosts.host1.instances.app1.devices.eth0.network: 'lanbr' is not an LXD network of "
        "host1 (lxdbr0)"
    ]


def test_nic_parent_and_network_together():
    text = host_with(
        """
        instances:
          app1: {devices: {eth0: {type: nic, parent: lxdbr0, network: lxdbr0}}}
          app3: {devices: {eth0: {type: nic, nictype: bridged, parent: lxdbr0, network: ""}}}
        """
    )
    assert lint_messages(text) == [
        "5 hosts.host1.instances.app1.devices.eth0.network: LXD refuses parent together with "
        "network: use one of them"
    ]


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("10.13.37.66", None),
        ("10.13.38.66", "10.13.38.66 is outside 10.13.37.0/24, the subnet of network lxdbr1337"),
        ("10.13.37.1", "10.13.37.1 is the address of the bridge lxdbr1337 itself"),
        ("10.13.37.255", "10.13.37.255 is not a usable address of 10.13.37.0/24"),
        ("10.13.37", "'10.13.37' is not an IPv4 address"),
    ],
)
def test_nic_reservation_inside_the_network(address: str, message: str | None):
    text = host_with(
        f"""
        networks:
          lxdbr1337: {{config: {{ipv4.address: 10.13.37.1/24}}}}
          auto: {{config: {{ipv4.address: auto}}}}
        instances:
          app1:
            devices: {{eth0: {{type: nic, network: lxdbr1337, ipv4.address: {address}}}}}
          app3:
            devices: {{eth0: {{type: nic, network: auto, ipv4.address: 192.0.2.9}}}}
        """
    )
    expected = [f"9 hosts.host1.instances.app1.devices.eth0.ipv4.address: {message}"]
    assert lint_messages(text) == (expected if message else [])


# --- networks ---------------------------------------------------------------------------------


def test_subnets_overlap_only_on_the_same_host():
    text = """
        name: overlap
        hosts:
          host1:
            networks:
              a: {config: {ipv4.address: 10.1.0.1/16}}
              b: {config: {ipv4.address: none}}
              c: {config: {ipv4.address: 10.1.2.1/24}}
          host2:
            networks:
              a: {config: {ipv4.address: 10.1.0.1/16}}
        """
    assert lint_messages(text) == [
        "8 hosts.host1.networks.c.config.ipv4.address: 10.1.2.0/24 overlaps 10.1.0.0/16 of "
        "network a on host1"
    ]


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("auto", None),
        ("none", None),
        ("''", None),
        ("10.1.0.1", "'10.1.0.1' is not 'auto', 'none' or an address with prefix"),
        ("10.1.0.0/24", "the bridge needs a host address"),
        ("172.31.0.1/24", "172.31.0.0/24 overlaps the underlay subnet 172.31.0.0/24 of host1"),
    ],
)
def test_bridge_address(address: str, message: str | None):
    found = lint_messages(host_with(f"networks: {{br1: {{config: {{ipv4.address: {address}}}}}}}"))
    if message is None:
        assert found == []
    else:
        assert len(found) == 1 and message in found[0]
        assert found[0].startswith("4 hosts.host1.networks.br1.config.ipv4.address: ")


def test_network_named_like_a_host_interface():
    text = host_with("interfaces: {enp1: {}}\nsetup: [brctl addbr lanbr]\nnetworks: {lanbr: {}}")
    assert lint_messages(text) == [
        "6 hosts.host1.networks.lanbr: host1 already has an interface 'lanbr': LXD can't create "
        "a network of that name"
    ]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("tunnel.host2.protocol", "vxlan", None),
        ("tunnel.host-2.remote", "1.2.3.4", None),
        ("tunnel.lan.group", "239.0.0.1", None),
        ("tunnel.host2.ttl", "4", None),
        ("bridge.mtu", "1400", None),
        ("tunnel.local", "1.2.3.4", "use tunnel.NAME.local"),
        ("tunnel.remote", "1.2.3.4", "use tunnel.NAME.remote"),
        ("tunnel.Host2.local", "1.2.3.4", "is not a tunnel key"),
        ("tunnel.host2.mtu", "1400", "is not a tunnel key"),
        ("tunnel.host2.protocol", "ipip", "tunnel protocol 'ipip' is not one of gre, vxlan"),
    ],
)
def test_tunnel_keys(key: str, value: str, message: str | None):
    problem = tunnel_key_problem(key, value)
    assert (problem is None) if message is None else (message in (problem or ""))


def test_tunnel_key_in_network_config_points_at_the_key():
    text = host_with(
        """
        networks:
          br0:
            config:
              tunnel.host2.protocol: gre
              tunnel.remote: 172.31.0.12
        """
    )
    (found,) = lint_messages(text)
    assert found.startswith("8 hosts.host1.networks.br0.config.tunnel.remote: LXD rejects")


# --- commands ---------------------------------------------------------------------------------


def commands_messages(*commands: str, body: str = "") -> list[str]:
    lines = "\n".join(f"  - {c}" for c in commands)
    return lint_messages(
        host_with(
            "networks: {br0: {}}\ninstances: {app1: {}}\nprofiles: {p1: {}}\n"
            + body
            + f"commands:\n{lines}\n"
        )
    )


@pytest.mark.parametrize(
    "command",
    [
        "lxc network set br0 tunnel.host2.protocol gre",
        "lxc network set br0 tunnel.host2.protocol=vxlan tunnel.host2.id=10",
        "lxc network create br1 tunnel.lan.protocol=vxlan ipv4.address=none",
        "lxc network set lxdbr0 ipv4.nat true",
        "lxc network unset br0 tunnel.host2.id",
        "lxc config device set app1 eth0 security.mac_filtering true",
        "lxc config device override app1 eth0 parent=br0",
        "lxc config device add app1 eth1 nic nictype=macvlan parent=eth0",
        "lxc config device remove app1 eth1",
        "lxc network attach br0 app1 eth0",
        "lxc network attach-profile br0 default eth0",
        "lxc profile device set default eth0 parent=br0",
        "lxc profile device set p1 eth0 mtu=1498",
        "lxc restart app1",
        "lxc restart --force app1",
        "lxc stop app1 --force",
        "lxc start app1",
        "lxc exec app1 -- ip addr",
        "lxc info app1",
        "lxc list",
        "incus config device set app1 eth0 ipv4.address 10.0.0.66",
        "incus network attach br0 app1 eth0",
        "incus restart app1",
    ],
)
def test_commands_that_are_fine(command: str):
    assert commands_messages(command) == []


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("brctl addbr lanbr", "commands run lxc or incus only (this one runs 'brctl')"),
        ("lxc network set br0 tunnel.local 11.11.11.11", "use tunnel.NAME.local"),
        ("lxc network set br0 tunnel.remote=99.99.99.99", "use tunnel.NAME.remote"),
        ("lxc network set br0 tunnel.host2.protocol ipip", "tunnel protocol 'ipip'"),
        (
            "lxc network set br0 tunnel.host1.protocol=vxlan tunnel.host1.id=10 "
            "tunnel.host1.local=99.99.99.99 tunnel.host2.remote=11.11.11.11",
            "sets keys of two tunnels (host1, host2) in one call: probably a typo",
        ),
        ("lxc network set br9 ipv4.nat true", "network 'br9' is not an LXD network of host1"),
        ("lxc config device set app2 eth0 ipv4.address 10.0.0.2", "host1 has no instance 'app2'"),
        ("lxc config device override app9 eth0 parent=br0", "host1 has no instance 'app9'"),
        ("lxc config device add app9 eth1 nic", "host1 has no instance 'app9'"),
        ("lxc config device remove app9 eth1", "host1 has no instance 'app9'"),
        ("lxc config device override app1 eth0 parent=lanbr", "parent 'lanbr' is neither"),
        ("lxc config device set app1 eth0 parent lanbr", "parent 'lanbr' is neither"),
        ("lxc network attach br0 app9 eth0", "host1 has no instance 'app9'"),
        ("lxc network attach br9 app1 eth0", "parent 'br9' is neither"),
        ("lxc network attach-profile br0 p9 eth0", "host1 has no profile 'p9'"),
        ("lxc profile device set p9 eth0 parent=br0", "host1 has no profile 'p9'"),
        ("lxc restart app9", "host1 has no instance 'app9' (instances: app1)"),
        ("lxc start app1 app9", "host1 has no instance 'app9'"),
        ("lxc stop --force app9", "host1 has no instance 'app9'"),
        ("incus restart app9", "host1 has no instance 'app9' (instances: app1)"),
    ],
)
def test_commands_that_are_wrong(command: str, message: str):
    found = commands_messages(command)
    assert len(found) == 1 and message in found[0], found
    assert found[0].startswith("8 hosts.host1.commands.0: ")


def test_incus_create_is_init():
    assert commands_messages("incus create busybox app7", "lxc start app7") == []


def test_commands_see_what_earlier_commands_created():
    assert commands_messages(
        "lxc network create br7",
        "lxc launch busybox app7",
        "lxc profile create p7",
        "lxc network attach br7 app7 eth0",
        "lxc profile device add p7 eth0 nic nictype=bridged parent=br7",
        "lxc network set br7 ipv4.nat true",
    ) == []
    assert commands_messages("lxc restart app7", "lxc launch busybox app7") == [
        "8 hosts.host1.commands.0: host1 has no instance 'app7' (instances: app1)"
    ]


def test_commands_may_use_setup_links():
    found = commands_messages(
        "lxc config device override app1 eth0 parent=lanbr",
        body="setup: [brctl addbr lanbr]\n",
    )
    assert found == []


# --- checks -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "check",
    [
        "ping: {from: host1:app1, to: upstream}",
        "ping: {among: [host1, host2:app2, lan-peer]}",
        "nat: {from: host1:app1, expect_source: host1}",
        "nat: {from: host1:app1, expect_source: 198.51.100.1}",
        "dns: {server: host1:lxdbr0, name: app1.lxd, from: host2:app2}",
        "dns: {server: host1:br0, name: app1.lxd}",
        "vlan: {on: host1:enp4s0f1, vid: 409, instance: host1:app1}",
        "vlan: {on: host1:eth0, vid: 409}",
        "vlan: {on: host1:ctr-bridge, vid: 409}",
        "gre: {between: [host2, host1]}",
        "mtu: {from: host1:app1, to: host1, expect: 9000}",
        "mtu: {from: host1:app1, to: host2:app2, expect: 1500}",
        "macvlan: {instance: host1:app1, reachable_from: lan-peer, not_from: host1}",
        "mac_filtering: {instance: host1:app1, peer: host2:app2}",
        "fan: {instance: host2:app2, overlay: 10.0.0.0/8, underlay: 172.21.0.0/16}",
    ],
)
def test_checks_that_are_fine(check: str):
    body = """
        interfaces: {enp4s0f1: {}}
        setup: [ovs-vsctl add-br ctr-bridge]
        networks: {br0: {}}
        instances: {app1: {}}
        """
    assert lint_messages(host_with(body, f"- {check}\n")) == []


@pytest.mark.parametrize(
    ("check", "field", "message"),
    [
        ("ping: {from: host1:app1, to: host3}", "ping.to", "unknown endpoint 'host3' (known: "),
        ("ping: {from: host3:app1, to: upstream}", "ping.from", "unknown host 'host3'"),
        ("ping: {from: upstream:x, to: host1}", "ping.from", "upstream has no instances"),
        ("ping: {among: [host1, host2:app9]}", "ping.among.1", "host2 has no instance 'app9'"),
        ("ping: {from: trunk-peer, to: host1}", "ping.from", "unknown endpoint 'trunk-peer'"),
        ("nat: {from: host1:app1, expect_source: host9}", "nat.expect_source", "'host9'"),
        ("dhcp: {instance: host2:app1}", "dhcp.instance", "host2 has no instance 'app1'"),
        ("dns: {server: host1:br9, name: a.lxd}", "dns.server", "'br9' is not an LXD network"),
        ("dns: {server: host9:br0, name: a.lxd}", "dns.server", "unknown host 'host9'"),
        ("dns: {server: host1:br0, name: a.lxd, from: h:a}", "dns.from", "unknown host 'h'"),
        ("vlan: {on: host1:enp9, vid: 4}", "vlan.on", "host1 has no interface 'enp9'"),
        ("gre: {between: [host1, host3]}", "gre.between.1", "unknown host 'host3'"),
        ("vxlan: {between: [host9, host1], vni: 5}", "vxlan.between.0", "unknown host 'host9'"),
        ("mac_filtering: {instance: host1:app1, peer: x}", "mac_filtering.peer", "'x'"),
        ("macvlan: {instance: host1:app1, reachable_from: r}", "macvlan.reachable_from", "'r'"),
        ("fan: {instance: h:a, overlay: 10.0.0.0/8, underlay: 172.21.0.0/16}", "fan.instance", ""),
        (
            "mtu: {from: host1:app1, to: upstream, expect: 1501}",
            "mtu.expect",
            "1501 is larger than the MTU of the segments between host1 and upstream (1500)",
        ),
    ],
)
def test_checks_that_are_wrong(check: str, field: str, message: str):
    body = "networks: {br0: {}}\ninstances: {app1: {}}\n"
    found = lint_messages(host_with(body, f"- {check}\n"))
    assert len(found) == 1, found
    assert found[0].startswith(f"9 checks.0.{field}: ") and message in found[0], found


def test_mtu_uses_the_segments_of_both_ends():
    text = """
        name: mtu
        segments: {lan: {mtu: 1500}, jumbo: {mtu: 9000}}
        peers: {storage: {segment: jumbo, address: 10.9.0.2/24}}
        hosts:
          host1: {interfaces: {enp2: {segment: jumbo}}, instances: {app1: {}}}
          host2: {instances: {app2: {}}}
        checks:
          - mtu: {from: host1:app1, to: storage, expect: 9000}
          - mtu: {from: host1:app1, to: host2:app2, expect: 9000}
          - mtu: {from: lan-peer, to: storage, expect: 1600}
        """
    assert lint_messages(text) == [
        "10 checks.1.mtu.expect: 9000 is larger than the MTU of the segments between host1 and "
        "host2 (1500): no packet that big gets through",
        "11 checks.2.mtu.expect: 1600 is larger than the MTU of the segments between lan-peer "
        "and storage (1500): no packet that big gets through",
    ]


# --- names and addresses ----------------------------------------------------------------------


def test_names_that_clash():
    text = """
        name: clash
        peers:
          host1: {}
          upstream: {}
          router: {segment: office}
        hosts:
          host1: {}
          lan-peer: {}
        """
    assert lint_messages(text) == [
        "4 peers.host1: a host is named 'host1' too",
        "5 peers.upstream: 'upstream' is the name of the upstream node",
        "6 peers.router.segment: unknown segment 'office' (segments: lan)",
        "9 hosts.lan-peer: 'lan-peer' is the implicit peer of segment lan",
    ]


def test_host_named_upstream():
    assert lint_messages("name: x\nhosts: {upstream: {}}\n") == [
        "2 hosts.upstream: 'upstream' is the name of the upstream node"
    ]


def test_underlay_addresses():
    text = """
        name: underlay
        peers:
          router: {address: 172.31.0.11/24}
          gw: {address: 10.0.0.254/24}
        hosts:
          host1: {}
          host2: {underlay: 172.31.0.254/24}
          host3: {underlay: 10.0.0.3/24}
        """
    assert lint_messages(text) == [
        "4 peers.router.address: 172.31.0.11/24 is also host1's",
        "5 peers.gw.address: 10.0.0.254 is the upstream router's address",
        "8 hosts.host2.underlay: 172.31.0.254/24: 172.31.0.254 is the upstream router's "
        "address in that subnet",
    ]


def test_implicit_peer_address_taken_by_a_host():
    text = """
        name: implicit
        hosts:
          host1: {}
          host2: {underlay: 172.31.0.253/24}
        checks:
          - ping: {from: lan-peer, to: host1}
        """
    assert lint_messages(text) == [
        "5 hosts.host2.underlay: 172.31.0.253 is also the address of the implicit peer lan-peer"
    ]


def test_unknown_profile_and_segment():
    text = host_with(
        """
        interfaces: {enp1: {segment: trunk}}
        profiles: {office: {}}
        instances: {app1: {profiles: [default, office, extra]}}
        """
    )
    assert lint_messages(text) == [
        "4 hosts.host1.interfaces.enp1.segment: unknown segment 'trunk' (segments: lan)",
        "6 hosts.host1.instances.app1.profiles.2: unknown profile 'extra' "
        "(profiles of host1: default, office)",
    ]
