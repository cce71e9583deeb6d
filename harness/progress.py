"""Progress on stderr: on a terminal, a live status line (what runs now, for how long) above
which results scroll; elsewhere (CI logs), plain timestamped lines.

Messages go to the "harness.progress" logger. A record logged with `extra=ACTIVITY` says
what starts now ("host1: bringing up", "custom-bridge: check 0-dhcp"): on a terminal it
replaces the status line; in plain mode it is one more line.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import time

_STARTED = time.monotonic()

#: `progress.info(..., extra=ACTIVITY)`: this message names what runs from now on
ACTIVITY = {"activity": True}


def _elapsed() -> float:
    return time.monotonic() - _STARTED


class PlainHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        sys.stderr.write(f"[{_elapsed():7.1f}s] {record.getMessage()}\n")
        sys.stderr.flush()


class _StatusLine:
    """Spinner, the current activity, its seconds so far and the run's; drawn on each refresh."""

    def __init__(self) -> None:
        from rich.spinner import Spinner

        self.spinner = Spinner("dots", style="cyan")
        self.activity = "starting"
        self.since = time.monotonic()

    def set(self, activity: str) -> None:
        self.activity, self.since = activity, time.monotonic()

    def __rich__(self):
        from rich.text import Text

        step = time.monotonic() - self.since
        self.spinner.update(text=Text.assemble((self.activity, "bold"), (f"  {step:.1f}s", "cyan"),
                                               (f"  (run {_elapsed():.1f}s)", "dim")))
        return self.spinner


def _style(message: str) -> str:
    if " PASS " in message:
        return "green"
    if " FAIL " in message:
        return "bold red"
    if " SKIP " in message:
        return "yellow"
    return ""


class RichHandler(logging.Handler):
    def __init__(self, console=None) -> None:
        super().__init__()
        from rich.console import Console
        from rich.live import Live

        self.console = console or Console(stderr=True, highlight=False)
        self.status = _StatusLine()
        # stdout is left alone: the Markdown summary must go to stdout, not above the status
        self.live = Live(self.status, console=self.console, refresh_per_second=8,
                         transient=True, redirect_stdout=False, redirect_stderr=False)

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if getattr(record, "activity", False):
            self.status.set(message)
            if not self.live.is_started:
                self.live.start()
            return
        from rich.text import Text

        self.console.print(Text.assemble((f"{_elapsed():7.1f}s", "dim"), " ",
                                         (message, _style(message))))

    def close(self) -> None:
        if self.live.is_started:
            self.live.stop()
        super().close()


#: what every layer tells the user while it works ("host1: LXD ready in 0.8 s")
progress = logging.getLogger("harness.progress")


def _logger() -> logging.Logger:
    return progress


def install(verbose: bool = False) -> None:
    logger = _logger()
    finish()
    # children of `run -j N` share the terminal: plain lines, no competing status lines
    fancy = sys.stderr.isatty() and os.environ.get("HARNESS_PROGRESS") != "plain"
    logger.addHandler(RichHandler() if fancy else PlainHandler())
    logger.setLevel(logging.INFO)
    logger.propagate = False
    if verbose:
        logging.getLogger("harness").setLevel(logging.DEBUG)


def finish() -> None:
    """Take the status line down (before printing to stdout, and at exit)."""
    logger = _logger()
    for handler in list(logger.handlers):
        handler.close()
        logger.removeHandler(handler)


atexit.register(finish)
