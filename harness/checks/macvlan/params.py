"""`macvlan`: its parameters, as a scenario gives them (the check itself: check.py)."""

from __future__ import annotations

from typing import Any

from harness.scenario.fields import CheckParams, Endpoint, InstanceRef, spoken


class MacvlanCheck(CheckParams):
    instance: InstanceRef
    reachable_from: Endpoint
    not_from: Endpoint | None = None

    @classmethod
    def describe(cls, params: dict[str, Any], part: str = "") -> str:
        return (f"{spoken(params['instance'])} is on the LAN by macvlan: "
                f"{params['reachable_from']} reaches it"
                + (f", {params['not_from']} does not" if params.get("not_from") else ""))
