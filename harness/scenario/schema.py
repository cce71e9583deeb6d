"""The scenario format as pydantic models (see "Scenario format" in DESIGN.md).

Only the shape and the syntax of values are checked here; rules that relate one part of
a scenario to another (does that endpoint exist?) live in lint.py.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import shlex
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError, core_schema

from harness.features import AKA, FEATURES
from harness.substrates import names as substrate_names
from harness.topology import DEFAULT_SEGMENT, UNDERLAY_NIC, UPSTREAM

# ---------------------------------------------------------------------------------------------
# names: they end up on command lines and as Linux interface names

SCENARIO_NAME_RE = re.compile(r"^[a-z0-9-]{1,63}$")
NODE_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")  # hosts, instances, peers
IFACE_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,14}$")  # interfaces, LXD networks
# segments become bridges named with a prefix in the fabric: keep room for it within 15 chars
SEGMENT_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,9}$")
LXD_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")  # profiles, devices
CONFIG_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
IMAGE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$")
TAG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
DNS_NAME_RE = re.compile(
    r"^(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*\.?$"
)
#: names a host's NICs can't take: the underlay NIC and loopback
RESERVED_HOST_NICS = frozenset({UNDERLAY_NIC, "lo"})
SHELL_OPERATORS = frozenset({"&&", "||", "|", ";", ">", ">>", "<", "2>&1", "&"})


def _named(regex: re.Pattern[str], what: str, rule: str):
    def check(value: str) -> str:
        if not regex.match(value):
            raise ValueError(f"{value!r} is not a valid {what} ({rule})")
        return value

    return Annotated[
        str, AfterValidator(check), WithJsonSchema({"type": "string", "pattern": regex.pattern})
    ]


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

_LOWER = "lowercase letters, digits and '-', starting with a letter"
ScenarioName = _named(SCENARIO_NAME_RE, "scenario name", "lowercase letters, digits and '-'")
HostName = _named(NODE_NAME_RE, "host name", f"{_LOWER}, at most 31 characters")
InstanceName = _named(NODE_NAME_RE, "instance name", f"{_LOWER}, at most 31 characters")
PeerName = _named(NODE_NAME_RE, "peer name", f"{_LOWER}, at most 31 characters")
SegmentName = _named(SEGMENT_NAME_RE, "segment name", f"{_LOWER}, at most 10 characters")
_IFACE_RULE = "letters, digits, '_', '.', '-', starting with a letter, at most 15 characters"
NetworkName = _named(IFACE_NAME_RE, "network name", _IFACE_RULE)
IfaceName = _named(IFACE_NAME_RE, "interface name", _IFACE_RULE)
_LXD_RULE = "letters, digits, '_', '.', '-'"
ProfileName = _named(LXD_NAME_RE, "profile name", _LXD_RULE)
DeviceName = _named(LXD_NAME_RE, "device name", _LXD_RULE)
ConfigKey = _named(CONFIG_KEY_RE, "config key", _LXD_RULE)
ImageName = _named(IMAGE_RE, "image name", "letters, digits, '_', '.', ':', '/', '-'")
Tag = _named(TAG_RE, "tag", _LXD_RULE)
DnsName = _named(DNS_NAME_RE, "DNS name", "labels of letters, digits and '-'")


def _host_nic(value: str) -> str:
    if value in RESERVED_HOST_NICS:
        raise ValueError(f"{value!r} is reserved ({value} is the host's own; pick another name)")
    return value


HostNicName = Annotated[IfaceName, AfterValidator(_host_nic)]

# ---------------------------------------------------------------------------------------------
# values


def _lxd_value(value: Any) -> Any:
    """LXD wants every config value as a string; YAML scalars are accepted and converted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if value is None:
        raise ValueError('a value is needed (write "" for an empty string)')
    return value  # anything else that isn't a string fails as "valid string"


LxdValue = Annotated[
    str,
    BeforeValidator(_lxd_value),
    WithJsonSchema({"type": ["string", "boolean", "integer", "number"]}),
]
LxdConfig = dict[ConfigKey, LxdValue]


def _ipv4_address(value: str) -> str:
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 address") from None


def is_ipv4_address(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def _ipv4_interface(value: str) -> str:
    if "/" not in value:
        raise ValueError(f"{value!r} needs a prefix length, e.g. {value}/24")
    try:
        iface = ipaddress.IPv4Interface(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 address with prefix (a.b.c.d/nn)") from None
    net = iface.network
    if net.prefixlen > 30:
        raise ValueError(f"{value}: the prefix must be /30 or shorter")
    if iface.ip in (net.network_address, net.broadcast_address):
        raise ValueError(f"{value}: {iface.ip} is the network's own network/broadcast address")
    return str(iface)


def _ipv4_network(value: str) -> str:
    try:
        return str(ipaddress.IPv4Network(value))
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 network (a.b.c.0/nn, no host bits)") from None


def _range(value: str) -> str:
    first, sep, last = value.partition(",")
    try:
        low, high = ipaddress.IPv4Address(first.strip()), ipaddress.IPv4Address(last.strip())
    except ValueError:
        low = high = None
    if not sep or low is None or high is None:
        raise ValueError(f"{value!r} is not a range 'FIRST,LAST' of IPv4 addresses")
    if low > high:
        raise ValueError(f"range {value!r} ends before it starts")
    return f"{low},{high}"


def _string_schema(fmt: str) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "format": fmt})


