"""`nat`: its parameters, as a scenario gives them (the check itself: check.py)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from harness.scenario.fields import CheckParams, Endpoint, EndpointOrAddress, spoken


class NatCheck(CheckParams):
    from_: Endpoint = Field(alias="from")
    #: an endpoint or an IPv4 address (ipv4.nat.address); default: the host of `from`
    expect_source: EndpointOrAddress | None = None

    @model_validator(mode="before")
    @classmethod
    def _source_defaults_to_the_host(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("from"), str) \
                and data.get("expect_source") is None:
            data = {**data, "expect_source": data["from"].partition(":")[0]}
        return data

    @classmethod
    def describe(cls, params: dict[str, Any], part: str = "") -> str:
        return (f"{spoken(params['from'])} reaches the outside through NAT, seen there as "
                f"{spoken(params.get('expect_source', '?'))}")
