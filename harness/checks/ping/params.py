"""`ping`: its parameters, as a scenario gives them (the check itself: check.py)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, model_validator

from harness.scenario.fields import CheckParams, Endpoint, EndpointOrAddress, bounded, spoken


class PingCheck(CheckParams):
    from_: Endpoint | None = Field(None, alias="from")
    #: an endpoint, or an address (one routed to an instance with ipv4.routes, for example)
    to: EndpointOrAddress | None = None
    among: Annotated[list[Endpoint], Field(min_length=2)] | None = None
    #: pairs of `among` ("A->B") that must NOT reach each other
    unreachable: list[str] = []
    count: bounded(1, 100) = 3

    @model_validator(mode="after")
    def _one_form(self) -> PingCheck:
        pair = self.from_ is not None or self.to is not None
        if self.among is not None and pair:
            raise ValueError("give either from and to, or among, not both")
        if self.among is None and (self.from_ is None or self.to is None):
            raise ValueError("needs from and to (or among)")
        if self.unreachable:
            if self.among is None:
                raise ValueError(
                    "unreachable lists pairs of among; use expect_failure with from/to"
                )
            pairs = {f"{a}->{b}" for a in self.among for b in self.among if a != b}
            unknown = [p for p in self.unreachable if p not in pairs]
            if unknown:
                raise ValueError(f"unreachable names pairs not in among: {', '.join(unknown)}")
        return self

    @classmethod
    def describe(cls, params: dict[str, Any], part: str = "") -> str:
        if part:
            source, _, target = part.partition("->")
            return f"{spoken(source)} reaches {spoken(target)} (ping)"
        if "among" in params:
            return f"{', '.join(spoken(e) for e in params['among'])} reach each other (ping)"
        return f"{spoken(params['from'])} reaches {spoken(params['to'])} (ping)"
