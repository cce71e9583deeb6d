"""Imported once by the probe fork server, so that no probe pays for scapy's import."""

import os
from multiprocessing import process, spawn

import scapy.all  # noqa: F401
from scapy.config import conf

conf.verb = 0
conf.checkIPaddr = False  # DHCP offers come from the server, not from the broadcast address

from harness.probes import (  # noqa: E402, F401
    capture,
    dhcp,
    dns,
    flow,
    frames,
    hostinfo,
    icmp,
    l2,
    listening,
    throughput,
)

# The parent's main script (see runner._start_fork_server), as the fork server would have
# imported it for "__main__" in its preload list.
_main_path = os.environ.get("HARNESS_PROBE_MAIN_PATH")
if _main_path and os.path.exists(_main_path):
    process.current_process()._inheriting = True  # type: ignore[attr-defined]
    try:
        spawn.import_main_path(_main_path)
    finally:
        del process.current_process()._inheriting  # type: ignore[attr-defined]
