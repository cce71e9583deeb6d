"""Progress lines on stderr: rich on a terminal, plain timestamped lines in CI logs."""

from __future__ import annotations

import logging
import sys
import time

_STARTED = time.monotonic()


class PlainHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        elapsed = time.monotonic() - _STARTED
        sys.stderr.write(f"[{elapsed:7.1f}s] {record.getMessage()}\n")
        sys.stderr.flush()


class RichHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        from rich.console import Console

        self.console = Console(stderr=True, highlight=False)

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        style = ""
        if " PASS " in message:
            style = "green"
        elif " FAIL " in message:
            style = "bold red"
        elif " SKIP " in message:
            style = "yellow"
        elapsed = time.monotonic() - _STARTED
        self.console.print(f"[dim]{elapsed:7.1f}s[/dim] {message}", style=style, markup=False)


def install(verbose: bool = False) -> None:
    logger = logging.getLogger("harness.progress")
    logger.handlers.clear()
    logger.addHandler(RichHandler() if sys.stderr.isatty() else PlainHandler())
    logger.setLevel(logging.INFO)
    logger.propagate = False
    if verbose:
        logging.getLogger("harness").setLevel(logging.DEBUG)
