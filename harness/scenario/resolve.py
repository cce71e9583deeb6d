"""From the validated scenario model to the resolved Topology: every default filled in."""

from __future__ import annotations

import dataclasses
import ipaddress
import shlex
from collections.abc import Iterator

from harness.scenario.errors import Problem
from harness.scenario.fields import is_ipv4_address, references
from harness.scenario.schema import CheckEntry, HostModel, ScenarioModel, StageModel
from harness.scenario.stages import pin_macs
from harness.scenario.yaml_lines import Path, line_of
from harness.topology import (
    DEFAULT_SEGMENT,
    CheckSpec,
    Endpoint,
    Host,
    Instance,
    LxdNetwork,
    LxdProfile,
    Peer,
    PhysicalNic,
    Segment,
    Stage,
    Topology,
    peer_name_for_segment,
)

#: hosts without `underlay` get DEFAULT_UNDERLAY_BASE + (10 + position)
DEFAULT_UNDERLAY_BASE = ipaddress.IPv4Address("172.31.0.0")
DEFAULT_UNDERLAY_PREFIX = 24


def default_underlay(index: int) -> ipaddress.IPv4Interface | None:
    """The underlay of the `index`-th host (1-based) when the scenario gives none."""
    host_part = 10 + index
    if host_part > 252:  # .253 is the implicit peer, .254 the upstream router
        return None
    return ipaddress.IPv4Interface(f"{DEFAULT_UNDERLAY_BASE + host_part}/{DEFAULT_UNDERLAY_PREFIX}")


def implicit_peer_address(topology_hosts: dict[str, Host]) -> ipaddress.IPv4Interface | None:
    """Second-to-last usable address of the first host's underlay subnet (the last is upstream)."""
    if not topology_hosts:
        return None
    net = next(iter(topology_hosts.values())).underlay.network
    return ipaddress.IPv4Interface(f"{net.broadcast_address - 2}/{net.prefixlen}")


def endpoint_values(entry: CheckEntry) -> Iterator[tuple[Path, str]]:
    """(path below the check, endpoint text) for every endpoint a check names."""
    params = entry.check.params()
    for below, kind, value in references(type(entry.check), params):
        if kind == "endpoint" and not is_ipv4_address(value):
            yield (entry.type, *below), value


def resolve(
    model: ScenarioModel, lines: dict[Path, int], filename: str
) -> tuple[Topology, list[Problem]]:
    problems: list[Problem] = []
    segments = {name: Segment(name, seg.mtu) for name, seg in model.segments.items()}
    if DEFAULT_SEGMENT not in segments:  # hosts' underlay NICs are always on "lan"
        segments = {DEFAULT_SEGMENT: Segment(DEFAULT_SEGMENT), **segments}

    hosts: dict[str, Host] = {}
    for index, (name, host) in enumerate(model.hosts.items(), start=1):
        if host.underlay is not None:
            underlay = ipaddress.IPv4Interface(host.underlay)
        else:
            underlay = default_underlay(index)
            if underlay is None:
                path = ("hosts", name)
                problems.append(
                    Problem(
                        filename,
                        line_of(lines, path),
                        "hosts." + name,
                        f"no default underlay for host number {index}: give `underlay:`",
                    )
                )
                continue
        hosts[name] = _host(name, index, underlay, host)

    peers = {
        name: Peer(
            name,
            peer.segment,
            ipaddress.IPv4Interface(peer.address) if peer.address else None,
            peer.dhcp_range,
        )
        for name, peer in model.peers.items()
    }
    implicit = {peer_name_for_segment(seg): seg for seg in segments}
    for entry in [*model.checks, *(e for stage in model.stages for e in stage.checks)]:
        for _, text in endpoint_values(entry):
            node = Endpoint.parse(text).node
            if node in implicit and node not in peers and node not in hosts:
                peers[node] = Peer(
                    node, implicit[node], implicit_peer_address(hosts), implicit=True
                )

    checks = tuple(_check(index, entry, lines) for index, entry in enumerate(model.checks))
    stages = tuple(_stage(position, stage, lines) for position, stage in enumerate(model.stages))
    if stages:  # a training lab: the same MACs (so the same leases) on every start
        hosts = pin_macs(model.name, hosts)
        hosts = {name: dataclasses.replace(host, stage_lines=tuple(
            argv for stage in stages for argv in stage.solution.get(name, ())))
            for name, host in hosts.items()}
    topology = Topology(
        name=model.name,
        description=model.description,
        tags=tuple(model.tags),
        substrate=model.substrate,
        engine=model.engine,
        segments=segments,
        hosts=hosts,
        peers=peers,
        checks=checks,
        source=filename,
        stages=stages,
        upstream_routes=dict(model.upstream.routes),
    )
    return topology, problems


def _host(name: str, index: int, underlay: ipaddress.IPv4Interface, host: HostModel) -> Host:
    return Host(
        name=name,
        index=index,
        underlay=underlay,
        interfaces={
            nic: PhysicalNic(nic, spec.segment, spec.mtu) for nic, spec in host.interfaces.items()
        },
        setup=tuple(tuple(shlex.split(line)) for line in host.setup),
        networks={
            net: LxdNetwork(net, spec.type, dict(spec.config), spec.description)
            for net, spec in host.networks.items()
        },
        profiles={
            prof: LxdProfile(
                prof,
                dict(spec.config),
                {dev: dict(keys) for dev, keys in spec.devices.items()},
                spec.description,
            )
            for prof, spec in host.profiles.items()
        },
        instances={
            inst: Instance(
                inst,
                spec.image,
                tuple(spec.profiles),
                dict(spec.config),
                {dev: dict(keys) for dev, keys in spec.devices.items()},
            )
            for inst, spec in host.instances.items()
        },
        commands=tuple(tuple(shlex.split(line)) for line in host.commands),
    )


def _stage(position: int, stage: StageModel, lines: dict[Path, int]) -> Stage:
    base: Path = ("stages", position)
    return Stage(
        name=stage.name,
        goal=stage.goal.strip(),
        hints=tuple(stage.hints),
        solution={host: tuple(tuple(shlex.split(line)) for line in solution)
                  for host, solution in stage.solution.items()},
        checks=tuple(_check(index, entry, lines, stage.name, base)
                     for index, entry in enumerate(stage.checks)),
        solution_text={host: tuple(solution) for host, solution in stage.solution.items()},
    )


def _check(index: int, entry: CheckEntry, lines: dict[Path, int], stage: str = "",
           base: Path = ()) -> CheckSpec:
    check = entry.check
    params = check.params()
    return CheckSpec(
        index=index,
        type=entry.type,
        params=params,
        expect_failure=check.expect_failure,
        requires=tuple(check.requires),
        line=line_of(lines, (*base, "checks", index)),
        stage=stage,
    )
