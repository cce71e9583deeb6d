"""`harness plan` and `harness graph` of a training lab: the stages, each with its lines, what
it changes and its checks; `--stage` for the lab at one stage; pytest collecting the stages."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness import engines
from harness.cli import EXIT_INVALID, EXIT_OK, main
from harness.lab.hosts import LabError
from harness.lab.views import (
    format_staged_plan,
    solved_through,
    stage_changes,
    stage_graph,
    stage_index,
    start_graph,
)
from harness.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
COURSE = ROOT / "tests" / "integration" / "labs" / "bridge-course.yaml"
TUTORIAL = ROOT / "labs" / "lxd-networking.yaml"


@pytest.fixture(scope="module")
def course():
    return load_scenario(COURSE)


@pytest.fixture(scope="module")
def tutorial():
    return load_scenario(TUTORIAL)


def _block(text: str, heading: str) -> str:
    """The lines of one `# ======== HEADING` block."""
    start = text.index(f"# ======== {heading}")
    end = text.find("\n# ========", start + 1)
    return text[start:] if end < 0 else text[start:end]


def test_plan_shows_the_starting_point_then_every_stage(course):
    text = format_staged_plan(course)
    start = text[: text.index("# ======== stage 1/3")]
    assert "lxc init busybox app1" in start and "lxdbr1337" not in start
    assert [line for line in text.splitlines() if line.startswith("# ======== ")] == [
        "# ======== stage 1/3 custom-bridge", "# ======== stage 2/3 attach",
        "# ======== stage 3/3 static-ip"]
    attach = _block(text, "stage 2/3 attach")
    assert attach.splitlines() == [
        "# ======== stage 2/3 attach",
        "# goal: Move app1's eth0 onto lxdbr1337 and restart app1 so that it leases an address "
        "there",
        "# ---- host1",
        "lxc network attach lxdbr1337 app1 eth0",
        "lxc restart app1",
        "# what this changes (+ added, ~ changed, - removed):",
        "#   + host1/app1 -- host1/lxdbr1337 (eth0)",
        "#   - host1/app1 -- host1/lxdbr0 (eth0)",
        "# checks, after the solution:",
        "#   attach/0-dhcp: app1 on host1 gets an address in 10.13.37.2 - 10.13.37.254 by DHCP",
        "#   attach/1-nat: app1 on host1 reaches the outside through NAT, seen there as host1",
    ]
    assert "~ host1/app1 -- host1/lxdbr1337 (eth0, 10.13.37.66)" in _block(text, "stage 3/3")


def test_plan_at_a_stage_gives_the_lines_that_get_there_then_the_stage(course):
    text = format_staged_plan(course, stage=stage_index(course, "attach"))
    assert ("# the lab at stage 2/3 attach: the starting point, the solution of stage 1, "
            "then stage 2") in text
    earlier = _block(text, "stage 1/3 custom-bridge: its solution")
    assert "lxc network create lxdbr1337" in earlier and "checks" not in earlier
    assert "attach/1-nat" in _block(text, "stage 2/3 attach")
    assert "static-ip" not in text


def test_plan_speaks_the_engine(course):
    text = format_staged_plan(course, engines.get("incus"))
    assert "\nincus network attach lxdbr1337 app1 eth0\n" in text
    assert "\nlxc " not in text


def test_a_check_that_needs_a_kernel_feature_says_so(tutorial):
    gre = _block(format_staged_plan(tutorial), "stage 10/12 gre")
    assert "gre/0-gre: traffic between host1 and host2 goes through a GRE tunnel (needs gretap)" \
        in gre


def test_stage_by_number_or_name_with_did_you_mean(course):
    assert stage_index(course, "2") == stage_index(course, "attach") == 1
    with pytest.raises(LabError, match=r"no stage 'atach' \(did you mean 'attach'\?\); "
                                       r"stages: 1\. custom-bridge, 2\. attach, 3\. static-ip"):
        stage_index(course, "atach")
    with pytest.raises(LabError, match="no stage '4'"):
        stage_index(course, "4")


def test_solutions_join_the_hosts_lines_by_kind(course, tutorial):
    host = solved_through(course, 2).hosts["host1"]
    assert host.commands[-2:] == (("lxc", "network", "attach", "lxdbr1337", "app1", "eth0"),
                                  ("lxc", "restart", "app1"))
    bridged = solved_through(tutorial, 7).hosts["host1"]
    assert ("brctl", "addbr", "lanbr") in bridged.setup
    assert all(argv[0] == "lxc" for argv in bridged.commands)
    assert solved_through(course, 0) == course


def test_the_tutorial_stages_change_what_they_say(tutorial):
    names = [stage.name for stage in tutorial.stages]
    _, vxlan = stage_changes(tutorial, names.index("vxlan"))
    # two tunnels between the same hosts: the VXLAN edge joins the two br0, not grebr
    assert "+ host1/br0 -- host2/br0 (vxlan 10)" in vxlan
    _, fan = stage_changes(tutorial, names.index("fan"))
    assert {"- host1/br0", "- host2/br0"} <= set(fan)  # `lxc network delete br0`
    assert ("+ host1/fan-10: fan bridge (fanctl), overlay 10.0.0.0/8, underlay 172.21.3.15/16"
            in fan)
    _, macvlan = stage_changes(tutorial, names.index("macvlan"))
    assert "- host1/lanbr -- host1/enp4s0f0 (port)" in macvlan  # `brctl delif`
    _, default = stage_changes(tutorial, 0)
    assert default == []  # nothing to type: nothing changes


def test_stage_graph_draws_what_the_stage_adds_in_red(course):
    dot = stage_graph(course, stage_index(course, "attach"))
    assert ('label="bridge-course: stage 2/3 attach, after its solution\\nred: added or changed '
            'by this stage\\nremoved: host1/app1 -- host1/lxdbr0 (eth0)"') in dot
    assert ('"host1/app1" -- "host1/lxdbr1337" [label="eth0", color="#d62728", '
            'penwidth="2.5"]') in dot
    assert '"host1/lxdbr0" [label="lxdbr0\\nLXD bridge (lxd init)"' in dot  # still there
    assert '"host1/lxdbr1337" [label="lxdbr1337\\nLXD bridge\\n10.13.37.1/24", shape="box", ' \
        'style="rounded,filled", fillcolor="#cfe6ff"]' in dot  # stage 1's: not red
    assert '"host1/app1" -- "host1/lxdbr0"' not in dot


def test_start_graph_names_the_stages(course):
    dot = start_graph(course)
    assert ('label="bridge-course: the starting point, before stage 1 of 3\\nstages: '
            '1. custom-bridge, 2. attach, 3. static-ip"') in dot
    assert "lxdbr1337" not in dot and "#d62728" not in dot


def test_cli_plan_and_graph_of_a_training_lab(tmp_path, capsys):
    assert main(["plan", str(COURSE), "--stage", "3"]) == EXIT_OK
    assert "# ======== stage 3/3 static-ip\n" in capsys.readouterr().out
    assert main(["plan", str(COURSE), "--stage", "nope"]) == EXIT_INVALID
    assert "has no stage 'nope'" in capsys.readouterr().err
    assert main(["graph", str(COURSE)]) == EXIT_OK
    captured = capsys.readouterr()
    assert "the starting point, before stage 1 of 3" in captured.out
    assert "--stage N|NAME draws the lab after that stage" in captured.err
    assert main(["graph", str(COURSE), "--stage", "all", "-o", str(tmp_path / "c.dot")]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "c-0-start.dot", "c-1-custom-bridge.dot", "c-2-attach.dot", "c-3-static-ip.dot"]
    assert "stage 2/3 attach" in (tmp_path / "c-2-attach.dot").read_text()


def test_cli_stage_of_a_plain_scenario_is_an_input_error(capsys):
    plain = str(ROOT / "scenarios" / "attach-bridge.yaml")
    for verb in ("plan", "graph"):
        assert main([verb, plain, "--stage", "1"]) == EXIT_INVALID
        assert "has no `stages:`" in capsys.readouterr().err
    assert main(["plan", plain]) == EXIT_OK
    assert "# ========" not in capsys.readouterr().out


#: conftest for a pytest run: the staged run "fails" attach's DHCP, passes the rest
CONFTEST = """
from harness.results import CheckResult, Outcome, ScenarioResult
import harness.lab.staged

