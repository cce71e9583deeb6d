"""A Topology as plain JSON-able data: for golden files, `harness show`, debugging."""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Any

from harness.topology import Topology


def topology_to_dict(topology: Topology) -> dict[str, Any]:
    """Every field of the Topology, in declaration order; addresses as strings, tuples as lists."""
    return _plain(topology)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, ipaddress.IPv4Interface | ipaddress.IPv4Address | ipaddress.IPv4Network):
        return str(value)
    return value
