"""Reports: they read a RunResult and nothing else (see harness.results)."""

from __future__ import annotations

from pathlib import Path

from harness.report.html import render_html, write_html
from harness.report.json_report import RESULTS_NAME, load_results, render_json, write_json
from harness.report.junit import render_junit, write_junit
from harness.report.markdown import markdown_summary
from harness.results import RunResult

__all__ = [
    "load_results",
    "markdown_summary",
    "render_html",
    "render_json",
    "render_junit",
    "write_reports",
]


def write_reports(
    run: RunResult,
    out_dir: Path,
    junit: Path | None = None,
    json_path: Path | None = None,
    html: Path | None = None,
) -> dict[str, Path]:
    """Write every report; returns {"markdown", "json", "html"[, "junit"]} -> path.

    Markdown, JSON and HTML are always written (into out_dir unless a path is given);
    JUnit only when a path is given.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = out_dir / "summary.md"
    summary.write_text(markdown_summary(run), encoding="utf-8")
    written = {
        "markdown": summary,
        "json": write_json(run, Path(json_path) if json_path else out_dir / RESULTS_NAME),
        "html": write_html(run, Path(html) if html else out_dir / "report.html"),
    }
    if junit is not None:
        written["junit"] = write_junit(run, Path(junit))
    return written
