"""Whatever the input, loading gives a Topology or a ScenarioError whose Problems have lines."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.scenario import ScenarioError, load_text
from harness.scenario.yaml_lines import parse
from harness.topology import Topology

GOOD = Path(__file__).resolve().parents[1] / "corpus" / "good"
VALID_TEXT = (GOOD / "design-example.yaml").read_text()
VALID_DATA, _, _ = parse(VALID_TEXT)

FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "300")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def assert_loads_or_explains(text: str) -> None:
    try:
        topology = load_text(text, "fuzz.yaml")
    except ScenarioError as error:
        assert error.problems
        for problem in error.problems:
            assert isinstance(problem.line, int) and problem.line >= 1, problem
            assert problem.file == "fuzz.yaml"
            assert str(problem).startswith(f"fuzz.yaml:{problem.line}")
        return
    assert isinstance(topology, Topology)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["host1", "host1:app1", "lan-peer", "upstream", "10.0.0.1/24", "tunnel.x"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=10,
)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(node, dict):
        for key, item in node.items():
            found += _paths(item, prefix + (key,))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found += _paths(item, prefix + (index,))
    return found


ALL_PATHS = _paths(VALID_DATA)


@FUZZ
@given(st.text(max_size=300))
def test_random_text(text: str):
    assert_loads_or_explains(text)


YAML_LIKE_LINES = [
    "name: x", "hosts:", "  host1:", "    instances: {app1: {}}", "checks:", "  - ping:",
    "    from: host1:app1", "- [", "{{", "{% if %}", "  a: &x 1", "  b: *x", "\t", "key: v",
    "  host1: {}", "    underlay: 172.31.0.11/24", "    setup: ['brctl addbr x']",
]  # fmt: skip


@FUZZ
@given(st.lists(st.sampled_from(YAML_LIKE_LINES), max_size=12))
def test_random_yaml_like_lines(lines: list[str]):
    assert_loads_or_explains("\n".join(lines) + "\n")


@FUZZ
@given(st.data())
def test_text_mutations_of_a_valid_scenario(data: st.DataObject):
    lines = VALID_TEXT.splitlines()
    for _ in range(data.draw(st.integers(1, 3))):
        if not lines:
            break
        i = data.draw(st.integers(0, len(lines) - 1))
        operation = data.draw(st.sampled_from(["delete", "duplicate", "swap", "insert", "cut"]))
        if operation == "delete":
            del lines[i]
        elif operation == "duplicate":
            lines.insert(i, lines[i])
        elif operation == "swap":
            j = data.draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif operation == "insert":
            at = data.draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + data.draw(st.text(max_size=5)) + lines[i][at:]
        else:
            lines[i] = lines[i][: data.draw(st.integers(0, len(lines[i])))]
    assert_loads_or_explains("\n".join(lines) + "\n")


@FUZZ
@given(st.data())
def test_structural_mutations_of_a_valid_scenario(data: st.DataObject):
    tree = copy.deepcopy(VALID_DATA)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(ALL_PATHS))
        parent, key = _locate(tree, path)
        if parent is None:
            continue
        operation = data.draw(st.sampled_from(["delete", "replace", "add-key", "rename"]))
        if operation == "delete":
            del parent[key]
        elif operation == "replace":
            parent[key] = data.draw(values)
        elif operation == "add-key" and isinstance(parent[key], dict):
            parent[key][data.draw(st.text(max_size=12))] = data.draw(values)
        elif operation == "rename" and isinstance(parent, dict):
            parent[data.draw(st.text(max_size=12))] = parent.pop(key)
    assert_loads_or_explains(yaml.safe_dump(tree, sort_keys=False, allow_unicode=True))


def _locate(tree: Any, path: tuple) -> tuple[Any, Any]:
    """(container, key) of `path` in the tree, or (None, None) if a mutation removed it."""
    if not path:
        return None, None
    node = tree
    for part in path[:-1]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None, None
    last = path[-1]
    if isinstance(node, dict) and last in node:
        return node, last
    if isinstance(node, list) and isinstance(last, int) and last < len(node):
        return node, last
    return None, None


def test_the_unmutated_scenario_loads():
    assert_loads_or_explains(VALID_TEXT)
    assert isinstance(load_text(yaml.safe_dump(VALID_DATA, sort_keys=False), "f.yaml"), Topology)
