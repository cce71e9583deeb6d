"""Namespace plumbing in few processes: `ip -batch` per namespace, sysctls written in-process.

One `ip` process per command costs a fork and an exec each (about 5-15 ms on a busy 2-core
machine); a lab of 8 hosts needs over a hundred of them. `IpBatch` collects the commands
per namespace and runs each namespace's list through one `ip -n NS -batch -`, the
namespaces side by side; `write_sysctls` enters a namespace on a short-lived thread (setns
affects only the calling thread) and writes /proc/sys directly.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness.netns import call_in
from harness.shell import CommandError, run

NETNS_DIR = Path("/run/netns")


class IpBatch:
    """`ip` commands per namespace (None: this process' own), run in the order added."""

    def __init__(self) -> None:
        self._lines: dict[str | None, list[str]] = {}
        self._where: dict[str | None, str] = {}

    def add(self, netns: str | None, where: str, *args: str) -> None:
        if any(not arg or re.search(r"\s|[\"'#\\]", arg) for arg in args):
            raise ValueError(f"cannot batch `ip {' '.join(args)}`: an argument needs quoting")
        self._lines.setdefault(netns, []).append(" ".join(args))
        self._where.setdefault(netns, where)

    def run(self) -> None:
        """Every namespace's commands, namespaces in parallel; the first failure is raised
        (after all have finished) with the command that failed."""
        batches = list(self._lines.items())
        self._lines, where, self._where = {}, self._where, {}
        if not batches:
            return
        with ThreadPoolExecutor(max_workers=min(len(batches), 8)) as pool:
            futures = [pool.submit(_run_batch, netns, lines, where[netns])
                       for netns, lines in batches]
        for future in futures:
            future.result()


def _run_batch(netns: str | None, lines: list[str], where: str) -> None:
    argv = ["ip", *(["-n", netns] if netns else []), "-batch", "-"]
    try:
        run(argv, input="\n".join(lines) + "\n", where=where)
    except CommandError as exc:
        # ip names the failing line ("Command failed -:3"): show the command itself
        failed = re.search(r"Command failed -:(\d+)", exc.output)
        line = lines[int(failed.group(1)) - 1] if failed else "; ".join(lines)
        raise CommandError(["ip", *(["-n", netns] if netns else []), *line.split()],
                           exc.returncode, exc.output, where) from exc


def write_sysctls(netns: str, values: dict[str, str], where: str = "") -> None:
    """`sysctl -w KEY=VALUE ...` inside namespace `netns`, without starting a process."""

    def write() -> None:
        for key, value in values.items():
            Path("/proc/sys", *key.split(".")).write_text(f"{value}\n")

    try:
        call_in(NETNS_DIR / netns, write)
    except OSError as exc:
        argv = ["sysctl", "-w", *(f"{k}={v}" for k, v in values.items())]
        raise CommandError(argv, 1, f"in {netns}: {exc}", where) from exc
