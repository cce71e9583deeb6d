"""The resolved, substrate-independent model of a scenario.

A `Topology` is what the loader hands to a substrate: every default filled in, every
name checked, every endpoint resolved. Nothing here knows about YAML, namespaces,
VMs or LXD's API; it is plain data.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

UPSTREAM = "upstream"
DEFAULT_SEGMENT = "lan"
#: every host's NIC on the default segment, with its `underlay` address
UNDERLAY_NIC = "eth0"
#: the bridge every host's LXD has from `lxd init`, with the default profile's eth0 on it
DEFAULT_BRIDGE = "lxdbr0"
#: the upstream node's own "internet" address, behind the hosts' default routes
UPSTREAM_WAN_ADDRESS = ipaddress.IPv4Interface("198.51.100.1/32")


@dataclass(frozen=True)
class Segment:
    """An underlay L2 segment between hosts (a switch)."""

    name: str
    mtu: int = 1500


@dataclass(frozen=True)
class PhysicalNic:
    """An extra "physical" NIC of a host, plugged into a segment."""

    name: str
    segment: str
    mtu: int | None = None


@dataclass(frozen=True)
class LxdNetwork:
    name: str
    type: str = "bridge"
    config: dict[str, str] = field(default_factory=dict)
    description: str = ""


@dataclass(frozen=True)
class LxdProfile:
    name: str
    config: dict[str, str] = field(default_factory=dict)
    devices: dict[str, dict[str, str]] = field(default_factory=dict)
    description: str = ""


@dataclass(frozen=True)
class Instance:
    name: str
    image: str = "busybox"
    profiles: tuple[str, ...] = ("default",)
    config: dict[str, str] = field(default_factory=dict)
    devices: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Host:
    """One machine running one LXD daemon."""

    name: str
    index: int
    underlay: ipaddress.IPv4Interface
    interfaces: dict[str, PhysicalNic] = field(default_factory=dict)
    setup: tuple[tuple[str, ...], ...] = ()
    networks: dict[str, LxdNetwork] = field(default_factory=dict)
    profiles: dict[str, LxdProfile] = field(default_factory=dict)
    instances: dict[str, Instance] = field(default_factory=dict)
    commands: tuple[tuple[str, ...], ...] = ()
    #: lines the stages of a training lab run on this host later: the host gets the tools
    #: they need (Open vSwitch, fanctl) from the start
    stage_lines: tuple[tuple[str, ...], ...] = ()

    @property
    def tool_lines(self) -> tuple[tuple[str, ...], ...]:
        """Every host-level line this host will run: setup, then the stages' lines."""
        return self.setup + self.stage_lines

    @property
    def gateway(self) -> ipaddress.IPv4Address:
        """The upstream router's address in this host's underlay subnet."""
        return upstream_address_for(self.underlay)


@dataclass(frozen=True)
class Peer:
    """A plain node on a segment (a LAN machine that is not an LXD host)."""

    name: str
    segment: str
    address: ipaddress.IPv4Interface | None = None
    #: when set, the peer runs a DHCP server handing out this range ("first,last")
    dhcp_range: str | None = None
    #: True for a segment's `SEGMENT-peer` that checks use without the scenario declaring it
    implicit: bool = False


@dataclass(frozen=True)
class CheckSpec:
    """One check as written in the scenario, with its position."""

    index: int
    type: str
    params: dict[str, Any]
    expect_failure: bool = False
    requires: tuple[str, ...] = ()
    line: int | None = None
    #: the training-lab stage this check grades ("" for the scenario's own `checks:`)
    stage: str = ""

    @property
    def id(self) -> str:
        own = f"{self.index}-{self.type}"
        return f"{self.stage}/{own}" if self.stage else own


@dataclass(frozen=True)
class Stage:
    """One step of a training lab: a goal, hints, the solution per host, the checks."""

    name: str
    goal: str
    hints: tuple[str, ...] = ()
    #: host -> argv lines, applied in order (like a host's `commands:`)
    solution: dict[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)
    checks: tuple[CheckSpec, ...] = ()
    #: the solution as written, per host (for learners and transcripts)
    solution_text: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Endpoint:
    """`HOST:INSTANCE`, `HOST`, `upstream` or a peer name, parsed."""

    node: str
    instance: str | None = None

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        node, _, instance = text.partition(":")
        return cls(node, instance or None)

    def __str__(self) -> str:
        return f"{self.node}:{self.instance}" if self.instance else self.node


@dataclass(frozen=True)
class Topology:
    name: str
    description: str = ""
    tags: tuple[str, ...] = ()
    substrate: str | None = None
    #: the container engine every host runs: "lxd" or "incus" (None: the default, lxd)
    engine: str | None = None
    segments: dict[str, Segment] = field(default_factory=dict)
    hosts: dict[str, Host] = field(default_factory=dict)
    peers: dict[str, Peer] = field(default_factory=dict)
    checks: tuple[CheckSpec, ...] = ()
    source: str | None = None
    #: a training lab's stages, in order (empty for a plain scenario)
    stages: tuple[Stage, ...] = ()
    #: prefix -> host: routes of the upstream router towards prefixes behind a host
    upstream_routes: dict[str, str] = field(default_factory=dict)
    #: what lint thinks is probably a mistake, as `file:line field: message`
    warnings: tuple[str, ...] = ()

    def node_names(self) -> set[str]:
        return set(self.hosts) | set(self.peers) | {UPSTREAM}

    @property
    def default_segment(self) -> str:
        """The segment every host's underlay NIC is on: `lan`, else the first one."""
        return DEFAULT_SEGMENT if DEFAULT_SEGMENT in self.segments else next(iter(self.segments))

    def underlay_subnets(self) -> list[ipaddress.IPv4Network]:
        """The distinct host subnets on the default segment, in host order."""
        seen: list[ipaddress.IPv4Network] = []
        for host in self.hosts.values():
            if host.underlay.network not in seen:
                seen.append(host.underlay.network)
        return seen

    def endpoint_exists(self, endpoint: Endpoint) -> bool:
        if endpoint.instance is None:
            return endpoint.node in self.node_names()
        host = self.hosts.get(endpoint.node)
        return host is not None and endpoint.instance in host.instances


def upstream_address_for(underlay: ipaddress.IPv4Interface) -> ipaddress.IPv4Address:
    """The upstream router sits on the last usable address of each host subnet."""
    net = underlay.network
    if net.prefixlen >= 31:
        raise ValueError(f"underlay {underlay} leaves no room for the upstream router")
    return net.broadcast_address - 1


def peer_name_for_segment(segment: str) -> str:
    """Every segment has an implicit plain node called `SEGMENT-peer`."""
    return f"{segment}-peer"
