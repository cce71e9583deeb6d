"""results.json: the machine-readable report, and the loader `harness report` re-renders from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.results import RunResult

RESULTS_NAME = "results.json"


def json_document(run: RunResult) -> dict[str, Any]:
    """run.to_dict() plus a top-level summary (RunResult.from_json ignores extra top-level keys)."""
    data = run.to_dict()
    data["summary"] = {**run.counts(), "failed": run.failed, "outcome": str(run.outcome)}
    return data


def render_json(run: RunResult) -> str:
    # default=str: check params may hold addresses or paths; ensure_ascii keeps lone
    # surrogates from odd evidence loadable instead of failing to encode.
    return json.dumps(json_document(run), indent=2, default=str) + "\n"


def write_json(run: RunResult, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_json(run), encoding="utf-8")
    return path


def load_results(path: Path) -> RunResult:
    """Load a run from results.json, or from a folder holding one."""
    if path.is_dir():
        path = path / RESULTS_NAME
    return RunResult.from_json(path)
