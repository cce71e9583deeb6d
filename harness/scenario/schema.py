"""The scenario format as pydantic models (see docs/design.md, "Scenario format").

Only the shape and the syntax of values are checked here; rules that relate one part of
a scenario to another (does that endpoint exist?) live in lint.py. The values are in
fields.py; each check type's parameters live beside its code (harness/checks/TYPE/params.py)
and are found there: `- TYPE: {...}` accepts every check type that exists.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, create_model, model_validator
from pydantic_core import PydanticCustomError, core_schema

from harness.checks import check_params
from harness.engines import ENGINES
from harness.scenario.fields import (
    AddressRange,
    CheckParams,
    CommandLine,
    DeviceName,
    HostName,
    HostNicName,
    ImageName,
    InstanceName,
    Ipv4Interface,
    Ipv4Network,
    LxdConfig,
    Model,
    NetworkName,
    PeerName,
    ProfileName,
    ScenarioName,
    SegmentName,
    Tag,
    _named,
    bounded,
)
from harness.substrates import names as substrate_names
from harness.topology import DEFAULT_SEGMENT


class _RegisteredSubstrate:
    """A name from the substrate registry, read when a scenario is validated and when the
    JSON Schema is made: a substrate registered anywhere is known to both."""

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        return core_schema.no_info_after_validator_function(self._known, handler(source))

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> dict[str, Any]:
        return {"enum": list(substrate_names()), "type": "string"}

    @staticmethod
    def _known(value: str) -> str:
        known = [repr(name) for name in substrate_names()]
        if value not in substrate_names():
            expected = " or ".join([", ".join(known[:-1]), known[-1]] if len(known) > 1
                                   else known)
            raise PydanticCustomError("literal_error", "Input should be {expected}",
                                      {"expected": expected})
        return value


SubstrateName = Annotated[str, _RegisteredSubstrate()]


class SegmentModel(Model):
    mtu: bounded(576, 9000) = 1500


class PeerModel(Model):
    segment: SegmentName = DEFAULT_SEGMENT
    address: Ipv4Interface | None = None
    dhcp_range: AddressRange | None = None


class UpstreamModel(Model):
    #: prefixes the upstream router sends to a host (what `ipv4.routes` and routed NICs need
    #: from the network outside): PREFIX -> host name, reached at its underlay address
    routes: dict[Ipv4Network, HostName] = {}


class NicModel(Model):
    segment: SegmentName = DEFAULT_SEGMENT
    mtu: bounded(576, 9000) | None = None


class NetworkModel(Model):
    type: Literal["bridge", "macvlan", "sriov", "ovn", "physical"] = "bridge"
    config: LxdConfig = {}
    description: str = ""


class ProfileModel(Model):
    config: LxdConfig = {}
    devices: dict[DeviceName, LxdConfig] = {}
    description: str = ""


class InstanceModel(Model):
    image: ImageName = "busybox"
    profiles: list[ProfileName] = ["default"]
    config: LxdConfig = {}
    devices: dict[DeviceName, LxdConfig] = {}


class HostModel(Model):
    underlay: Ipv4Interface | None = None
    interfaces: dict[HostNicName, NicModel] = {}
    setup: list[CommandLine] = []
    networks: dict[NetworkName, NetworkModel] = {}
    profiles: dict[ProfileName, ProfileModel] = {}
    instances: dict[InstanceName, InstanceModel] = {}
    commands: list[CommandLine] = []


class _CheckEntryBase(Model):
    """`- TYPE: {params}`: a mapping with exactly one key, the check type."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra={"minProperties": 1, "maxProperties": 1}
    )

    @model_validator(mode="before")
    @classmethod
    def _single_type(cls, data: Any) -> Any:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            return data  # pydantic says "valid dictionary"
        known = ", ".join(check_params())
        if len(data) != 1:
            raise ValueError(f"a check is a mapping with exactly one key, its type ({known})")
        ((kind, params),) = data.items()
        if kind not in check_params():
            raise ValueError(f"unknown check type {kind!r} (known: {known})")
        # `- ping:` with nothing after it: report the missing parameters instead of accepting
        return {kind: {} if params is None else params}

    @property
    def type(self) -> str:
        (kind,) = self.model_fields_set
        return kind

    @property
    def check(self) -> CheckParams:
        return getattr(self, self.type)


CheckEntry = create_model(  # one optional field per check type that exists
    "CheckEntry", __base__=_CheckEntryBase, __doc__=_CheckEntryBase.__doc__,
    **{kind: (params | None, None) for kind, params in check_params().items()},
)


STAGE_NAME_RE = re.compile(r"^[a-z0-9-]{1,40}$")
StageName = _named(STAGE_NAME_RE, "stage name", "lowercase letters, digits and '-'")


class StageModel(Model):
    """One step of a training lab (see docs/labs.md)."""

    name: StageName
    goal: Annotated[str, Field(min_length=1)]
    hints: list[str] = []
    #: per host, lines like `commands:` (lxc lines and host tools), applied in order
    solution: dict[HostName, list[CommandLine]] = {}
    checks: Annotated[list[CheckEntry], Field(min_length=1)]


class ScenarioModel(Model):
    name: ScenarioName
    description: str = ""
    tags: list[Tag] = []
    substrate: SubstrateName | None = None
    engine: Literal[tuple(ENGINES)] | None = None  # type: ignore[valid-type]
    segments: dict[SegmentName, SegmentModel] = {DEFAULT_SEGMENT: SegmentModel()}
    peers: dict[PeerName, PeerModel] = {}
    upstream: UpstreamModel = UpstreamModel()
    hosts: Annotated[dict[HostName, HostModel], Field(min_length=1)]
    checks: list[CheckEntry] = []
    stages: list[StageModel] = []


def scenario_json_schema() -> dict[str, Any]:
    """JSON Schema of the scenario format (for editors; the loader remains the authority)."""
    schema = ScenarioModel.model_json_schema(by_alias=True)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "LXD netlab scenario",
        **schema,
    }
