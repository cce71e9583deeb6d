"""`dns`: its parameters, as a scenario gives them (the check itself: check.py)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from harness.scenario.fields import (
    CheckParams,
    DnsName,
    Endpoint,
    HostNetworkRef,
    Ipv4Address,
)


class DnsCheck(CheckParams):
    server: HostNetworkRef
    name: DnsName
    expect: Ipv4Address | None = None
    from_: Endpoint | None = Field(None, alias="from")

    @classmethod
    def describe(cls, params: dict[str, Any], part: str = "") -> str:
        host, _, network = params["server"].partition(":")
        text = f"the DNS server of {network} on {host} answers {params['name']}"
        if "expect" in params:
            text += f" with {params['expect']}"
        return text
