"""`harness doctor`: what this machine can do, and what to install for what it cannot."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from harness.substrates.capabilities import probe
from harness.substrates.local import DEFAULT_WORK_ROOT, REQUIRED_TOOLS

OPTIONAL_TOOLS = {
    "ovs-vsctl": "openvswitch-switch (the Open vSwitch scenarios)",
    "ethtool": "ethtool (checksum offload off on Open vSwitch ports; TCP stalls otherwise)",
    "brctl": "bridge-utils (the tutorial's brctl lines)",
    "vagrant": "vagrant + vagrant-libvirt (the vagrant substrate)",
    "chromium": "chromium (the HTML report's browser test)",
}


def doctor() -> int:
    rows: list[tuple[str, bool, str]] = []
    root = os.geteuid() == 0
    rows.append(("root", root, "" if root else "the local substrate needs root"))
    for tool, package in {**REQUIRED_TOOLS, **OPTIONAL_TOOLS}.items():
        found = shutil.which(tool)
        rows.append((f"tool {tool}", bool(found), found or f"install {package}"))
    if root:
        caps = probe(DEFAULT_WORK_ROOT / "cache")
        for feature, works in sorted(caps.works.items()):
            rows.append((f"kernel {feature}", works, "" if works else caps.reason(feature)))
    width = max(len(r[0]) for r in rows)
    for name, ok, note in rows:
        print(f"{name:<{width}}  {'yes' if ok else 'NO '}  {note}")
    required_ok = root and all(ok for name, ok, _ in rows
                               if name.removeprefix("tool ") in REQUIRED_TOOLS)
    print("\nlocal substrate: " + ("ready" if required_ok else "NOT ready (see above)"))
    state = "exists" if Path(DEFAULT_WORK_ROOT).exists() else "absent"
    print(f"work folder: {DEFAULT_WORK_ROOT} ({state})")
    return 0 if required_ok else 1
