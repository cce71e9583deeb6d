"""The local substrate: every node is a network namespace on this machine.

- ../fabric.py (shared with the vagrant substrate): the namespaces, the segments (bridges in
  the fabric namespace), every veth; ../dnsmasq.py: upstream's resolver, the peers' DHCP;
- lxd_daemon.py: each host's own LXD or Incus daemon (own LXD_DIR or INCUS_DIR, own mount
  namespace);
- teardown.py: taking it all apart again;
- this module: LocalSubstrate, which strings them together, plus the hosts' Open vSwitch and
  stand-in tools (harness.hostnet).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness import engines
from harness.hostnet import ovs
from harness.hostnet.fan import write_fanctl
from harness.hostnet.ovs_vsctl import write_ovs_vsctl
from harness.hostnet.wrappers import write_alias
from harness.interrupts import deferred_interrupts
from harness.lxd.image import build_busybox_image
from harness.substrates import capabilities, dnsmasq, fabric, procs
from harness.substrates.base import Lab, Node, Substrate, SubstrateError, progress
from harness.substrates.local import lxd_daemon, teardown
from harness.substrates.runs import WORK_ROOT, netns_name
from harness.topology import UPSTREAM, Host, Topology

#: the tools every lab needs, whatever its engine (harness.engines names the engine's own)
REQUIRED_TOOLS = {
    "ip": "iproute2",
    "dnsmasq": "dnsmasq-base",
    "nft": "nftables",
    "busybox": "busybox-static",
}


class LocalSubstrate(Substrate):
    needs_root = "network namespaces, LXD or Incus daemons"
    required_tools = REQUIRED_TOOLS
    local_only = True
    checks_leftovers = True
    supported_engines = tuple(engines.ENGINES)
    daemons_here = True

    def __init__(self, work_root: Path | None = None, run_id: str | None = None):
        super().__init__(work_root, run_id)
        self._daemons: dict[int, subprocess.Popen] = {}  # pid -> Popen: we reap what we start

    # ---------------------------------------------------------------- preflight
    def check(self, topology: Topology) -> list[str]:
        if not Path("/proc/self/ns/net").exists():
            return ["this kernel has no network namespaces"]
        return []

    # ---------------------------------------------------------------- up
    def before_up(self, workdir: Path) -> None:
        self._check_traversable(self.work_root)

    def created(self, lab: Lab, topology: Topology) -> None:
        # Unprivileged containers (uid 100000+) must traverse the path to their rootfs.
        os.chmod(self.work_root, 0o711)
        os.chmod(lab.workdir, 0o711)

    def bring_up(self, lab: Lab, topology: Topology) -> None:
        pool = ThreadPoolExecutor(max_workers=max(1, len(topology.hosts)))
        try:
            fabric.make_nodes(lab, topology)
            lab.save(Path(lab.workdir) / "lab.json")
            fabric.wire(lab, topology)
            self._start_dnsmasqs(lab, topology)
            caps = capabilities.probe(self.work_root / "cache",
                                      netns=netns_name(self.run_id, "capprobe"))
            lab.capabilities, lab.capability_notes = caps.works, caps.notes
            image = build_busybox_image(self.work_root / "cache")
            for host in topology.hosts.values():  # before LXD: it must find OVS at start
                self._start_host_network(lab, topology, host)
            futures = [pool.submit(self._start_lxd, lab, host, image)
                       for host in topology.hosts.values()]
            for future in futures:
                future.result()
        except BaseException:
            with deferred_interrupts():
                # An interrupt reaches only this thread: the LXD starters must finish (and
                # record their daemons' PIDs) before the teardown looks for what to stop.
                pool.shutdown(wait=True, cancel_futures=True)
            raise
        finally:
            pool.shutdown(wait=True)

    @staticmethod
    def _check_traversable(work_root: Path) -> None:
        """Unprivileged containers must be able to walk down to their root filesystem."""
        for folder in [*reversed(work_root.resolve().parents)]:
            if folder.exists() and not folder.stat().st_mode & 0o001:
                raise SubstrateError(
                    f"work folder {work_root}: {folder} is not searchable by others "
                    f"(mode {folder.stat().st_mode & 0o777:o}); unprivileged containers could "
                    f"not reach their root filesystem. Choose another --workdir "
                    f"(default {WORK_ROOT}).")

    def _keep(self, node: Node, proc: subprocess.Popen) -> None:
        """A daemon of `node` that down() must stop (recorded in lab.json for gc too)."""
        self._daemons[proc.pid] = proc
        if proc.pid not in node.pids:
            node.pids.append(proc.pid)

    def _start_dnsmasqs(self, lab: Lab, topology: Topology) -> None:
        upstream = lab.nodes[UPSTREAM]
        self._keep(upstream, dnsmasq.start_upstream_dns(upstream))
        for peer in topology.peers.values():
            if peer.dhcp_range is not None:
                node = lab.nodes[peer.name]
                self._keep(node, dnsmasq.start_peer_dhcp(Path(lab.workdir), node,
                                                         peer.dhcp_range))

    # ---------------------------------------------------------------- hosts
    def _start_host_network(self, lab: Lab, topology: Topology, host: Host) -> None:
        """Open vSwitch and stand-in tools (see harness.hostnet), for hosts that need them."""
        node = lab.hosts[host.name]
        tool_dir = Path(lab.workdir) / host.name / "bin"
        engine = engines.get(lab.engine)
        for client in engines.CLIENTS:
            if client != engine.client:
                # what a person types in `harness shell` (the tutorial's `lxc` on an Incus
                # host) reaches the host's daemon; the harness's own lines are translated
                write_alias(tool_dir, client, engine.client)
                node.tool_dir = str(tool_dir)
        if ovs.needed_by(host):
            if not lab.capabilities.get("openvswitch"):
                progress.info("%s: Open vSwitch not started: %s", host.name,
                              lab.capability_notes.get("openvswitch"))
            else:
                dirs = ovs.OvsDirs(Path(lab.workdir) / host.name / "ovs")
                for proc in ovs.start(node.netns, dirs, host.name):
                    self._keep(node, proc)
                node.ovs_rundir = str(dirs.run)
                node.ovs_datapath = (ovs.KERNEL if lab.capabilities.get("openvswitch_datapath")
                                     else ovs.USERSPACE)
                if node.ovs_datapath == ovs.USERSPACE:
                    write_ovs_vsctl(tool_dir)
                    node.tool_dir = str(tool_dir)
                progress.info("%s: Open vSwitch started (datapath %s)", host.name,
                              node.ovs_datapath)
        if (any(argv[0] == "fanctl" for argv in host.tool_lines)
                and shutil.which("fanctl") is None):
            peers = [str(h.underlay.ip) for h in topology.hosts.values() if h.name != host.name]
            own_fan = lab.capabilities.get("fan_map", False) and engines.has_fan_bridges(engine)
            write_fanctl(tool_dir, peers, fan_map=own_fan, client=engine.client)
            node.tool_dir = str(tool_dir)

    def _start_lxd(self, lab: Lab, host: Host, image: Path) -> None:
        started = time.monotonic()
        node = lab.hosts[host.name]
        daemon = lxd_daemon.launch(node)
        self._keep(node, daemon)
        lxd_daemon.initialise(node, host, daemon, image)
        progress.info("%s: %s ready in %.1f s", host.name, engines.get(node.engine).title,
                      time.monotonic() - started)

    # ---------------------------------------------------------------- down
    def tear_down(self, lab: Lab) -> list[str]:
        return teardown.tear_down(lab, self._stop)

    def _stop(self, pids: list[int]) -> None:
        """End our daemons (SIGTERM, then SIGKILL to their process group) and reap them."""
        procs.stop(pids)
        for pid in pids:
            proc = self._daemons.pop(pid, None)
            if proc is not None:
                proc.wait(timeout=5)
