"""What every substrate provides: hosts with an LXD daemon each, plain nodes, segments.

A substrate turns a `Topology` into a running `Lab` and back into nothing. The lab is
plain data (saved as JSON in the run's work folder) so that `harness up`, `verify` and
`down` can run as separate processes.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

from harness import engines
from harness.interrupts import deferred_interrupts
from harness.progress import progress
from harness.shell import run
from harness.substrates import procs
from harness.substrates.leftovers import Snapshot, settle, snapshot
from harness.substrates.runs import WORK_ROOT, new_run_id
from harness.topology import Topology

if TYPE_CHECKING:
    from harness.lxd.apply import HostRunner
    from harness.probes.runner import ProbeRunner

__all__ = ["HostNode", "Lab", "Node", "Substrate", "SubstrateError", "progress"]

log = logging.getLogger(__name__)


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
    #: the data folder of the host's daemon (LXD_DIR or INCUS_DIR, see `engine`)
    lxd_dir: str = ""
    #: the container engine the host runs (harness.engines: "lxd" or "incus")
    engine: str = "lxd"
    ovs_rundir: str = ""
    #: "netdev" (userspace) or "system" (kernel) when the host runs Open vSwitch
    ovs_datapath: str = ""
    #: harness stand-ins (ovs-vsctl wrapper, fanctl) put first on PATH for setup lines and LXD
    tool_dir: str = ""
    #: for a host reached over SSH (vagrant, ssh substrates): its SshTarget as a dict;
    #: lxd_dir is then the local folder of the forwarded LXD socket
    remote: dict[str, Any] = field(default_factory=dict)
    #: the pool VM (its slot id) a vagrant host runs on
    vm: str = ""

    @property
    def lxd_socket(self) -> str:
        return f"{self.lxd_dir}/unix.socket"

    @property
    def lxc_env(self) -> dict[str, str]:
        env = engines.get(self.engine).env(self.lxd_dir)
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
    #: the container engine every host runs ("lxd" or "incus")
    engine: str = "lxd"
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
        known = ", ".join([*self.hosts, *(n for n in self.nodes if n != "fabric")])
        raise KeyError(f"the lab on the {self.substrate} substrate has no node {name!r} "
                       f"(it has: {known})")

    def save(self, path: Path) -> None:
        # written aside, then renamed: `harness gc` in another process never reads half of it
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        partial.write_text(json.dumps(asdict(self), indent=2))
        os.replace(partial, path)

    @classmethod
    def load(cls, path: Path) -> Lab:
        data: dict[str, Any] = json.loads(path.read_text())
        data["hosts"] = {k: HostNode(**v) for k, v in data["hosts"].items()}
        data["nodes"] = {k: Node(**v) for k, v in data["nodes"].items()}
        return cls(**data)


class _RegisteredName:
    """`Substrate.name`: the name the class is registered under (written only there)."""

    def __get__(self, instance: object, owner: type) -> str:
        from harness.substrates import name_of

        return name_of(owner)


class Substrate(ABC):
    """Turns a Topology into a running Lab and back, and knows how its hosts are reached.

    The base owns the frame every substrate shares: the preflight from `needs_root` and
    `required_tools`, the work folder and the Lab record (saved as lab.json, with the owner
    process for `harness gc`), the rollback when bring-up fails, the teardown's leftovers.
    A substrate fills in `bring_up` and `tear_down`; the other hooks do nothing by default.
    Reachability defaults to this machine's namespaces (`runner`, `place`,
    `instance_place`, `probes`); substrates whose hosts live elsewhere override it.
    """

    name: ClassVar[str] = cast(str, _RegisteredName())
    #: why the substrate needs root ("": it does not)
    needs_root: ClassVar[str] = ""
    #: tool -> the Debian package that has it; preflight names each one missing
    required_tools: ClassVar[dict[str, str]] = {}
    #: every part of its labs is on this machine and carries the run id, so gc's sweep
    #: (namespaces, processes, work folder) removes a dead run without asking the substrate
    local_only: ClassVar[bool] = False
    #: compare this machine before up() with after down() and report what the run left
    checks_leftovers: ClassVar[bool] = False
    #: pytest marks for the checks of scenarios on this substrate ("vm": the slow tier)
    pytest_marks: ClassVar[tuple[str, ...]] = ()
    #: the container engines its hosts can run (names from harness.engines)
    supported_engines: ClassVar[tuple[str, ...]] = (engines.LXD.name,)
    #: the hosts' daemons run on this machine: the chosen engine's tools must be installed here
    daemons_here: ClassVar[bool] = False

    def __init__(self, work_root: Path | None = None, run_id: str | None = None):
        self.work_root = work_root or WORK_ROOT
        self.run_id = run_id or new_run_id()
        self._before: Snapshot | None = None  # the machine before up(), for leftovers

    # ---------------------------------------------------------------- preflight
    def preflight(self, topology: Topology) -> list[str]:
        """Problems that make bring-up impossible, each a sentence a user can act on."""
        problems = []
        if self.needs_root and os.geteuid() != 0:
            problems.append(f"the {self.name} substrate needs root ({self.needs_root})")
        problems += missing_tools(self.required_tools)
        engine = engines.get(topology.engine)
        if engine.name not in self.supported_engines:
            supported = " or ".join(self.supported_engines)
            problems.append(f"the {self.name} substrate runs {supported} only, not {engine.name}")
        elif self.daemons_here:
            problems += missing_tools(engine.tools())
        return problems + self.check(topology)

    def check(self, topology: Topology) -> list[str]:
        """Hook: more preflight problems (the scenario's shape, plugins, inventory)."""
        return []

    # ---------------------------------------------------------------- up
    def up(self, topology: Topology) -> Lab:
        """Bring every node up. On failure, tear down what was made, then raise."""
        workdir = self.work_root / self.run_id
        self.before_up(workdir)
        if self.checks_leftovers:
            self._before = snapshot(self.run_id, str(workdir))
        workdir.mkdir(parents=True, exist_ok=False)
        lab = Lab(run_id=self.run_id, scenario=topology.name, substrate=self.name,
                  workdir=str(workdir), engine=engines.get(topology.engine).name,
                  owner_pid=os.getpid(),
                  owner_start=procs.start_time(os.getpid()) or 0)
        self.created(lab, topology)
        lab.save(workdir / "lab.json")
        started = time.monotonic()
        try:
            self.bring_up(lab, topology)
        except BaseException:
            with deferred_interrupts():  # a second Ctrl-C must not stop the rollback
                lab.save(workdir / "lab.json")
                leftovers = self.down(lab)
            if leftovers:
                log.error("teardown after failed bring-up left: %s", "; ".join(leftovers))
            raise
        lab.timings["up"] = time.monotonic() - started
        lab.save(workdir / "lab.json")
        return lab

    def before_up(self, workdir: Path) -> None:
        """Hook: refuse a work folder that cannot work, before anything is made."""
        return None

    def created(self, lab: Lab, topology: Topology) -> None:
        """Hook: the work folder and the Lab record exist; nothing else does yet."""
        return None

    def abandon(self, lab: Lab) -> None:
        """Hook, on Ctrl-C: make the lab's commands in flight on other threads end now, so
        that teardown starts at once (local commands get the signal themselves)."""
        return None

    @abstractmethod
    def bring_up(self, lab: Lab, topology: Topology) -> None:
        """Make every node (recording in `lab` what down() must remove) or raise."""

    # ---------------------------------------------------------------- down
    def down(self, lab: Lab) -> list[str]:
        """Remove everything the lab made; return what could not be removed."""
        with deferred_interrupts():  # a second Ctrl-C must not leave half a lab
            started = time.monotonic()
            with procs.held_namespaces(lab.run_id) as netns_inodes:
                leftovers = self.tear_down(lab)
                workdir = Path(lab.workdir)
                if workdir.exists():
                    shutil.rmtree(workdir, ignore_errors=True)
                if self.checks_leftovers:
                    # Compare with the machine before up() (known only to the process that
                    # ran it).
                    before = self._before if self._before and \
                        self._before.run_id == lab.run_id else None
                    reported = {problem.split(":")[0] for problem in leftovers}
                    leftovers += [problem for problem in
                                  settle(before, lab.run_id, lab.workdir, netns_inodes)
                                  if problem not in reported]
                elif workdir.exists():
                    leftovers.append(f"work folder {workdir}")
            lab.timings["down"] = time.monotonic() - started
        return leftovers

    @abstractmethod
    def tear_down(self, lab: Lab) -> list[str]:
        """Remove what bring_up made (the work folder is the base's); return what remains."""

    # ---------------------------------------------------------------- reachability
    def runner(self, node: HostNode) -> HostRunner:
        """Runs argv on the host as root (setup lines, `lxc` lines): here, in its namespace."""

        def run_there(argv: list[str]) -> str:
            if engines.is_client_line(argv):  # the client reaches the daemon by its socket
                return run(argv, env=node.lxc_env, where=node.name, timeout=180).stdout
            return run(argv, netns=node.netns, env=node.lxc_env, where=node.name).stdout
        return run_there

    def place(self, lab: Lab, node: str) -> str:
        """Where a probe runs on a node itself (a host, upstream, a peer): a namespace path
        (see harness.probes.runner)."""
        return f"/run/netns/{lab.node(node).netns}"

    def instance_place(self, lab: Lab, host: str, pid: int) -> str:
        """Where a probe runs inside the instance whose init has `pid` on `host`."""
        return f"/proc/{pid}/ns/net"

    def probes(self, lab: Lab, local: ProbeRunner) -> ProbeRunner:
        """What runs the checks' probe calls for this lab (`start`, `call`, maybe `close`)."""
        return local

    def absent_node(self, node: str) -> str:
        """Why a check that uses `node` (upstream, a peer) cannot run: the lab lacks it."""
        return f"the {self.name} substrate provides no `{node}` node"

    def interactive_argv(self, node: HostNode, argv: list[str], env: dict[str, str]) -> list[str]:
        """A local argv running `argv` on the host, attached to this terminal (`harness shell`,
        `harness exec`), where `lxc` reaches the host's LXD; `env` is added to the host's own.
        Here: this machine's namespace of the host."""
        pairs = [f"{key}={value}" for key, value in {**node.lxc_env, **env}.items()]
        return ["ip", "netns", "exec", node.netns, "env", *pairs, *argv]


def missing_tools(tools: dict[str, str]) -> list[str]:
    return [f"`{tool}` not found: install Debian's {package}"
            for tool, package in tools.items() if shutil.which(tool) is None]