Ipv4Address = Annotated[str, AfterValidator(_ipv4_address), _string_schema("ipv4")]
Ipv4Interface = Annotated[str, AfterValidator(_ipv4_interface), _string_schema("ipv4-interface")]
Ipv4Network = Annotated[str, AfterValidator(_ipv4_network), _string_schema("ipv4-network")]
AddressRange = Annotated[str, AfterValidator(_range), _string_schema("ipv4-range")]


def _argv(value: str) -> str:
    try:
        argv = shlex.split(value)
    except ValueError as exc:
        raise ValueError(f"cannot split {value!r} into arguments: {exc}") from None
    if not argv:
        raise ValueError("empty command")
    operators = [arg for arg in argv if arg in SHELL_OPERATORS or arg.endswith(";")]
    if operators:
        raise ValueError(
            f"commands run without a shell: {operators[0]!r} would reach {argv[0]} as an "
            "argument; write one command per line"
        )
    return value


CommandLine = Annotated[str, AfterValidator(_argv)]


def _endpoint(value: str) -> str:
    node, sep, instance = value.partition(":")
    if not NODE_NAME_RE.match(node) or (sep and not NODE_NAME_RE.match(instance)):
        raise ValueError(
            f"{value!r} is not an endpoint (HOST:INSTANCE, HOST, {UPSTREAM} or a peer name)"
        )
    return value


def _instance_ref(value: str) -> str:
    node, sep, instance = value.partition(":")
    if not (sep and NODE_NAME_RE.match(node) and NODE_NAME_RE.match(instance)):
        raise ValueError(f"{value!r} is not an instance (HOST:INSTANCE)")
    return value


def _host_part_ref(what: str):
    def check(value: str) -> str:
        node, sep, name = value.partition(":")
        if not (sep and NODE_NAME_RE.match(node) and IFACE_NAME_RE.match(name)):
            raise ValueError(f"{value!r} is not HOST:{what}")
        return value

    return check


def _endpoint_or_address(value: str) -> str:
    try:
        return _ipv4_address(value)
    except ValueError:
        pass
    try:
        return _endpoint(value)
    except ValueError:
        raise ValueError(f"{value!r} is neither an endpoint nor an IPv4 address") from None


def _distinct(value: list[str]) -> list[str]:
    if len(set(value)) != len(value):
        raise ValueError("the two hosts must differ")
    return value


Endpoint = Annotated[str, AfterValidator(_endpoint), WithJsonSchema({"type": "string"})]
InstanceRef = Annotated[str, AfterValidator(_instance_ref), WithJsonSchema({"type": "string"})]
HostNetworkRef = Annotated[str, AfterValidator(_host_part_ref("NETWORK"))]
HostIfaceRef = Annotated[str, AfterValidator(_host_part_ref("IFACE"))]
EndpointOrAddress = Annotated[str, AfterValidator(_endpoint_or_address)]
HostPair = Annotated[list[HostName], Field(min_length=2, max_length=2), AfterValidator(_distinct)]


