"""Hosts reached over SSH (Vagrant VMs, inventory machines), driven with fabric.

What the Vagrant and the SSH substrate share:
- `SshTarget`: how to reach one host (address, port, user, key, host-key policy, and the
  local network namespace the address lives in, for VMs on a namespaced libvirt network);
  it is stored in the lab (`HostNode.remote`) so that `harness verify`/`down` reconnect.
- `RemoteHost`: runs argv there (never through a shell on our side: `shlex.join`), as root
  (`sudo -n` unless the user is root), ships files, forwards the LXD socket, starts the
  probe server.
- LXD is reached through its unix socket on the host, forwarded to a local unix socket
  (`HostNode.lxd_socket`), so pylxd and every check use it exactly as on the local
  substrate. paramiko (under fabric) cannot open OpenSSH's `direct-streamlocal` channels,
  so that one forward is an OpenSSH client (`ssh -N -L local.sock:remote.sock`) with the
  same key and host-key policy. `lxc` lines and setup commands run on the host itself.
- Probes run with the host's python3 + scapy: the `harness.probes` package is copied over
  and `harness.probes.remote_entry --serve` answers "module.function" calls with the same
  JSON dicts as the local runner (see harness/probes/remote.py).
"""

from __future__ import annotations

import io
import json
import logging
import os
import shlex
import socket
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import fabric
import paramiko

from harness import engines
from harness.lxd.apply import HostRunner
from harness.lxd.client import connect
from harness.lxd.image import ensure_image
from harness.lxd.preseed import preseed
from harness.netns import call_in
from harness.probes.remote import ProbeDispatch, RemoteProbeServer, remote_place
from harness.probes.runner import ProbeRunner
from harness.shell import CommandError
from harness.substrates import capabilities, procs
from harness.substrates.base import HostNode, Lab, Substrate, SubstrateError, progress
from harness.substrates.capabilities import Capabilities
from harness.topology import Host

log = logging.getLogger(__name__)

PROBES_DIR = "/tmp/harness-probes"
FANCTL_MODULES = ("__init__.py", "wrappers.py", "fan.py")
CONNECT_TIMEOUT = 15.0


def probes_dir_for(run_id: str) -> str:
    """Where a run ships harness.probes on its hosts (one folder per run)."""
    return f"{PROBES_DIR}-{run_id}"


def tool_dir(probes_dir: str) -> str:
    """Where stand-in tools go on a host (first on the PATH of the host's commands)."""
    return f"{probes_dir}/bin"


def tool_path(probes_dir: str) -> str:
    return f"{tool_dir(probes_dir)}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class SshTarget:
    address: str
    port: int = 22
    user: str = "root"
    key: str | None = None
    #: known_hosts file to check the host key against (plus the user's own)
    known_hosts: str | None = None
    #: False only where the inventory says so (or for a VM made a minute ago by Vagrant)
    check_host_key: bool = True
    #: local network namespace from which `address` is reachable (None: this one)
    netns: str | None = None
    python: str = "python3"
    lxd_socket: str = "/var/lib/lxd/unix.socket"
    #: network namespace on the host in which its commands run (None: the host's own)
    host_netns: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    #: where the harness.probes package is copied to on the host
    probes_dir: str = PROBES_DIR

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SshTarget:
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def socket_in_netns(netns: str | None, address: str, port: int,
                    timeout: float = CONNECT_TIMEOUT) -> socket.socket:
    """A TCP connection made from inside a local network namespace (a thread's `setns`)."""
    if netns is None:
        return socket.create_connection((address, port), timeout)
    return call_in(f"/run/netns/{netns}",
                   lambda: socket.create_connection((address, port), timeout))


