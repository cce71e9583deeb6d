"""Loading scenario files: jinja2 -> YAML (with lines) -> schema -> resolve -> lint."""

from harness.scenario.dump import topology_to_dict
from harness.scenario.errors import Problem, ScenarioError
from harness.scenario.loader import load_scenario, load_text, render_template
from harness.scenario.schema import scenario_json_schema

__all__ = [
    "Problem",
    "ScenarioError",
    "load_scenario",
    "load_text",
    "render_template",
    "scenario_json_schema",
    "topology_to_dict",
]
