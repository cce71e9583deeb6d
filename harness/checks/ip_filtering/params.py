"""`ip_filtering`: its parameters, as a scenario gives them (the check itself: check.py)."""

from __future__ import annotations

from typing import Any

from harness.scenario.fields import CheckParams, Endpoint, InstanceRef, spoken


class IpFilteringCheck(CheckParams):
    instance: InstanceRef
    peer: Endpoint | None = None

    @classmethod
    def describe(cls, params: dict[str, Any], part: str = "") -> str:
        return (f"{spoken(params['instance'])} cannot send from an IPv4 address that is not "
                f"its own, and DHCP still works")
