"""How a check ends a probe early: the one stop signal.

A check says "my stimulus is over" with `Running.stop()` (runner.py) or, for a probe on a
remote host, a `{"stop": true}` request that remote_entry.py turns into the same signal.
A probe that can end early calls `stop_requested()` before it says ready. Stdlib only: the
runner, on the harness side, must not import scapy.
"""

from __future__ import annotations

import signal
import threading

STOP_SIGNAL = signal.SIGUSR1


def stop_requested() -> threading.Event:
    """An event set once the check asks this probe to stop (call before saying ready)."""
    event = threading.Event()
    signal.signal(STOP_SIGNAL, lambda signum, frame: event.set())
    return event
