"""Stand-in commands the harness puts first on a host's PATH (its tool folder).

A stand-in is a tiny shell script that runs one of the harness's Python modules, so that
whatever runs a command by name on that host (setup lines, LXD itself) gets it.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path


def write_alias(tool_dir: Path, name: str, target: str) -> Path:
    """`name` runs `target` with the same arguments (`lxc` on an Incus host runs `incus`)."""
    tool_dir.mkdir(parents=True, exist_ok=True)
    path = tool_dir / name
    path.write_text(f'#!/bin/sh\n# written by the harness: {name} runs {target}\n'
                    f'exec {shlex.quote(target)} "$@"\n')
    path.chmod(0o755)
    return path


def write_wrapper(tool_dir: Path, name: str, module: str, args: list[str]) -> Path:
    tool_dir.mkdir(parents=True, exist_ok=True)
    command = " ".join(shlex.quote(a) for a in [sys.executable, "-m", module, *args])
    path = tool_dir / name
    path.write_text(f'#!/bin/sh\n# written by the harness: {name} stand-in\nexec {command} "$@"\n')
    path.chmod(0o755)
    return path
