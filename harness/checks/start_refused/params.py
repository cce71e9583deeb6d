"""`start_refused`: its parameters, as a scenario gives them (the check itself: check.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, get_args

from pydantic import Field

from harness import engines
from harness.scenario.fields import CheckParams, InstanceRef, Ref, spoken
from harness.topology import Topology

CREATE_VERBS = ("launch", "init", "create", "copy")  # create: Incus's name for init
# HOST:INSTANCE, but checked by `lint` below, not as an endpoint: `lxc init` may make it
_base, *_rules = get_args(InstanceRef)
CreatedInstance = Annotated[(_base, *[rule for rule in _rules if not isinstance(rule, Ref)])]


class StartRefusedCheck(CheckParams):
    #: an instance of the scenario, or one its host's `lxc init` lines create (not started)
    instance: CreatedInstance
    #: words LXD's refusal must contain
    reason: Annotated[str, Field(min_length=1)]

    @classmethod
    def lint(cls, topology: Topology, params: dict[str, Any]) -> Iterator[tuple[tuple, str]]:
        host_name, _, instance = params["instance"].partition(":")
        host = topology.hosts.get(host_name)
        if host is None:
            yield ("instance",), f"unknown host {host_name!r} (hosts: {', '.join(topology.hosts)})"
            return
        client = engines.get(topology.engine).client
        made = set(host.instances)
        for argv in host.commands:
            args = [arg for arg in argv[1:] if not arg.startswith("-")]
            if args[:1] and args[0] in CREATE_VERBS and len(args) >= 3:
                made.add(args[2])
        if instance not in made:
            yield ("instance",), (f"{host_name} has no instance {instance!r} (instances, and "
                                  f"those its {client} init lines create: "
                                  f"{', '.join(sorted(made)) or 'none'})")

    @classmethod
    def describe(cls, params: dict[str, Any], part: str = "") -> str:
        return f"the start of {spoken(params['instance'])} is refused: {params['reason']}"
