"""`vxlan`: its parameters, as a scenario gives them (the check itself: check.py)."""

from __future__ import annotations

from typing import Any

from harness.scenario.fields import CheckParams, HostPair, Ipv4Address, bounded


class VxlanCheck(CheckParams):
    between: HostPair
    vni: bounded(1, 16777215)
    port: bounded(1, 65535) | None = None
    #: multicast VXLAN: broadcast frames must go to this group
    group: Ipv4Address | None = None

    @classmethod
    def describe(cls, params: dict[str, Any], part: str = "") -> str:
        a, b = params["between"]
        return f"traffic between {a} and {b} goes through a VXLAN tunnel, VNI {params['vni']}"
