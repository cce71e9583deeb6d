"""Progress: plain lines for logs; on a terminal a status line for what runs now."""

from __future__ import annotations

import io
import logging

from rich.console import Console

from harness import progress
from harness.progress import ACTIVITY, RichHandler


def test_plain_lines_carry_activities_and_results(capsys):
    progress.install()  # pytest's stderr is no terminal: plain lines
    log = logging.getLogger("harness.progress")
    log.info("lab: check %s", "0-ping", extra=ACTIVITY)
    log.info("lab: 0-ping PASS 3 replies")
    progress.finish()
    err = capsys.readouterr().err.splitlines()
    assert err[0].endswith("s] lab: check 0-ping")
    assert err[1].endswith("s] lab: 0-ping PASS 3 replies")
    assert not log.handlers


def record(message: str, activity: bool = False) -> logging.LogRecord:
    rec = logging.LogRecord("harness.progress", logging.INFO, __file__, 1, message, None, None)
    if activity:
        rec.activity = True
    return rec


def test_terminal_status_line_shows_the_activity_and_results_scroll_above():
    out = io.StringIO()
    handler = RichHandler(Console(file=out, force_terminal=True, width=120, highlight=False))
    handler.emit(record("lab: bringing up 2 host(s) on local", activity=True))
    assert handler.live.is_started
    handler.live.refresh()
    assert "lab: bringing up 2 host(s) on local" in out.getvalue()
    assert "(run " in out.getvalue()  # elapsed seconds of the step and of the run
    handler.emit(record("lab: 0-ping PASS 3 replies"))
    handler.close()
    assert not handler.live.is_started
    assert "lab: 0-ping PASS 3 replies" in out.getvalue()
