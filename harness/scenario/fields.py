"""The values of the scenario format: names, addresses, endpoints, and what every check's
parameters share (`CheckParams`).

Pure pydantic: the schema's models (schema.py) and every check's own parameters
(harness/checks/TYPE/params.py) are built from these. A parameter whose value names
something in the scenario (an endpoint, a host, a host's network or interface) says so with
a `Ref` in its type, and lint checks every such name without knowing the check.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import shlex
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

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

from harness.features import AKA, FEATURES
from harness.topology import UNDERLAY_NIC, UPSTREAM, Topology


@dataclass(frozen=True)
class Ref:
    """In a parameter's type: its value names something lint must find in the scenario."""

    kind: str  # "endpoint", "host", "host_network" (HOST:NETWORK), "host_iface" (HOST:IFACE)


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


Endpoint = Annotated[str, AfterValidator(_endpoint), WithJsonSchema({"type": "string"}),
                     Ref("endpoint")]
InstanceRef = Annotated[str, AfterValidator(_instance_ref), WithJsonSchema({"type": "string"}),
                        Ref("endpoint")]
HostNetworkRef = Annotated[str, AfterValidator(_host_part_ref("NETWORK")), Ref("host_network")]
HostIfaceRef = Annotated[str, AfterValidator(_host_part_ref("IFACE")), Ref("host_iface")]
EndpointOrAddress = Annotated[str, AfterValidator(_endpoint_or_address), Ref("endpoint")]
HostRef = Annotated[HostName, Ref("host")]
HostPair = Annotated[list[HostRef], Field(min_length=2, max_length=2), AfterValidator(_distinct)]


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


def bounded(low: int, high: int):
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




# ---------------------------------------------------------------------------------------------
# checks


class CheckParams(Model):
    """What every check takes; a check type's own parameters subclass it (see
    harness/checks/TYPE/params.py)."""

    expect_failure: StrictBool = False
    requires: list[Feature] = []

    def params(self) -> dict[str, Any]:
        """The check's own parameters as written (YAML key names), unset optional ones left out."""
        return self.model_dump(
            mode="json", by_alias=True, exclude_none=True, exclude={"expect_failure", "requires"}
        )


    @classmethod
    def describe(cls, params: dict[str, Any], part: str = "") -> str:
        """What the check wants to be true, as a sentence for a learner (harness lab)."""
        return f"{cls.__name__} {params}"

    @classmethod
    def lint(cls, topology: Topology, params: dict[str, Any]) -> Iterator[tuple[tuple, str]]:
        """Rules that relate this check's parameters to the scenario beyond its names
        (which `Ref`s cover): (path below the check, message)."""
        return iter(())


def spoken(endpoint: str) -> str:
    """`host1:app1` -> `app1 on host1` (for sentences)."""
    node, _, instance = str(endpoint).partition(":")
    return f"{instance} on {node}" if instance else node


def references(model: type[BaseModel], params: dict[str, Any]) -> Iterator[tuple[tuple, str, str]]:
    """(path below the check, Ref kind, value) of every value in `params` that names something."""
    for name, field in model.model_fields.items():
        key = field.alias or name
        if key not in params:
            continue
        ref = next((m for m in field.metadata if isinstance(m, Ref)), None)
        many = False
        if ref is None:
            ref, many = _ref_in(field.annotation)
        if ref is None:
            continue
        value = params[key]
        if many or isinstance(value, list):
            for i, item in enumerate(value):
                yield (key, i), ref.kind, item
        else:
            yield (key,), ref.kind, value


def _ref_in(annotation: Any, many: bool = False) -> tuple[Ref | None, bool]:
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        base, *metadata = typing.get_args(annotation)
        ref = next((m for m in metadata if isinstance(m, Ref)), None)
        return (ref, many) if ref is not None else _ref_in(base, many)
    if origin in (typing.Union, types.UnionType):
        for member in typing.get_args(annotation):
            ref, member_many = _ref_in(member, many)
            if ref is not None:
                return ref, member_many
        return None, many
    if origin is list:
        return _ref_in(typing.get_args(annotation)[0], True)
    return None, many
