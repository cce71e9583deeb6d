"""Semantic rules over a resolved Topology: what the schema alone cannot see.

Every rule yields (path, message); `lint` turns them into Problems with the line of the path.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from harness.checks import check_params
from harness.scenario.errors import Problem
from harness.scenario.fields import is_ipv4_address, references
from harness.scenario.yaml_lines import Path, line_of
from harness.topology import (
    DEFAULT_BRIDGE,
    UNDERLAY_NIC,
    UPSTREAM,
    Endpoint,
    Host,
    Topology,
    peer_name_for_segment,
)

TUNNEL_FIELDS = ("protocol", "local", "remote", "port", "group", "id", "interface", "ttl")
TUNNEL_KEY_RE = re.compile(r"^tunnel\.[a-z0-9-]+\.(" + "|".join(TUNNEL_FIELDS) + r")$")
TUNNEL_PROTOCOLS = ("gre", "vxlan")
#: `lxc SUBCOMMAND INSTANCE...` forms whose positional arguments are all instances
LIFECYCLE = ("start", "stop", "restart")
#: `lxc SUBCOMMAND INSTANCE ...` forms whose first positional argument is an instance
ON_INSTANCE = ("delete", "info", "exec")
DEVICE_VERBS = ("set", "override", "add", "remove", "unset", "get", "show")

Finding = tuple[Path, str]


def lint(topology: Topology, lines: dict[Path, int], filename: str) -> list[Problem]:
    findings: list[Finding] = []
    for rule in RULES:
        findings.extend(rule(topology))
    return [
        Problem(filename, line_of(lines, path), ".".join(str(p) for p in path), message)
        for path, message in findings
    ]


# --- what exists on a host --------------------------------------------------------------------


@dataclass
class HostNames:
    """Names a host's LXD objects and commands can refer to."""

    networks: set[str]  # LXD managed networks (declared, and lxdbr0)
    links: set[str]  # links created by the host's setup commands
    nics: set[str]  # the host's NICs (declared, and the underlay NIC)
    instances: set[str] = field(default_factory=set)
    profiles: set[str] = field(default_factory=set)

    @property
    def parents(self) -> set[str]:
        return self.networks | self.links | self.nics

    @classmethod
    def of(cls, host: Host) -> HostNames:
        links = {name for argv in host.setup for name in created_links(argv)}
        return cls(
            networks=set(host.networks) | {DEFAULT_BRIDGE},
            links=links,
            nics=set(host.interfaces) | {UNDERLAY_NIC},
            instances=set(host.instances),
            profiles=set(host.profiles) | {"default"},
        )


def created_links(argv: tuple[str, ...]) -> list[str]:
    """Interfaces a setup command creates: brctl addbr, ip link add, ovs-vsctl add-br, ..."""
    if not argv:
        return []
    program = os.path.basename(argv[0])
    args = list(argv[1:])
    if program == "brctl" and len(args) >= 2 and args[0] == "addbr":
        return [args[1]]
    if program == "ovs-vsctl":
        return [args[i + 1] for i, arg in enumerate(args[:-1]) if arg == "add-br"]
    if program == "fanctl" and args[:1] == ["up"]:
        # `fanctl up -o 10.0.0.0/8 ...` makes the bridge fan-10 (named after the first octet)
        overlays = [args[i + 1] for i, arg in enumerate(args[:-1]) if arg in ("-o", "--overlay")]
        return [f"fan-{overlay.split('.')[0]}" for overlay in overlays[:1]]
    if program == "ip":
        while args and args[0].startswith("-"):  # ip -n NS / -4 / -d ...
            del args[: 2 if args[0] in ("-n", "-netns", "-b", "-batch", "-rc", "-f") else 1]
        if len(args) >= 3 and args[0] in ("link", "l") and args[1] in ("add", "a"):
            return _ip_link_add_names(args[2:])
        if len(args) >= 3 and args[0] == "tuntap" and args[1] == "add":
            rest = args[3:] if args[2] in ("dev", "name") else args[2:]
            return rest[:1]
    return []


_IP_LINK_VALUE_OPTIONS = {
    "link", "txqueuelen", "txqlen", "address", "broadcast", "brd", "mtu", "index",
    "numtxqueues", "numrxqueues", "gso_max_size", "gso_max_segs", "netns", "group",
}  # fmt: skip


