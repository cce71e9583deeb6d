"""`pytest scenarios/` and `harness run` give one verdict for one lab: a preflight problem
or teardown leftovers fail the scenario in both, every one of its checks in pytest."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.cli import main
from harness.results import CheckResult, Outcome, ScenarioResult

SCENARIO = """\
name: agree
hosts:
  host1: {instances: {app1: {}}}
checks:
  - ping: {from: host1:app1, to: upstream}
  - dns: {server: host1:lxdbr0, name: app1.lxd}
"""
LEFTOVER = "teardown left: namespace hl-test-host1"

#: conftest for the pytest run: every scenario "runs" with passing checks and a leftover
CONFTEST = f"""
from harness.results import CheckResult, Outcome, ScenarioResult
import harness.session

def run(self):
    return ScenarioResult(name=self.topology.name, error={LEFTOVER!r}, checks=[
        CheckResult(id="0-ping", type="ping", outcome=Outcome.PASS, reason="fine"),
        CheckResult(id="1-dns", type="dns", outcome=Outcome.PASS, reason="fine")])

harness.session.ScenarioRun.run = run
"""


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "agree.yaml").write_text(SCENARIO)
    return folder / "agree.yaml"


def _pytest(path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "HARNESS_INVENTORY"}
    return subprocess.run([sys.executable, "-m", "pytest", str(path), "-p", "no:cacheprovider",
                           "-p", "no:xdist", "-q", "-rA", *args], capture_output=True, text=True,
                          cwd=path.parent.parent, env=env, timeout=120)


def test_teardown_leftovers_fail_every_check_in_both(lab: Path, tmp_path: Path, monkeypatch,
                                                      capsys):
    (tmp_path / "conftest.py").write_text(textwrap.dedent(CONFTEST))
    tested = _pytest(lab)
    assert "2 failed" in tested.stdout, tested.stdout + tested.stderr
    assert LEFTOVER in tested.stdout

    def run(self):
        return ScenarioResult(name="agree", error=LEFTOVER, checks=[
            CheckResult(id="0-ping", type="ping", outcome=Outcome.PASS, reason="fine")])

    monkeypatch.setattr("harness.session.ScenarioRun.run", run)
    assert main(["run", str(lab), "--out", str(tmp_path / "out")]) == 1
    assert LEFTOVER in capsys.readouterr().out


def test_a_preflight_problem_fails_in_both(lab: Path, tmp_path: Path, monkeypatch, capsys):
    # the ssh substrate without an inventory: its preflight refuses, no machine is touched
    monkeypatch.delenv("HARNESS_INVENTORY", raising=False)
    tested = _pytest(lab, "--substrate", "ssh", "--lab-out", str(tmp_path / "p"))
    assert "2 failed" in tested.stdout, tested.stdout + tested.stderr
    assert "needs an inventory" in tested.stdout
    assert main(["run", str(lab), "--substrate", "ssh", "--out", str(tmp_path / "out")]) == 1
    out = capsys.readouterr().out
    assert "preflight failed:" in out and "needs an inventory" in out