class RemoteHost:
    """One host over SSH. Every failure names the host (`where`)."""

    def __init__(self, name: str, target: SshTarget):
        self.name = name
        self.target = target
        self.probes_dir = target.probes_dir
        self._connection: fabric.Connection | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ connection
    @property
    def connection(self) -> fabric.Connection:
        with self._lock:
            if self._connection is None:
                self._connection = self._connect()
            return self._connection

    def _connect(self) -> fabric.Connection:
        t = self.target
        try:
            sock = socket_in_netns(t.netns, t.address, t.port)
        except OSError as exc:
            raise SubstrateError(f"{self.name}: SSH to {t.address}:{t.port} does not answer: "
                                 f"{exc}") from exc
        kwargs: dict[str, Any] = {"sock": sock, "allow_agent": False,
                                  "look_for_keys": t.key is None, "banner_timeout": 30,
                                  "auth_timeout": 30}
        if t.key:
            kwargs["key_filename"] = [os.path.expanduser(t.key)]
        conn = fabric.Connection(t.address, user=t.user, port=t.port,
                                 connect_timeout=int(CONNECT_TIMEOUT), connect_kwargs=kwargs)
        if t.check_host_key:
            if t.known_hosts:
                conn.client.load_host_keys(os.path.expanduser(t.known_hosts))
            conn.client.set_missing_host_key_policy(paramiko.RejectPolicy())
        else:
            conn.client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # kept in memory
        try:
            conn.open()
        except paramiko.SSHException as exc:
            sock.close()
            raise SubstrateError(f"{self.name}: SSH to {t.user}@{t.address}:{t.port} "
                                 f"failed: {type(exc).__name__}: {exc}") from exc
        return conn

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    # ------------------------------------------------------------------ commands
    def command_line(self, argv: Sequence[str], env: dict[str, str] | None = None,
                     netns: str | None = None) -> str:
        """The shell line the remote side runs: argv quoted, as root, in the host's netns."""
        prefix: list[str] = []
        if self.target.user != "root":
            prefix += ["sudo", "-n"]
        merged = {**self.target.env, **(env or {})}
        if merged:
            prefix += ["env", *[f"{k}={v}" for k, v in merged.items()]]
        if netns is None:
            netns = self.target.host_netns
        if netns:
            prefix += ["ip", "netns", "exec", netns]
        return shlex.join([*prefix, *argv])

    def run(self, argv: Sequence[str], *, input: str | None = None, timeout: float = 180,
            check: bool = True, env: dict[str, str] | None = None,
            netns: str | None = None) -> subprocess.CompletedProcess[str]:
        line = self.command_line(argv, env, netns)
        log.debug("run on %s: %s", self.name, line)
        connection = self.connection  # an SSH that fails says so (SubstrateError)
        try:
            # Always a stream, empty by default: at its end the remote stdin is closed. An
            # open one that never ends hangs commands that read stdin when it is not a
            # terminal (`lxc network acl create NAME` waits there for YAML).
            result = connection.run(
                line, hide=True, warn=True, timeout=timeout, pty=False,
                in_stream=io.StringIO(input or ""))
        except Exception as exc:  # invoke's CommandTimedOut, socket errors
            raise CommandError(argv, -1, f"{type(exc).__name__}: {exc}", self.name) from exc
        done = subprocess.CompletedProcess(list(argv), result.exited, result.stdout,
                                           result.stderr)
        if check and result.exited != 0:
            raise CommandError(argv, result.exited, result.stdout + result.stderr, self.name)
        return done

    def put_bytes(self, data: bytes, remote_path: str) -> None:
        self.connection.put(io.BytesIO(data), remote_path)

    def get(self, remote_path: str, local_path: str) -> None:
        self.connection.get(remote_path, local_path)

    # ------------------------------------------------------------------ probes
    def ship_probes(self) -> None:
        """Copy the harness.probes package to `probes_dir` (replacing an older copy)."""
        root = Path(__file__).resolve().parents[1]  # .../harness
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            tar.add(root / "__init__.py", arcname="harness/__init__.py")
            tar.add(root / "netns.py", arcname="harness/netns.py")  # the probes enter with it
            for path in sorted((root / "probes").glob("*.py")):
                tar.add(path, arcname=f"harness/probes/{path.name}")
            for name in FANCTL_MODULES:  # the fanctl stand-in (install_fanctl)
                tar.add(root / "hostnet" / name, arcname=f"harness/hostnet/{name}")
        archive = f"{self.probes_dir}.tar.gz"
        self.put_bytes(buffer.getvalue(), archive)
        self.run(["sh", "-c", 'rm -rf "$1" && mkdir -p "$1/pcaps" && tar -xzf "$2" -C "$1"',
                  "ship", self.probes_dir, archive], netns="")

    def install_fanctl(self, peers: list[str], fan_map: bool) -> None:
        """The harness's `fanctl` stand-in (harness.hostnet.fan, shipped with the probes) as
        `tool_dir(probes_dir)/fanctl`; the host's commands find it first on their PATH
        (`tool_path`)."""
        args = ["--state", f"{self.probes_dir}/fanctl.json"]
        for peer in peers:
            args += ["--peer", peer]
        if fan_map:
            args.append("--fan-map")
        command = shlex.join(["env", f"PYTHONPATH={self.probes_dir}", self.target.python, "-m",
                              "harness.hostnet.fan", *args, "--"])
        script = f'#!/bin/sh\n# written by the harness: fanctl stand-in\nexec {command} "$@"\n'
        folder = tool_dir(self.probes_dir)
        self.run(["sh", "-c", 'mkdir -p "$1" && cat > "$1/fanctl" && chmod 755 "$1/fanctl"',
                  "install", folder], input=script, netns="")

    def probe_server(self) -> RemoteProbeServer:
        line = self.command_line(
            [self.target.python, "-u", "-m", "harness.probes.remote_entry", "--serve"],
            env={"PYTHONPATH": self.probes_dir}, netns="")

        def open_channel() -> paramiko.Channel:
            transport = self.connection.client.get_transport()
            if transport is None:
                raise SubstrateError(f"{self.name}: SSH connection is closed")
            channel = transport.open_session()
            channel.exec_command(line)
            return channel

        return RemoteProbeServer(self.name, open_channel, fetch=self.get,
                                 scratch=f"{self.probes_dir}/pcaps")

    # ------------------------------------------------------------------ LXD socket
    def forward_lxd_socket(self, local_socket: Path, timeout: float = 20,
                           engine: engines.Engine = engines.LXD) -> int:
        """Start `ssh -N -L local:remote` for the daemon's socket; its pid once it listens."""
        t = self.target
        local_socket.parent.mkdir(parents=True, exist_ok=True)
        local_socket.unlink(missing_ok=True)
        options = ["-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes",
                   "-o", "StreamLocalBindUnlink=yes", "-o", "ServerAliveInterval=15",
                   "-o", f"ConnectTimeout={int(CONNECT_TIMEOUT)}", "-o", "IdentitiesOnly=yes"]
        if t.check_host_key:
            options += ["-o", "StrictHostKeyChecking=yes"]
            if t.known_hosts:
                options += ["-o", f"UserKnownHostsFile={os.path.expanduser(t.known_hosts)}"]
        else:
            options += ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                        "-o", "LogLevel=ERROR"]
        if t.key:
            options += ["-i", os.path.expanduser(t.key)]
        argv = ["ssh", "-N", *options, "-p", str(t.port),
                "-L", f"{local_socket}:{t.lxd_socket}", f"{t.user}@{t.address}"]
        if t.netns:
            argv = ["ip", "netns", "exec", t.netns, *argv]
        log_path = local_socket.parent / "ssh-forward.log"
        with open(log_path, "wb") as out:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not local_socket.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                procs.stop([proc.pid], to_group=True, grace=3.0)
                raise SubstrateError(
                    f"{self.name}: could not forward {engine.title}'s socket {t.lxd_socket}: "
                    f"{log_path.read_text(errors='replace').strip() or 'no answer'}")
            time.sleep(0.1)
        return proc.pid


