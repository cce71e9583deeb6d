"""Entering a network namespace from Python: `setns(2)` on a namespace file.

`setns` moves only the calling thread, so callers either run in a process of their own (a
probe) or on a short-lived thread (`call_in`); sockets stay in the namespace they were
made in. Shipped to remote hosts with harness.probes, so standard library only.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable
from typing import TypeVar

CLONE_NEWNET = 0x40000000
T = TypeVar("T")


class SetnsError(OSError):
    """setns(2) refused (the namespace file opened fine)."""


def enter(path: str | os.PathLike[str]) -> None:
    """Move the calling thread into the namespace of `path` (/run/netns/NAME,
    /proc/PID/ns/net). OSError when the file cannot be opened, SetnsError (message:
    "setns(PATH): REASON") when the kernel refuses."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise SetnsError(err, f"setns({path}): {os.strerror(err)}")
    finally:
        os.close(fd)


def call_in(path: str | os.PathLike[str], func: Callable[[], T]) -> T:
    """func() on a thread inside the namespace of `path` (the thread, and its namespace, end
    with the call); its result, or its exception raised here."""
    outcome: dict[str, object] = {}

    def inside() -> None:
        try:
            enter(path)
            outcome["value"] = func()
        except BaseException as exc:  # raised again in the caller's thread
            outcome["error"] = exc

    worker = threading.Thread(target=inside, name=f"netns-{os.fspath(path)}")
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]
