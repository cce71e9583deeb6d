"""`dhcp`: a fresh DHCP exchange from inside the instance gets the expected address.

Without `expect`, any address inside the network's DHCP ranges will do.
"""

from __future__ import annotations

import ipaddress

from harness.checks.base import Check, CheckContext, Inconclusive, Observation, register


Range = tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]


def dhcp_ranges(config: dict[str, str]) -> list[Range]:
    """LXD's `ipv4.dhcp.ranges`, or the whole subnet less the gateway when unset."""
    ranges = []
    for item in filter(None, config.get("ipv4.dhcp.ranges", "").split(",")):
        first, _, last = item.partition("-")
        ranges.append((ipaddress.IPv4Address(first.strip()), ipaddress.IPv4Address(last.strip())))
    if not ranges and config.get("ipv4.address", "none") not in ("none", "auto", ""):
        net = ipaddress.IPv4Interface(config["ipv4.address"]).network
        ranges.append((net.network_address + 2, net.broadcast_address - 1))
    return ranges


def in_ranges(address: str, ranges) -> bool:
    ip = ipaddress.IPv4Address(address)
    return any(first <= ip <= last for first, last in ranges)


@register
class Dhcp(Check):
    type = "dhcp"

    def observe(self, ctx: CheckContext, part: str) -> Observation:
        host, _, name = self.params["instance"].partition(":")
        nic = self.params.get("nic", "eth0")
        evidence: list[str] = []
        if self.params.get("after_restart"):
            ctx.client(host).instances.get(name).restart(wait=True)
            evidence.append(f"restarted {host}:{name} before probing")
        mac = ctx.instance_mac(host, name, nic)
        reply = ctx.probes.call(ctx.netns(self.params["instance"]), "dhcp.exchange",
                                iface=nic, mac=mac, hostname=name)
        evidence.append(f"DHCPDISCOVER from {mac} on {host}:{name} {nic}: "
                        f"{reply['attempts']} attempt(s), {reply['seconds']} s")
        if reply["offer"] is None:
            return Observation(False, f"no DHCP offer for {mac}", evidence)
        evidence.append(f"DHCPOFFER {reply['offer']} from server {reply['server']}; "
                        f"REQUEST -> {reply.get('ack_type', 'no answer')} {reply['ack'] or ''}")
        leased = reply["ack"] or reply["offer"]
        expect = self.params.get("expect")
        if expect is not None:
            own = ctx.instance_address(host, name, nic)
            evidence.append(f"the instance itself holds {own} on {nic}")
            present = leased == str(expect) and own == str(expect)
            summary = (f"{host}:{name} gets its reservation {expect}" if present else
                       f"expected {expect}; DHCP offers {leased}, the instance holds {own}")
            return Observation(present, summary, evidence)
        network = ctx.instance_parent_network(host, name, nic)
        ranges = self._ranges(ctx, host, network)
        if not ranges:
            raise Inconclusive(f"cannot tell the DHCP range of {network} on {host}")
        shown = ", ".join(f"{a}-{b}" for a, b in ranges)
        evidence.append(f"range of {network}: {shown}")
        present = in_ranges(leased, ranges)
        summary = (f"{host}:{name} leased {leased}, inside {shown}" if present else
                   f"{host}:{name} leased {leased}, outside {shown}")
        return Observation(present, summary, evidence)

    def _ranges(self, ctx: CheckContext, host: str, network: str | None):
        if "range" in self.params:
            first, _, last = str(self.params["range"]).partition(",")
            return [(ipaddress.IPv4Address(first.strip()), ipaddress.IPv4Address(last.strip()))]
        if network is None:
            return []
        return dhcp_ranges(ctx.network_config(host, network))
