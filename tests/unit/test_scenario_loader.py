"""Loading: jinja2, YAML with lines, schema errors as Problems, defaults of the Topology."""

from __future__ import annotations

import ipaddress
import json
import textwrap
from pathlib import Path

import pytest

from harness.scenario import (
    Problem,
    ScenarioError,
    load_scenario,
    load_text,
    render_template,
    scenario_json_schema,
)
from harness.scenario.linemap import line_map
from harness.scenario.yaml_lines import line_of, parse


def load(text: str, variables: dict[str, str] | None = None):
    return load_text(textwrap.dedent(text), "s.yaml", variables)


def problems(text: str, variables: dict[str, str] | None = None) -> list[Problem]:
    with pytest.raises(ScenarioError) as info:
        load(text, variables)
    return info.value.problems


def one_problem(text: str) -> str:
    found = problems(text)
    assert len(found) == 1, found
    return str(found[0])


# --- errors -----------------------------------------------------------------------------------


def test_problem_text():
    assert str(Problem("scenarios/x.yaml", 14, "hosts.host1", "bad")) == (
        "scenarios/x.yaml:14 hosts.host1: bad"
    )
    assert str(Problem("x.yaml", 3, "", "bad")) == "x.yaml:3: bad"
    assert str(Problem("x.yaml", None, "", "bad")) == "x.yaml: bad"


def test_scenario_error_sorts_and_dedupes():
    a, b = Problem("f", 9, "b", "m"), Problem("f", 2, "a", "m")
    error = ScenarioError([a, b, a])
    assert error.problems == [b, a]
    assert str(error) == "f:2 a: m\nf:9 b: m"


# --- defaults ---------------------------------------------------------------------------------


def test_defaults_are_filled_in():
    topology = load(
        """
        name: defaults
        hosts:
          host1:
            networks: {br1: {}}
            instances: {app1: {}}
          host2: {}
        checks:
          - nat: {from: host1:app1}
        """
    )
    assert list(topology.segments) == ["lan"] and topology.segments["lan"].mtu == 1500
    host1, host2 = topology.hosts.values()
    assert (host1.index, host2.index) == (1, 2)
    assert host1.underlay == ipaddress.IPv4Interface("172.31.0.11/24")
    assert host2.underlay == ipaddress.IPv4Interface("172.31.0.12/24")
    assert host1.gateway == ipaddress.IPv4Address("172.31.0.254")
    assert host1.networks["br1"].type == "bridge" and host1.networks["br1"].config == {}
    app1 = host1.instances["app1"]
    assert (app1.image, app1.profiles, app1.devices) == ("busybox", ("default",), {})
    (check,) = topology.checks
    assert check.params == {"from": "host1:app1", "expect_source": "host1"}
    assert (check.index, check.id, check.line, check.expect_failure) == (0, "0-nat", 9, False)
    assert topology.peers == {} and topology.substrate is None
    assert topology.source == "s.yaml"


def test_an_entry_with_nothing_has_every_default():
    topology = load("name: x\nhosts:\n  host1:\n    instances:\n      app1:\n")
    assert topology.hosts["host1"].instances["app1"].image == "busybox"
    assert "checks.0: a check is a mapping with exactly one key" in one_problem(
        "name: x\nhosts: {h: }\nchecks:\n  -\n"
    )


def test_lan_segment_is_always_there():
    topology = load(
        """
        name: segs
        segments: {trunk: {mtu: 9000}}
        hosts: {host1: {interfaces: {enp1: {segment: trunk}}}}
        """
    )
    assert list(topology.segments) == ["lan", "trunk"]
    assert topology.hosts["host1"].interfaces["enp1"].segment == "trunk"


def test_lxd_values_become_strings_as_lxd_wants():
    topology = load(
        """
        name: values
        hosts:
          host1:
            networks:
              br1:
                config: {ipv4.nat: true, ipv6.nat: no, bridge.mtu: 1400, x.y: 0.5, z: "on"}
            instances:
              app1: {config: {boot.autostart: false}, devices: {eth0: {mtu: 1400}}}
        """
    )
    host = topology.hosts["host1"]
    assert host.networks["br1"].config == {
        "ipv4.nat": "true",
        "ipv6.nat": "false",
        "bridge.mtu": "1400",
        "x.y": "0.5",
        "z": "on",
    }
    assert host.instances["app1"].config == {"boot.autostart": "false"}
    assert host.instances["app1"].devices == {"eth0": {"mtu": "1400"}}


