"""`mtu`: its parameters, as a scenario gives them (the check itself: check.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import Field

from harness.scenario.fields import CheckParams, Endpoint, EndpointOrAddress, bounded, spoken
from harness.topology import Endpoint as Where
from harness.topology import Topology


class MtuCheck(CheckParams):
    from_: Endpoint = Field(alias="from")
    #: an endpoint, or an address (one routed to an instance with ipv4.routes, for example)
    to: EndpointOrAddress
    expect: bounded(68, 9000)

    @classmethod
    def lint(cls, topology: Topology, params: dict[str, Any]) -> Iterator[tuple[tuple, str]]:
        """`expect` can't be more than the segments between the two ends carry."""
        src, dst = Where.parse(params["from"]), Where.parse(params["to"])
        if src.node == dst.node:
            return
        limit = min(_largest_mtu(topology, src.node), _largest_mtu(topology, dst.node))
        if params["expect"] > limit:
            yield ("expect",), (f"{params['expect']} is larger than the MTU of the segments "
                                f"between {src.node} and {dst.node} ({limit}): no packet that "
                                "big gets through")

    @classmethod
    def describe(cls, params: dict[str, Any], part: str = "") -> str:
        return (f"packets of {params['expect']} bytes get from {spoken(params['from'])} to "
                f"{spoken(params['to'])}, bigger ones do not")



def _largest_mtu(topology: Topology, node: str) -> int:
    """The largest MTU among the segments `node` is plugged into (conservative bound)."""
    segments = topology.segments
    if node in topology.hosts:
        names = {"lan"} | {nic.segment for nic in topology.hosts[node].interfaces.values()}
    elif node in topology.peers:
        names = {topology.peers[node].segment}
    else:
        names = set(segments)
    mtus = [segments[name].mtu for name in names if name in segments]
    return max(mtus, default=9000)
