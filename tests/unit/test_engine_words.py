"""What a user reads names the engine in use: LXD or Incus, `lxc` or `incus` (pure wording)."""

from __future__ import annotations

import textwrap
from dataclasses import replace

import pytest
import requests
from pylxd.exceptions import LXDAPIException

from harness import engines
from harness.checks.base import unexpected_error
from harness.checks.start_refused.check import judge
from harness.lxd.apply import refusal
from harness.lxd.plan import format_plan
from harness.report.graph import topology_dot
from harness.report.html import render_html
from harness.report.markdown import markdown_summary
from harness.results import RunResult
from harness.scenario import ScenarioError, load_text
from harness.topology import CheckSpec

BOTH = [engines.LXD, engines.INCUS]
OTHER = {engines.LXD: "Incus", engines.INCUS: "LXD"}


def _api_error(message: str) -> LXDAPIException:
    response = requests.Response()
    response.status_code, response._content = 400, f'{{"error": "{message}"}}'.encode()
    return LXDAPIException(response)


@pytest.mark.parametrize("engine", BOTH, ids=lambda e: e.name)
def test_an_apply_refusal_names_the_engine(engine):
    text = refusal("host1", "network br0", engine, "Invalid value for config key")
    assert text == f"host1: network br0: {engine.title} refused: Invalid value for config key"


@pytest.mark.parametrize("engine", BOTH, ids=lambda e: e.name)
def test_a_refused_question_of_a_check_names_the_engine(engine):
    reason = unexpected_error(CheckSpec(0, "dhcp", {}), _api_error("not found"), engine)
    assert reason == f"inconclusive: {engine.title} refused a question of the dhcp check: not found"


@pytest.mark.parametrize("engine", BOTH, ids=lambda e: e.name)
def test_start_refused_names_the_engine_and_its_client(engine):
    refused = judge("host1:app2", "in use", "address in use", "Stopped", engine)
    assert refused.summary == f"{engine.title} refused to start host1:app2: address in use"
    assert refused.evidence == [f"{engine.client} start app2 on host1: "
                                f"{engine.title} refused: address in use"]
    started = judge("host1:app2", "in use", None, "Running", engine)
    assert started.summary.startswith(f"{engine.title} started host1:app2")
    assert started.stimulus == f"the start of host1:app2 was asked of {engine.title}"
    for seen in (refused, started):
        assert OTHER[engine] not in " ".join([seen.summary, *seen.evidence, seen.stimulus or ""])


SCENARIO = """
    name: words
    upstream:
      routes: {10.9.0.0/24: host1}
    hosts:
      host1:
        networks:
          br0: {config: {ipv4.address: 10.9.0.1/24, ipv4.nat: "false"}}
        instances:
          app1: {devices: {eth0: {type: nic, network: br0}}}
          app2: {}
"""


@pytest.mark.parametrize("engine", BOTH, ids=lambda e: e.name)
def test_graph_labels_name_the_engine(engine):
    topology = replace(load_text(textwrap.dedent(SCENARIO)), engine=engine.name)
    dot = topology_dot(topology)
    init = " ".join(engine.admin_argv("init"))
    assert f"br0\\n{engine.title} bridge\\n10.9.0.1/24" in dot
    assert f"lxdbr0\\n{engine.title} bridge ({init})" in dot
    assert OTHER[engine] not in dot


def test_graph_of_a_scenario_for_incus_says_incus():
    text = "engine: incus\n" + textwrap.dedent(SCENARIO)
    assert "Incus bridge (incus admin init)" in topology_dot(load_text(text))


@pytest.mark.parametrize("engine", BOTH, ids=lambda e: e.name)
def test_plan_names_the_engine_in_its_comments(engine):
    text = format_plan(load_text(textwrap.dedent(SCENARIO)), engine)
    assert f"# ---- the upstream router (outside {engine.title})" in text
    assert OTHER[engine] not in text


BROKEN = """
    name: broken
    hosts:
      host1:
        instances:
          app1: {devices: {eth0: {type: nic, network: br9}}}
        commands:
          - lxc network set br8 ipv4.nat true
          - lxc network create br7 tunnel.protocol=vxlan
    checks:
      - start_refused: {instance: host1:app9, reason: in use}
"""


def _problems(engine: str | None, text: str = BROKEN) -> str:
    with pytest.raises(ScenarioError) as caught:
        load_text(textwrap.dedent(text), engine=engine)
    return str(caught.value)


@pytest.mark.parametrize("engine", BOTH, ids=lambda e: e.name)
def test_lint_names_the_engine_chosen_for_the_run(engine):
    problems = _problems(engine.name)
    assert f"'br9' is not an {engine.title} network of host1" in problems
    assert f"network 'br8' is not an {engine.title} network of host1" in problems
    assert f"{engine.title} rejects 'tunnel.protocol'" in problems
    assert f"those its {engine.client} init lines create" in problems
    assert OTHER[engine] not in problems


def test_lint_names_the_scenarios_own_engine_unless_one_is_chosen():
    text = "engine: incus\n" + textwrap.dedent(BROKEN)
    assert "not an Incus network" in _problems(None, text)
    assert "not an LXD network" in _problems("lxd", text)
    assert "not an LXD network" in _problems(None)  # the default engine


def test_an_instance_made_by_incus_create_may_be_named():
    text = textwrap.dedent("""
        name: made
        engine: incus
        hosts:
          host1:
            commands: [incus create busybox app2]
        checks:
          - start_refused: {instance: host1:app2, reason: in use}
    """)
    assert load_text(text).checks[0].params["instance"] == "host1:app2"


def test_a_runs_engines_are_titled_as_people_name_them():
    assert engines.titled("lxd") == "LXD"
    assert engines.titled("incus, lxd") == "Incus and LXD"
    assert engines.titled("scenario default") == "scenario default"


@pytest.mark.parametrize("engine", BOTH, ids=lambda e: e.name)
def test_report_headings_name_the_engine_that_ran(engine, tmp_path):
    run = RunResult(scenarios=[], substrate="local", engine=engine.name)
    assert markdown_summary(run).startswith(f"## {engine.title} netlab: ")
    page = render_html(run, tmp_path)
    assert f"{engine.title} netlab report</h1>" in page and OTHER[engine] not in page