def test_setup_and_commands_are_argv():
    host = load(
        """
        name: argv
        hosts:
          host1:
            setup: ["ip link set 'lanbr' up", brctl addbr lanbr]
            instances: {app1: {}}
            commands: ["lxc config set app1 user.note 'a b'"]
        """
    ).hosts["host1"]
    assert host.setup == (("ip", "link", "set", "lanbr", "up"), ("brctl", "addbr", "lanbr"))
    assert host.commands == (("lxc", "config", "set", "app1", "user.note", "a b"),)


def test_yaml_boolean_words_as_keys_stay_strings():
    topology = load(
        """
        name: vlan-on
        hosts: {host1: {interfaces: {enp4s0f1: {}}}}
        checks:
          - vlan: {on: host1:enp4s0f1, vid: 409}
        """
    )
    assert topology.checks[0].params == {"on": "host1:enp4s0f1", "vid": 409}


def test_implicit_segment_peer_is_resolved_when_referenced():
    topology = load(
        """
        name: peers
        hosts:
          host1: {underlay: 10.0.0.5/16, instances: {app1: {}}}
        checks:
          - ping: {from: lan-peer, to: host1:app1}
        """
    )
    (peer,) = topology.peers.values()
    assert (peer.name, peer.segment, peer.implicit) == ("lan-peer", "lan", True)
    assert peer.address == ipaddress.IPv4Interface("10.0.255.253/16")


def test_declared_peer_wins_over_implicit_one():
    topology = load(
        """
        name: peers
        peers:
          lan-peer: {address: 172.31.0.100/24, dhcp_range: "172.31.0.150, 172.31.0.160"}
        hosts: {host1: {}}
        checks:
          - ping: {from: lan-peer, to: host1}
        """
    )
    peer = topology.peers["lan-peer"]
    assert peer.address == ipaddress.IPv4Interface("172.31.0.100/24")
    assert peer.dhcp_range == "172.31.0.150,172.31.0.160"
    assert not peer.implicit


def test_check_params_and_flags():
    topology = load(
        """
        name: checks
        hosts: {host1: {instances: {app1: {}, app2: {}}}, host2: {}}
        checks:
          - ping: {among: [host1:app1, host1:app2, upstream]}
          - nat: {from: host1:app1, expect_source: 203.0.113.7, expect_failure: true}
          - gre: {between: [host1, host2], requires: [gretap]}
          - dhcp: {instance: host1:app1, expect: 172.31.0.80}
        """
    )
    ping, nat, gre, dhcp = topology.checks
    assert ping.params == {
        "among": ["host1:app1", "host1:app2", "upstream"],
        "unreachable": [],
        "count": 3,
    }
    assert nat.params["expect_source"] == "203.0.113.7" and nat.expect_failure
    assert gre.requires == ("gretap",) and gre.params == {"between": ["host1", "host2"]}
    assert dhcp.params == {
        "instance": "host1:app1",
        "expect": "172.31.0.80",
        "after_restart": False,
    }
    assert [c.id for c in topology.checks] == ["0-ping", "1-nat", "2-gre", "3-dhcp"]


def test_too_many_hosts_for_the_default_underlay():
    hosts = "\n".join(f"  h{i}: {{}}" for i in range(243))
    found = problems(f"name: many\nhosts:\n{hosts}\n")
    assert any("no default underlay for host number 243" in str(p) for p in found)


# --- jinja2 -----------------------------------------------------------------------------------


def test_variables_are_rendered():
    topology = load(
        """
        name: {{ name }}
        hosts:
          host1: {underlay: "172.31.0.{{ octet | default(11) }}/24"}
        """,
        {"name": "from-var"},
    )
    assert topology.name == "from-var"
    assert str(topology.hosts["host1"].underlay) == "172.31.0.11/24"


def test_undefined_variable_has_its_line():
    assert one_problem("name: x\nhosts:\n  {{ host }}: {}\n") == (
        "s.yaml:3: template: 'host' is undefined"
    )


def test_error_inside_expression_has_its_line():
    assert one_problem("name: x\n\nhosts: {{ 1 // 0 }}\n").startswith("s.yaml:3: template:")


def test_template_syntax_error_has_its_line():
    assert one_problem("name: x\n{% if %}\n").startswith("s.yaml:2: template:")


def test_template_sandbox():
    found = one_problem("name: {{ ''.__class__.__mro__ }}\nhosts: {h: {}}\n")
    assert "template:" in found


def test_lines_after_a_loop_point_into_the_template():
    text = textwrap.dedent(
        """\
        name: looped
        hosts:
        {% for i in range(3) %}
          host{{ i }}:
            underlay: 172.31.0.{{ 20 + i }}/24
        {% endfor %}
        checks:
          - ping: {from: host1, to: host9}
        """
    )
    assert "\n".join(render_template(text, "t").splitlines()[:5]).count("host") == 2
    with pytest.raises(ScenarioError) as info:
        load_text(text, "t.yaml")
    assert [p.line for p in info.value.problems] == [8]


