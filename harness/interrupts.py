"""Holding Ctrl-C and SIGTERM back while a lab is torn down.

A second Ctrl-C (or a SIGTERM from CI's timeout) in the middle of a teardown would leave
half a lab behind. Inside `deferred_interrupts()` those signals are only noted; when the
block ends they are delivered as a KeyboardInterrupt, so the caller still stops.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass
class Held:
    signals: list[int] = field(default_factory=list)  # what arrived while held


_active: Held | None = None


@contextmanager
def deferred_interrupts() -> Iterator[Held]:
    global _active
    # Handlers belong to the main thread; a nested block shares the outermost one's state.
    if _active is not None or threading.current_thread() is not threading.main_thread():
        yield _active or Held()
        return
    held = Held()
    previous = {sig: signal.getsignal(sig) for sig in _SIGNALS}
    for sig in _SIGNALS:
        signal.signal(sig, lambda signum, frame: held.signals.append(signum))
    _active = held
    try:
        yield held
    finally:
        _active = None
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
    if held.signals:
        raise KeyboardInterrupt(f"signal {held.signals[0]} during teardown")
