"""A host's own LXD or Incus daemon on the local substrate: started, made ready, stopped.

Each host runs its engine's daemon (`lxd`, `incusd`: see harness.engines) inside its
namespace with its own LXD_DIR or INCUS_DIR, in a mount namespace of its own with the cgroup
hierarchy both expect. Readiness is asked of the daemon's own endpoint (GET /internal/ready
on its unix socket, the same for both) every 50 ms: `lxd waitready` polls every 500 ms,
which costs a quarter of a second on average per host. A daemon that exits meanwhile ends
the wait at once.
"""

from __future__ import annotations

import http.client
import logging
import os
import socket
import stat
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness import engines
from harness.lxd.client import connect
from harness.lxd.image import ensure_image
from harness.lxd.preseed import preseed
from harness.shell import CommandError, run
from harness.substrates.base import HostNode, SubstrateError
from harness.substrates.cgroups import cgroup_mounts
from harness.topology import UPSTREAM_WAN_ADDRESS, Host

log = logging.getLogger(__name__)

POLL = 0.05
READY_TIMEOUT = 30

# LXD or Incus inside `ip netns exec` sees a fresh /sys without cgroups; give it the hierarchy
# it expects. Arguments: the lab's resolv.conf, then the daemon's argv.
_LAUNCHER = "set -e\n" + cgroup_mounts(v1_with_unified=True) + """\
# dnsmasq forwards to the lab's upstream resolver, never to this machine's
mount --bind "$1" /etc/resolv.conf
shift
exec "$@"
"""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("lxd", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def _ready(path: str) -> bool:
    connection = _UnixConnection(path, timeout=5)
    try:
        connection.request("GET", "/internal/ready")
        return connection.getresponse().status == 200
    except OSError:  # no socket yet, or the daemon closed it
        return False
    finally:
        connection.close()


def wait_ready(socket_path: str, daemon: subprocess.Popen, timeout: float) -> str | None:
    """None once LXD answers that it is ready; otherwise why it is not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _ready(socket_path):
            return None
        if daemon.poll() is not None:
            return f"the daemon exited with status {daemon.returncode}"
        time.sleep(POLL)
    return f"not ready after {timeout:.0f} s"


def launch(node: HostNode) -> subprocess.Popen:
    """Start the host's daemon (its pid goes to node.pids); `initialise` waits for it."""
    engine = engines.get(node.engine)
    lxd_dir = Path(node.lxd_dir)
    lxd_dir.mkdir(parents=True)
    os.chmod(lxd_dir.parent, 0o711)
    resolv = lxd_dir.parent / "resolv.conf"
    resolv.write_text(f"nameserver {UPSTREAM_WAN_ADDRESS.ip}\n")
    env = {**os.environ, **node.lxc_env}
    with open(lxd_dir.parent / "daemon.out", "wb") as out:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", node.netns, "sh", "-c", _LAUNCHER, "launcher", str(resolv),
             *engine.daemon_argv(node.lxd_dir)],
            env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    node.pids.append(proc.pid)
    return proc


def initialise(node: HostNode, host: Host, daemon: subprocess.Popen, image: Path) -> None:
    """Once the daemon answers: its socket root-only, `lxd init --preseed` (`incus admin
    init --preseed`), the image."""
    engine = engines.get(node.engine)
    problem = wait_ready(node.lxd_socket, daemon, READY_TIMEOUT)
    if problem is not None:
        tail = (Path(node.lxd_dir).parent / "daemon.out").read_text(errors="replace")[-2000:]
        raise SubstrateError(f"{host.name}: {engine.title} did not start ({problem}):\n{tail}")
    _root_only(Path(node.lxd_socket))
    run(engine.admin_argv("init", "--preseed"), env=node.lxc_env,
        input=preseed(host, engine_config(node)), where=host.name)
    ensure_image(connect(engine, node.lxd_socket), image)


def engine_config(node: HostNode) -> dict[str, str]:
    """Server config the host's daemon needs beyond the common preseed.

    LXD finds the host's Open vSwitch through OVS_RUNDIR in its environment; Incus talks to
    OVSDB itself, at `network.ovs.connection` (default /run/openvswitch/db.sock).
    """
    if node.ovs_rundir and engines.get(node.engine) is engines.INCUS:
        return {"network.ovs.connection": f"unix:{node.ovs_rundir}/db.sock"}
    return {}


def shut_down(node: HostNode) -> None:
    """Stop the instances (side by side), then the daemon; its pids are the caller's."""
    engine = engines.get(node.engine)
    try:
        client = connect(engine, node.lxd_socket)
        running = [i for i in client.instances.all() if i.status != "Stopped"]
        # LXD stops them side by side; one at a time costs about 0.5 s each
        with ThreadPoolExecutor(max_workers=max(1, min(len(running), 8))) as pool:
            list(pool.map(lambda instance: instance.stop(force=True, wait=True), running))
    except Exception as exc:  # a broken daemon must not stop the teardown
        log.warning("%s: could not stop instances: %s", node.name, exc)
    try:
        run(engine.admin_argv("shutdown", "--timeout=10"), env=node.lxc_env, timeout=20,
            where=node.name)
    except CommandError as exc:
        log.warning("%s: %s shutdown: %s", node.name, engine.title, exc)


def _root_only(socket_path: Path) -> None:
    """LXD's API socket grants full control of the daemon: root (user and group) only."""
    info = socket_path.stat()
    if (info.st_uid, info.st_gid) != (0, 0):
        os.chown(socket_path, 0, 0)
    if stat.S_IMODE(info.st_mode) & ~0o660:
        os.chmod(socket_path, stat.S_IMODE(info.st_mode) & 0o660)
