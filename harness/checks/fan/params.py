"""`fan`: its parameters, as a scenario gives them (the check itself: check.py)."""

from __future__ import annotations

from typing import Any

from harness.scenario.fields import CheckParams, InstanceRef, Ipv4Network, spoken


class FanCheck(CheckParams):
    instance: InstanceRef
    overlay: Ipv4Network
    underlay: Ipv4Network

    @classmethod
    def describe(cls, params: dict[str, Any], part: str = "") -> str:
        return (f"{spoken(params['instance'])} is on the fan {params['overlay']} over "
                f"{params['underlay']}")
