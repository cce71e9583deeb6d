"""`flow`: a TCP handshake, a UDP datagram or an ICMP echo gets from `from` to `to`.

A listener is started first where the flow should arrive: inside `to` when it is an endpoint,
else inside `listener` (for an address that is forwarded or routed somewhere: a network
forward's listen address, an `ipv4.routes` address), and proven listening before anything is
sent. The flow carries a token, so only this flow counts. Present when the listener saw it
arrive (for tcp: and the handshake completed; for icmp: and the echo reply came from the
target). Absent flows say how they were refused, from the sender's own capture: a TCP RST,
an ICMP error (which one, from whom), the sender's own kernel, or silence (a drop).
"""

from __future__ import annotations

import ipaddress
import secrets
import time

from harness.checks.base import Check, CheckContext, Observation, register
from harness.scenario.fields import is_ipv4_address
from harness.topology import UPSTREAM, UPSTREAM_WAN_ADDRESS

TIMEOUT = 1.0  # seconds the sender waits for an answer to each try
ATTEMPTS = 2  # tries (TCP: the SYN and its retransmissions)
#: the listener outlives the sender's longest wait (the check ends it once the sender is done)
LISTEN_SECONDS = TIMEOUT * ATTEMPTS + 1.0
LATE = 0.2  # seconds the listener keeps listening after the sender is done


@register
class Flow(Check):
    type = "flow"

    def observe(self, ctx: CheckContext, part: str) -> Observation:
        source, target, proto = self.params["from"], self.params["to"], self.params["proto"]
        port = int(self.params.get("port") or 0)
        listener = self.params.get("listener") or (None if is_ipv4_address(target) else target)
        listener_port = int(self.params.get("listener_port") or port)
        sender_ns = ctx.netns(source)
        ctx.address(source)  # a source without an address proves nothing: inconclusive
        dst = target if is_ipv4_address(target) else ctx.address(target)
        token = f"harness-flow-{secrets.token_hex(6)}"
        what = _describe(proto, dst, port)

        running = None
        if listener is not None:
            running = ctx.probes.start(ctx.netns(listener), "flow.listen", wait_ready=True,
                                       proto=proto, port=listener_port, token=token,
                                       duration=LISTEN_SECONDS)
        pcap = ctx.pcap(self.spec.id, "sender")
        sent = ctx.probes.call(sender_ns, "flow.connect", proto=proto, dst=dst, port=port,
                               token=token, timeout=TIMEOUT, attempts=ATTEMPTS, pcap=pcap)
        heard = None
        if running is not None:
            time.sleep(LATE)  # a flow's last packet still on its way
            heard = running.finish()
        seen = judge(source, target, what, sent, heard, listener, listener_port,
                     names=_names(ctx), pcaps=[pcap])
        seen.evidence += _proxy_arp(ctx, sent, heard, listener)
        return seen


def judge(source: str, target: str, what: str, sent: dict, heard: dict | None,
          listener: str | None, listener_port: int, names: dict[str, str] | None = None,
          pcaps: list[str] | None = None) -> Observation:
    """The verdict's facts from what the sender and the listener reported (pure)."""
    names = names or {}
    proto = sent["proto"]
    evidence = [f"{source} ({sent['src']}, via {sent['iface']}) -> {target}: {what}, "
                f"token in the payload"]
    evidence += _sender_lines(sent, names)
    arrived: list[dict] = []
    if heard is not None:
        evidence += _listener_lines(heard, listener, listener_port, proto)
        arrived = [a for a in heard["arrivals"]
                   if proto == "tcp" or a.get("token")]
    answered = sent["outcome"] == "answered"

    if proto == "tcp":
        present = sent["handshake"] and (heard is None or bool(arrived))
    elif proto == "udp":
        present = bool(arrived) if heard is not None else answered
    else:
        present = answered and sent["answer_from"] == sent["dst"] and \
            (heard is None or bool(arrived))

    if present:
        summary = f"{what} from {source} " + (
            f"arrived at {listener}" if heard is not None else f"was answered by {target}")
        if proto == "tcp":
            summary += " (handshake completed)"
        return Observation(True, summary, evidence, pcaps or [])

    refusal = refusal_of(sent, names)
    if heard is not None and answered and not arrived:
        summary = (f"{what}: answered ({refusal}), but it never arrived at {listener}: "
                   f"something else answered")
    else:
        summary = f"{what} from {source} did not arrive: {refusal}"
    return Observation(False, summary, evidence, pcaps or [], stimulus=_stimulus(sent, heard,
                                                                                  listener))


def refusal_of(sent: dict, names: dict[str, str]) -> str:
    """What became of the flow, as a person says it: reject (how, by whom) or drop."""
    outcome = sent["outcome"]
    if outcome == "answered":
        return f"answer from {_who(sent['answer_from'], names)}"
    if sent["rst_from"]:
        return f"rejected with a TCP RST from {_who(sent['rst_from'], names)}"
    if sent["icmp_errors"]:
        error = sent["icmp_errors"][0]
        return f"rejected with ICMP {error['meaning']} from {_who(error['from'], names)}"
    if outcome in ("local-error", "refused") and not sent["seen_leaving"]:
        return (f"refused by the sender's own kernel before it left ({sent['errno']}: "
                f"its firewall's output hook or routing)")
    if outcome == "refused":
        return f"refused ({sent['errno']}), though the capture holds no RST or ICMP error"
    tries = {"tcp": "SYN", "udp": "datagram", "icmp": "echo request"}[sent["proto"]]
    return (f"dropped: no answer, no RST, no ICMP error in {sent['seconds']:.1f} s "
            f"({sent['seen_leaving']} {tries}(s) left {sent['iface']})")


