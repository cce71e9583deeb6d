"""schemas/scenario.schema.json (what editors point at) is the generated schema, and an editor
validating against it accepts the good scenarios and flags the shape errors it can see.

After a change of harness/scenario/schema.py, regenerate it with
    .venv/bin/harness schema -o schemas/scenario.schema.json
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft7Validator

from harness.scenario import render_template, scenario_json_schema
from harness.scenario.yaml_lines import parse

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "schemas" / "scenario.schema.json"
GOOD = sorted((ROOT / "tests" / "corpus" / "good").glob("*.yaml"))
GOOD += sorted((ROOT / "scenarios").glob("*.yaml"))
#: bad corpus files whose mistake is one of shape, which a JSON Schema can see
SHAPE_ERRORS = ["unknown-key", "wrong-type-mtu", "wrong-type-config", "unknown-check-type",
                "missing-hosts", "vlan-vid-range", "config-null-value"]


def test_committed_schema_is_the_generated_one():
    committed = json.loads(SCHEMA_FILE.read_text())
    assert committed == scenario_json_schema(), (
        "schemas/scenario.schema.json is stale: run "
        "`.venv/bin/harness schema -o schemas/scenario.schema.json`")


def _data(path: Path):
    # the harness's own YAML reading (YAML 1.2 words: `on:` is a key, as in editors)
    data, _, _ = parse(render_template(path.read_text(), str(path)))
    return data


# Draft 7: what the VS Code YAML extension (yaml-language-server) validates with
@pytest.mark.parametrize("path", GOOD, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_good_scenarios_validate_against_the_schema(path):
    errors = [e.message for e in Draft7Validator(scenario_json_schema()).iter_errors(_data(path))]
    assert errors == []


@pytest.mark.parametrize("name", SHAPE_ERRORS)
def test_shape_errors_are_flagged_by_the_schema(name):
    path = ROOT / "tests" / "corpus" / "bad" / f"{name}.yaml"
    assert list(Draft7Validator(scenario_json_schema()).iter_errors(_data(path)))
