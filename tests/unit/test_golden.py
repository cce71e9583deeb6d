"""The resolved Topology of every good corpus file, compared with tests/golden/NAME.json.

Run with UPDATE_GOLDEN=1 to rewrite the golden files after an intended change.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.scenario import load_text, topology_to_dict

ROOT = Path(__file__).resolve().parents[2]
GOOD = sorted((ROOT / "tests" / "corpus" / "good").glob("*.yaml"))
GOLDEN = ROOT / "tests" / "golden"


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.stem)
def test_topology_matches_golden(path: Path):
    # a path relative to the repository keeps the golden files independent of the checkout
    topology = load_text(path.read_text(), str(path.relative_to(ROOT)))
    data = topology_to_dict(topology)
    text = json.dumps(data, indent=2) + "\n"
    golden = GOLDEN / f"{path.stem}.json"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
        return
    assert golden.exists(), f"no {golden.name}: run the tests with UPDATE_GOLDEN=1"
    assert json.loads(golden.read_text()) == data


def test_dump_is_json_and_stable():
    path = GOOD[0]
    first = topology_to_dict(load_text(path.read_text(), path.name))
    second = topology_to_dict(load_text(path.read_text(), path.name))
    assert json.dumps(first) == json.dumps(second)
