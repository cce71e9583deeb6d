"""Loading scenario files: jinja2 -> YAML (with lines) -> schema -> resolve -> lint.

The names below are imported on first use: a check's parameters (harness/checks/*/params.py)
import fields.py from here without pulling in the loader, which reads those parameters.
"""

from __future__ import annotations

import importlib
from typing import Any

from harness.scenario.errors import Problem, ScenarioError

_LAZY = {
    "load_scenario": "loader",
    "load_text": "loader",
    "render_template": "loader",
    "scenario_json_schema": "schema",
    "topology_to_dict": "dump",
}

__all__ = ["Problem", "ScenarioError", *_LAZY]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
