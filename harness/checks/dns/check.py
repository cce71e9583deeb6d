"""`dns`: the LXD bridge's dnsmasq answers an instance's name with its address."""

from __future__ import annotations

from harness.checks.base import Check, CheckContext, Inconclusive, Observation, register


@register
class Dns(Check):

    def observe(self, ctx: CheckContext, part: str) -> Observation:
        host, _, network = self.params["server"].partition(":")
        server = ctx.network_address(host, network)
        if server is None:
            raise Inconclusive(f"network {network} on {host} has no IPv4 address to query")
        config = ctx.network_config(host, network)
        mode = config.get("dns.mode", "managed")
        source = self.params.get("from", host)
        name = self.params["name"]
        reply = ctx.probes.call(ctx.netns(source), "dns.query", server=str(server.ip), name=name)
        evidence = [f"{network} on {host}: dns.mode={mode}, "
                    f"dns.domain={config.get('dns.domain', 'lxd')}",
                    f"A {name}? asked {server.ip} from {source}"]
        if not reply["answered"]:
            raise Inconclusive(f"no answer from {server.ip} in {reply['attempts']} attempts "
                               f"({reply.get('error', 'timeout')})")
        answerer = reply.get("from", server.ip)
        addresses = answered_addresses(name, reply["answers"])
        others = [a for a in reply["answers"] if a["type"] == 1 and a["data"] not in addresses]
        evidence.append(f"answer from {answerer}: {reply['rcode']} "
                        f"{', '.join(addresses) or '(no A records for the name)'}")
        if others:
            evidence.append("A records for other names, not counted: " + ", ".join(
                f"{a['name']} {a['data']}" for a in others))
        if str(answerer) != str(server.ip):
            return Observation(False, f"the answer came from {answerer}, not from {server.ip}",
                               evidence)
        stimulus = f"{server.ip} answered the query ({reply['rcode']})"
        expect = self.params.get("expect")
        if expect is not None:
            present = str(expect) in addresses
            summary = (f"{name} resolves to {expect}" if present else
                       f"{name} does not resolve to {expect} ({reply['rcode']}: "
                       f"{', '.join(addresses) or 'no A record'})")
        else:
            present = bool(addresses)
            summary = (f"{name} resolves to {', '.join(addresses)}" if present else
                       f"{name} has no A record ({reply['rcode']})")
        return Observation(present, summary, evidence, stimulus=stimulus)


def answered_addresses(name: str, answers: list[dict]) -> list[str]:
    """The A records that answer `name` itself (directly or through its CNAME chain)."""
    wanted = {_canonical(name)}
    for answer in answers:  # DNS lists a chain in order: name CNAME x, x A address
        if answer["type"] == 5 and _canonical(answer["name"]) in wanted:
            wanted.add(_canonical(answer["data"]))
    return [a["data"] for a in answers if a["type"] == 1 and _canonical(a["name"]) in wanted]


def _canonical(name: str) -> str:
    return name.lower().rstrip(".")
