"""Open vSwitch start-up waits on readiness: ovsdb-server must answer, not merely exist.

The socket file appears at bind(), before listen(); `ovs-vsctl` connecting in between was
refused on a loaded machine. These tests build exactly that state with a real socket.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from harness.hostnet import ovs


def _bound_not_listening(path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    return sock


def _serve_list_dbs(sock: socket.socket, after: float, dbs: list[str]) -> None:
    time.sleep(after)
    sock.listen(1)
    conn, _ = sock.accept()
    with conn:
        conn.recv(4096)
        conn.sendall(json.dumps({"id": 0, "result": dbs, "error": None}).encode())


@pytest.fixture
def dirs(tmp_path):
    dirs = ovs.OvsDirs(tmp_path)
    for folder in (dirs.run, dirs.db, dirs.log):
        folder.mkdir()
    return dirs


@pytest.fixture
def alive():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc
    proc.kill()
    proc.wait()


def test_a_socket_that_exists_but_does_not_listen_yet_is_not_ready(dirs, alive):
    sock = _bound_not_listening(dirs.socket)
    server = threading.Thread(target=_serve_list_dbs, args=(sock, 0.5, ["Open_vSwitch"]))
    started = time.monotonic()
    server.start()
    ovs._wait_until_serving(dirs, alive, "host1")
    server.join()
    sock.close()
    assert time.monotonic() - started >= 0.5


def test_a_server_that_exits_is_named_with_its_host_and_log(dirs):
    (dirs.log / "ovsdb-server.log").write_text("ovsdb-server|ERR|I/O error: conf.db\n")
    dead = subprocess.Popen([sys.executable, "-c", "raise SystemExit(1)"])
    dead.wait()
    with pytest.raises(ovs.OvsError, match=r"(?s)host1: ovsdb-server exited with code 1 .*"
                                           r"I/O error: conf.db"):
        ovs._wait_until_serving(dirs, dead, "host1")


def test_a_server_that_never_listens_times_out_naming_the_cause(dirs, alive, monkeypatch):
    monkeypatch.setattr(ovs, "READY_TIMEOUT", 0.3)
    sock = _bound_not_listening(dirs.socket)
    with pytest.raises(ovs.OvsError, match=r"host1: ovsdb-server did not serve its database "
                                           r".* within 0 s \(Connection refused\)"):
        ovs._wait_until_serving(dirs, alive, "host1")
    sock.close()


@pytest.mark.skipif(bool(ovs.missing_tools()), reason="Open vSwitch is not installed")
def test_a_real_ovsdb_server_is_ready_once_it_serves_open_vswitch(dirs):
    database = dirs.db / "conf.db"
    subprocess.run(["ovsdb-tool", "create", str(database), str(ovs.SCHEMA)], check=True)
    server = subprocess.Popen(["ovsdb-server", str(database), f"--remote=punix:{dirs.socket}",
                               "--no-chdir", "-vconsole:off",
                               f"--log-file={dirs.log / 'ovsdb-server.log'}"],
                              env={**os.environ, **dirs.env()}, stdin=subprocess.DEVNULL)
    try:
        ovs._wait_until_serving(dirs, server, "host1")
        subprocess.run(["ovs-vsctl", "--timeout=5", "--no-wait", "init"],
                       env={**os.environ, **dirs.env()},
                       check=True, capture_output=True)
    finally:
        server.terminate()
        server.wait(timeout=10)
