"""`flow`: its parameters, as a scenario gives them (the check itself: check.py)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from harness.scenario.fields import CheckParams, Endpoint, EndpointOrAddress, bounded, spoken


class FlowCheck(CheckParams):
    from_: Endpoint = Field(alias="from")
    #: an endpoint, or an address (a network forward's listen address, a routed address)
    to: EndpointOrAddress
    proto: Literal["tcp", "udp", "icmp"]
    port: bounded(1, 65535) | None = None
    #: where the flow must arrive when that is not `to` itself (default: `to`, if an endpoint)
    listener: Endpoint | None = None
    #: the port the listener listens on (default: `port`; a forward's target port)
    listener_port: bounded(1, 65535) | None = None

    @model_validator(mode="after")
    def _ports(self) -> FlowCheck:
        if self.proto == "icmp" and (self.port or self.listener_port):
            raise ValueError("icmp has no ports: leave out port and listener_port")
        if self.proto != "icmp" and self.port is None:
            raise ValueError(f"{self.proto} needs a port")
        if self.listener_port is not None and self.listener is None:
            raise ValueError("listener_port needs a listener")
        return self

    @classmethod
    def describe(cls, params: dict[str, Any], part: str = "") -> str:
        what = params["proto"].upper() + (f" port {params['port']}" if "port" in params else "")
        where = f" (arriving at {spoken(params['listener'])})" if "listener" in params else ""
        return f"{spoken(params['from'])} reaches {spoken(params['to'])} over {what}{where}"