# ---------------------------------------------------------------------- lab-level helpers
_hosts: dict[tuple[str, str], RemoteHost] = {}
_hosts_lock = threading.Lock()


def _key(node: HostNode) -> tuple[str, str]:
    return node.name, json.dumps(node.remote, sort_keys=True)


def remote_host(node: HostNode) -> RemoteHost:
    """The connection to a lab's remote host, one per process."""
    with _hosts_lock:
        if _key(node) not in _hosts:
            _hosts[_key(node)] = RemoteHost(node.name, SshTarget.from_dict(node.remote))
        return _hosts[_key(node)]


def forget_hosts(lab: Lab) -> None:
    """Close the lab's SSH connections (at teardown)."""
    for node in lab.hosts.values():
        with _hosts_lock:
            host = _hosts.pop(_key(node), None)
        if host is not None:
            host.close()


def remote_probes(lab: Lab, local: Any) -> ProbeDispatch:
    """Probe calls for this lab: remote places go to each host's probe server."""
    servers = {name: remote_host(node).probe_server()
               for name, node in lab.hosts.items() if node.remote}
    # All at once and before the first check: a check that sniffs on one host while it sends
    # from another must not wait for the second server to start.
    with ThreadPoolExecutor(max_workers=max(1, len(servers))) as pool:
        list(pool.map(RemoteProbeServer.ensure_started, servers.values()))
    return ProbeDispatch(local, servers)


