"""`dns`: the LXD bridge's dnsmasq answers an instance's name with its address."""

from __future__ import annotations

from harness.checks.base import Check, CheckContext, Inconclusive, Observation, register


@register
class Dns(Check):
    type = "dns"

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
        addresses = [a["data"] for a in reply["answers"] if a["type"] == 1]
        evidence.append(f"answer: {reply['rcode']} {', '.join(addresses) or '(no A records)'}")
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
        return Observation(present, summary, evidence)