def _ip_link_add_names(args: list[str]) -> list[str]:
    names: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "type":
            # `type veth peer name X`: the peer is created too
            rest = args[i + 1 :]
            for j, word in enumerate(rest[:-1]):
                if word == "peer":
                    following = rest[j + 1 :]
                    if following[:1] == ["name"] and len(following) > 1:
                        names.append(following[1])
                    elif following:
                        names.append(following[0])
            break
        if arg in ("name", "dev"):
            if i + 1 < len(args):
                names.append(args[i + 1])
            i += 2
            continue
        if arg in _IP_LINK_VALUE_OPTIONS:
            i += 2
            continue
        if not names:
            names.append(arg)
        i += 1
    return names


# --- rules ------------------------------------------------------------------------------------


def rule_names_clash(topology: Topology) -> Iterator[Finding]:
    implicit = {peer_name_for_segment(seg): seg for seg in topology.segments}
    for name in topology.hosts:
        if name == UPSTREAM:
            yield ("hosts", name), f"'{UPSTREAM}' is the name of the upstream node"
        elif name in implicit:
            yield ("hosts", name), f"{name!r} is the implicit peer of segment {implicit[name]}"
    for name, peer in topology.peers.items():
        if name == UPSTREAM:
            yield ("peers", name), f"'{UPSTREAM}' is the name of the upstream node"
        elif name in topology.hosts:
            yield ("peers", name), f"a host is named {name!r} too"
        if peer.segment not in topology.segments:
            yield ("peers", name, "segment"), _unknown_segment(topology, peer.segment)


def rule_upstream_routes(topology: Topology) -> Iterator[Finding]:
    for prefix, host in topology.upstream_routes.items():
        path: Path = ("upstream", "routes", prefix)
        if host not in topology.hosts:
            yield path, _unknown_host(topology, host)
        elif any(ipaddress.IPv4Network(prefix).overlaps(net)
                 for net in topology.underlay_subnets()):
            yield path, f"{prefix} overlaps the underlay, which upstream reaches directly"


def _unknown_segment(topology: Topology, segment: str) -> str:
    return f"unknown segment {segment!r} (segments: {', '.join(topology.segments)})"


def rule_host_objects(topology: Topology) -> Iterator[Finding]:
    """Segments of NICs, profiles of instances, names of networks."""
    for name, host in topology.hosts.items():
        names = HostNames.of(host)
        for nic_name, nic in host.interfaces.items():
            if nic.segment not in topology.segments:
                path = ("hosts", name, "interfaces", nic_name, "segment")
                yield path, _unknown_segment(topology, nic.segment)
        for net in host.networks:
            if net in names.nics or net in names.links:
                yield (
                    ("hosts", name, "networks", net),
                    f"{name} already has an interface {net!r}: LXD can't create a network of "
                    "that name",
                )
        for inst_name, inst in host.instances.items():
            for i, profile in enumerate(inst.profiles):
                if profile not in names.profiles:
                    yield (
                        ("hosts", name, "instances", inst_name, "profiles", i),
                        f"unknown profile {profile!r} "
                        f"(profiles of {name}: {', '.join(sorted(names.profiles))})",
                    )


def rule_underlay(topology: Topology) -> Iterator[Finding]:
    """Distinct addresses on the underlay: hosts, peers, and the upstream router."""
    owners: dict[ipaddress.IPv4Address, tuple[Path, str]] = {}
    for name, host in topology.hosts.items():
        ip = host.underlay.ip
        path = ("hosts", name, "underlay")
        if ip == host.gateway:
            yield path, f"{host.underlay}: {ip} is the upstream router's address in that subnet"
        elif ip in owners:
            yield path, f"underlay {host.underlay} is also {owners[ip][1]}'s"
        else:
            owners[ip] = (path, name)
    gateways = {host.gateway for host in topology.hosts.values()}
    for name, peer in topology.peers.items():
        if peer.address is None:
            continue
        ip = peer.address.ip
        path = ("peers", name, "address")
        if ip in owners:
            if peer.implicit:  # nothing to point at in the file but the other owner
                yield owners[ip][0], f"{ip} is also the address of the implicit peer {name}"
            else:
                yield path, f"{peer.address} is also {owners[ip][1]}'s"
        elif ip in gateways:
            yield path, f"{ip} is the upstream router's address"
        else:
            owners[ip] = (path, f"peer {name}")


