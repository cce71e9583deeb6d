"""The committed CI workflows (.github/workflows/) pass a real workflow linter (actionlint, with
ShellCheck on their `run:` lines; it also knows which action majors run on a Node.js that
GitHub removed) and GitHub's workflow schema, set the runner up the way scripts/setup.sh
expects, run `harness` lines the CLI accepts, and are the ones docs/ci.md shows."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.cli import build_parser
from harness.engines import ENGINES

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
BY_NAME = {path.stem: path for path in WORKFLOWS}
#: the Debian releases scripts/setup.sh supports, as container images
SETUP_IMAGES = {"debian:bookworm", "debian:trixie"}


def tool(name: str) -> str:
    """A dev tool from the venv (pyproject's dev extras), else from PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is missing: scripts/setup.sh installs the dev extras (and "
                    f"ShellCheck with --test)")
    return found


def load(path: Path) -> dict:
    workflow = yaml.safe_load(path.read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # PyYAML reads a bare `on` as true
    return workflow


def steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def test_both_workflows_exist():
    assert set(BY_NAME) == {"nightly", "pull-request"}


def test_actionlint_with_shellcheck_finds_nothing():
    shellcheck = tool("shellcheck")
    proc = subprocess.run([tool("actionlint"), "-shellcheck", shellcheck,
                           *map(str, WORKFLOWS)], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_catches_a_removed_node_runtime(tmp_path):
    """The linter is real: the old sample's actions/checkout@v4 runs on node20."""
    old = BY_NAME["nightly"].read_text().replace("actions/checkout@v7", "actions/checkout@v4")
    (tmp_path / "old.yml").write_text(old)
    proc = subprocess.run([tool("actionlint"), str(tmp_path / "old.yml")],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and 'runtime "node20" is deprecated' in proc.stdout


def test_github_workflow_schema():
    proc = subprocess.run([tool("check-jsonschema"), "--builtin-schema",
                           "vendor.github-workflows", *map(str, WORKFLOWS)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_shell_scripts_pass_shellcheck():
    proc = subprocess.run([tool("shellcheck"), "scripts/setup.sh", ".ci/run"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout


@pytest.mark.parametrize("name", ["nightly", "pull-request"])
def test_runner_is_set_up_as_setup_sh_expects(name):
    workflow = load(BY_NAME[name])
    for job in workflow["jobs"].values():
        container = job["container"]
        assert container["image"] in SETUP_IMAGES
        assert "--privileged" in container["options"]
        runs = [step.get("run", "") for step in job["steps"]]
        # setup.sh itself, or the make target that runs it first
        assert any(r.startswith(("scripts/setup.sh", "make test")) for r in runs)
        assert any(step.get("uses", "").startswith("actions/checkout@") for step in job["steps"])


def test_makefile_targets_run_setup_first():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("test-local", "tutorial"):
        body = makefile.split(f"\n{target}:")[1].split("\n\n")[0]
        assert "scripts/setup.sh" in body.splitlines()[1], target


def test_nightly_runs_every_scenario_per_engine_and_keeps_reports():
    workflow = load(BY_NAME["nightly"])
    assert workflow["on"]["schedule"][0]["cron"]
    (job,) = workflow["jobs"].values()
    assert job["strategy"]["fail-fast"] is False
    assert job["strategy"]["matrix"]["engine"]
    runs = [s["run"] for s in job["steps"] if "run" in s]
    assert any("harness run" in r and "scenarios/*.yaml" in r and "--engine" in r for r in runs)
    assert job["strategy"]["matrix"]["engine"] == list(ENGINES)
    assert any('reports/summary.md >> "$GITHUB_STEP_SUMMARY"' in r for r in runs)
    uploads = [s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact")]
    assert uploads[0]["with"]["path"] == "reports/"
    assert "${{ matrix.engine }}" in uploads[0]["with"]["name"]  # one artifact per engine
    assert all(s.get("if") == "always()" for s in job["steps"][-3:])


def test_pull_request_runs_the_test_suite():
    workflow = load(BY_NAME["pull-request"])
    assert "pull_request" in workflow["on"]
    runs = [s["run"] for s in steps(workflow) if "run" in s]
    assert "make test-local" in runs


def test_harness_lines_parse():
    parser = build_parser()
    lines = [line for path in WORKFLOWS for line in re.findall(
        r"\.venv/bin/harness ([^\n#]+)", path.read_text())]
    assert len(lines) >= 2
    for line in lines:
        line = re.sub(r"\$\{\{ matrix\.(\w+) \}\}", lambda m: "lxd", line)
        parser.parse_args(shlex.split(line))  # an unknown verb or option exits


def test_docs_show_the_committed_workflows():
    text = (ROOT / "docs" / "ci.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
    for path in WORKFLOWS:
        assert f".github/workflows/{path.name}" in text
        assert path.read_text() in blocks, f"docs/ci.md does not show {path.name} as committed"