def _stimulus(sent: dict, heard: dict | None, listener: str | None) -> str | None:
    """What shows the flow was really sent where it would have arrived (None: nothing)."""
    listening = f" while {listener} was listening" if heard is not None else ""
    if sent["seen_leaving"]:
        return (f"the capture on the sender's {sent['iface']} holds {sent['seen_leaving']} "
                f"packet(s) of the flow leaving{listening}")
    if sent["outcome"] in ("local-error", "refused") and sent["errno"] \
            and sent["errno"].startswith(("EPERM", "ECONNREFUSED")):
        return f"the sender's own kernel refused to send it ({sent['errno']}){listening}"
    return None  # no route, or nothing seen leaving: the flow was never tried


def _proxy_arp(ctx: CheckContext, sent: dict, heard: dict | None,
               listener: str | None) -> list[str]:
    """When the sender reached the listening instance's own address directly on its link:
    did the instance answer ARP itself, or did someone answer for it (a routed NIC's host)?"""
    if heard is None or listener is None or ":" not in listener \
            or not sent.get("next_hop_mac") or sent["next_hop"] != sent["dst"] \
            or sent["dst"] not in heard["addresses"]:
        return []
    host, _, name = listener.partition(":")
    own = ctx.instance_mac(host, name)
    if own.lower() == sent["next_hop_mac"].lower():
        return [f"  {sent['dst']} answered ARP with {listener}'s own MAC {own}"]
    return [f"  {sent['dst']} answered ARP with {sent['next_hop_mac']}, not {listener}'s own "
            f"MAC {own}: proxy ARP by the host"]


def _sender_lines(sent: dict, names: dict[str, str]) -> list[str]:
    lines = [f"sender: {sent['sent']} tries, {sent['seen_leaving']} seen leaving "
             f"{sent['iface']}; outcome {sent['outcome']}"
             + (f" ({sent['errno']})" if sent["errno"] else "")]
    if sent.get("next_hop_mac"):
        lines.append(f"  next hop {_who(sent['next_hop'], names)} is at MAC "
                     f"{sent['next_hop_mac']} (the sender's neighbour table)")
    if sent["handshake"]:
        lines.append(f"  TCP handshake completed with {_who(sent['answer_from'], names)}")
    if sent["answer"]:
        lines.append(f"  answer from {_who(sent['answer_from'], names)}: {sent['answer']!r}")
    if sent["rst_from"]:
        lines.append(f"  TCP RST from {_who(sent['rst_from'], names)}")
    for error in sent["icmp_errors"]:
        lines.append(f"  ICMP type {error['type']} code {error['code']} ({error['meaning']}) "
                     f"from {_who(error['from'], names)}")
    return lines


def _listener_lines(heard: dict, listener: str | None, port: int, proto: str) -> list[str]:
    where = f"{proto} port {port}" if proto != "icmp" else "echo requests"
    if heard["bound"]:
        how = "bound"
    elif heard["bind_error"]:
        how = f"not bound, {heard['bind_error']}"
    else:
        how = "the kernel answers"
    proof = f", listening {heard['listening_after']:.2f} s after start (its loopback " \
            f"sentinel seen)" if "listening_after" in heard else ""
    lines = [f"listener in {listener} ({', '.join(heard['addresses']) or 'no address'}) on "
             f"{where} ({how}{proof}): {len(heard['arrivals'])} arrival(s)"]
    for arrival in heard["arrivals"][:4]:
        ports = f":{arrival['sport']} -> :{arrival['dport']}" if "sport" in arrival else ""
        lines.append(f"  {arrival['kind']} from {arrival['src']}{ports} to {arrival['dst']}")
    for connection in heard["accepted"][:2]:
        lines.append(f"  accepted from {connection['from']}:{connection['sport']}, "
                     f"got {connection['data']!r}")
    return lines


def _describe(proto: str, dst: str, port: int) -> str:
    if proto == "tcp":
        return f"TCP handshake to {dst}:{port}"
    if proto == "udp":
        return f"UDP datagram to {dst}:{port}"
    return f"ICMP echo to {dst}"


def _who(address: str | None, names: dict[str, str]) -> str:
    if address is None:
        return "?"
    return f"{address} ({names[address]})" if address in names else address


def _names(ctx: CheckContext) -> dict[str, str]:
    """Addresses the scenario gives to hosts and their bridges -> who has them."""
    names = {str(UPSTREAM_WAN_ADDRESS.ip): UPSTREAM}
    for host in ctx.topology.hosts.values():
        names[str(host.underlay.ip)] = host.name
        names[str(host.gateway)] = UPSTREAM
        for network in host.networks.values():
            address = network.config.get("ipv4.address", "")
            try:
                names[str(ipaddress.IPv4Interface(address).ip)] = f"{host.name} {network.name}"
            except ValueError:
                continue
    for peer in ctx.topology.peers.values():
        if peer.address is not None:
            names[str(peer.address.ip)] = peer.name
    return names
