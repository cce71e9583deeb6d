"""Namespace plumbing: the harness's LocalSubstrate against Mininet, same nodes and links.

    .venv/bin/python bench/plumbing.py [-n 5] [--nodes 3 9 33]

For NODES nodes on one switch: the harness brings up its fabric namespace with the segment
bridge, the upstream router and NODES-1 hosts (a namespace each, sysctls, a veth into the
bridge, addresses, default routes, the upstream resolver) and tears them down, without
LXD (`_make_nodes` + `_wire`, then the namespace removal of `down`). Mininet
(Debian's `mininet`, LinuxBridge switch, no controller) builds NODES hosts with one link
each to one switch, started then stopped, inside a namespace of this benchmark's own.
Runs alternate harness / Mininet; the ratio is taken pair by pair, then the median.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import secrets
import subprocess
import sys
import time
from pathlib import Path

from common import REPO, machine_note, median, spread, table

sys.path.insert(0, str(REPO))
from harness.substrates import (  # noqa: E402
    dnsmasq,
    fabric,
    procs,  # noqa: E402
)
from harness.substrates.base import Lab  # noqa: E402
from harness.substrates.fabric import remove_namespace  # noqa: E402
from harness.topology import UPSTREAM, Host, Segment, Topology  # noqa: E402

WORK_ROOT = Path("/var/tmp/lxd-harness-bench")


def star(nodes: int) -> Topology:
    """Upstream plus nodes-1 hosts on segment lan (fabric bridge seg0)."""
    hosts = {}
    for i in range(1, nodes):
        underlay = ipaddress.IPv4Interface(f"10.99.{i // 250}.{i % 250 + 1}/16")
        hosts[f"host{i}"] = Host(name=f"host{i}", index=i, underlay=underlay)
    return Topology(name=f"plumbing-{nodes}", segments={"lan": Segment("lan")}, hosts=hosts)


def harness_once(nodes: int) -> tuple[float, float]:
    run_id = f"bp{secrets.token_hex(2)}"
    workdir = WORK_ROOT / run_id
    workdir.mkdir(parents=True)
    lab = Lab(run_id=run_id, scenario="plumbing", substrate="local", workdir=str(workdir))
    topology = star(nodes)
    started = time.monotonic()
    daemons = []
    try:
        fabric.make_nodes(lab, topology)
        fabric.wire(lab, topology)
        daemons.append(dnsmasq.start_upstream_dns(lab.nodes[UPSTREAM]))
        built = time.monotonic() - started
    finally:
        started = time.monotonic()
        for node in lab.nodes.values():
            procs.stop(node.pids)
        for daemon in daemons:
            daemon.wait(timeout=5)
        for node in [*lab.hosts.values(), *lab.nodes.values()]:
            remove_namespace(node)
        stopped = time.monotonic() - started
        workdir.rmdir()
        try:
            WORK_ROOT.rmdir()
        except OSError:
            pass  # another benchmark is using it
    return built, stopped


def mininet_once(nodes: int) -> tuple[float, float]:
    netns = f"hl-bm{secrets.token_hex(2)}-mininet"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        out = subprocess.run(["ip", "netns", "exec", netns, "/usr/bin/python3",
                              str(REPO / "bench" / "mininet_net.py"), str(nodes)],
                             check=True, capture_output=True, text=True, timeout=300).stdout
    finally:
        subprocess.run(["ip", "netns", "del", netns], check=False)
    times = json.loads(out.strip().splitlines()[-1])
    return times["build"], times["stop"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=5)
    parser.add_argument("--nodes", type=int, nargs="+", default=[3, 9, 33])
    args = parser.parse_args()
    rows = []
    for nodes in args.nodes:
        ours: list[tuple[float, float]] = []
        theirs: list[tuple[float, float]] = []
        for _ in range(args.runs):
            ours.append(harness_once(nodes))
            theirs.append(mininet_once(nodes))
        ratios = [sum(a) / sum(b) for a, b in zip(ours, theirs, strict=True)]
        rows.append([nodes, nodes, spread([a for a, _ in ours]), spread([b for _, b in ours]),
                     spread([a for a, _ in theirs]), spread([b for _, b in theirs]),
                     f"{median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"])
    print(table(["nodes", "veth links", "harness build s", "harness teardown s",
                 "Mininet build s", "Mininet teardown s", "harness / Mininet (build+teardown)"],
                rows))
    print(f"{args.runs} alternating runs per size; medians (min-max). " + machine_note())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
