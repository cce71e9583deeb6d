"""A fake lab around packets recorded in real runs (tests/fixtures/pcaps): each capture a
check starts serves the pcap its label names, so the check's own code judges real packets."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from scapy.layers.inet import UDP
from scapy.layers.vxlan import VXLAN
from scapy.packet import bind_layers
from scapy.utils import rdpcap

from harness import engines
from harness.probes.capture import describe
from harness.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "pcaps"


def recorded(folder: str, label: str) -> list[dict]:
    """The packets of tests/fixtures/pcaps/FOLDER/LABEL.pcap as captures describe them."""
    path = FIXTURES / folder / f"{label}.pcap"
    return [describe(p) for p in rdpcap(str(path))] if path.exists() else []


class Done:
    def __init__(self, value: Any):
        self.value = value

    def stop(self) -> None:
        pass

    def result(self) -> Any:
        return self.value

    def finish(self) -> Any:
        return self.value


class FakeLab:
    """What a check may ask of its context, answered from a scenario file and a recording.

    `scenario`: the scenario file (relative to the repository) the recording was made with;
    `captures`: pcap folder whose files are named like the captures of the real run
    (`CHECKID-LABEL.pcap`); a capture with no file there saw nothing (but listened).
    """

    def __init__(self, scenario: str, captures: str, addresses: dict[str, str],
                 ping: dict | None = None, host_addresses: dict[str, list[str]] | None = None,
                 macs: dict[str, str] | None = None, parents: dict[str, str] | None = None,
                 networks: dict[str, dict[str, dict[str, str]]] | None = None,
                 capabilities: dict[str, bool] | None = None,
                 answers: dict[str, Any] | None = None):
        self.topology = load_scenario(ROOT / scenario)
        self.captures = captures
        self.addresses = addresses
        self.ping = ping or {"sent": 3, "received": 3}
        self.host_addresses = host_addresses or {}
        self.macs = macs or {}
        self.parents = parents or {}
        self.network_configs = networks or {}
        self.capabilities = capabilities or {}
        self.answers = answers or {}  # probe name -> its recorded answer
        self.lab = SimpleNamespace(
            hosts={h: SimpleNamespace(links={}, ovs_datapath=None) for h in self.topology.hosts},
            nodes={}, substrate="local", capability_notes={})
        self.probes = self
        self.waits: list[str] = []
        self.calls: list[tuple[str, str]] = []
        self.engine = engines.LXD  # the engine the recordings were made with
        self.engine_lacks: list[str] = []

    # context
    def address(self, text: str, nic: str = "eth0", wait: float = 0) -> str:
        return self.addresses[text]

    def netns(self, text: str) -> str:
        return f"ns:{text}"

    host_netns = node_netns = netns

    def pcap(self, check_id: str, label: str) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{check_id}-{label}")  # as CheckContext does

    def instance_address(self, host: str, name: str, nic: str = "eth0",
                         wait: float = 0) -> str:
        return self.addresses[f"{host}:{name}"]

    def restart_instance(self, host: str, name: str) -> None:
        pass

    def absent_nodes(self, names: set[str]) -> list[str]:
        return []  # the recording was made on a lab with every node

    def capability(self, feature: str) -> tuple[bool, str]:
        works = self.capabilities.get(feature, True)
        return works, "" if works else f"no {feature}"

    def instance_mac(self, host: str, name: str, nic: str = "eth0") -> str:
        return self.macs[f"{host}:{name}"]

    def instance_parent_network(self, host: str, name: str, nic: str = "eth0") -> str | None:
        return self.parents.get(f"{host}:{name}")

    def is_lxd_network(self, host: str, network: str) -> bool:
        return network in self.network_configs.get(host, {})

    def network_config(self, host: str, network: str) -> dict[str, str]:
        return self.network_configs.get(host, {}).get(network, {})

    def networks(self, host: str) -> dict[str, dict[str, str]]:
        return self.network_configs.get(host, {})

    # probes
    def start(self, place: str, probe: str, /, **kwargs: Any) -> Done:
        return Done(self.call(place, probe, **kwargs))

    def call(self, place: str, probe: str, /, **kwargs: Any) -> Any:
        self.calls.append((place, probe))
        if probe == "capture.capture":
            for port in kwargs.get("vxlan_ports") or ():
                bind_layers(UDP, VXLAN, dport=int(port))
            packets = recorded(self.captures, kwargs["pcap"])
            return {"packets": packets, "count": len(packets), "listening_after": 0.05,
                    "window": 1.0, "ended": "stopped by the check"}
        if probe in self.answers:
            return self.answers[probe]
        if probe == "icmp.ping":
            return {"dst": kwargs["dst"], "sent": 3, "received": 0, "rtt_ms": [],
                    "reply_from": [], "errors": [], "local_errors": [], **self.ping}
        if probe == "hostinfo.addresses":
            host = place.removeprefix("ns:")
            return {"addresses": {"eth0": self.host_addresses.get(host, [])}}
        if probe == "l2.send_frames":
            return {"sent": [f"{len(kwargs['frames'])} frame(s)"], "own_mac": "?"}
        raise AssertionError(f"no recording for probe {probe}")
