"""Taking a local lab apart: LXD daemons first (their instances, then the daemon and what it
needed), then the other daemons, stragglers in the lab's namespaces, the namespaces."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness.substrates import procs
from harness.substrates.base import HostNode, Lab
from harness.substrates.fabric import remove_namespace
from harness.substrates.local import lxd_daemon

#: ends the daemons with these PIDs, in that order (the substrate's, which reaps its own)
Stopper = Callable[[list[int]], None]


def tear_down(lab: Lab, stop: Stopper) -> list[str]:
    netns_inodes = procs.run_netns_inodes(lab.run_id)
    leftovers: list[str] = []

    def stop_host(node: HostNode) -> None:
        if Path(node.lxd_socket).exists():
            lxd_daemon.shut_down(node)
        # Newest first: LXD, then what it needed running until it stopped (Open vSwitch).
        stop(list(reversed(node.pids)))

    with ThreadPoolExecutor(max_workers=max(1, len(lab.hosts))) as pool:
        list(pool.map(stop_host, lab.hosts.values()))
    for node in lab.nodes.values():
        stop(node.pids)
    # Processes that outlived their LXD (a stop that timed out under load) but still run
    # in one of this lab's network namespaces are ours to end. Anything that merely names
    # the run (a shell in its work folder) is reported by the leftover check, not killed.
    _end_stragglers(lab, netns_inodes)
    for node in [*lab.hosts.values(), *lab.nodes.values()]:
        leftovers.extend(remove_namespace(node))
    return leftovers


def _end_stragglers(lab: Lab, netns_inodes: set[int]) -> None:
    """Kill what runs in the lab's namespaces until nothing does (a process may fork while
    the one before it is killed), each kill waited for until the process has exited."""
    deadline = time.monotonic() + procs.EXIT_TIMEOUT
    while time.monotonic() < deadline:
        stragglers = [p.pid for p, why in
                      procs.run_processes(lab.run_id, lab.workdir, netns_inodes).items()
                      if why == "in a lab namespace"]
        if not stragglers:
            return
        procs.stop(stragglers, signum=signal.SIGKILL, grace=0, kill_group=False,
                   exit_timeout=max(0.0, deadline - time.monotonic()))
