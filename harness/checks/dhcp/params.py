"""`dhcp`: its parameters, as a scenario gives them (the check itself: check.py)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StrictBool, model_validator

from harness.scenario.fields import (
    AddressRange,
    CheckParams,
    InstanceRef,
    Ipv4Address,
    bounded,
    spoken,
)


class DhcpCheck(CheckParams):
    instance: InstanceRef | None = None
    expect: Ipv4Address | None = None
    range: AddressRange | None = None
    after_restart: StrictBool = False
    #: that many made-up clients (random client MAC and id) ask from inside the instance
    clients: bounded(1, 32) | None = None
    #: instances that must never share an address (instead of `instance`)
    unique: Annotated[list[InstanceRef], Field(min_length=2)] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> DhcpCheck:
        if (self.instance is None) == (self.unique is None):
            raise ValueError("needs instance, or unique: [HOST:INSTANCE, ...] (not both)")
        if self.unique is not None and (self.expect or self.clients or self.after_restart):
            raise ValueError("unique takes no expect, clients or after_restart")
        if self.expect is not None and self.clients is not None:
            raise ValueError(
                "clients get addresses from the range, not the reservation: "
                "give expect or clients, not both"
            )
        return self

    @classmethod
    def describe(cls, params: dict[str, Any], part: str = "") -> str:
        p = params
        if "unique" in p:
            text = f"{', '.join(spoken(e) for e in p['unique'])} all have different addresses"
        elif "expect" in p:
            text = f"{spoken(p['instance'])} gets the address {p['expect']} by DHCP"
        elif "range" in p:
            text = (f"{spoken(p['instance'])} gets an address in "
                    f"{p['range'].replace(',', ' - ')} by DHCP")
        elif "clients" in p:
            text = f"{p['clients']} more clients beside {spoken(p['instance'])} get addresses"
        else:
            text = f"{spoken(p['instance'])} gets an address by DHCP"
        if p.get("after_restart"):
            text += ", also after a restart"
        return text
