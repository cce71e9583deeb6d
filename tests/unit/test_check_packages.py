"""Each check type is one package, found by its name: the schema, the loader, lint and the
runner read its parameters and its check from there, and nothing else names check types."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.checks import check_params
from harness.checks.base import REGISTRY
from harness.scenario import scenario_json_schema
from harness.scenario.fields import CheckParams

ROOT = Path(__file__).resolve().parents[2]
TYPES = sorted(check_params())


def test_every_check_package_is_found():
    packages = sorted(p.parent.name for p in (ROOT / "harness" / "checks").glob("*/params.py"))
    assert TYPES == packages and len(TYPES) >= 11


@pytest.mark.parametrize("kind", TYPES)
def test_a_package_holds_the_parameters_and_the_check_of_its_type(kind):
    assert issubclass(check_params()[kind], CheckParams)
    importlib.import_module(f"harness.checks.{kind}.check")
    assert REGISTRY[kind].type == kind
    assert kind in scenario_json_schema()["$defs"]["CheckEntry"]["properties"]


def test_loading_a_scenario_imports_no_check_code_nor_scapy():
    code = ("import sys; from harness.scenario import load_scenario; "
            "load_scenario('scenarios/gre-ovs.yaml'); "
            "print(sorted(m for m in sys.modules if m.startswith(('scapy', 'pylxd')) "
            "or m.endswith('.check')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True, env={"PYTHONPATH": str(ROOT)}).stdout
    assert out.strip() == "[]"


def test_no_module_outside_the_checks_branches_on_a_check_type():
    pattern = re.compile(r"\.type\s*(==|in)\s*[\"'(]|kind\s*==\s*[\"']")
    offenders = [f"{path.relative_to(ROOT)}:{number}"
                 for path in (ROOT / "harness").rglob("*.py")
                 if "checks" not in path.relative_to(ROOT / "harness").parts[:1]
                 for number, line in enumerate(path.read_text().splitlines(), 1)
                 if pattern.search(line) and "check" in line.lower()]
    assert offenders == []
