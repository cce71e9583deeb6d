"""`gre`: its parameters, as a scenario gives them (the check itself: check.py)."""

from __future__ import annotations

from typing import Any

from harness.scenario.fields import CheckParams, HostPair, bounded


class GreCheck(CheckParams):
    between: HostPair
    key: bounded(0, 2**32 - 1) | None = None

    @classmethod
    def describe(cls, params: dict[str, Any], part: str = "") -> str:
        a, b = params["between"]
        key = f", key {params['key']}" if params.get("key") is not None else ""
        return f"traffic between {a} and {b} goes through a GRE tunnel{key}"
