"""Open vSwitch per host: an ovsdb-server/ovs-vswitchd pair of its own in the host's namespace.

Each host gets its own database, run, log folders (OVS_RUNDIR/OVS_DBDIR/OVS_LOGDIR), so that
`ovs-vsctl` run with the host's OVS_RUNDIR (setup lines, and LXD itself) talks to that host's
switch only. Without the kernel datapath, bridges must use the userspace one
(`datapath_type=netdev`): see `ovs_vsctl.py`, the wrapper that makes that so.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from harness.shell import CommandError, run
from harness.topology import Host

TOOLS = ("ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl")
SCHEMA = Path("/usr/share/openvswitch/vswitch.ovsschema")
#: bound on each start-up step (waits end as soon as the daemon is ready)
READY_TIMEOUT = 30.0
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


def start(netns: str, dirs: OvsDirs, host: str) -> list[subprocess.Popen]:
    """Start ovsdb-server, then ovs-vswitchd, in `netns`; return both once the switch answers.

    Each step waits on its daemon being ready (never on a fixed time): the database must
    answer a request on its socket, the switch must have applied a change. Errors name
    `host` and the cause. The caller owns the processes (their PIDs go into the lab,
    teardown stops them).
    """
    for folder in (dirs.run, dirs.db, dirs.log):
        folder.mkdir(parents=True, exist_ok=True)
    database = dirs.db / "conf.db"
    run(["ovsdb-tool", "create", str(database), str(SCHEMA)], where=host)
    env = {**os.environ, **dirs.env()}
    started: list[subprocess.Popen] = []
    try:
        started.append(_daemon(netns, env, dirs.log / "ovsdb-server.out", [
            "ovsdb-server", str(database), f"--remote=punix:{dirs.socket}",
            f"--pidfile={dirs.run / 'ovsdb-server.pid'}", "--no-chdir", "-vconsole:off",
            f"--log-file={dirs.log / 'ovsdb-server.log'}"]))
        _wait_until_serving(dirs, started[0], host)
        _vsctl(dirs, host, "--no-wait", "init")
        started.append(_daemon(netns, env, dirs.log / "ovs-vswitchd.out", [
            "ovs-vswitchd", f"unix:{dirs.socket}", "--no-chdir", "-vconsole:off",
            f"--pidfile={dirs.run / 'ovs-vswitchd.pid'}",
            f"--log-file={dirs.log / 'ovs-vswitchd.log'}"]))
        # Without --no-wait, ovs-vsctl returns only once ovs-vswitchd has applied the change.
        try:
            _vsctl(dirs, host, "set", "Open_vSwitch", ".", "external_ids:harness=ready")
        except CommandError as exc:
            raise OvsError(f"{host}: ovs-vswitchd {_why_not_ready(started[1], dirs, exc)}") \
                from exc
    except BaseException:
        stop(started)
        raise
    return started


def _daemon(netns: str, env: dict[str, str], output: Path, argv: list[str]) -> subprocess.Popen:
    with open(output, "wb") as out:
        return subprocess.Popen(["ip", "netns", "exec", netns, *argv], env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def _vsctl(dirs: OvsDirs, host: str, *args: str) -> None:
    run(["ovs-vsctl", f"--timeout={READY_TIMEOUT:.0f}", *args], env=dirs.env(), where=host,
        timeout=READY_TIMEOUT + 5)


def _wait_until_serving(dirs: OvsDirs, server: subprocess.Popen, host: str) -> None:
    """Wait until ovsdb-server answers on its socket.

    The socket file appears at bind(), before listen(): a client connecting in between is
    refused, as `ovs-vsctl` was on a loaded machine. So the proof is an answered request.
    """
    deadline = time.monotonic() + READY_TIMEOUT
    last_error = "its socket was never created"
    while True:
        if server.poll() is not None:
            raise OvsError(f"{host}: ovsdb-server exited with code {server.returncode} before "
                           f"it served its database{_log_tail(dirs, 'ovsdb-server')}")
        try:
            if _lists_open_vswitch(dirs.socket):
                return
            last_error = "it answered without the Open_vSwitch database"
        except OSError as exc:
            last_error = exc.strerror or str(exc)
        if time.monotonic() > deadline:
            raise OvsError(f"{host}: ovsdb-server did not serve its database on {dirs.socket} "
                           f"within {READY_TIMEOUT:.0f} s ({last_error})"
                           f"{_log_tail(dirs, 'ovsdb-server')}")
        time.sleep(0.05)


def _lists_open_vswitch(path: Path) -> bool:
    """Ask the database server at `path` for its databases (OVSDB's JSON-RPC list_dbs)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(2.0)
        sock.connect(str(path))
        sock.sendall(json.dumps({"method": "list_dbs", "params": [], "id": 0}).encode())
        reply = b""
        while not reply.rstrip().endswith(b"}"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    try:
        return "Open_vSwitch" in (json.loads(reply).get("result") or [])
    except ValueError:
        return False


def _why_not_ready(switch: subprocess.Popen, dirs: OvsDirs, exc: CommandError) -> str:
    if switch.poll() is not None:
        return (f"exited with code {switch.returncode} while starting"
                f"{_log_tail(dirs, 'ovs-vswitchd')}")
    return (f"did not apply a configuration change within {READY_TIMEOUT:.0f} s "
            f"({exc.output or 'no output'}){_log_tail(dirs, 'ovs-vswitchd')}")


def _log_tail(dirs: OvsDirs, daemon: str, lines: int = 5) -> str:
    """The end of a daemon's own log, for an error message (empty when there is none)."""
    text = ""
    for name in (f"{daemon}.log", f"{daemon}.out"):
        try:
            text += (dirs.log / name).read_text(errors="replace")
        except OSError:
            pass
    tail = [line for line in text.splitlines() if line.strip()][-lines:]
    return (f"; its log ({dirs.log}) ends:\n  " + "\n  ".join(tail)) if tail else ""


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