def test_line_map_inside_a_loop():
    source = "a:\n{% for i in [1, 2] %}\n  k{{ i }}: v{{ i }}\n  same: x\n{% endfor %}\nz: 1\n"
    rendered = render_template(source, "t")
    to_source = line_map(source, rendered)
    rendered_lines = rendered.splitlines()
    assert [to_source(n) for n, line in enumerate(rendered_lines, 1) if "k2" in line] == [3]
    assert [to_source(n) for n, line in enumerate(rendered_lines, 1) if "z:" in line] == [6]


# --- YAML -------------------------------------------------------------------------------------


def test_yaml_lines_for_every_key_and_item():
    data, lines, found = parse("a:\n  b:\n    - x\n    - {c: 1,\n       d: 2}\n")
    assert found == [] and data == {"a": {"b": ["x", {"c": 1, "d": 2}]}}
    assert lines[("a", "b", 1)] == 4 and lines[("a", "b", 1, "d")] == 5
    assert line_of(lines, ("a", "b", 1, "missing", "deeper")) == 4


def test_yaml_syntax_error_has_its_line():
    assert one_problem("name: x\nhosts:\n\th: {}\n").startswith("s.yaml:3: YAML:")


def test_duplicate_keys_anywhere():
    found = problems(
        """
        name: dup
        hosts:
          host1:
            instances:
              app1: {image: busybox, image: debian}
        """
    )
    assert [str(p) for p in found] == [
        "s.yaml:6 hosts.host1.instances.app1.image: duplicate key 'image' (first at line 6)"
    ]


def test_merge_keys_and_aliases_are_no_duplicates():
    topology = load(
        """
        name: merge
        hosts:
          host1:
            profiles:
              p1:
                devices: &devs
                  eth0: &nic {type: nic, nictype: bridged, parent: lxdbr0}
                  eth1: {<<: *nic, parent: eth0, nictype: macvlan}
              p2: {devices: *devs}
        """
    )
    profiles = topology.hosts["host1"].profiles
    assert profiles["p1"].devices["eth1"] == {"type": "nic", "nictype": "macvlan", "parent": "eth0"}
    assert profiles["p1"].devices == profiles["p2"].devices


def test_empty_and_non_mapping_documents():
    assert one_problem("") == "s.yaml:1: the scenario is empty"
    assert one_problem("# only a comment\n") == "s.yaml:1: the scenario is empty"
    assert "a scenario is a mapping" in one_problem("- a\n- b\n")


def test_unsafe_tags_are_refused():
    assert "could not determine a constructor" in one_problem("name: !!python/name:os.system\n")


def test_alias_bomb_is_refused():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 8)]
    assert "document too large" in one_problem("\n".join(lines) + "\n")


# --- schema -----------------------------------------------------------------------------------


def test_unknown_key_names_the_allowed_ones():
    found = one_problem("name: x\nhosts: {h: {}}\nchecks:\n  - ping: {form: h, to: upstream}\n")
    assert found.startswith("s.yaml:4 checks.0.ping.form: unknown key 'form' (did you mean 'from'")


def test_wrong_types_are_named_in_yaml_terms():
    assert one_problem("name: x\nhosts: [host1]\n") == (
        "s.yaml:2 hosts: expected a mapping, got a list"
    )
    assert one_problem("name: x\nsegments: {lan: {mtu: true}}\nhosts: {h: {}}\n") == (
        "s.yaml:2 segments.lan.mtu: expected an integer, got a boolean"
    )
    assert one_problem("name: x\nhosts: {h: {setup: brctl addbr x}}\n") == (
        "s.yaml:2 hosts.h.setup: expected a list, got a string"
    )


def test_missing_key_points_at_its_parent():
    found = one_problem("name: x\nhosts: {h: {}}\nchecks:\n  - mtu:\n      from: h\n      to: h\n")
    assert found == "s.yaml:4 checks.0.mtu.expect: required but missing"


def test_all_problems_are_reported_at_once():
    found = problems(
        """
        name: Bad Name
        hosts:
          host1:
            underlay: 300.1.1.1/24
        checks:
          - ping: {from: host1}
          - dhcp: {instance: host1}
        """
    )
    assert [p.field for p in found] == [
        "name",
        "hosts.host1.underlay",
        "checks.0.ping",
        "checks.1.dhcp.instance",
    ]
    assert [p.line for p in found] == [2, 5, 7, 8]


