"""Probe calls for hosts that are not namespaces of this machine (VMs, SSH hosts).

A *place* tells where a probe runs. Locally it is a namespace file path
("/run/netns/NAME", "/proc/PID/ns/net"); on a remote host it is that host's own path behind
the host's name: "remote:HOST:/proc/PID/ns/net". `ProbeDispatch` has the local
`ProbeRunner`'s interface (`start`, `call`) and sends each call to the runner of its place,
so the checks do not care where a host lives.

`RemoteProbeServer` talks to `harness.probes.remote_entry --serve` on the host over one
stream (an SSH channel): JSON lines out, JSON lines back, tagged with a request id.
A capture's pcap is written on the host and fetched back to the local path the check asked for.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import threading
from collections.abc import Callable
from typing import Any

from harness.probes.runner import ProbeError

REMOTE_PREFIX = "remote:"
HELLO_TIMEOUT = 180.0  # python3 + scapy on a software-emulated VM take a while to start


def remote_place(host: str, path: str) -> str:
    return f"{REMOTE_PREFIX}{host}:{path}"


def split_place(place: str) -> tuple[str | None, str]:
    """("host", "/proc/1/ns/net") for a remote place, (None, path) for a local one."""
    if not place.startswith(REMOTE_PREFIX):
        return None, place
    host, _, path = place[len(REMOTE_PREFIX):].partition(":")
    return host, path


class RemoteRunning:
    """A probe running on a remote host; `result()` waits for it (like runner.Running)."""

    def __init__(self, server: RemoteProbeServer, request_id: int, name: str, deadline: float,
                 answers: queue.Queue, pcap: tuple[str, str] | None):
        self.server = server
        self.request_id = request_id
        self.name = name
        self.deadline = deadline
        self.answers = answers
        self.pcap = pcap  # (remote path, local path)

    def next(self, timeout: float) -> dict[str, Any]:
        try:
            return self.answers.get(timeout=timeout)
        except queue.Empty:
            self.server.kill(self.request_id)
            raise ProbeError(f"probe {self.name} on {self.server.host} gave no answer in "
                             f"{timeout:.0f} s") from None


    def stop(self) -> None:
        """End a sniffer's window now that the stimulus is over (see probes/listening.py)."""
        self.server.stop(self.request_id)

    def finish(self) -> Any:
        self.stop()
        return self.result()

    def result(self) -> Any:
        message = self.next(self.deadline)
        while message.get("event") == "ready":
            message = self.next(self.deadline)
        self.server.forget(self.request_id)
        if message.get("status") != "ok":
            raise ProbeError(f"probe {self.name} failed on {self.server.host}: "
                             f"{message.get('value')}")
        value = message["value"]
        if self.pcap is not None and isinstance(value, dict) and value.get("pcap"):
            remote, local = self.pcap
            os.makedirs(os.path.dirname(local) or ".", exist_ok=True)
            self.server.fetch(remote, local)
            value["pcap"] = local
        return value


