"""`harness doctor`: what this machine can do, and what to install for what it cannot."""

from __future__ import annotations

import os
import shutil

from harness import engines
from harness.substrates import default_name, names, substrate_class
from harness.substrates.capabilities import probe
from harness.substrates.runs import WORK_ROOT

OPTIONAL_TOOLS = {
    "ovs-vsctl": "openvswitch-switch (the Open vSwitch scenarios)",
    "ethtool": "ethtool (checksum offload off on Open vSwitch ports; TCP stalls otherwise)",
    "brctl": "bridge-utils (the tutorial's brctl lines)",
    "chromium": "chromium (the HTML report's browser test)",
}


def doctor() -> int:
    rows: list[tuple[str, bool, str]] = []
    root = os.geteuid() == 0
    substrates = {name: substrate_class(name) for name in names()}
    rows.append(("root", root, "" if root else "the local substrates need root"))
    tools: dict[str, str] = {}
    for name, substrate in substrates.items():
        for tool, package in substrate.required_tools.items():
            tools.setdefault(tool, f"{package} (the {name} substrate)")
    for tool, package in {**tools, **OPTIONAL_TOOLS}.items():
        found = shutil.which(tool)
        rows.append((f"tool {tool}", bool(found), found or f"install {package}"))
    found_engines = []
    for engine in engines.ENGINES.values():
        version = engines.version(engine) if engines.installed(engine) else None
        if version:
            found_engines.append(engine.name)
        note = (f"{engine.title} {version} ({engine.daemon}, {engine.client})" if version
                else f"install {engine.packages}")
        rows.append((f"engine {engine.name}", bool(version), note))
    if root:
        caps = probe(WORK_ROOT / "cache")
        for feature, works in sorted(caps.works.items()):
            rows.append((f"kernel {feature}", works, "" if works else caps.reason(feature)))
    width = max(len(r[0]) for r in rows)
    for name, ok, note in rows:
        print(f"{name:<{width}}  {'yes' if ok else 'NO '}  {note}")
    print()
    ready = {}
    for name, substrate in substrates.items():
        missing = [tool for tool in substrate.required_tools if shutil.which(tool) is None]
        if substrate.needs_root and not root:
            missing.insert(0, "root")
        if substrate.daemons_here and not found_engines:
            missing.append("an engine (LXD or Incus)")
        ready[name] = not missing
        print(f"{name} substrate: " + ("ready" if not missing else
                                       f"NOT ready (missing {', '.join(missing)})"))
    print("engines: " + (", ".join(found_engines) or "none"))
    state = "exists" if WORK_ROOT.exists() else "absent"
    print(f"work folder: {WORK_ROOT} ({state})")
    return 0 if ready[default_name()] else 1
