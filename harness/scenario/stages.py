"""Training-lab stages: fixed MACs for reproducible labs, and the lint rules for `stages:`.

A stage's solution runs on top of the hosts and every earlier stage's solution, so a name an
earlier stage creates (`lxc network create lxdbr1337`, `brctl addbr lanbr`) is known to the
later ones.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import os
from collections.abc import Iterator

from harness import engines
from harness.scenario.errors import Problem
from harness.scenario.yaml_lines import Path, line_of
from harness.topology import Host, LxdNetwork, Topology

#: LXD's own prefix for the MACs it makes up (00:16:3e, Xensource)
LXD_OUI = "00:16:3e"


def stable_mac(*names: str) -> str:
    """A MAC in LXD's range, the same for the same names on every run."""
    digest = hashlib.sha256("/".join(names).encode()).digest()
    return LXD_OUI + "".join(f":{byte:02x}" for byte in digest[:3])


def pin_macs(scenario: str, hosts: dict[str, Host]) -> dict[str, Host]:
    """Every instance NIC gets `volatile.NIC.hwaddr` from its names, unless one is given.

    LXD makes up a random MAC per NIC, and dnsmasq picks a lease from a hash of the MAC:
    with fixed MACs two starts of the same lab hand out the same addresses.
    """
    pinned: dict[str, Host] = {}
    for host_name, host in hosts.items():
        instances = {}
        for name, instance in host.instances.items():
            nics = {"eth0"} | {dev for dev, keys in instance.devices.items()
                               if keys.get("type") == "nic"}
            for profile in instance.profiles:
                if profile in host.profiles:
                    nics |= {dev for dev, keys in host.profiles[profile].devices.items()
                             if keys.get("type") == "nic"}
            config = dict(instance.config)
            for nic in sorted(nics):
                if "hwaddr" in instance.devices.get(nic, {}):
                    continue
                config.setdefault(f"volatile.{nic}.hwaddr",
                                  stable_mac(scenario, host_name, name, nic))
            instances[name] = dataclasses.replace(instance, config=config)
        pinned[host_name] = dataclasses.replace(host, instances=instances)
    return pinned


def lint_stages(topology: Topology, lines: dict[Path, int], filename: str) -> list[Problem]:
    return [
        Problem(filename, line_of(lines, path), ".".join(str(p) for p in path), message)
        for path, message in _findings(topology)
    ]


def _findings(topology: Topology) -> Iterator[tuple[Path, str]]:
    from harness.scenario.lint import (
        HostNames,
        _lxc_findings,
        created_links,
        rule_check_references,
    )

    seen: dict[str, int] = {}
    engine = engines.get(topology.engine)
    names = {name: HostNames.of(host, engine) for name, host in topology.hosts.items()}
    for name, host in topology.hosts.items():
        for argv in host.commands:  # `commands:` may create networks and instances too
            list(_lxc_findings(host, names[name], argv))
    host_lines: dict[str, list[tuple[str, ...]]] = {name: [] for name in topology.hosts}
    for position, stage in enumerate(topology.stages):
        base: Path = ("stages", position)
        if stage.name in seen:
            yield (*base, "name"), (f"stage name {stage.name!r} is also used by stage "
                                    f"{seen[stage.name] + 1}")
        seen.setdefault(stage.name, position)
        for host_name, solution in stage.solution.items():
            host = topology.hosts.get(host_name)
            if host is None:
                known = list(topology.hosts)
                close = difflib.get_close_matches(host_name, known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                yield (*base, "solution", host_name), (
                    f"unknown host {host_name!r}{hint} (hosts: {', '.join(known)})")
                continue
            for index, argv in enumerate(solution):
                if os.path.basename(argv[0]) in ("lxc", "incus"):
                    for message in _lxc_findings(host, names[host_name], argv):
                        yield (*base, "solution", host_name, index), message
                else:
                    names[host_name].links.update(created_links(argv))
                    host_lines[host_name].append(argv)
        # the checks see the hosts as this stage's solution leaves them
        view = dataclasses.replace(topology, checks=stage.checks, hosts={
            name: _as_of(host, names[name].networks, host_lines[name])
            for name, host in topology.hosts.items()})
        for path, message in rule_check_references(view):
            yield (*base, *path), message


def _as_of(host: Host, networks: set[str], lines: list[tuple[str, ...]]) -> Host:
    made = {name: LxdNetwork(name) for name in sorted(networks) if name not in host.networks}
    return dataclasses.replace(host, networks={**host.networks, **made},
                               setup=host.setup + tuple(lines))