@pytest.mark.parametrize(
    ("check", "message"),
    [
        ("ping: {from: host1}", "needs from and to (or among)"),
        ("ping: {among: [host1]}", "should have at least 2 items"),
        ("ping:", "needs from and to"),
        ("ping: {from: 'host1 ; x', to: upstream}", "is not an endpoint"),
        ("dhcp: {instance: host1, expect: 10.0.0.300}", "is not an instance (HOST:INSTANCE)"),
        ("dhcp: {instance: h:a, range: '10.0.0.9,10.0.0.2'}", "ends before it starts"),
        ("dns: {server: host1, name: a.lxd}", "is not HOST:NETWORK"),
        ("dns: {server: host1:br0, name: 'a b'}", "is not a valid DNS name"),
        ("vxlan: {between: [host1, host1], vni: 1}", "the two hosts must differ"),
        ("vxlan: {between: [host1, host2], vni: 16777216}", "less than or equal to 16777215"),
        ("gre: {between: [host1]}", "should have at least 2 items"),
        ("fan: {instance: h:a, overlay: 10.0.0.1/8, underlay: 172.21.0.0/16}", "no host bits"),
        ("mtu: {from: host1, to: upstream, expect: 67}", "greater than or equal to 68"),
        ("nat: {from: host1, expect_source: 'x y'}", "neither an endpoint nor an IPv4 address"),
        ("{ping: {from: a, to: b}, nat: {from: a}}", "exactly one key"),
        ("ping: {from: host1, to: upstream, expect_failure: 'maybe'}", "expected true or false"),
    ],
)
def test_check_parameters(check: str, message: str):
    text = f"name: x\nhosts: {{host1: {{}}}}\nchecks:\n  - {check}\n"
    found = problems(text)
    assert any(message in str(p) and p.line == 4 for p in found), found


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("{underlay: 172.31.0.0/24}", "network/broadcast address"),
        ("{underlay: 172.31.0.1/31}", "/30 or shorter"),
        ("{interfaces: {lo: {}}}", "'lo' is reserved"),
        ("{interfaces: {averyveryverylongname: {}}}", "not a valid interface name"),
        ("{networks: {'br 0': {}}}", "not a valid network name"),
        ("{networks: {br0: {type: vxlan}}}", "should be 'bridge', 'macvlan'"),
        ("{networks: {br0: {config: {ipv4.nat: [1]}}}}", "expected a string, got a list"),
        ("{instances: {App1: {}}}", "not a valid instance name"),
        ("{instances: {app1: {profiles: default}}}", "expected a list, got a string"),
        ("{setup: ['']}", "empty command"),
        ("{setup: ['ip link add x type bridge; ip link set x up']}", "would reach ip as an"),
        ("{setup: ['ip link add x type bridge']}", None),
    ],
)
def test_host_fields(host: str, message: str | None):
    text = f"name: x\nhosts:\n  host1: {host}\n"
    if message is None:
        load(text)
        return
    found = problems(text)
    assert any(message in str(p) and p.line == 3 for p in found), found


def test_scenario_name_and_substrate():
    assert "not a valid scenario name" in one_problem("name: My_Lab\nhosts: {h: {}}\n")
    assert "should be 'local', 'vagrant' or 'ssh'" in one_problem(
        "name: x\nsubstrate: docker\nhosts: {h: {}}\n"
    )
    assert load("name: x\nsubstrate: vagrant\nhosts: {h: {}}\n").substrate == "vagrant"


def test_hosts_are_required_and_not_empty():
    assert one_problem("name: x\n") == "s.yaml:1 hosts: required but missing"
    assert "at least 1 item" in one_problem("name: x\nhosts: {}\n")


# --- files ------------------------------------------------------------------------------------


def test_load_scenario_reads_files(tmp_path: Path):
    path = tmp_path / "lab.yaml"
    path.write_text("name: lab\nhosts: {host1: {}}\n")
    assert load_scenario(path).source == str(path)
    assert load_scenario(str(path), {"unused": "1"}).name == "lab"


def test_unreadable_file_is_a_problem(tmp_path: Path):
    with pytest.raises(ScenarioError) as info:
        load_scenario(tmp_path / "missing.yaml")
    assert "cannot read" in str(info.value)
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ScenarioError):
        load_scenario(tmp_path / "bin.yaml")


def test_json_schema():
    schema = scenario_json_schema()
    json.dumps(schema)
    assert set(schema["required"]) == {"name", "hosts"}
    assert schema["additionalProperties"] is False
    host = schema["$defs"]["HostModel"]
    assert host["additionalProperties"] is False
    assert set(host["properties"]) == {
        "underlay", "interfaces", "setup", "networks", "profiles", "instances", "commands",
    }  # fmt: skip
    assert "from" in schema["$defs"]["PingCheck"]["properties"]
    assert schema["$defs"]["CheckEntry"]["maxProperties"] == 1
