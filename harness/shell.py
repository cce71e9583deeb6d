"""Running commands: argv only, never through a shell, with errors that show the output."""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Mapping, Sequence

log = logging.getLogger("harness.shell")


class CommandError(RuntimeError):
    def __init__(self, argv: Sequence[str], returncode: int, output: str, where: str = ""):
        self.argv = list(argv)
        self.returncode = returncode
        self.output = output.strip()
        self.where = where
        place = f" on {where}" if where else ""
        super().__init__(
            f"command failed{place} (exit {returncode}): {' '.join(argv)}\n{self.output}".rstrip()
        )


def run(
    argv: Sequence[str],
    *,
    netns: str | None = None,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    timeout: float = 120,
    check: bool = True,
    where: str = "",
) -> subprocess.CompletedProcess[str]:
    """Run argv (inside network namespace `netns` when given) and capture its output."""
    full = ["ip", "netns", "exec", netns, *argv] if netns else list(argv)
    merged = {**os.environ, **env} if env else None
    log.debug("run%s: %s", f" [{netns}]" if netns else "", " ".join(full))
    try:
        proc = subprocess.run(
            full, env=merged, input=input, capture_output=True, text=True, timeout=timeout
        )
    except FileNotFoundError as exc:
        raise CommandError(argv, 127, f"{argv[0]}: not found", where) from exc
    except subprocess.TimeoutExpired as exc:
        raise CommandError(argv, -1, f"timed out after {timeout} s", where) from exc
    if check and proc.returncode != 0:
        raise CommandError(argv, proc.returncode, proc.stdout + proc.stderr, where)
    return proc
