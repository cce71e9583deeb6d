"""`dhcp`: what DHCP hands out, seen by fresh exchanges made from inside the instance.

- `expect`: the instance gets (and holds) its reservation;
- otherwise its lease, and the address it holds, are inside `range` (default: the
  `ipv4.dhcp.ranges` of whoever served the lease: its own network's dnsmasq, the LXD
  network across a tunnel, or a peer's DHCP server; the whole subnet when unset), and with
  `clients: N` as many made-up clients (random client MAC and id) never get an address
  outside it, even when the pool runs out;
- `after_restart`: the instance is restarted first (what `lxc restart` does to its lease);
- `unique: [HOST:INSTANCE, ...]`: no two instances get or hold the same address.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from harness.checks.addresses import random_mac
from harness.checks.base import Check, CheckContext, Inconclusive, Observation, register

#: only an ACK is a lease: an OFFER followed by a NAK or by silence leases nothing
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


@dataclass
class Exchange:
    """One fresh DISCOVER/REQUEST as the instance: what the server said."""

    offer: str | None
    server: str | None
    answer: str  # "ack", "nak", "no answer" (to the REQUEST) or "no offer"
    lease: str | None  # the ACKed address: only an ACK is a lease

    @classmethod
    def of(cls, reply: dict) -> Exchange:
        if reply.get("offer") is None:
            return cls(None, None, "no offer", None)
        answer = reply.get("ack_type") or "no answer"
        return cls(reply["offer"], reply.get("server"), answer,
                   reply.get("ack") if answer == "ack" else None)

    def unleased(self, who: str) -> str:
        if self.offer is None:
            return f"no DHCP server answered {who}"
        return (f"{who} was offered {self.offer} by {self.server}, but the REQUEST got "
                f"{'a NAK' if self.answer == 'nak' else 'no answer'}: no lease")


@register
class Dhcp(Check):

    def observe(self, ctx: CheckContext, part: str) -> Observation:
        if "unique" in self.params:
            return self._unique(ctx)
        host, _, name = self.params["instance"].partition(":")
        nic = self.params.get("nic", "eth0")
        who = self.params["instance"]
        evidence: list[str] = []
        if self.params.get("after_restart"):
            before = _held(ctx, host, name, nic)
            ctx.restart_instance(host, name)
            evidence.append(f"restarted {host}:{name} before probing "
                            f"(it held {before or 'no address'})")
        mac = ctx.instance_mac(host, name, nic)
        got = _exchange(ctx, who, nic, mac, evidence)
        if got.lease is None:
            # a NAK is the server's own answer; silence or no offer proves nothing
            return Observation(False, got.unleased(who), evidence,
                               stimulus=f"{got.server} answered" if got.answer == "nak"
                               else None)
        served = f"the DHCP server {got.server} answered"
        own = ctx.instance_address(host, name, nic)
        evidence.append(f"the instance itself holds {own} on {nic}")
        expect = self.params.get("expect")
        if expect is not None:
            present = got.lease == str(expect) and own == str(expect)
            summary = (f"{who} gets its reservation {expect}" if present else
                       f"expected {expect}; DHCP leases {got.lease}, the instance holds {own}")
            return Observation(present, summary, evidence, stimulus=served)
        ranges, origin = self._ranges(ctx, host, name, nic, got.server)
        shown = ", ".join(f"{a}-{b}" for a, b in ranges)
        evidence.append(f"range: {shown} ({origin})")
        outside = [address for address in dict.fromkeys((got.lease, own))
                   if not in_ranges(address, ranges)]
        if outside:
            return Observation(False, f"{who} leased {got.lease} and holds {own}: "
                               f"{', '.join(outside)} outside {shown}", evidence, stimulus=served)
        summary = f"{who} leased {got.lease} from {got.server}, inside {shown}"
        if self.params.get("after_restart"):
            summary += f"; after the restart it holds {own}"
        if self.params.get("clients"):
            present, summary, stimulus = self._fresh_clients(ctx, nic, ranges, evidence)
            return Observation(present, summary, evidence, stimulus=stimulus)
        return Observation(True, summary, evidence)

    def _fresh_clients(self, ctx: CheckContext, nic: str, ranges: list[Range],
                       evidence: list[str]) -> tuple[bool, str, str | None]:
        """Made-up clients asking from inside the instance never get an address off-range."""
        endpoint = self.params["instance"]
        macs = [random_mac() for _ in range(int(self.params["clients"]))]
        reply = ctx.probes.call(ctx.netns(endpoint), "dhcp.fresh_clients", iface=nic, macs=macs,
                                timeout=1.5)
        leases = []
        evidence.append(f"{len(macs)} made-up clients asked from {endpoint} "
                        f"(frames from {reply['frame_src']}), then released their leases:")
        for client in reply["clients"]:
            got = Exchange.of(client)
            where = "" if got.lease is None else (
                " (inside)" if in_ranges(got.lease, ranges) else " (OUTSIDE the range)")
            fate = got.lease or got.unleased("it").removeprefix("it ")
            evidence.append(f"  client {client['mac']}: {fate}{where}")
            if got.lease:
                leases.append(got.lease)
        shown = ", ".join(f"{a}-{b}" for a, b in ranges)
        outside = [a for a in leases if not in_ranges(a, ranges)]
        if outside:
            return False, f"handed out {', '.join(outside)}, outside {shown}", \
                "the server leased addresses to made-up clients"
        if not leases:
            return False, f"none of {len(macs)} made-up clients got a lease", None
        unanswered = len(macs) - len(leases)
        tail = f"; {unanswered} got no lease (pool used up)" if unanswered else ""
        return True, f"{len(leases)} made-up clients all got addresses inside {shown}{tail}", None

    def _unique(self, ctx: CheckContext) -> Observation:
        """Every instance asks again with its own identity; no two get (or hold) one address."""
        evidence: list[str] = []
        leased: dict[str, str] = {}
        held: dict[str, str] = {}
        for endpoint in self.params["unique"]:
            host, _, name = endpoint.partition(":")
            nic = self.params.get("nic", "eth0")
            held[endpoint] = ctx.instance_address(host, name, nic)
            got = _exchange(ctx, endpoint, nic, ctx.instance_mac(host, name, nic), evidence)
            if got.lease is None:
                raise Inconclusive(got.unleased(endpoint))
            leased[endpoint] = got.lease
            evidence.append(f"{endpoint} holds {held[endpoint]}, DHCP leases it {got.lease}")
        shared = _shared(leased) + _shared(held)
        if shared:
            return Observation(False, "; ".join(sorted(set(shared))), evidence,
                               stimulus="every instance got a lease")
        return Observation(True, "distinct addresses: " + ", ".join(
            f"{endpoint} {address}" for endpoint, address in leased.items()), evidence)

    def _ranges(self, ctx: CheckContext, host: str, name: str, nic: str,
                server: str | None) -> tuple[list[Range], str]:
        """The range the lease must be in, and where it comes from.

        Without `range:`, the range of whoever actually served the lease: the instance's
        own network's dnsmasq, or (a network without an address, joined by a tunnel) the
        LXD network of another host, or a peer's DHCP server; which one it was is part of
        the evidence.
        """
        if "range" in self.params:
            first, _, last = str(self.params["range"]).partition(",")
            return [(ipaddress.IPv4Address(first.strip()),
                     ipaddress.IPv4Address(last.strip()))], "from the check"
        network = ctx.instance_parent_network(host, name, nic)
        own = ctx.network_config(host, network) if network and \
            ctx.is_lxd_network(host, network) else {}
        own_server = _gateway(own)
        if own_server is not None and own.get("ipv4.dhcp", "true") != "false":
            if server != own_server:
                raise Inconclusive(f"the lease came from {server}, not from {network} on "
                                   f"{host} ({own_server}), which serves this instance")
            return dhcp_ranges(own), _range_origin(own, f"{network} on {host}")
        for other, config in _lxd_networks(ctx):
            if _gateway(config) == server:
                return dhcp_ranges(config), _range_origin(config, other)
        for peer in ctx.topology.peers.values():
            if peer.address is not None and str(peer.address.ip) == server and peer.dhcp_range:
                first, _, last = peer.dhcp_range.partition(",")
                return [(ipaddress.IPv4Address(first), ipaddress.IPv4Address(last))], \
                    f"dhcp_range of peer {peer.name}, which served the lease"
        raise Inconclusive(f"the lease came from {server}, which is neither an "
                           f"{ctx.engine.title} network nor a peer of this lab: cannot tell "
                           "its range")


def _gateway(config: dict[str, str]) -> str | None:
    value = config.get("ipv4.address", "")
    if "/" not in value:
        return None
    return str(ipaddress.IPv4Interface(value).ip)


def _range_origin(config: dict[str, str], where: str) -> str:
    if config.get("ipv4.dhcp.ranges"):
        return f"ipv4.dhcp.ranges of {where}, which served the lease"
    return (f"{where} served the lease; it sets no ipv4.dhcp.ranges, so its whole subnet "
            f"less the gateway")


def _lxd_networks(ctx: CheckContext):
    """(description, config) of every LXD network of every host of the lab."""
    for host in ctx.topology.hosts:
        for network, config in ctx.networks(host).items():
            yield f"{network} on {host}", config


def _exchange(ctx: CheckContext, endpoint: str, nic: str, mac: str,
              evidence: list[str]) -> Exchange:
    """A fresh DISCOVER/REQUEST as the instance itself: what it was offered and leased."""
    reply = ctx.probes.call(ctx.netns(endpoint), "dhcp.exchange", iface=nic, mac=mac,
                            hostname=endpoint.partition(":")[2])
    evidence.append(f"DHCPDISCOVER from {mac} on {endpoint} {nic}: "
                    f"{reply['attempts']} attempt(s), {reply['seconds']} s")
    got = Exchange.of(reply)
    if got.offer is not None:
        evidence.append(f"DHCPOFFER {got.offer} from server {got.server}; "
                        f"REQUEST -> {got.answer.upper()} {reply.get('ack') or ''}".rstrip())
    return got


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