def _feature(value: str) -> str:
    if value not in FEATURES:
        bare = value.rpartition(":")[2].lower()  # "kernel:gre" -> "gre"
        close = [AKA[bare]] if bare in AKA else \
            [name for name in FEATURES if name.startswith(bare)][:1] or \
            difflib.get_close_matches(bare, FEATURES, n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown capability {value!r}{hint}; known: {', '.join(FEATURES)}")
    return value


#: a capability a check needs (see harness/features.py and `harness doctor`)
Feature = Annotated[
    str, AfterValidator(_feature), WithJsonSchema({"type": "string", "enum": list(FEATURES)})
]


def _int(low: int, high: int):
    return Annotated[StrictInt, Field(ge=low, le=high)]


# ---------------------------------------------------------------------------------------------
# models


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _nothing_means_defaults(cls, data: Any) -> Any:
        # `host1:` with nothing after it is a host with every default
        return {} if data is None else data


class SegmentModel(Model):
    mtu: _int(576, 9000) = 1500


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
    mtu: _int(576, 9000) | None = None


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


# --- checks ----------------------------------------------------------------------------------


class CheckModel(Model):
    expect_failure: StrictBool = False
    requires: list[Feature] = []
    #: the keys (as written in YAML) whose values are endpoints
    endpoint_keys: ClassVar[tuple[str, ...]] = ()

    def params(self) -> dict[str, Any]:
        """The check's own parameters as written (YAML key names), unset optional ones left out."""
        return self.model_dump(
            mode="json", by_alias=True, exclude_none=True, exclude={"expect_failure", "requires"}
        )


class PingCheck(CheckModel):
    from_: Endpoint | None = Field(None, alias="from")
    to: Endpoint | None = None
    among: Annotated[list[Endpoint], Field(min_length=2)] | None = None
    #: pairs of `among` ("A->B") that must NOT reach each other
    unreachable: list[str] = []
    count: _int(1, 100) = 3
    endpoint_keys: ClassVar[tuple[str, ...]] = ("from", "to", "among")

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


class DhcpCheck(CheckModel):
    instance: InstanceRef | None = None
    expect: Ipv4Address | None = None
    range: AddressRange | None = None
    after_restart: StrictBool = False
    #: that many made-up clients (random client MAC and id) ask from inside the instance
    clients: _int(1, 32) | None = None
    #: instances that must never share an address (instead of `instance`)
    unique: Annotated[list[InstanceRef], Field(min_length=2)] | None = None
    endpoint_keys: ClassVar[tuple[str, ...]] = ("instance", "unique")

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


class NatCheck(CheckModel):
    from_: Endpoint = Field(alias="from")
    #: default (filled in by the loader): the host of `from`
    expect_source: EndpointOrAddress | None = None
    endpoint_keys: ClassVar[tuple[str, ...]] = ("from", "expect_source")


class DnsCheck(CheckModel):
    server: HostNetworkRef
    name: DnsName
    expect: Ipv4Address | None = None
    from_: Endpoint | None = Field(None, alias="from")
    endpoint_keys: ClassVar[tuple[str, ...]] = ("from",)


class MacFilteringCheck(CheckModel):
    instance: InstanceRef
    peer: Endpoint | None = None
    endpoint_keys: ClassVar[tuple[str, ...]] = ("instance", "peer")


class VlanCheck(CheckModel):
    on: HostIfaceRef
    vid: _int(1, 4094)
    instance: Endpoint | None = None
    endpoint_keys: ClassVar[tuple[str, ...]] = ("instance",)


class GreCheck(CheckModel):
    between: HostPair
    key: _int(0, 2**32 - 1) | None = None


class VxlanCheck(CheckModel):
    between: HostPair
    vni: _int(1, 16777215)
    port: _int(1, 65535) | None = None
    #: multicast VXLAN: broadcast frames must go to this group
    group: Ipv4Address | None = None


class FanCheck(CheckModel):
    instance: InstanceRef
    overlay: Ipv4Network
    underlay: Ipv4Network
    endpoint_keys: ClassVar[tuple[str, ...]] = ("instance",)


class MtuCheck(CheckModel):
    from_: Endpoint = Field(alias="from")
    to: Endpoint
    expect: _int(68, 9000)
    endpoint_keys: ClassVar[tuple[str, ...]] = ("from", "to")


class MacvlanCheck(CheckModel):
    instance: InstanceRef
    reachable_from: Endpoint
    not_from: Endpoint | None = None
    endpoint_keys: ClassVar[tuple[str, ...]] = ("instance", "reachable_from", "not_from")


CHECK_TYPES: dict[str, type[CheckModel]] = {
    "ping": PingCheck,
    "dhcp": DhcpCheck,
    "nat": NatCheck,
    "dns": DnsCheck,
    "mac_filtering": MacFilteringCheck,
    "vlan": VlanCheck,
    "gre": GreCheck,
    "vxlan": VxlanCheck,
    "fan": FanCheck,
    "mtu": MtuCheck,
    "macvlan": MacvlanCheck,
}


class CheckEntry(Model):
    """`- TYPE: {params}`: a mapping with exactly one key, the check type."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra={"minProperties": 1, "maxProperties": 1}
    )

    ping: PingCheck | None = None
    dhcp: DhcpCheck | None = None
    nat: NatCheck | None = None
    dns: DnsCheck | None = None
    mac_filtering: MacFilteringCheck | None = None
    vlan: VlanCheck | None = None
    gre: GreCheck | None = None
    vxlan: VxlanCheck | None = None
    fan: FanCheck | None = None
    mtu: MtuCheck | None = None
    macvlan: MacvlanCheck | None = None

    @model_validator(mode="before")
    @classmethod
    def _single_type(cls, data: Any) -> Any:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            return data  # pydantic says "valid dictionary"
        known = ", ".join(CHECK_TYPES)
        if len(data) != 1:
            raise ValueError(f"a check is a mapping with exactly one key, its type ({known})")
        ((kind, params),) = data.items()
        if kind not in CHECK_TYPES:
            raise ValueError(f"unknown check type {kind!r} (known: {known})")
        # `- ping:` with nothing after it: report the missing parameters instead of accepting
        return {kind: {} if params is None else params}

    @property
    def type(self) -> str:
        (kind,) = self.model_fields_set
        return kind

    @property
    def check(self) -> CheckModel:
        return getattr(self, self.type)


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
