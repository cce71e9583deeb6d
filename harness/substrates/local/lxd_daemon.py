"""A host's own LXD daemon on the local substrate: started, made ready, stopped.

Each host runs `lxd` inside its namespace with its own LXD_DIR, in a mount namespace of its
own with the cgroup hierarchy LXD expects. Readiness is asked of LXD's own endpoint
(GET /internal/ready on its unix socket) every 50 ms: `lxd waitready` polls every 500 ms,
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

import pylxd

from harness.lxd.image import ensure_image
from harness.lxd.preseed import preseed
from harness.shell import CommandError, run
from harness.substrates.base import HostNode, SubstrateError
from harness.substrates.cgroups import CGROUP_V1_MOUNTS
from harness.topology import UPSTREAM_WAN_ADDRESS, Host

log = logging.getLogger(__name__)

POLL = 0.05
READY_TIMEOUT = 30

# LXD inside `ip netns exec` sees a fresh /sys without cgroups; give it the hierarchy it expects.
_LAUNCHER = "set -e\n" + CGROUP_V1_MOUNTS + """\
mkdir /sys/fs/cgroup/unified; mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified
# dnsmasq forwards to the lab's upstream resolver, never to this machine's
mount --bind "$LXD_DIR/../resolv.conf" /etc/resolv.conf
exec lxd --group root --logfile "$LXD_DIR/lxd.log"
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
    """Start the host's LXD daemon (its pid goes to node.pids); `initialise` waits for it."""
    lxd_dir = Path(node.lxd_dir)
    lxd_dir.mkdir(parents=True)
    os.chmod(lxd_dir.parent, 0o711)
    (lxd_dir.parent / "resolv.conf").write_text(f"nameserver {UPSTREAM_WAN_ADDRESS.ip}\n")
    env = {**os.environ, **node.lxc_env}
    with open(lxd_dir.parent / "daemon.out", "wb") as out:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", node.netns, "sh", "-c", _LAUNCHER],
            env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    node.pids.append(proc.pid)
    return proc


def initialise(node: HostNode, host: Host, daemon: subprocess.Popen, image: Path) -> None:
    """Once the daemon answers: its socket root-only, `lxd init --preseed`, the image."""
    problem = wait_ready(node.lxd_socket, daemon, READY_TIMEOUT)
    if problem is not None:
        tail = (Path(node.lxd_dir).parent / "daemon.out").read_text(errors="replace")[-2000:]
        raise SubstrateError(f"{host.name}: LXD did not start ({problem}):\n{tail}")
    _root_only(Path(node.lxd_socket))
    run(["lxd", "init", "--preseed"], env=node.lxc_env, input=preseed(host), where=host.name)
    ensure_image(pylxd.Client(endpoint=node.lxd_socket), image)


def shut_down(node: HostNode) -> None:
    """Stop the instances (side by side), then the daemon; its pids are the caller's."""
    try:
        client = pylxd.Client(endpoint=node.lxd_socket)
        running = [i for i in client.instances.all() if i.status != "Stopped"]
        # LXD stops them side by side; one at a time costs about 0.5 s each
        with ThreadPoolExecutor(max_workers=max(1, min(len(running), 8))) as pool:
            list(pool.map(lambda instance: instance.stop(force=True, wait=True), running))
    except Exception as exc:  # a broken daemon must not stop the teardown
        log.warning("%s: could not stop instances: %s", node.name, exc)
    try:
        run(["lxd", "shutdown", "--timeout=10"], env=node.lxc_env, timeout=20, where=node.name)
    except CommandError as exc:
        log.warning("%s: lxd shutdown: %s", node.name, exc)


def _root_only(socket_path: Path) -> None:
    """LXD's API socket grants full control of the daemon: root (user and group) only."""
    info = socket_path.stat()
    if (info.st_uid, info.st_gid) != (0, 0):
        os.chown(socket_path, 0, 0)
    if stat.S_IMODE(info.st_mode) & ~0o660:
        os.chmod(socket_path, stat.S_IMODE(info.st_mode) & 0o660)
