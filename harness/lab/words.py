"""Checks and results in a learner's words: what must be true, PASS/FAIL, why, hints."""

from __future__ import annotations

from collections.abc import Sequence

from harness.results import CheckResult, Outcome
from harness.topology import CheckSpec, Stage


def endpoint(text: str) -> str:
    """`host1:app1` -> `app1 on host1`."""
    node, _, instance = str(text).partition(":")
    return f"{instance} on {node}" if instance else node


def _range(text: str) -> str:
    return text.replace(",", " - ")


def describe(spec: CheckSpec, part: str = "") -> str:
    """What the check wants to be true, as a sentence."""
    p = spec.params
    kind = spec.type
    if kind == "ping":
        if part:
            source, _, target = part.partition("->")
            text = f"{endpoint(source)} reaches {endpoint(target)} (ping)"
        elif "among" in p:
            text = f"{', '.join(endpoint(e) for e in p['among'])} reach each other (ping)"
        else:
            text = f"{endpoint(p['from'])} reaches {endpoint(p['to'])} (ping)"
    elif kind == "dhcp":
        if "unique" in p:
            text = f"{', '.join(endpoint(e) for e in p['unique'])} all have different addresses"
        elif "expect" in p:
            text = f"{endpoint(p['instance'])} gets the address {p['expect']} by DHCP"
        elif "range" in p:
            text = f"{endpoint(p['instance'])} gets an address in {_range(p['range'])} by DHCP"
        elif "clients" in p:
            text = f"{p['clients']} more clients beside {endpoint(p['instance'])} get addresses"
        else:
            text = f"{endpoint(p['instance'])} gets an address by DHCP"
        if p.get("after_restart"):
            text += ", also after a restart"
    elif kind == "nat":
        text = (f"{endpoint(p['from'])} reaches the outside through NAT, seen there as "
                f"{endpoint(p.get('expect_source', '?'))}")
    elif kind == "dns":
        host, _, network = p["server"].partition(":")
        text = f"the DNS server of {network} on {host} answers {p['name']}"
        if "expect" in p:
            text += f" with {p['expect']}"
    elif kind == "mac_filtering":
        text = f"{endpoint(p['instance'])} cannot send frames with a forged MAC address"
    elif kind == "vlan":
        text = f"frames on {endpoint(p['on'])} carry VLAN tag {p['vid']}"
    elif kind in ("gre", "vxlan"):
        a, b = p["between"]
        ident = f", key {p['key']}" if p.get("key") is not None else ""
        if kind == "vxlan":
            ident = f", VNI {p['vni']}"
        text = f"traffic between {a} and {b} goes through a {kind.upper()} tunnel{ident}"
    elif kind == "fan":
        text = f"{endpoint(p['instance'])} is on the fan {p['overlay']} over {p['underlay']}"
    elif kind == "mtu":
        text = (f"packets of {p['expect']} bytes get from {endpoint(p['from'])} to "
                f"{endpoint(p['to'])}, bigger ones do not")
    elif kind == "macvlan":
        text = f"{endpoint(p['instance'])} is on the LAN by macvlan: {p['reachable_from']} " \
               f"reaches it" + (f", {p['not_from']} does not" if p.get("not_from") else "")
    else:
        text = f"{kind} {p}"
    if spec.expect_failure:
        text = f"it must NOT be true that {text}"
    return text


def _part(result: CheckResult) -> str:
    return result.id.partition("[")[2].rstrip("]")


def plain_reason(reason: str) -> str:
    """A check's reason on one line (no traceback); LXD's "Not found" as what is missing."""
    reason = reason.strip().splitlines()[0] if reason.strip() else reason
    if reason.startswith("error: NotFound: "):
        what = reason.removeprefix("error: NotFound: ").removesuffix(" not found")
        return f"{what.lower()} does not exist (LXD: not found)"
    return reason


def grade_lines(stage: Stage, results: Sequence[CheckResult]) -> list[str]:
    """PASS/FAIL/SKIP per check, with why and the stage's hints under each failure."""
    specs = {spec.id: spec for spec in stage.checks}
    lines = []
    for result in results:
        spec = specs.get(result.id.partition("[")[0])
        what = describe(spec, _part(result)) if spec else result.id
        lines.append(f"{str(result.outcome).upper():4}  {what}")
        if result.outcome == Outcome.FAIL:
            lines.append(f"      why:  {plain_reason(result.reason)}")
            lines += [f"      hint: {hint}" for hint in stage.hints]
        elif result.outcome == Outcome.SKIP:
            lines.append(f"      not on this machine: {result.reason}")
    return lines


def passed(results: Sequence[CheckResult]) -> bool:
    """A stage is done when nothing failed and something passed."""
    return (not any(r.outcome == Outcome.FAIL for r in results)
            and any(r.outcome == Outcome.PASS for r in results))
