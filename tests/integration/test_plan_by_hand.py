"""`harness plan` is what the harness does: typing its lines instead of applying gives a lab
whose checks pass the same way."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from harness import engines
from harness.lxd.apply import wait_for_addresses
from harness.lxd.client import connect
from harness.lxd.plan import plan
from harness.results import Outcome
from harness.scenario import load_scenario
from harness.session import Options, ScenarioRun

pytestmark = pytest.mark.root

ROOT = Path(__file__).resolve().parents[2]


def typed_lines(lines: list[str]) -> list[list[str]]:
    """The plan's commands as a person would type them; the image is there already."""
    return [shlex.split(line) for line in lines
            if not line.startswith("#") and " image import " not in f" {line}"]


@pytest.mark.parametrize("engine", ["lxd", "incus"])
@pytest.mark.parametrize("name", ["attach-bridge", "static-ip"])
def test_plan_typed_by_hand_passes_the_checks(name, engine, tmp_path):
    topology = load_scenario(ROOT / "scenarios" / f"{name}.yaml")
    run = ScenarioRun(topology, Options(out_dir=tmp_path, engine=engine))
    lab = run.substrate.up(run.topology)
    try:
        for host_name, lines in plan(topology, run.engine).items():
            node = lab.hosts[host_name]
            runner = run.substrate.runner(node)
            for argv in typed_lines(lines):
                runner(argv)
            client = connect(run.engine, node.lxd_socket)
            wait_for_addresses(topology.hosts[host_name], client, timeout=8)
        results = run.verify(lab)
    finally:
        assert run.down(lab) == []
    other = {name for name in engines.ENGINES if name != engine}
    for_other = {spec.id for spec in topology.checks if other & set(spec.requires)}
    assert results and all(r.outcome == (Outcome.SKIP if r.id in for_other else Outcome.PASS)
                           for r in results), [(r.id, str(r.outcome), r.reason) for r in results]
