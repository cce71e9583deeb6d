"""What names a lab run on this machine: its id, its work folder and its namespaces.

Every resource a run makes carries its id (`hl-RID-...`), so that runs side by side never
claim each other's parts and `harness gc` finds what a dead run left.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

#: where labs keep their work folders (WORK_ROOT/RID), caches and `harness up` state
WORK_ROOT = Path(os.environ.get("HARNESS_WORKDIR", "/var/tmp/lxd-harness"))
NETNS_PREFIX = "hl-"
#: "PID START" of the process the VMs a run leaves idle go to: `harness run -j` runs each
#: scenario in a child of its own, and the VMs must outlive the child to serve the next one
VM_OWNER_ENV = "HARNESS_VM_OWNER"


def new_run_id() -> str:
    return secrets.token_hex(3)


def run_prefix(run_id: str) -> str:
    """The start of every namespace (and libvirt object) name of run `run_id`."""
    return f"{NETNS_PREFIX}{run_id}-"


def netns_name(run_id: str, node: str) -> str:
    return f"{run_prefix(run_id)}{node}"


def scratch_netns() -> str:
    """A throwaway namespace name that belongs to no run (capability probes)."""
    return f"{NETNS_PREFIX}cap-{new_run_id()}"