def network_subnet(config: dict[str, str]) -> ipaddress.IPv4Interface | None:
    value = config.get("ipv4.address", "")
    if "/" not in value:
        return None
    try:
        return ipaddress.IPv4Interface(value)
    except ValueError:
        return None


def rule_networks(topology: Topology) -> Iterator[Finding]:
    """ipv4.address syntax, overlapping subnets, tunnel keys."""
    for name, host in topology.hosts.items():
        subnets: list[tuple[str, ipaddress.IPv4Interface]] = []
        for net_name, net in host.networks.items():
            config_path = ("hosts", name, "networks", net_name, "config")
            address = net.config.get("ipv4.address")
            if address is not None:
                path = config_path + ("ipv4.address",)
                subnet = network_subnet(net.config)
                for message in _bridge_address_problems(host, address, subnet, subnets):
                    yield path, message
                if subnet is not None:
                    subnets.append((net_name, subnet))
            for key, value in net.config.items():
                message = tunnel_key_problem(key, value)
                if message:
                    yield config_path + (key,), message


def _bridge_address_problems(
    host: Host,
    address: str,
    subnet: ipaddress.IPv4Interface | None,
    others: list[tuple[str, ipaddress.IPv4Interface]],
) -> Iterator[str]:
    if address in ("none", "auto", ""):
        return
    if subnet is None:
        yield f"{address!r} is not 'auto', 'none' or an address with prefix (e.g. 10.13.37.1/24)"
        return
    net = subnet.network
    if subnet.ip in (net.network_address, net.broadcast_address):
        yield f"{address}: the bridge needs a host address, not the network or broadcast address"
    for other, other_subnet in others:
        if net.overlaps(other_subnet.network):
            yield f"{net} overlaps {other_subnet.network} of network {other} on {host.name}"
    if net.overlaps(host.underlay.network):
        yield f"{net} overlaps the underlay subnet {host.underlay.network} of {host.name}"


def tunnel_key_problem(key: str, value: str | None = None) -> str | None:
    if not key.startswith("tunnel."):
        return None
    if not TUNNEL_KEY_RE.match(key):
        parts = key.split(".")
        if len(parts) == 2 and parts[1] in TUNNEL_FIELDS:
            return (
                f"LXD rejects {key!r}: the tunnel name is missing, "
                f"use tunnel.NAME.{parts[1]} (e.g. tunnel.host2.{parts[1]})"
            )
        return f"{key!r} is not a tunnel key (tunnel.NAME.{{{','.join(TUNNEL_FIELDS)}}})"
    if key.endswith(".protocol") and value is not None and value not in TUNNEL_PROTOCOLS:
        return f"tunnel protocol {value!r} is not one of {', '.join(TUNNEL_PROTOCOLS)}"
    return None


def rule_devices(topology: Topology) -> Iterator[Finding]:
    """NIC devices of instances and profiles: parent/network exist, reservations fit."""
    for name, host in topology.hosts.items():
        names = HostNames.of(host)
        owners = [("profiles", p, prof.devices) for p, prof in host.profiles.items()]
        owners += [("instances", i, inst.devices) for i, inst in host.instances.items()]
        for kind, owner, devices in owners:
            for dev_name, device in devices.items():
                path = ("hosts", name, kind, owner, "devices", dev_name)
                yield from _nic_findings(host, names, path, device)


