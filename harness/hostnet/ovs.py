"""Open vSwitch per host: an ovsdb-server/ovs-vswitchd pair of its own in the host's namespace.

Each host gets its own database, run, log folders (OVS_RUNDIR/OVS_DBDIR/OVS_LOGDIR), so that
`ovs-vsctl` run with the host's OVS_RUNDIR (setup lines, and LXD itself) talks to that host's
switch only. Without the kernel datapath, bridges must use the userspace one
(`datapath_type=netdev`): see `ovs_vsctl.py`, the wrapper that makes that so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from harness.shell import run
from harness.topology import Host

TOOLS = ("ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl")
SCHEMA = Path("/usr/share/openvswitch/vswitch.ovsschema")
READY_TIMEOUT = 10.0
USERSPACE = "netdev"
KERNEL = "system"


class OvsError(RuntimeError):
    pass


def needed_by(host: Host) -> bool:
    """A host needs OVS when its setup (or a training lab's stage) runs ovs-* tools or a
    network uses the OVS driver."""
    runs_ovs_tool = any(argv and os.path.basename(argv[0]).startswith("ovs-")
                        for argv in host.tool_lines)
    ovs_network = any(net.config.get("bridge.driver") == "openvswitch"
                      for net in host.networks.values())
    return runs_ovs_tool or ovs_network


def missing_tools() -> list[str]:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if not SCHEMA.exists():
        missing.append(str(SCHEMA))
    return missing


@dataclass(frozen=True)
class OvsDirs:
    base: Path

    @property
    def run(self) -> Path:
        return self.base / "run"

    @property
    def db(self) -> Path:
        return self.base / "db"

    @property
    def log(self) -> Path:
        return self.base / "log"

    @property
    def socket(self) -> Path:
        return self.run / "db.sock"

    def env(self) -> dict[str, str]:
        return {"OVS_RUNDIR": str(self.run), "OVS_DBDIR": str(self.db),
                "OVS_LOGDIR": str(self.log)}


def start(netns: str, dirs: OvsDirs) -> list[subprocess.Popen]:
    """Start ovsdb-server, then ovs-vswitchd, in `netns`; return both once the switch answers.

    The caller owns the processes (their PIDs go into the lab, teardown stops them).
    """
    for folder in (dirs.run, dirs.db, dirs.log):
        folder.mkdir(parents=True, exist_ok=True)
    database = dirs.db / "conf.db"
    run(["ovsdb-tool", "create", str(database), str(SCHEMA)], where=netns)
    env = {**os.environ, **dirs.env()}
    started: list[subprocess.Popen] = []
    try:
        started.append(_daemon(netns, env, dirs.log / "ovsdb-server.out", [
            "ovsdb-server", str(database), f"--remote=punix:{dirs.socket}",
            f"--pidfile={dirs.run / 'ovsdb-server.pid'}", "--no-chdir", "-vconsole:off",
            f"--log-file={dirs.log / 'ovsdb-server.log'}"]))
        _wait_for(dirs.socket, started[0], "ovsdb-server")
        run(["ovs-vsctl", "--no-wait", "init"], env=dirs.env(), where=netns)
        started.append(_daemon(netns, env, dirs.log / "ovs-vswitchd.out", [
            "ovs-vswitchd", f"unix:{dirs.socket}", "--no-chdir", "-vconsole:off",
            f"--pidfile={dirs.run / 'ovs-vswitchd.pid'}",
            f"--log-file={dirs.log / 'ovs-vswitchd.log'}"]))
        # Without --no-wait, ovs-vsctl returns only once ovs-vswitchd has applied the change.
        run(["ovs-vsctl", f"--timeout={READY_TIMEOUT:.0f}", "set", "Open_vSwitch", ".",
             "external_ids:harness=ready"], env=dirs.env(), where=netns,
            timeout=READY_TIMEOUT + 5)
    except BaseException:
        stop(started)
        raise
    return started


def _daemon(netns: str, env: dict[str, str], output: Path, argv: list[str]) -> subprocess.Popen:
    with open(output, "wb") as out:
        return subprocess.Popen(["ip", "netns", "exec", netns, *argv], env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def _wait_for(path: Path, proc: subprocess.Popen, name: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while not path.exists():
        if proc.poll() is not None:
            raise OvsError(f"{name} exited with {proc.returncode} before it was ready")
        if time.monotonic() > deadline:
            raise OvsError(f"{name} not ready after {READY_TIMEOUT:.0f} s")
        time.sleep(0.02)


def stop(processes: list[subprocess.Popen]) -> None:
    """SIGTERM, newest first (ovs-vswitchd before its database), then wait."""
    for proc in reversed(processes):
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
