"""What a check may ask about the running lab: where an endpoint lives, its address, LXD state."""

from __future__ import annotations

import ipaddress
import re
import time
from pathlib import Path
from typing import Any

import pylxd
from pylxd.exceptions import NotFound

from harness import engines
from harness.lxd.client import connect, instance_state
from harness.probes.runner import ProbeRunner
from harness.substrates import substrate_class
from harness.substrates.base import Lab, Substrate
from harness.topology import UPSTREAM, UPSTREAM_WAN_ADDRESS, Endpoint, Topology

ADDRESS_WAIT = 15.0  # seconds an instance may take to get its DHCP lease


class Inconclusive(Exception):
    """Nothing could be observed that decides the check (never a pass)."""


class CheckContext:
    def __init__(self, topology: Topology, lab: Lab, probes: ProbeRunner, artifacts: Path,
                 substrate: Substrate | None = None):
        self.topology = topology
        self.lab = lab
        #: where the lab's nodes are reached (namespace paths)
        self.substrate = substrate or substrate_class(lab.substrate)(
            Path(lab.workdir).parent, lab.run_id)
        self.engine = engines.get(lab.engine)
        self.probes = probes
        self.artifacts = artifacts
        self._clients: dict[str, pylxd.Client] = {}
        #: how long the check being run waited for things to converge (goes to its evidence)
        self.waits: list[str] = []

    # ------------------------------------------------------------------ LXD
    def client(self, host: str) -> pylxd.Client:
        if host not in self._clients:
            self._clients[host] = connect(self.engine, self.lab.hosts[host].lxd_socket)
        return self._clients[host]

    @property
    def engine_lacks(self) -> list[str]:
        """Why no check of this scenario can run on its engine ([]: they can): it configures
        something the engine removed (Incus: fan bridges)."""
        hosts = self.topology.hosts.values()
        used = engines.removed_features(
            self.engine, [n.config for h in hosts for n in h.networks.values()],
            [*(argv for h in hosts for argv in (*h.setup, *h.commands)),
             *(argv for stage in self.topology.stages for lines in stage.solution.values()
               for argv in lines)])
        return [f"{self.engine.removed_why}; the scenario uses {', '.join(used)}"] if used else []

    def instance_state(self, host: str, instance: str) -> Any:
        try:
            return instance_state(self.client(host), instance)
        except NotFound:
            raise Inconclusive(f"{host} has no instance {instance!r}: that instance does "
                               "not exist") from None

    def instance_devices(self, host: str, instance: str) -> dict[str, dict[str, str]]:
        return dict(self._instance(host, instance).expanded_devices)

    def network_config(self, host: str, network: str) -> dict[str, str]:
        try:
            return dict(self.client(host).networks.get(network).config)
        except NotFound:
            raise Inconclusive(f"{host} has no {self.engine.title} network {network!r}: that "
                               "network does not exist") from None

    def networks(self, host: str) -> dict[str, dict[str, str]]:
        """Every network `host`'s daemon describes -> its config, as it has it now.

        One listing (`?recursion=1`), not a question per network: Incus cannot describe a host
        NIC without an Open vSwitch to ask (`Failed to connect to OVS`) and leaves such NICs
        out of the listing, where a question about one of them fails.
        """
        listing = self.client(host).api.networks.get(params={"recursion": "1"}).json()
        return {net["name"]: dict(net.get("config") or {}) for net in listing["metadata"]}

    def restart_instance(self, host: str, instance: str) -> None:
        self._instance(host, instance).restart(wait=True)

    def is_lxd_network(self, host: str, network: str) -> bool:
        return network in self.networks(host)

    def _instance(self, host: str, instance: str) -> Any:
        try:
            return self.client(host).instances.get(instance)
        except NotFound:
            raise Inconclusive(f"{host} has no instance {instance!r}: that instance does "
                               "not exist") from None

    # ------------------------------------------------------------------ endpoints
    def endpoint(self, text: str) -> Endpoint:
        endpoint = Endpoint.parse(text)
        if not self.topology.endpoint_exists(endpoint):
            raise Inconclusive(f"no endpoint {text!r} in this scenario")
        return endpoint

    def netns(self, text: str) -> str:
        """The place (a namespace path, see harness.probes) where `text` sends and receives."""
        endpoint = self.endpoint(text)
        if endpoint.instance is None:
            return self.node_netns(endpoint.node)
        state = self.instance_state(endpoint.node, endpoint.instance)
        if state.status != "Running" or not state.pid:
            raise Inconclusive(f"instance {text} is not running ({state.status})")
        return self.substrate.instance_place(self.lab, endpoint.node, state.pid)

    def node_netns(self, name: str) -> str:
        """The place of a node itself: a host, upstream, a peer."""
        if name not in self.lab.hosts and name not in self.lab.nodes:
            raise Inconclusive(f"the {self.lab.substrate} substrate provides no {name!r} node "
                               f"(it has: {', '.join([*self.lab.hosts, *self.lab.nodes])})")
        return self.substrate.place(self.lab, name)

    def absent_nodes(self, names: set[str]) -> list[str]:
        """Why each of these plain nodes (upstream, peers) is not in the running lab: a
        substrate may provide none. Names that are no such node are ignored."""
        plain = (names & self.topology.node_names()) - set(self.topology.hosts)
        return [self.substrate.absent_node(name) for name in sorted(plain)
                if name not in self.lab.nodes]

    def host_netns(self, host: str) -> str:
        return self.substrate.place(self.lab, host)

    def address(self, text: str, nic: str = "eth0", wait: float = ADDRESS_WAIT) -> str:
        """The IPv4 address other nodes use to reach `text` (an endpoint, or an address)."""
        try:
            return str(ipaddress.IPv4Address(text))
        except ValueError:
            pass
        endpoint = self.endpoint(text)
        if endpoint.node == UPSTREAM and endpoint.instance is None:
            return str(UPSTREAM_WAN_ADDRESS.ip)
        if endpoint.instance is None:
            if endpoint.node in self.topology.hosts:
                return str(self.topology.hosts[endpoint.node].underlay.ip)
            peer = self.topology.peers[endpoint.node]
            if peer.address is None:
                    raise Inconclusive(f"peer {endpoint.node} has no fixed address")
            return str(peer.address.ip)
        return self.instance_address(endpoint.node, endpoint.instance, nic, wait)

    def instance_address(self, host: str, instance: str, nic: str = "eth0",
                         wait: float = ADDRESS_WAIT) -> str:
        started = time.monotonic()
        deadline = started + wait
        while True:
            state = self.instance_state(host, instance)
            if state.status != "Running":  # waiting would only delay the same answer
                raise Inconclusive(f"instance {host}:{instance} is not running ({state.status})")
            for address in (state.network or {}).get(nic, {}).get("addresses", []):
                if address["family"] == "inet":
                    if time.monotonic() - started >= 0.25:  # it had to wait: say how long
                        self.waits.append(f"{host}:{instance} got its IPv4 address on {nic} "
                                          f"after {time.monotonic() - started:.1f} s")
                    return address["address"]
            if time.monotonic() >= deadline:
                    raise Inconclusive(
                    f"{host}:{instance} has no IPv4 address on {nic} after {wait:.0f} s "
                    f"(status {state.status})")
            time.sleep(0.25)

    def instance_mac(self, host: str, instance: str, nic: str = "eth0") -> str:
        state = self.instance_state(host, instance)
        hwaddr = (state.network or {}).get(nic, {}).get("hwaddr")
        if not hwaddr:
            raise Inconclusive(f"{host}:{instance} has no NIC {nic}")
        return hwaddr

    def network_address(self, host: str, network: str) -> ipaddress.IPv4Interface | None:
        value = self.network_config(host, network).get("ipv4.address", "")
        if not value or value in ("none", "auto"):
            return None
        return ipaddress.IPv4Interface(value)

    def instance_parent_network(self, host: str, instance: str, nic: str = "eth0") -> str | None:
        device = self.instance_devices(host, instance).get(nic, {})
        return device.get("network") or device.get("parent")

    # ------------------------------------------------------------------ misc
    def capability(self, feature: str) -> tuple[bool, str]:
        if feature in engines.ENGINES:  # `requires: [lxd]`: a check for one engine only
            needed = engines.ENGINES[feature]
            return needed is self.engine, (f"for the {needed.title} engine only (this run: "
                                           f"{self.engine.title}; see docs/engines.md)")
        if feature not in self.lab.capabilities:
            return False, f"unknown capability {feature!r} (known: " \
                          f"{', '.join(sorted(self.lab.capabilities))})"
        works = self.lab.capabilities[feature]
        return works, "" if works else self.lab.capability_notes.get(feature, feature)

    def pcap(self, check_id: str, label: str) -> str:
        self.artifacts.mkdir(parents=True, exist_ok=True)
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{check_id}-{label}")
        return str(self.artifacts / f"{safe}.pcap")