def run(self):
    ids = [("custom-bridge/0-dns", "pass"), ("attach/0-dhcp", "fail"), ("attach/1-nat", "pass"),
           ("static-ip/0-dhcp", "pass")]
    return ScenarioResult(name=self.topology.name, checks=[
        CheckResult(id=i, type=i.split("-")[-1], outcome=Outcome(o), reason="leased 10.0.0.9")
        for i, o in ids])

harness.lab.staged.StagedRun.run = run
"""


def test_pytest_collects_every_stage_and_runs_the_staged_run(tmp_path):
    labs = tmp_path / "labs"
    labs.mkdir()
    shutil.copy(COURSE, labs)
    (tmp_path / "conftest.py").write_text(CONFTEST)
    env = {k: v for k, v in os.environ.items() if k != "HARNESS_INVENTORY"}
    tested = subprocess.run([sys.executable, "-m", "pytest", "labs/", "-p", "no:cacheprovider",
                             "-p", "no:xdist", "-q", "-rA"], capture_output=True, text=True,
                            cwd=tmp_path, env=env, timeout=120)
    out = tested.stdout + tested.stderr
    assert "1 failed, 3 passed" in out, out
    assert "PASSED labs/bridge-course.yaml::custom-bridge/0-dns" in out
    assert "FAILED labs/bridge-course.yaml::attach/0-dhcp" in out
    assert "stage attach: Move app1's eth0 onto lxdbr1337" in out
    assert "hint: `lxc network attach BRIDGE INSTANCE DEVICE`" in out


def test_verify_of_a_training_lab_without_own_checks_says_where_its_checks_run(capsys):
    assert main(["verify", str(COURSE)]) == EXIT_INVALID
    err = capsys.readouterr().err
    assert "bridge-course is a training lab with no checks of its own" in err
    assert "harness lab check" in err and f"pytest {COURSE}" in err
