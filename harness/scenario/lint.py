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
from harness.engines import LXD, Engine, is_client_line
from harness.engines import get as engine_named
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
    return _problems(RULES, topology, lines, filename)


def lint_warnings(topology: Topology, lines: dict[Path, int], filename: str) -> list[Problem]:
    """What is probably a mistake but may be meant (`validate` prints it, `--strict` fails)."""
    return _problems(WARNINGS, topology, lines, filename)


def _problems(rules, topology: Topology, lines: dict[Path, int], filename: str) -> list[Problem]:
    findings: list[Finding] = []
    for rule in rules:
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
    #: ("profile"|"instance", name) -> device -> its keys, as commands leave them
    devices: dict[tuple[str, str], dict[str, dict[str, str]]] = field(default_factory=dict)
    instance_profiles: dict[str, tuple[str, ...]] = field(default_factory=dict)
    subnets: dict[str, ipaddress.IPv4Interface] = field(default_factory=dict)
    #: network -> tunnel protocols it carries (LXD tunnels; "vxlan" for fan bridges)
    encapsulated: dict[str, set[str]] = field(default_factory=dict)
    #: (owner, device) -> where its `mtu` was last given
    mtu_given: dict[tuple[tuple[str, str], str], Path] = field(default_factory=dict)
    where: Path = ()  # the line being read (for mtu_given)
    engine: Engine = LXD  # the engine the scenario runs on, named in the messages


    @property
    def parents(self) -> set[str]:
        return self.networks | self.links | self.nics

    @classmethod
    def of(cls, host: Host, engine: Engine = LXD) -> HostNames:
        links = {name for argv in host.setup for name in created_links(argv)}
        names = cls(
            networks=set(host.networks) | {DEFAULT_BRIDGE},
            links=links,
            nics=set(host.interfaces) | {UNDERLAY_NIC},
            instances=set(host.instances),
            profiles=set(host.profiles) | {"default"},
            engine=engine,
        )
        names.devices[("profile", "default")] = {"eth0": {"type": "nic", "network": DEFAULT_BRIDGE}}
        base: Path = ("hosts", host.name)
        for kind, owners in (("profile", host.profiles), ("instance", host.instances)):
            for owner, spec in owners.items():
                names.devices[(kind, owner)] = {
                    dev: dict(keys) for dev, keys in spec.devices.items()}
                for dev, keys in spec.devices.items():
                    if "mtu" in keys:
                        names.mtu_given[((kind, owner), dev)] = (
                            *base, f"{kind}s", owner, "devices", dev, "mtu")
        names.instance_profiles = {name: inst.profiles for name, inst in host.instances.items()}
        for net_name, net in host.networks.items():
            names.learn_network(net_name, net.config)
        names.encapsulated.update({link: {"vxlan"} for link in links if link.startswith("fan-")})
        return names

    def learn_network(self, name: str, config: dict[str, str | None]) -> None:
        subnet = network_subnet({k: v for k, v in config.items() if v is not None})
        if subnet is not None:
            self.subnets[name] = subnet
        protocols = {v for k, v in config.items()
                     if k.startswith("tunnel.") and k.endswith(".protocol") and v}
        if protocols:
            self.encapsulated.setdefault(name, set()).update(protocols)

    def nic(self, instance: str, device: str) -> dict[str, str]:
        """The instance's device as LXD expands it: its profiles' in order, then its own."""
        keys: dict[str, str] = {}
        for profile in self.instance_profiles.get(instance, ("default",)):
            keys.update(self.devices.get(("profile", profile), {}).get(device, {}))
        keys.update(self.devices.get(("instance", instance), {}).get(device, {}))
        return keys

    def set_device(self, owner: tuple[str, str], device: str,
                   assignments: list[tuple[str, str | None]], override: bool = False) -> None:
        devices = self.devices.setdefault(owner, {})
        if override and device not in devices:
            devices[device] = dict(self.nic(owner[1], device))
        keys = devices.setdefault(device, {})
        for key, value in assignments:
            if value:
                keys[key] = value
            else:  # `network=` clears a key
                keys.pop(key, None)
            if key == "mtu" and value:
                self.mtu_given[(owner, device)] = self.where


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
        names = HostNames.of(host, engine_named(topology.engine))
        for nic_name, nic in host.interfaces.items():
            if nic.segment not in topology.segments:
                path = ("hosts", name, "interfaces", nic_name, "segment")
                yield path, _unknown_segment(topology, nic.segment)
        for net in host.networks:
            if net in names.nics or net in names.links:
                yield (
                    ("hosts", name, "networks", net),
                    f"{name} already has an interface {net!r}: {names.engine.title} can't create a "
                    "network of that name",
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
                message = tunnel_key_problem(key, value, engine_named(topology.engine))
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


def tunnel_key_problem(key: str, value: str | None = None, engine: Engine = LXD) -> str | None:
    if not key.startswith("tunnel."):
        return None
    if not TUNNEL_KEY_RE.match(key):
        parts = key.split(".")
        if len(parts) == 2 and parts[1] in TUNNEL_FIELDS:
            return (
                f"{engine.title} rejects {key!r}: the tunnel name is missing, "
                f"use tunnel.NAME.{parts[1]} (e.g. tunnel.host2.{parts[1]})"
            )
        return f"{key!r} is not a tunnel key (tunnel.NAME.{{{','.join(TUNNEL_FIELDS)}}})"
    if key.endswith(".protocol") and value is not None and value not in TUNNEL_PROTOCOLS:
        return f"tunnel protocol {value!r} is not one of {', '.join(TUNNEL_PROTOCOLS)}"
    return None


def rule_devices(topology: Topology) -> Iterator[Finding]:
    """NIC devices of instances and profiles: parent/network exist, reservations fit."""
    for name, host in topology.hosts.items():
        names = HostNames.of(host, engine_named(topology.engine))
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
        yield path + ("network",), (f"{names.engine.title} refuses parent together with "
                                    "network: use one of them")
    if network and network not in names.networks:
        known = ", ".join(sorted(names.networks))
        yield path + ("network",), (f"{network!r} is not an {names.engine.title} network of "
                                    f"{host.name} ({known})")
    if parent and parent not in names.parents:
        yield path + ("parent",), _unknown_parent(host, parent, names.engine)
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


def _unknown_parent(host: Host, parent: str, engine: Engine) -> str:
    return (
        f"parent {parent!r} is neither an {engine.title} network of {host.name}, a link created "
        f"by its setup, a host interface, nor {DEFAULT_BRIDGE}"
    )


def rule_commands(topology: Topology) -> Iterator[Finding]:
    """`commands:` are LXD changes as the tutorial types them: catch its known mistakes."""
    for name, host in topology.hosts.items():
        names = HostNames.of(host, engine_named(topology.engine))
        for index, argv in enumerate(host.commands):
            path = ("hosts", name, "commands", index)
            for message in _lxc_findings(host, names, argv):
                yield path, message


def rule_fanctl(topology: Topology) -> Iterator[Finding]:
    """`fanctl up -u ADDRESS/PREFIX` names the host's own underlay address: the fan hands each
    host the overlay slice its address maps to (the tutorial's 172.21.3.5 for 172.21.3.15)."""
    for name, host in topology.hosts.items():
        own = {host.underlay.ip} | {a.ip for argv in host.setup for a in _ip_addr_added(argv)}
        for index, argv in enumerate(host.setup):
            given = _fanctl_underlay(argv)
            if given is not None and given.ip not in own:
                yield (("hosts", name, "setup", index),
                       f"fanctl up -u {given}: {given.ip} is not an address of {name} "
                       f"(its underlay is {host.underlay.ip}); the fan maps each host's slice "
                       "from its own address")


def _fanctl_underlay(argv: tuple[str, ...]) -> ipaddress.IPv4Interface | None:
    if not argv or os.path.basename(argv[0]) != "fanctl" or argv[1:2] != ("up",):
        return None
    args = list(argv[2:])
    for i, arg in enumerate(args[:-1]):
        if arg in ("-u", "--underlay"):
            try:
                return ipaddress.IPv4Interface(args[i + 1])
            except ValueError:
                return None
    return None


def _ip_addr_added(argv: tuple[str, ...]) -> list[ipaddress.IPv4Interface]:
    """`ip addr add A.B.C.D/NN dev X` in a host's setup: an address of the host too."""
    args = list(argv[1:])
    if not argv or os.path.basename(argv[0]) != "ip" or len(args) < 3:
        return []
    if args[0] in ("addr", "address", "a") and args[1] in ("add", "a"):
        try:
            return [ipaddress.IPv4Interface(args[2])]
        except ValueError:
            return []
    return []


#: bytes an encapsulation adds to an instance's frame on the underlay (outer IP, UDP/GRE,
#: inner Ethernet)
ENCAPSULATION_OVERHEAD = {"vxlan": 50, "gre": 38}


def warn_instance_mtu(topology: Topology) -> Iterator[Finding]:
    """An instance NIC's `mtu` above what its network's encapsulation carries over the
    underlay (the tutorial's 1498 on a VXLAN fan, which carries 1450): bigger packets are
    dropped. A warning: a scenario may want to show exactly that."""
    underlay_mtu = topology.segments[topology.default_segment].mtu
    for name, host in topology.hosts.items():
        names = HostNames.of(host, engine_named(topology.engine))
        for index, argv in enumerate(host.commands):
            names.where = ("hosts", name, "commands", index)
            list(_lxc_findings(host, names, argv))
        warned: dict[Path, list[str]] = {}
        for instance in sorted(names.instances):
            for device in _device_names(names, instance):
                nic = names.nic(instance, device)
                network = nic.get("network") or nic.get("parent") or ""
                protocols = names.encapsulated.get(network)
                if not protocols or not nic.get("mtu", "").isdigit():
                    continue
                limit = underlay_mtu - max(ENCAPSULATION_OVERHEAD.get(p, 0) for p in protocols)
                if int(nic["mtu"]) <= limit:
                    continue
                owner = ("instance", instance) if ((("instance", instance), device)
                                                   in names.mtu_given) else None
                path = names.mtu_given.get((owner, device)) if owner else next(
                    (names.mtu_given[(("profile", p), device)]
                     for p in reversed(names.instance_profiles.get(instance, ("default",)))
                     if (("profile", p), device) in names.mtu_given), None)
                path = path or ("hosts", name, "instances", instance)
                warned.setdefault(path, []).append(
                    f"mtu {nic['mtu']} of {instance}'s {device} is above what "
                    f"{'/'.join(sorted(protocols)).upper()} on {network} carries over the "
                    f"{underlay_mtu}-byte underlay ({limit}): bigger packets are dropped")
        for path, messages in warned.items():
            yield path, messages[0] + (f" (also {len(messages) - 1} more NIC(s))"
                                       if len(messages) > 1 else "")


def _device_names(names: HostNames, instance: str) -> list[str]:
    found = set(names.devices.get(("instance", instance), {}))
    for profile in names.instance_profiles.get(instance, ("default",)):
        found |= set(names.devices.get(("profile", profile), {}))
    return sorted(found)


def _lxc_findings(host: Host, names: HostNames, argv: tuple[str, ...]) -> Iterator[str]:
    if not is_client_line(argv):
        yield (f"commands run lxc or incus only (this one runs {argv[0]!r}): put host commands "
               f"in setup")
        return
    args = [arg for arg in argv[1:] if not arg.startswith("-")]
    if args[:1] == ["create"]:  # Incus's name for `init`
        args[0] = "init"
    verb = args[:2]
    yield from _twice_given(args, names.engine)

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
        if args[2] in ("set", "override", "add") and len(args) >= 5:
            assignments = _assignments(args[5:] if args[2] != "add" else args[6:])
            yield from _parent_findings(host, names, assignments)
            names.set_device(("instance", args[3]), args[4], assignments,
                             override=args[2] != "add")
            yield from _address_findings(names, args[3], args[4], assignments)
    elif verb == ["profile", "create"] and len(args) >= 3:
        names.profiles.add(args[2])
    elif verb == ["profile", "device"] and len(args) >= 4 and args[2] in DEVICE_VERBS:
        if args[3] not in names.profiles:
            yield f"{host.name} has no profile {args[3]!r}"
        if args[2] in ("set", "add") and len(args) >= 5:
            assignments = _assignments(args[5:] if args[2] == "set" else args[6:])
            yield from _parent_findings(host, names, assignments)
            names.set_device(("profile", args[3]), args[4], assignments)
    elif verb == ["network", "attach"] and len(args) >= 4:
        if args[2] not in names.parents:
            yield _unknown_parent(host, args[2], names.engine)
        yield from need_instance(args[3])
        names.set_device(("instance", args[3]), args[4] if len(args) > 4 else args[2],
                         [("type", "nic"), (_nic_key(names, args[2]), args[2])])
    elif verb == ["network", "attach-profile"] and len(args) >= 4:
        if args[2] not in names.parents:
            yield _unknown_parent(host, args[2], names.engine)
        if args[3] not in names.profiles:
            yield f"{host.name} has no profile {args[3]!r}"
        names.set_device(("profile", args[3]), args[4] if len(args) > 4 else args[2],
                         [("type", "nic"), (_nic_key(names, args[2]), args[2])])
    elif verb and verb[0] == "network" and verb[1:] and verb[1] in ("create", "set", "unset"):
        if len(args) < 3:
            return
        if verb[1] == "create":
            names.networks.add(args[2])
        elif args[2] not in names.networks:
            yield f"network {args[2]!r} is not an {names.engine.title} network of {host.name}"
        assignments = _assignments(args[3:], bare_keys=verb[1] == "unset")
        names.learn_network(args[2], dict(assignments))
        yield from _tunnel_command_findings(assignments, names.engine)


def _nic_key(names: HostNames, parent: str) -> str:
    return "network" if parent in names.networks else "parent"


def _twice_given(args: list[str], engine: Engine) -> Iterator[str]:
    """`lxc network create br0 ipv4.address=none ipv4.address=none`: LXD keeps the last."""
    seen: dict[str, str] = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep:
            continue
        if key in seen:
            same = "the same value" if seen[key] == value else f"{seen[key]!r}, then {value!r}"
            yield f"{key} is given twice in one line ({same}): {engine.title} keeps the last one"
        seen[key] = value


def _address_findings(names: HostNames, instance: str, device: str,
                      assignments: list[tuple[str, str | None]]) -> Iterator[str]:
    """A reservation outside the subnet of the NIC's network: LXD refuses it at apply time."""
    for key, value in assignments:
        if key != "ipv4.address" or not value:
            continue
        nic = names.nic(instance, device)
        network = nic.get("network") or nic.get("parent") or ""
        subnet = names.subnets.get(network)
        try:
            ip = ipaddress.IPv4Address(value)
        except ValueError:
            yield f"{value!r} is not an IPv4 address"
            continue
        if subnet is not None and ip not in subnet.network:
            yield (f"{ip} is outside {subnet.network}, the subnet of {network} "
                   f"({instance}'s {device}): {names.engine.title} refuses the reservation")


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
            yield _unknown_parent(host, value, names.engine)
        if key == "network" and value and value not in names.networks:
            yield f"network {value!r} is not an {names.engine.title} network of {host.name}"


def _tunnel_command_findings(assignments: list[tuple[str, str | None]],
                             engine: Engine) -> Iterator[str]:
    tunnels: list[str] = []
    for key, value in assignments:
        message = tunnel_key_problem(key, value, engine)
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
    names = HostNames.of(host, engine_named(topology.engine))
    if kind == "networks" and name not in names.networks:
        known = ", ".join(sorted(names.networks))
        yield path, (f"{name!r} is not an {names.engine.title} network of {host_name} "
                     f"({known})")
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
    rule_fanctl,
)
WARNINGS = (warn_instance_mtu,)
