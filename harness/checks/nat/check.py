"""`nat`: the instance's packet reaches upstream from the host's address; the reply comes back."""

from __future__ import annotations

import ipaddress

from harness.checks.base import Check, CheckContext, Inconclusive, Observation, register
from harness.checks.sniffing import SNIFF_LIMIT, window_line
from harness.topology import UPSTREAM, UPSTREAM_WAN_ADDRESS, Endpoint


@register
class Nat(Check):
    nodes = (UPSTREAM,)  # where NAT is observed

    def expected_source(self, ctx: CheckContext) -> str:
        source = Endpoint.parse(self.params["from"])
        expected = self.params.get("expect_source", source.node)
        try:
            return str(ipaddress.IPv4Address(str(expected)))
        except ValueError:
            return ctx.address(str(expected))

    def observe(self, ctx: CheckContext, part: str) -> Observation:
        source = self.params["from"]
        expected = self.expected_source(ctx)
        own = ctx.address(source)
        target = str(UPSTREAM_WAN_ADDRESS.ip)
        pcap = ctx.pcap(self.spec.id, "upstream-eth0")
        sniffer = ctx.probes.start(
            ctx.node_netns(UPSTREAM), "capture.capture", wait_ready=True,
            iface="eth0", bpf=f"icmp and host {target}", duration=SNIFF_LIMIT, count=4, pcap=pcap)
        reply = ctx.probes.call(ctx.netns(source), "icmp.ping", dst=target, count=2, timeout=1.5)
        seen = sniffer.finish()
        # the probe's own requests (its ICMP id), not anybody else's pings to upstream
        requests = [p for p in seen["packets"] if p.get("icmp_type") == 8
                    and p["dst"] == target and p.get("icmp_id") == reply.get("ident")]
        sources = sorted({p["src"] for p in requests})
        evidence = [
            f"{source} ({own}) sent {reply['sent']} echo requests to upstream {target}",
            f"at upstream eth0: {len(requests)} echo requests, source(s) "
            f"{', '.join(sources) or 'none'}; expected source {expected}",
            f"replies back at {source}: {reply['received']}",
            window_line(f"{UPSTREAM} eth0", seen),
            *[f"  {p['summary']}" for p in seen["packets"][:6]],
        ]
        evidence[:0] = self._nat_config(ctx, source)
        if reply["sent"] == 0:
            raise Inconclusive(f"{source} could not send: {'; '.join(reply['local_errors'])}")
        if not requests:  # what source NAT would have given them can't be told
            return Observation(False, f"nothing from {source} reached {UPSTREAM}", evidence,
                               [pcap])
        arrived = f"{len(requests)} echo requests of {source} reached {UPSTREAM}"
        masqueraded = expected in sources
        present = masqueraded and reply["received"] > 0
        if present:
            summary = f"{own} leaves as {expected} and the reply comes back"
        elif masqueraded:
            summary = f"{own} leaves as {expected} but no reply came back"
        else:
            summary = f"{own} reaches upstream as {', '.join(sources)}, not as {expected}"
        return Observation(present, summary, evidence, [pcap], stimulus=arrived)

    def _nat_config(self, ctx: CheckContext, source: str) -> list[str]:
        """What LXD was told: ipv4.nat and ipv4.nat.address of the instance's network."""
        endpoint = Endpoint.parse(source)
        if endpoint.instance is None:
            return []
        network = ctx.instance_parent_network(endpoint.node, endpoint.instance)
        if network and not ctx.is_lxd_network(endpoint.node, network):
            return [f"{source} is on {network}, not an {ctx.engine.title} network"]
        config = ctx.network_config(endpoint.node, network) if network else {}
        keys = [f"{k}={config[k]}" for k in ("ipv4.nat", "ipv4.nat.address") if k in config]
        return [f"{network} on {endpoint.node}: {', '.join(keys) or 'ipv4.nat unset'}"]