class RemoteHostsSubstrate(Substrate):
    """Hosts reached over SSH (Vagrant VMs, inventory machines): commands run there as root,
    probes run in each host's probe server, and namespace paths name the host they are on."""

    def abandon(self, lab: Lab) -> None:
        forget_hosts(lab)  # a command waiting on a closed connection ends at once

    def runner(self, node: HostNode) -> HostRunner:
        host = remote_host(node)

        def run_there(argv: list[str]) -> str:
            return host.run(argv).stdout
        return run_there

    def place(self, lab: Lab, node: str) -> str:
        if node not in lab.hosts:
            return super().place(lab, node)
        netns = lab.hosts[node].netns
        # a host without a namespace of its own (a VM): its own network stack
        return remote_place(node, f"/run/netns/{netns}" if netns else "/proc/1/ns/net")

    def instance_place(self, lab: Lab, host: str, pid: int) -> str:
        return remote_place(host, f"/proc/{pid}/ns/net")

    def probes(self, lab: Lab, local: ProbeRunner) -> ProbeRunner:
        return remote_probes(lab, local)  # type: ignore[return-value]

    def interactive_argv(self, node: HostNode, argv: list[str], env: dict[str, str]) -> list[str]:
        """`ssh` running argv on the host as root in its namespace, on this terminal."""
        target = SshTarget.from_dict(node.remote)
        line = RemoteHost(node.name, target).command_line(argv, env)
        ssh = ["ssh", "-p", str(target.port), "-o", "LogLevel=ERROR"]
        if sys.stdin.isatty():
            ssh.append("-t")
        if target.key:
            ssh += ["-i", os.path.expanduser(target.key)]
        if not target.check_host_key:
            ssh += ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
        elif target.known_hosts:
            ssh += ["-o", f"UserKnownHostsFile={os.path.expanduser(target.known_hosts)}",
                    "-o", "StrictHostKeyChecking=yes"]
        ssh += [f"{target.user}@{target.address}", line]
        return ["ip", "netns", "exec", target.netns, *ssh] if target.netns else ssh


# ---------------------------------------------------------------------- host preparation
def prepare_lxd(host: Host, node: HostNode, remote: RemoteHost, image: Path) -> None:
    """Ship the probes, initialise the host's daemon, forward its socket, import the image."""
    engine = engines.get(node.engine)
    started = time.monotonic()
    remote.ship_probes()
    wait_for_daemon(remote, engine, host.name, timeout=120)
    remote.run(engine.admin_argv("init", "--preseed"), input=preseed(host))
    node.pids.append(remote.forward_lxd_socket(Path(node.lxd_socket), engine=engine))
    ensure_image(connect(engine, node.lxd_socket), image)
    progress.info("%s: %s ready in %.1f s", host.name, engine.title, time.monotonic() - started)


def wait_for_daemon(remote: RemoteHost, engine: engines.Engine, who: str,
                    timeout: int) -> None:
    """Until the host's LXD (or Incus) answers; if it never does, its unit's status says why."""
    try:
        remote.run(engine.admin_argv("waitready", f"--timeout={timeout}"), timeout=timeout + 30)
    except CommandError as exc:
        # the Debian packages' systemd units are named as the engines are: lxd, incus
        status = remote.run(["systemctl", "status", "--no-pager", engine.name], check=False)
        raise SubstrateError(f"{who}: {engine.title} did not start:\n{exc.output}\n"
                             f"{status.stdout[-1500:]}") from exc


def probe_capabilities(remote: RemoteHost) -> Capabilities:
    """What the host's kernel can do, tried the same way as locally, in a scratch namespace."""
    output = remote.run(["sh", "-c", capabilities.probe_script()], netns="").stdout
    return capabilities.from_script_output(output, where=remote.name)


def combine_capabilities(per_host: list[Capabilities]) -> Capabilities:
    """A feature works in the lab when it works on every host."""
    combined = Capabilities()
    for caps in per_host:
        for feature, works in caps.works.items():
            combined.works[feature] = combined.works.get(feature, True) and works
            if not works:
                combined.notes.setdefault(feature, caps.notes.get(feature, feature))
    return combined
