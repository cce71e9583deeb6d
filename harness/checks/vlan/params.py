"""`vlan`: its parameters, as a scenario gives them (the check itself: check.py)."""

from __future__ import annotations

from typing import Any

from harness.scenario.fields import CheckParams, Endpoint, HostIfaceRef, bounded, spoken


class VlanCheck(CheckParams):
    on: HostIfaceRef
    vid: bounded(1, 4094)
    instance: Endpoint | None = None

    @classmethod
    def describe(cls, params: dict[str, Any], part: str = "") -> str:
        return f"frames on {spoken(params['on'])} carry VLAN tag {params['vid']}"
