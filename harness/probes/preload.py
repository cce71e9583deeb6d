"""Imported once by the probe fork server, so that no probe pays for scapy's import."""

import os
import sys

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

# The parent's main script (see runner._start_fork_server): each child would run it again
# before its probe (`harness` or `pytest` imports pydantic, pylxd, pytest...), and no probe
# needs anything of it (a probe is a harness.probes function with JSON-able arguments).
# multiprocessing skips that import in a child whose __main__ already has the script's path,
# so the fork server's own __main__ takes the path instead of running the script itself.
_main_path = os.environ.get("HARNESS_PROBE_MAIN_PATH")
if _main_path:
    sys.modules["__main__"].__file__ = _main_path
