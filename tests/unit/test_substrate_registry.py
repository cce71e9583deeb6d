"""The substrate registry: one place for the names, read by the CLI, the schema and doctor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import cli
from harness.scenario import ScenarioError, load_text
from harness.scenario.schema import scenario_json_schema
from harness.substrates import make_substrate, names, register, substrate_class, unregister
from harness.substrates.base import Lab, Substrate
from harness.topology import Topology


class ToySubstrate(Substrate):
    """Hosts from nowhere: enough to be listed, validated against and brought "up"."""

    required_tools = {"sh": "dash"}

    def bring_up(self, lab: Lab, topology: Topology) -> None:
        (Path(lab.workdir) / "toy").write_text("up")

    def tear_down(self, lab: Lab) -> list[str]:
        return []


@pytest.fixture
def toy():
    register("toy")(ToySubstrate)
    yield ToySubstrate
    unregister("toy")


def _choices(verb: str) -> list[str]:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "verb")
    action = next(a for a in sub.choices[verb]._actions if a.dest == "substrate")
    return list(action.choices)


def test_the_built_in_substrates_in_the_cli_and_the_schema():
    assert names()[0] == "local"
    assert _choices("run") == list(names()) == _choices("up")
    enum = scenario_json_schema()["properties"]["substrate"]["anyOf"][0]["enum"]
    assert enum == list(names())


def test_a_registered_substrate_is_known_everywhere(toy, tmp_path: Path):
    assert "toy" in names() and substrate_class("toy") is toy
    assert "toy" in _choices("run") and "toy" in _choices("up")
    enum = scenario_json_schema()["properties"]["substrate"]["anyOf"][0]["enum"]
    assert enum[-1] == "toy"
    assert load_text("name: x\nsubstrate: toy\nhosts: {h: {}}\n").substrate == "toy"

    substrate = make_substrate("toy", tmp_path)
    assert substrate.name == "toy" and substrate.preflight(load_text(
        "name: x\nhosts: {h: {}}\n")) == []
    lab = substrate.up(load_text("name: x\nsubstrate: toy\nhosts: {h: {}}\n"))
    assert lab.substrate == "toy"
    assert json.loads((tmp_path / lab.run_id / "lab.json").read_text())["substrate"] == "toy"
    assert substrate.down(lab) == [] and not (tmp_path / lab.run_id).exists()


def test_an_unregistered_name_is_refused_with_the_known_ones(toy):
    unregister("toy")
    with pytest.raises(ScenarioError, match="should be 'local', 'vagrant' or 'ssh'"):
        load_text("name: x\nsubstrate: toy\nhosts: {h: {}}\n")
    with pytest.raises(ValueError, match="this build knows: local, vagrant, ssh"):
        substrate_class("toy")


def test_a_failed_bring_up_is_torn_down_and_raised(tmp_path: Path):
    torn: list[str] = []

    class Broken(ToySubstrate):
        def bring_up(self, lab: Lab, topology: Topology) -> None:
            raise RuntimeError("no hosts today")

        def tear_down(self, lab: Lab) -> list[str]:
            torn.append(lab.run_id)
            return []

    substrate = Broken(tmp_path)
    with pytest.raises(RuntimeError, match="no hosts today"):
        substrate.up(load_text("name: x\nhosts: {h: {}}\n"))
    assert torn == [substrate.run_id] and not (tmp_path / substrate.run_id).exists()


def test_preflight_names_missing_tools_and_root(monkeypatch):
    class Needy(ToySubstrate):
        needs_root = "namespaces"
        required_tools = {"no-such-tool-here": "no-such-package"}

    monkeypatch.setattr("os.geteuid", lambda: 1000)
    register("needy")(Needy)
    try:
        problems = Needy().preflight(load_text("name: x\nhosts: {h: {}}\n"))
    finally:
        unregister("needy")
    assert problems == ["the needy substrate needs root (namespaces)",
                        "`no-such-tool-here` not found: install Debian's no-such-package"]


def _imports(folder: Path) -> set[str]:
    import ast

    found = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
    return found


def test_the_lxd_layer_and_the_checks_never_reach_into_a_substrate():
    harness = Path(__file__).resolve().parents[2] / "harness"
    assert not [m for m in _imports(harness / "lxd") if m.startswith("harness.substrates")]
    # checks ask the lab's substrate (CheckContext.substrate), never a particular one
    allowed = {"harness.substrates", "harness.substrates.base"}
    assert not [m for m in _imports(harness / "checks")
                if m.startswith("harness.substrates") and m not in allowed]
