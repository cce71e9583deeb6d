"""Helpers shared by the benchmark scripts: timing commands, medians, ratios, tables."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HARNESS = str(Path(sys.executable).with_name("harness"))


def timed(argv: list[str], log: Path | None = None, env: dict[str, str] | None = None,
          timeout: float = 900) -> tuple[float, int]:
    """Wall seconds and exit code of one command (its output goes to `log`, or nowhere)."""
    out = open(log, "ab") if log else subprocess.DEVNULL
    started = time.monotonic()
    try:
        code = subprocess.run(argv, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                              env={**os.environ, **(env or {})}, timeout=timeout).returncode
    finally:
        if log:
            out.close()
    return time.monotonic() - started, code


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: list[float]) -> str:
    """`median (min-max)` in seconds."""
    if not values:
        return "-"
    return f"{median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_note() -> str:
    load = os.getloadavg()
    return (f"{os.cpu_count()} cores, load average {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f} "
            f"at the end (the machine is shared: other labs may run at the same time)")
