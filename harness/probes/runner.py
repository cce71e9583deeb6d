"""Runs probe functions inside network namespaces.

A fork server imports scapy once per run; every probe is a fork of it that enters the
target namespace (`setns` on a namespace file: /run/netns/NAME, or /proc/PID/ns/net for an
instance), refreshes scapy's interface and route tables, runs one probe function and sends
its JSON-able result back. Probes are named "module.function" (for example "icmp.ping") and
take only JSON-able keyword arguments, so the same call can be shipped to a remote host.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import threading
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from harness import netns
from harness.probes.stopping import STOP_SIGNAL

#: seconds a probe may take to say it listens (a fork, setns and a sentinel round trip on a
#: machine that may be very busy)
READY_TIMEOUT = 30.0
_PRELOAD = ["harness.probes.preload"]
#: the main script, for the fork server to import once (see `_start_fork_server`)
MAIN_PATH_VARIABLE = "HARNESS_PROBE_MAIN_PATH"
_start_lock = threading.Lock()


class ProbeError(RuntimeError):
    """The probe itself broke (not: the behaviour was absent)."""


def _enter(netns_path: str) -> None:
    try:
        netns.enter(netns_path)
    except netns.SetnsError as exc:
        raise ProbeError(exc.strerror) from exc
    from scapy.config import conf

    conf.ifaces.reload()
    conf.route.resync()


def _resolve(name: str):
    module, _, func = name.rpartition(".")
    return getattr(importlib.import_module(f"harness.probes.{module}"), func)


def _child(netns_path: str, name: str, kwargs: dict[str, Any], conn: Connection, ready) -> None:
    try:
        _enter(netns_path)
        func = _resolve(name)
        if ready is not None:
            kwargs = {**kwargs, "ready": ready.set}
        conn.send(("ok", func(**kwargs)))
    except BaseException as exc:  # the parent must hear about every failure
        try:
            conn.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}"))
        except BrokenPipeError:
            pass  # the parent gave up waiting already
    finally:
        conn.close()


@dataclass
class Running:
    """A probe running in the background (a sniffer); `result()` waits for it."""

    name: str
    process: Any
    conn: Connection
    timeout: float


    def stop(self) -> None:
        """End a sniffer's window now that the stimulus is over (see probes/listening.py)."""
        try:
            os.kill(self.process.pid, STOP_SIGNAL)
        except (ProcessLookupError, TypeError):  # it ended already
            pass

    def finish(self) -> Any:
        """stop(), then the result."""
        self.stop()
        return self.result()

    def result(self) -> Any:
        if not self.conn.poll(self.timeout):
            self.process.kill()
            self.process.join()
            raise ProbeError(f"probe {self.name} gave no answer in {self.timeout:.0f} s")
        status, value = self.conn.recv()
        self.process.join()
        if status != "ok":
            raise ProbeError(f"probe {self.name} failed: {value}")
        return value


def _start_fork_server() -> None:
    """Start the fork server (once), telling it which main script to import.

    Every child of the fork server runs the parent's main script (as `__mp_main__`) before
    its target: for `harness` or `pytest` that re-imports pydantic, pylxd, pytest... and
    makes a probe cost 0.2 s instead of 0.03 s. Python 3.11's fork server ignores
    "__main__" in its preload list (it looks for a key that the preparation data never
    has); `preload`, told the script by this environment variable, gives the server's
    `__main__` its path, so that children take it as imported already (and nobody
    imports it: no probe needs it).
    """
    from multiprocessing import forkserver, spawn

    with _start_lock:
        main_path = spawn.get_preparation_data("probe").get("init_main_from_path")
        saved = os.environ.get(MAIN_PATH_VARIABLE)
        if main_path:
            os.environ[MAIN_PATH_VARIABLE] = main_path
        try:
            forkserver.ensure_running()
        finally:
            if saved is None:
                os.environ.pop(MAIN_PATH_VARIABLE, None)
            else:
                os.environ[MAIN_PATH_VARIABLE] = saved


class ProbeRunner:
    def __init__(self) -> None:
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(_PRELOAD)

    def warm_up(self) -> None:
        """Start the fork server now: scapy's import then runs while the lab comes up."""
        _start_fork_server()

    def start(self, netns_path: str, probe: str, /, *, deadline: float = 60,
              wait_ready: bool = False, **kwargs: Any) -> Running:
        """Start `probe` in the namespace; `deadline` bounds the whole probe, in seconds."""
        name = probe
        _start_fork_server()
        parent, child = self._ctx.Pipe(duplex=False)
        ready = self._ctx.Event() if wait_ready else None
        process = self._ctx.Process(target=_child, args=(netns_path, name, kwargs, child, ready),
                                    daemon=True)
        process.start()
        child.close()
        running = Running(name, process, parent, deadline)
        if ready is not None:
            self._wait_ready(running, ready)
        return running

    @staticmethod
    def _wait_ready(running: Running, ready: Any) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while not ready.wait(0.05):
            if running.conn.poll(0):  # it answered instead: its own error, most likely
                running.result()
                raise ProbeError(f"probe {running.name} ended before it was ready")
            if time.monotonic() > deadline:
                running.process.kill()
                running.process.join()
                raise ProbeError(f"probe {running.name} did not get ready in "
                                 f"{READY_TIMEOUT:.0f} s")

    def call(self, netns_path: str, probe: str, /, *, deadline: float = 60, **kwargs: Any) -> Any:
        return self.start(netns_path, probe, deadline=deadline, **kwargs).result()