def _nic_findings(
    host: Host, names: HostNames, path: Path, device: dict[str, str]
) -> Iterator[Finding]:
    if device.get("type") != "nic" and "nictype" not in device:
        return
    parent, network = device.get("parent", ""), device.get("network", "")
    if parent and network:
        yield path + ("network",), "LXD refuses parent together with network: use one of them"
    if network and network not in names.networks:
        known = ", ".join(sorted(names.networks))
        yield path + ("network",), f"{network!r} is not an LXD network of {host.name} ({known})"
    if parent and parent not in names.parents:
        yield path + ("parent",), _unknown_parent(host, parent)
    address = device.get("ipv4.address")
    if address is None:
        return
    try:
        ip = ipaddress.IPv4Address(address)
    except ValueError:
        yield path + ("ipv4.address",), f"{address!r} is not an IPv4 address"
        return
    net = host.networks.get(network or parent)
    subnet = network_subnet(net.config) if net else None
    if subnet is None:
        return
    if ip not in subnet.network:
        message = f"{ip} is outside {subnet.network}, the subnet of network {net.name}"
        yield path + ("ipv4.address",), message
    elif ip == subnet.ip:
        yield path + ("ipv4.address",), f"{ip} is the address of the bridge {net.name} itself"
    elif ip in (subnet.network.network_address, subnet.network.broadcast_address):
        yield path + ("ipv4.address",), f"{ip} is not a usable address of {subnet.network}"


def _unknown_parent(host: Host, parent: str) -> str:
    return (
        f"parent {parent!r} is neither an LXD network of {host.name}, a link created by its "
        f"setup, a host interface, nor {DEFAULT_BRIDGE}"
    )


def rule_commands(topology: Topology) -> Iterator[Finding]:
    """`commands:` are LXD changes as the tutorial types them: catch its known mistakes."""
    for name, host in topology.hosts.items():
        names = HostNames.of(host)
        for index, argv in enumerate(host.commands):
            path = ("hosts", name, "commands", index)
            for message in _lxc_findings(host, names, argv):
                yield path, message


def _lxc_findings(host: Host, names: HostNames, argv: tuple[str, ...]) -> Iterator[str]:
    if os.path.basename(argv[0]) != "lxc":
        yield f"commands run lxc only (this one runs {argv[0]!r}): put host commands in setup"
        return
    args = [arg for arg in argv[1:] if not arg.startswith("-")]
    verb = args[:2]

    def need_instance(instance: str) -> Iterator[str]:
        if instance not in names.instances:
            known = ", ".join(sorted(names.instances)) or "none"
            yield f"{host.name} has no instance {instance!r} (instances: {known})"

    if verb[:1] in (["launch"], ["init"], ["copy"]) and len(args) >= 3:
        names.instances.add(args[2])
    elif args[:1] and args[0] in LIFECYCLE:
        for instance in args[1:]:
            yield from need_instance(instance)
    elif args[:1] and args[0] in ON_INSTANCE and len(args) >= 2:
        yield from need_instance(args[1])
    elif verb == ["config", "device"] and len(args) >= 4 and args[2] in DEVICE_VERBS:
        yield from need_instance(args[3])
        if args[2] in ("set", "override", "add"):
            yield from _parent_findings(host, names, _assignments(args[5:]))
    elif verb == ["profile", "create"] and len(args) >= 3:
        names.profiles.add(args[2])
    elif verb == ["profile", "device"] and len(args) >= 4 and args[2] in DEVICE_VERBS:
        if args[3] not in names.profiles:
            yield f"{host.name} has no profile {args[3]!r}"
        if args[2] in ("set", "add"):
            yield from _parent_findings(host, names, _assignments(args[5:]))
    elif verb == ["network", "attach"] and len(args) >= 4:
        if args[2] not in names.parents:
            yield _unknown_parent(host, args[2])
        yield from need_instance(args[3])
    elif verb == ["network", "attach-profile"] and len(args) >= 4:
        if args[2] not in names.parents:
            yield _unknown_parent(host, args[2])
        if args[3] not in names.profiles:
            yield f"{host.name} has no profile {args[3]!r}"
    elif verb and verb[0] == "network" and verb[1:] and verb[1] in ("create", "set", "unset"):
        if len(args) < 3:
            return
        if verb[1] == "create":
            names.networks.add(args[2])
        elif args[2] not in names.networks:
            yield f"network {args[2]!r} is not an LXD network of {host.name}"
        yield from _tunnel_command_findings(_assignments(args[3:], bare_keys=verb[1] == "unset"))


def _assignments(args: list[str], bare_keys: bool = False) -> list[tuple[str, str | None]]:
    """`k=v k2=v2`, or `KEY VALUE` (the older form), or bare keys for unset."""
    if bare_keys:
        return [(arg, None) for arg in args]
    if any("=" in arg for arg in args):
        return [tuple(arg.split("=", 1)) for arg in args if "=" in arg]  # type: ignore[misc]
    if args:
        return [(args[0], args[1] if len(args) > 1 else None)]
    return []