class RemoteProbeServer:
    def __init__(self, host: str, open_channel: Callable[[], Any],
                 fetch: Callable[[str, str], None], scratch: str):
        self.host = host
        self.fetch = fetch
        self.scratch = scratch
        self._open_channel = open_channel
        self._channel: Any = None
        self._ids = itertools.count(1)
        self._waiting: dict[int, queue.Queue] = {}
        self._lock = threading.Lock()
        self._stderr: list[str] = []
        self.hello: dict[str, Any] = {}

    # ------------------------------------------------------------------ stream
    def ensure_started(self) -> None:
        """Start the server (python3 + scapy: seconds on an emulated VM) unless it runs."""
        self._ensure_started()

    def _ensure_started(self) -> None:
        with self._lock:
            if self._channel is not None:
                return
            channel = self._open_channel()
            hello: queue.Queue = queue.Queue()
            self._waiting[0] = hello
            threading.Thread(target=self._read, args=(channel,), daemon=True).start()
            threading.Thread(target=self._read_stderr, args=(channel,), daemon=True).start()
            try:
                self.hello = hello.get(timeout=HELLO_TIMEOUT)
                self._waiting.pop(0, None)
            except queue.Empty:
                channel.close()
                raise ProbeError(f"probe server on {self.host} did not start in "
                                 f"{HELLO_TIMEOUT:.0f} s: {self.stderr_tail()}") from None
            if self.hello.get("event") != "hello":
                channel.close()
                raise ProbeError(f"probe server on {self.host} did not start: "
                                 f"{self.hello.get('value')}")
            self._channel = channel

    def _read(self, channel: Any) -> None:
        with channel.makefile("r") as lines:
            for line in lines:
                try:
                    message = json.loads(line)
                except ValueError:
                    self._stderr.append(line)
                    continue
                target = self._waiting.get(message.get("id", 0))
                if target is not None:
                    target.put(message)
        # the stream ended: everybody still waiting hears it at once
        ended = {"status": "error",
                 "value": f"probe server on {self.host} ended: {self.stderr_tail()}"}
        for target in list(self._waiting.values()):
            target.put(ended)

    def _read_stderr(self, channel: Any) -> None:
        with channel.makefile_stderr("r") as lines:
            for line in lines:
                self._stderr.append(line)
                del self._stderr[:-40]

    def stderr_tail(self) -> str:
        return "".join(self._stderr[-20:]).strip() or "no output"

    def _send(self, message: dict[str, Any]) -> None:
        with self._lock:
            self._channel.sendall((json.dumps(message) + "\n").encode())

    def kill(self, request_id: int) -> None:
        try:
            self._send({"id": request_id, "kill": True})
        except OSError:
            pass
        self.forget(request_id)

    def stop(self, request_id: int) -> None:
        try:
            self._send({"id": request_id, "stop": True})
        except OSError:
            pass

    def forget(self, request_id: int) -> None:
        self._waiting.pop(request_id, None)

    def close(self) -> None:
        with self._lock:
            if self._channel is not None:
                self._channel.close()  # the server sees EOF and kills what still runs
                self._channel = None

    # ------------------------------------------------------------------ ProbeRunner API
    def start(self, path: str, probe: str, /, *, deadline: float = 60, wait_ready: bool = False,
              **kwargs: Any) -> RemoteRunning:
        """Start `probe` at `path` on the host; `deadline` bounds the whole probe, in seconds."""
        self._ensure_started()
        request_id = next(self._ids)
        answers: queue.Queue = queue.Queue()
        self._waiting[request_id] = answers
        pcap = None
        if kwargs.get("pcap"):
            remote = f"{self.scratch}/{request_id}-{os.path.basename(kwargs['pcap'])}"
            pcap = (remote, kwargs["pcap"])
            kwargs = {**kwargs, "pcap": remote}
        self._send({"id": request_id, "netns": path, "probe": probe, "kwargs": kwargs,
                    "ready": wait_ready})
        running = RemoteRunning(self, request_id, probe, deadline, answers, pcap)
        if wait_ready:
            message = running.next(min(30.0, deadline))
            if message.get("event") != "ready":
                answers.put(message)
                running.result()  # raises the probe's own error
                raise ProbeError(f"probe {probe} on {self.host} ended before it was ready")
        return running

    def call(self, path: str, probe: str, /, *, deadline: float = 60, **kwargs: Any) -> Any:
        return self.start(path, probe, deadline=deadline, **kwargs).result()


class ProbeDispatch:
    """The ProbeRunner interface over the local runner and one server per remote host."""

    def __init__(self, local: Any, remote: dict[str, RemoteProbeServer]):
        self.local = local
        self.remote = remote

    def _target(self, place: str) -> tuple[Any, str]:
        host, path = split_place(place)
        if host is None:
            return self.local, path
        if host not in self.remote:
            raise ProbeError(f"no probe server for remote host {host!r}")
        return self.remote[host], path

    def start(self, place: str, probe: str, /, **kwargs: Any) -> Any:
        runner, path = self._target(place)
        return runner.start(path, probe, **kwargs)

    def call(self, place: str, probe: str, /, **kwargs: Any) -> Any:
        runner, path = self._target(place)
        return runner.call(path, probe, **kwargs)

    def close(self) -> None:
        for server in self.remote.values():
            server.close()
