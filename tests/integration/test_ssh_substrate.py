"""The SSH side of the remote substrates, for real: an sshd of our own on 127.0.0.1.

Each test module run starts Debian's sshd on a random loopback port with its own host key
and authorized_keys (root, key only). The "remote host" is this machine, so the probes it
runs enter a namespace the test makes. Checked: commands (exit codes, stdin, errors that
name the host), file shipping, host-key checking, an SSH that does not answer, LXD's socket
forward, the inventory, and that a probe run remotely returns what it returns locally.
"""

from __future__ import annotations

import os
import shutil
import socket
import socketserver
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.probes.remote import ProbeDispatch, remote_place
from harness.probes.runner import ProbeRunner
from harness.scenario import load_text
from harness.shell import CommandError
from harness.substrates import capabilities, procs
from harness.substrates.base import SubstrateError
from harness.substrates.remote import RemoteHost, SshTarget, probe_capabilities
from harness.substrates.ssh import InventoryError, SshSubstrate, load_inventory

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(not Path(SSHD).exists(), reason="needs Debian's openssh-server"),
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sshd")
    os.chmod(folder, 0o755)
    for name in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                        str(folder / name)], check=True)
    (folder / "authorized_keys").write_text((folder / "client_key.pub").read_text())
    port = _free_port()
    config = folder / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {folder / 'host_key'}\n"
        f"AuthorizedKeysFile {folder / 'authorized_keys'}\nPermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
        "StrictModes no\nPidFile none\nAllowStreamLocalForwarding yes\nSubsystem sftp "
        "internal-sftp\n")
    host_key = (folder / "host_key.pub").read_text().split()
    (folder / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
    Path("/run/sshd").mkdir(exist_ok=True)
    log = open(folder / "sshd.log", "wb")
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((folder / "sshd.log").read_text()) from None
            time.sleep(0.05)
    yield {"port": port, "folder": folder}
    procs.stop([proc.pid], to_group=True, grace=3.0)
    log.close()


def _target(sshd, **changes) -> SshTarget:
    folder = sshd["folder"]
    target = SshTarget(address="127.0.0.1", port=sshd["port"], user="root",
                       key=str(folder / "client_key"), known_hosts=str(folder / "known_hosts"),
                       python=sys.executable, probes_dir=str(folder / "probes"))
    for key, value in changes.items():
        setattr(target, key, value)
    return target


@pytest.fixture
def remote(sshd):
    host = RemoteHost("host1", _target(sshd))
    yield host
    host.close()


def test_commands_run_with_exit_codes_stdin_and_errors_that_name_the_host(remote):
    assert remote.run(["echo", "hello from", "fabric"]).stdout == "hello from fabric\n"
    assert remote.run(["cat"], input="preseed: yes\n").stdout == "preseed: yes\n"
    assert remote.run(["sh", "-c", "exit 3"], check=False).returncode == 3
    with pytest.raises(CommandError) as failed:
        remote.run(["sh", "-c", "echo broken >&2; exit 4"])
    assert failed.value.where == "host1" and failed.value.returncode == 4
    assert "broken" in str(failed.value) and "on host1" in str(failed.value)


def test_a_command_that_reads_stdin_gets_its_end_at_once(remote):
    """Without input a remote command's stdin is closed, not left open: `lxc network acl
    create NAME` reads YAML from a stdin that is not a terminal, and waited there forever."""
    started = time.monotonic()
    assert remote.run(["cat"], timeout=20).stdout == ""
    assert time.monotonic() - started < 10


def test_closing_the_connection_ends_a_command_in_flight_at_once(remote):
    """What Ctrl-C does to commands other threads wait for (Substrate.abandon): a remote
    command must not keep teardown waiting for its own end (up to 180 s)."""
    errors: list[Exception] = []

    def wait() -> None:
        try:
            remote.run(["sleep", "60"])
        except CommandError as exc:
            errors.append(exc)

    worker = threading.Thread(target=wait)
    worker.start()
    time.sleep(1.5)
    started = time.monotonic()
    remote.close()
    worker.join(timeout=20)
    assert not worker.is_alive() and time.monotonic() - started < 10
    assert errors and "sleep 60" in str(errors[0])
    assert remote.run(["true"]).returncode == 0  # a later command connects again


def test_files_are_shipped_and_fetched(remote, tmp_path):
    remote_path = str(tmp_path / "shipped.bin")
    remote.put_bytes(b"\x00harness\xff", remote_path)
    remote.get(remote_path, str(tmp_path / "fetched.bin"))
    assert (tmp_path / "fetched.bin").read_bytes() == b"\x00harness\xff"


def test_a_remote_probe_returns_what_the_local_one_returns(remote, scratch_netns, tmp_path):
    remote.ship_probes()
    server = remote.probe_server()
    probes = ProbeDispatch(ProbeRunner(), {"host1": server})
    place = remote_place("host1", f"/run/netns/{scratch_netns}")
    try:
        far = probes.call(place, "icmp.ping", dst="127.0.0.1", count=2)
        near = probes.call(f"/run/netns/{scratch_netns}", "icmp.ping", dst="127.0.0.1", count=2)
        assert server.hello["probes"] == str(Path(remote.probes_dir) / "harness" / "probes")
        assert set(far) == set(near)
        assert (far["sent"], far["received"]) == (near["sent"], near["received"]) == (2, 2)

        # a sniffer in the background, its pcap written remotely and fetched back
        pcap = tmp_path / "pcaps" / "lo.pcap"
        sniffer = probes.start(place, "capture.capture", wait_ready=True, iface="lo",
                               bpf="icmp", duration=2.0, count=4, pcap=str(pcap))
        probes.call(place, "icmp.ping", dst="127.0.0.1", count=2)
        seen = sniffer.finish()  # the stop reaches the remote probe as it does a local one
        assert seen["count"] >= 2 and seen["pcap"] == str(pcap) and pcap.stat().st_size > 24
        assert {p.get("icmp_type") for p in seen["packets"]} >= {0, 8}

        with pytest.raises(Exception, match="failed on host1"):
            probes.call(place, "icmp.no_such_probe")
    finally:
        probes.close()


def test_a_remote_host_is_probed_for_every_feature_the_local_one_is(remote):
    """Every capability a check may require is probed over SSH too, with the same answer
    as here (a feature missing there read as "unknown capability" and skipped)."""
    here = capabilities.probe()
    there = probe_capabilities(remote)
    features = set(capabilities._FEATURES)
    assert features <= set(there.works), features - set(there.works)
    assert {f: there.works[f] for f in features} == {f: here.works[f] for f in features}


def test_an_unknown_host_key_is_refused(sshd, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    host = RemoteHost("host2", _target(sshd, known_hosts=str(empty)))
    with pytest.raises(SubstrateError, match=r"host2: SSH to root@127\.0\.0\.1"):
        host.run(["true"])


def test_an_ssh_that_does_not_answer_says_where(sshd):
    host = RemoteHost("host3", _target(sshd, port=_free_port()))
    with pytest.raises(SubstrateError, match=r"host3: SSH to 127\.0\.0\.1:\d+ does not answer"):
        host.run(["true"])


class _Echo(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        self.wfile.write(b"lxd says: " + self.rfile.readline())


def test_lxd_socket_is_forwarded_to_a_local_socket(sshd, tmp_path):
    served = tmp_path / "remote" / "unix.socket"
    served.parent.mkdir()
    server = socketserver.ThreadingUnixStreamServer(str(served), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host = RemoteHost("host1", _target(sshd, lxd_socket=str(served)))
    local = tmp_path / "local" / "unix.socket"
    pid = host.forward_lxd_socket(local)
    try:
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(str(local))
            client.sendall(b"hello\n")
            assert client.makefile("rb").readline() == b"lxd says: hello\n"
    finally:
        procs.stop([pid], to_group=True, grace=3.0)
        server.shutdown()
        server.server_close()


def test_inventory_is_checked_and_hosts_must_be_in_it(sshd, tmp_path, monkeypatch):
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        f"hosts:\n  host1:\n    address: 127.0.0.1\n    port: {sshd['port']}\n"
        f"    key: {sshd['folder'] / 'client_key'}\n"
        f"    known_hosts: {sshd['folder'] / 'known_hosts'}\n")
    targets = load_inventory(inventory)
    assert targets["host1"].port == sshd["port"] and targets["host1"].check_host_key
    topology = load_text("name: two\nhosts:\n  host1: {}\n  host2: {}\n")
    problems = SshSubstrate(tmp_path, inventory=inventory).preflight(topology)
    assert problems == [f"host host2 is not in the inventory {inventory}"]

    monkeypatch.delenv("HARNESS_INVENTORY", raising=False)
    assert "needs an inventory" in SshSubstrate(tmp_path).preflight(topology)[0]
    inventory.write_text("hosts:\n  host1: {address: 10.0.0.1, passwd: x}\n")
    with pytest.raises(InventoryError, match="host1: unknown key"):
        load_inventory(inventory)


def test_a_setup_command_that_fails_on_host2_reports_host_and_output(sshd):
    from harness.lxd.apply import ApplyError, apply_host
    from harness.substrates.base import HostNode

    topology = load_text("name: fails\nhosts:\n  host1: {}\n  host2:\n    setup:\n"
                         "      - sh -c 'echo no bridge lanbr >&2; exit 2'\n")
    node = HostNode(name="host2", kind="host", netns="", remote=_target(sshd).to_dict())
    with pytest.raises(ApplyError) as failed:
        apply_host(topology.hosts["host2"], None, SshSubstrate().runner(node))  # type: ignore[arg-type]
    message = str(failed.value)
    assert message.startswith("host2: setup `sh -c") and "(exit 2)" in message
    assert "no bridge lanbr" in message
