"""The docs' examples stay true: their `harness` lines are accepted by the CLI, and the editor
modeline is a comment the loader ignores (the CI workflows: test_workflows.py)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from harness.cli import build_parser
from harness.scenario import load_text

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def yaml_blocks(markdown: Path) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", markdown.read_text(), flags=re.S)


def test_every_harness_line_in_the_docs_parses():
    lines = []
    for doc in DOCS.glob("*.md"):
        lines += re.findall(r"\.venv/bin/harness ([^\n`#]+)", doc.read_text())
    assert len(lines) >= 5
    parser = build_parser()
    for line in lines:
        if "..." in line:
            continue  # prose with a placeholder
        # an unknown verb or option exits, which fails the test
        line = re.sub(r"\$\{\{ matrix\.\w+ \}\}", "lxd", line)  # a workflow's matrix value
        parser.parse_args(shlex.split(line.split(">")[0]))


def test_modeline_is_a_plain_comment_to_the_loader():
    (first,) = [b for b in yaml_blocks(DOCS / "editor.md") if b.startswith("# yaml-language")]
    text = (ROOT / "scenarios" / "custom-bridge.yaml").read_text()
    topology = load_text(first.splitlines()[0] + "\n" + text, "with-modeline.yaml")
    assert topology.name == "custom-bridge"


def test_the_design_docs_scenario_example_loads():
    (example,) = [b for b in yaml_blocks(DOCS / "design.md") if b.startswith("name:")]
    topology = load_text(example, "design.md")
    assert topology.name == "custom-bridge" and len(topology.checks) == 5


def test_the_stages_examples_load():
    (example,) = [b for b in yaml_blocks(DOCS / "design.md") if b.startswith("name:")]
    (stages,) = [b for b in yaml_blocks(DOCS / "design.md") if b.startswith("stages:")]
    topology = load_text(example + stages, "design-stages.yaml")
    assert [s.name for s in topology.stages] == ["custom-bridge"]
    (course,) = [b for b in yaml_blocks(DOCS / "labs.md") if "stages:" in b]
    assert [s.name for s in load_text(course, "labs.md").stages] == ["custom-bridge", "attach"]