def _parent_findings(
    host: Host, names: HostNames, assignments: Iterable[tuple[str, str | None]]
) -> Iterator[str]:
    for key, value in assignments:
        if key == "parent" and value and value not in names.parents:
            yield _unknown_parent(host, value)
        if key == "network" and value and value not in names.networks:
            yield f"network {value!r} is not an LXD network of {host.name}"


def _tunnel_command_findings(assignments: list[tuple[str, str | None]]) -> Iterator[str]:
    tunnels: list[str] = []
    for key, value in assignments:
        message = tunnel_key_problem(key, value)
        if message:
            yield message
        elif key.startswith("tunnel."):
            tunnel = key.split(".")[1]
            if tunnel not in tunnels:
                tunnels.append(tunnel)
    if len(tunnels) > 1:
        yield f"sets keys of two tunnels ({', '.join(tunnels)}) in one call: probably a typo"


# --- checks -----------------------------------------------------------------------------------


def rule_check_references(topology: Topology) -> Iterator[Finding]:
    """Every name a check's parameters give exists (its type says which are names, see
    `Ref` in fields.py), and the check's own rules hold (`CheckParams.lint`)."""
    models = check_params()
    for check in topology.checks:
        model = models.get(check.type)
        if model is None:
            continue
        base: Path = ("checks", check.index, check.type)
        for below, kind, value in references(model, check.params):
            problem = _reference_problem(topology, kind, value)
            if problem:
                yield base + below, problem
        for below, message in model.lint(topology, check.params):
            yield base + below, message


def _reference_problem(topology: Topology, kind: str, value: str) -> str | None:
    if kind == "endpoint":
        return None if is_ipv4_address(value) else endpoint_problem(topology, value)
    if kind == "host":
        return None if value in topology.hosts else _unknown_host(topology, value)
    host, _, name = value.partition(":")
    found = list(_on_host(topology, (), host, name,
                          "networks" if kind == "host_network" else "parents"))
    return found[0][1] if found else None


def _unknown_host(topology: Topology, host: str) -> str:
    return f"unknown host {host!r} (hosts: {', '.join(topology.hosts)})"


def _on_host(
    topology: Topology, path: Path, host_name: str, name: str, kind: str
) -> Iterator[Finding]:
    host = topology.hosts.get(host_name)
    if host is None:
        yield path, _unknown_host(topology, host_name)
        return
    names = HostNames.of(host)
    if kind == "networks" and name not in names.networks:
        known = ", ".join(sorted(names.networks))
        yield path, f"{name!r} is not an LXD network of {host_name} ({known})"
    elif kind == "parents" and name not in names.parents:
        known = ", ".join(sorted(names.parents))
        yield path, f"{host_name} has no interface {name!r} (interfaces, links, networks: {known})"


def endpoint_problem(topology: Topology, text: str) -> str | None:
    endpoint = Endpoint.parse(text)
    if topology.endpoint_exists(endpoint):
        return None
    if endpoint.instance is not None:
        host = topology.hosts.get(endpoint.node)
        if host is None:
            if endpoint.node in topology.peers or endpoint.node == UPSTREAM:
                return f"unknown endpoint {text!r}: {endpoint.node} has no instances"
            return f"unknown endpoint {text!r}: {_unknown_host(topology, endpoint.node)}"
        known = ", ".join(host.instances) or "none"
        return (
            f"unknown endpoint {text!r}: {host.name} has no instance {endpoint.instance!r} "
            f"(instances: {known})"
        )
    nodes = [*topology.hosts, *topology.peers, UPSTREAM]
    segment_peers = ", ".join(peer_name_for_segment(seg) for seg in topology.segments)
    return (
        f"unknown endpoint {text!r} (known: {', '.join(nodes)}; "
        f"segment peers: {segment_peers}; or HOST:INSTANCE)"
    )


RULES = (
    rule_names_clash,
    rule_host_objects,
    rule_underlay,
    rule_networks,
    rule_devices,
    rule_commands,
    rule_check_references,
    rule_upstream_routes,
)
