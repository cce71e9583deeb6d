"""The probe runner's far end: runs probes on a remote host with that host's python3 + scapy.

The harness ships the `harness.probes` package to the host (for example to
/tmp/harness-probes) and starts, over SSH and as root,

    PYTHONPATH=/tmp/harness-probes python3 -m harness.probes.remote_entry --serve

which imports scapy once, then reads one JSON request per line on stdin
(`{"id": 1, "netns": "/proc/123/ns/net", "probe": "icmp.ping", "kwargs": {...},
"ready": false}`, `{"id": 1, "stop": true}` (a sniffer's stimulus is over) or
`{"id": 1, "kill": true}`) and answers with JSON lines on stdout:
`{"id": 1, "event": "ready"}` when a sniffer is listening, then
`{"id": 1, "status": "ok", "value": {...}}` (or `"error"` with the traceback). Every probe
runs in a forked child that enters the namespace first, exactly as the local runner does,
so the result objects are the same.

One-shot form, for debugging by hand: `python3 -m harness.probes.remote_entry '{"netns":
"/proc/1/ns/net", "probe": "icmp.ping", "kwargs": {"dst": "127.0.0.1"}}'`.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import traceback
from typing import Any

from harness.probes.stopping import STOP_SIGNAL

_out_lock = threading.Lock()
_children: dict[int, int] = {}  # request id -> pid of the probe still running


def _emit(message: dict[str, Any]) -> None:
    line = json.dumps(message) + "\n"
    with _out_lock:
        sys.stdout.write(line)
        sys.stdout.flush()


def _run_probe(request: dict[str, Any], write) -> None:
    """In the forked child: enter the namespace, run the probe, write JSON lines to `write`."""
    from harness.probes.runner import _enter, _resolve

    try:
        _enter(request["netns"])
        func = _resolve(request["probe"])
        kwargs = dict(request.get("kwargs") or {})
        if request.get("ready"):
            def ready() -> None:
                write({"event": "ready"})
            kwargs["ready"] = ready
        write({"status": "ok", "value": func(**kwargs)})
    except BaseException as exc:  # the harness must hear about every failure
        write({"status": "error",
               "value": f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}"})


def _fork_probe(request: dict[str, Any]) -> None:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        out = os.fdopen(write_fd, "w")

        def write(message: dict[str, Any]) -> None:
            out.write(json.dumps(message) + "\n")
            out.flush()

        try:
            _run_probe(request, write)
        finally:
            out.close()
            os._exit(0)
    os.close(write_fd)
    _children[request["id"]] = pid
    threading.Thread(target=_relay, args=(request["id"], read_fd, pid), daemon=True).start()


def _relay(request_id: int, read_fd: int, pid: int) -> None:
    """Pass the child's lines on, tagged with the request id; report a child that died."""
    answered = False
    with os.fdopen(read_fd) as lines:
        for line in lines:
            message = json.loads(line)
            answered = answered or "status" in message
            _emit({"id": request_id, **message})
    _children.pop(request_id, None)
    _, status = os.waitpid(pid, 0)
    if not answered:
        _emit({"id": request_id, "status": "error",
               "value": f"probe process ended without an answer (wait status {status})"})


def serve() -> None:
    import scapy

    import harness.probes.preload  # noqa: F401  (scapy and the probe modules, once)

    _emit({"event": "hello", "python": sys.version.split()[0], "scapy": scapy.VERSION,
           "pid": os.getpid(), "probes": os.path.dirname(harness.probes.preload.__file__)})
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        if request.get("stop"):  # a sniffer's stimulus is over (see listening.py)
            pid = _children.get(request["id"])
            if pid is not None:
                try:
                    os.kill(pid, STOP_SIGNAL)
                except ProcessLookupError:
                    pass
            continue
        if request.get("kill"):
            pid = _children.pop(request["id"], None)
            if pid is not None:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            continue
        _fork_probe(request)
    for pid in list(_children.values()):  # the harness went away: leave nothing running
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def main(argv: list[str]) -> int:
    if argv[:1] == ["--serve"]:
        serve()
        return 0
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    import harness.probes.preload  # noqa: F401

    request = json.loads(argv[0])
    answer: dict[str, Any] = {}
    _run_probe(request, answer.update)
    print(json.dumps(answer))
    return 0 if answer.get("status") == "ok" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
