"""`bandwidth`: its parameters, as a scenario gives them (the check itself: check.py)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from harness.scenario.fields import CheckParams, Endpoint, spoken


class BandwidthCheck(CheckParams):
    from_: Endpoint = Field(alias="from")
    to: Endpoint
    expect_mbit: Annotated[float, Field(gt=0, le=2000)]
    #: a fraction of `expect_mbit`
    tolerance: Annotated[float, Field(gt=0, lt=1)] = 0.2

    @classmethod
    def describe(cls, params: dict[str, Any], part: str = "") -> str:
        return (f"{spoken(params['from'])} sends to {spoken(params['to'])} at "
                f"{params['expect_mbit']:g} Mbit/s, no faster")
