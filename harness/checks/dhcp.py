"""`dhcp`: what DHCP hands out, seen by fresh exchanges made from inside the instance.

- `expect`: the instance gets (and holds) its reservation;
- otherwise its lease is inside `range` (default: LXD's `ipv4.dhcp.ranges`), and with
  `clients: N` as many made-up clients (random client MAC and id) never get an address
  outside it, even when the pool runs out;
- `after_restart`: the instance is restarted first (what `lxc restart` does to its lease);
- `unique: [HOST:INSTANCE, ...]`: no two instances get or hold the same address.
"""

from __future__ import annotations

import ipaddress

from harness.checks.addresses import random_mac
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
        if "unique" in self.params:
            return self._unique(ctx)
        host, _, name = self.params["instance"].partition(":")
        nic = self.params.get("nic", "eth0")
        evidence: list[str] = []
        if self.params.get("after_restart"):
            before = _held(ctx, host, name, nic)
            ctx.client(host).instances.get(name).restart(wait=True)
            evidence.append(f"restarted {host}:{name} before probing "
                            f"(it held {before or 'no address'})")
        mac = ctx.instance_mac(host, name, nic)
        leased = _exchange(ctx, self.params["instance"], nic, mac, evidence)
        if leased is None:
            return Observation(False, f"no DHCP offer for {mac}", evidence)
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
        if self.params.get("after_restart"):
            evidence.append(f"after the restart the instance holds "
                            f"{ctx.instance_address(host, name, nic)} on {nic}")
        present = in_ranges(leased, ranges)
        summary = (f"{host}:{name} leased {leased}, inside {shown}" if present else
                   f"{host}:{name} leased {leased}, outside {shown}")
        if present and self.params.get("clients"):
            present, summary = self._fresh_clients(ctx, nic, ranges, evidence)
        return Observation(present, summary, evidence)

    def _fresh_clients(self, ctx: CheckContext, nic: str, ranges: list[Range],
                       evidence: list[str]) -> tuple[bool, str]:
        """Made-up clients asking from inside the instance never get an address off-range."""
        endpoint = self.params["instance"]
        macs = [random_mac() for _ in range(int(self.params["clients"]))]
        reply = ctx.probes.call(ctx.netns(endpoint), "dhcp.fresh_clients", iface=nic, macs=macs,
                                timeout=1.5)
        leases = []
        evidence.append(f"{len(macs)} made-up clients asked from {endpoint} "
                        f"(frames from {reply['frame_src']}), then released their leases:")
        for client in reply["clients"]:
            leased = client["ack"] or client["offer"]
            where = "" if leased is None else (
                " (inside)" if in_ranges(leased, ranges) else " (OUTSIDE the range)")
            evidence.append(f"  client {client['mac']}: {leased or 'no offer'}{where}")
            if leased:
                leases.append(leased)
        shown = ", ".join(f"{a}-{b}" for a, b in ranges)
        outside = [a for a in leases if not in_ranges(a, ranges)]
        if not leases:
            return False, f"none of {len(macs)} made-up clients got an offer"
        if outside:
            return False, f"handed out {', '.join(outside)}, outside {shown}"
        unanswered = len(macs) - len(leases)
        tail = f"; {unanswered} got no offer (pool used up)" if unanswered else ""
        return True, (f"{len(leases)} made-up clients all got addresses inside {shown}{tail}")

    def _unique(self, ctx: CheckContext) -> Observation:
        """Every instance asks again with its own identity; no two get (or hold) one address."""
        evidence: list[str] = []
        leased: dict[str, str] = {}
        held: dict[str, str] = {}
        for endpoint in self.params["unique"]:
            host, _, name = endpoint.partition(":")
            nic = self.params.get("nic", "eth0")
            held[endpoint] = ctx.instance_address(host, name, nic)
            address = _exchange(ctx, endpoint, nic, ctx.instance_mac(host, name, nic), evidence)
            if address is None:
                raise Inconclusive(f"no DHCP offer for {endpoint}")
            leased[endpoint] = address
            evidence.append(f"{endpoint} holds {held[endpoint]}, DHCP gives it {address}")
        shared = _shared(leased) + _shared(held)
        if shared:
            return Observation(False, "; ".join(sorted(set(shared))), evidence)
        return Observation(True, "distinct addresses: " + ", ".join(
            f"{endpoint} {address}" for endpoint, address in leased.items()), evidence)

    def _ranges(self, ctx: CheckContext, host: str, network: str | None):
        if "range" in self.params:
            first, _, last = str(self.params["range"]).partition(",")
            return [(ipaddress.IPv4Address(first.strip()), ipaddress.IPv4Address(last.strip()))]
        if network is None:
            return []
        return dhcp_ranges(ctx.network_config(host, network))


def _exchange(ctx: CheckContext, endpoint: str, nic: str, mac: str,
              evidence: list[str]) -> str | None:
    """A fresh DISCOVER/REQUEST as the instance itself; the address it gets, if any."""
    reply = ctx.probes.call(ctx.netns(endpoint), "dhcp.exchange", iface=nic, mac=mac,
                            hostname=endpoint.partition(":")[2])
    evidence.append(f"DHCPDISCOVER from {mac} on {endpoint} {nic}: "
                    f"{reply['attempts']} attempt(s), {reply['seconds']} s")
    if reply["offer"] is None:
        return None
    evidence.append(f"DHCPOFFER {reply['offer']} from server {reply['server']}; "
                    f"REQUEST -> {reply.get('ack_type', 'no answer')} {reply['ack'] or ''}")
    return reply["ack"] or reply["offer"]


def _held(ctx: CheckContext, host: str, name: str, nic: str) -> str | None:
    try:
        return ctx.instance_address(host, name, nic, wait=0)
    except Inconclusive:
        return None


def _shared(addresses: dict[str, str]) -> list[str]:
    owners: dict[str, list[str]] = {}
    for endpoint, address in addresses.items():
        owners.setdefault(address, []).append(endpoint)
    return [f"{' and '.join(names)} share {address}"
            for address, names in owners.items() if len(names) > 1]
