"""What a check may ask about the running lab: where an endpoint lives, its address, LXD state."""

from __future__ import annotations

import ipaddress
import re
import time
from pathlib import Path
from typing import Any

import pylxd

from harness.probes.remote import remote_place
from harness.probes.runner import ProbeRunner
from harness.substrates.base import Lab
from harness.topology import UPSTREAM, UPSTREAM_WAN_ADDRESS, Endpoint, Topology

ADDRESS_WAIT = 15.0  # seconds an instance may take to get its DHCP lease


class Inconclusive(Exception):
    """Nothing could be observed that decides the check (never a pass)."""


class CheckContext:
    def __init__(self, topology: Topology, lab: Lab, probes: ProbeRunner, artifacts: Path):
        self.topology = topology
        self.lab = lab
        self.probes = probes
        self.artifacts = artifacts
        self._clients: dict[str, pylxd.Client] = {}
        #: how long the check being run waited for things to converge (goes to its evidence)
        self.waits: list[str] = []

    # ------------------------------------------------------------------ LXD
    def client(self, host: str) -> pylxd.Client:
        if host not in self._clients:
            self._clients[host] = pylxd.Client(endpoint=self.lab.hosts[host].lxd_socket)
        return self._clients[host]

    def instance_state(self, host: str, instance: str) -> Any:
        return self.client(host).instances.get(instance).state()

    def network_config(self, host: str, network: str) -> dict[str, str]:
        return dict(self.client(host).networks.get(network).config)

    # ------------------------------------------------------------------ endpoints
    def endpoint(self, text: str) -> Endpoint:
        endpoint = Endpoint.parse(text)
        if not self.topology.endpoint_exists(endpoint):
            raise Inconclusive(f"no endpoint {text!r} in this scenario")
        return endpoint

    def netns(self, text: str) -> str:
        """Path of the network namespace file in which `text` sends and receives."""
        endpoint = self.endpoint(text)
        if endpoint.instance is None:
            if endpoint.node in self.lab.hosts:
                return self.host_netns(endpoint.node)
            return f"/run/netns/{self.lab.node(endpoint.node).netns}"
        state = self.instance_state(endpoint.node, endpoint.instance)
        if state.status != "Running" or not state.pid:
            raise Inconclusive(f"instance {text} is not running ({state.status})")
        return self._on_host(endpoint.node, f"/proc/{state.pid}/ns/net")

    def host_netns(self, host: str) -> str:
        node = self.lab.hosts[host]
        if node.remote and not node.netns:  # a VM's own network stack
            return self._on_host(host, "/proc/1/ns/net")
        return self._on_host(host, f"/run/netns/{node.netns}")

    def far_end(self, host: str, iface: str) -> tuple[str, str, str] | None:
        """(place, iface, description) of the NIC at the other end of a VM's point-to-point
        link (vagrant substrate: `links[iface]` is [segment, "PEERHOST:PEERNIC"]); None elsewhere.
        Injecting there is injecting into `host`'s `iface` from the wire."""
        node = self.lab.hosts[host]
        link = node.links.get(iface)
        if not node.remote or not link or ":" not in link[1]:
            return None
        peer_host, _, peer_nic = link[1].partition(":")
        return (self.host_netns(peer_host), peer_nic,
                f"the far end of the link, {peer_host} {peer_nic}")

    def _on_host(self, host: str, path: str) -> str:
        """A path on a remote host is prefixed with the host's name (see probes/remote.py)."""
        return remote_place(host, path) if self.lab.hosts[host].remote else path

    def address(self, text: str, nic: str = "eth0", wait: float = ADDRESS_WAIT) -> str:
        """The IPv4 address other nodes use to reach `text`."""
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
        expanded = self.client(host).instances.get(instance).expanded_devices
        device = expanded.get(nic, {})
        return device.get("network") or device.get("parent")

    # ------------------------------------------------------------------ misc
    def capability(self, feature: str) -> tuple[bool, str]:
        if feature not in self.lab.capabilities:
            return False, f"unknown capability {feature!r} (known: " \
                          f"{', '.join(sorted(self.lab.capabilities))})"
        works = self.lab.capabilities[feature]
        return works, "" if works else self.lab.capability_notes.get(feature, feature)

    def pcap(self, check_id: str, label: str) -> str:
        self.artifacts.mkdir(parents=True, exist_ok=True)
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{check_id}-{label}")
        return str(self.artifacts / f"{safe}.pcap")
