"""What every substrate provides: hosts with an LXD daemon each, plain nodes, segments.

A substrate turns a `Topology` into a running `Lab` and back into nothing. The lab is
plain data (saved as JSON in the run's work folder) so that `harness up`, `verify` and
`down` can run as separate processes.
"""

from __future__ import annotations

import json
import logging
import os
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.topology import Topology

progress = logging.getLogger("harness.progress")


class SubstrateError(RuntimeError):
    """Bring-up or teardown failed; the message says where."""


@dataclass
class Node:
    """Anything with its own network stack: a host, upstream, a peer, the fabric."""

    name: str
    kind: str  # host | upstream | peer | fabric
    netns: str  # name under /run/netns
    #: interface name inside this node -> (segment, name of the fabric-side end)
    links: dict[str, list[str]] = field(default_factory=dict)
    pids: list[int] = field(default_factory=list)  # daemons the harness started there


@dataclass
class HostNode(Node):
    lxd_dir: str = ""
    ovs_rundir: str = ""
    #: "netdev" (userspace) or "system" (kernel) when the host runs Open vSwitch
    ovs_datapath: str = ""
    #: harness stand-ins (ovs-vsctl wrapper, fanctl) put first on PATH for setup lines and LXD
    tool_dir: str = ""
    #: for a host reached over SSH (vagrant, ssh substrates): its SshTarget as a dict;
    #: lxd_dir is then the local folder of the forwarded LXD socket
    remote: dict[str, Any] = field(default_factory=dict)

    @property
    def lxd_socket(self) -> str:
        return f"{self.lxd_dir}/unix.socket"

    @property
    def lxc_env(self) -> dict[str, str]:
        env = {"LXD_DIR": self.lxd_dir}
        if self.ovs_rundir:
            env["OVS_RUNDIR"] = self.ovs_rundir
        if self.tool_dir:
            env["PATH"] = f"{self.tool_dir}:{os.environ.get('PATH', os.defpath)}"
        return env


@dataclass
class Lab:
    run_id: str
    scenario: str
    substrate: str
    workdir: str
    hosts: dict[str, HostNode] = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)  # upstream, peers, fabric
    #: segment name -> bridge name inside the fabric namespace
    segments: dict[str, str] = field(default_factory=dict)
    #: feature -> works? (probed by trying, once per kernel)
    capabilities: dict[str, bool] = field(default_factory=dict)
    #: feature -> why it does not work
    capability_notes: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    #: the process that brought the lab up, with its start time (clock ticks after boot) so
    #: that a reused PID is not taken for it: `harness gc` reaps labs whose owner is gone
    owner_pid: int = 0
    owner_start: int = 0

    @property
    def fabric(self) -> Node:
        return self.nodes["fabric"]

    def node(self, name: str) -> Node:
        if name in self.hosts:
            return self.hosts[name]
        if name in self.nodes:
            return self.nodes[name]
        raise KeyError(f"no node {name!r} in lab {self.run_id}")

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path) -> Lab:
        data: dict[str, Any] = json.loads(path.read_text())
        data["hosts"] = {k: HostNode(**v) for k, v in data["hosts"].items()}
        data["nodes"] = {k: Node(**v) for k, v in data["nodes"].items()}
        return cls(**data)


class Substrate(ABC):
    name: str = "?"

    @abstractmethod
    def preflight(self, topology: Topology) -> list[str]:
        """Problems that make bring-up impossible, each a sentence a user can act on."""

    @abstractmethod
    def up(self, topology: Topology) -> Lab:
        """Bring every node up. On failure, tear down what was made, then raise."""

    @abstractmethod
    def down(self, lab: Lab) -> list[str]:
        """Remove everything the lab made; return what could not be removed."""
