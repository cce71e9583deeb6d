"""Waiting for a freshly started LXD daemon, in-process.

`lxd waitready` polls every 500 ms, which costs a quarter of a second on average per host;
asking LXD's own readiness endpoint (GET /internal/ready on its unix socket) every 50 ms
gives the same answer sooner. A daemon that exits meanwhile ends the wait at once.
"""

from __future__ import annotations

import http.client
import socket
import subprocess
import time

POLL = 0.05


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
