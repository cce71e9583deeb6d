"""Every file of tests/corpus/bad fails with the error its header announces; good ones load.

A bad file starts with `# expect: SUBSTRING` and may add `# line: N` on its second line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.scenario import ScenarioError, load_scenario

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
BAD = sorted((CORPUS / "bad").glob("*.yaml"))
GOOD = sorted((CORPUS / "good").glob("*.yaml"))


def _header(path: Path) -> tuple[str, int | None]:
    lines = path.read_text().splitlines()
    assert lines and lines[0].startswith("# expect: "), f"{path.name}: no `# expect:` line"
    expect = lines[0].removeprefix("# expect: ").strip()
    line = None
    if len(lines) > 1 and lines[1].startswith("# line: "):
        line = int(lines[1].removeprefix("# line: "))
    return expect, line


def test_corpus_is_there():
    assert len(BAD) >= 11
    assert len(GOOD) >= 3


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_bad_scenario_fails_with_expected_problem(path: Path):
    expect, line = _header(path)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    text = str(info.value)
    assert expect in text
    matching = [p for p in info.value.problems if expect in str(p)]
    assert matching, text
    assert all(p.line is not None and p.line >= 1 for p in matching)
    assert all(str(p).startswith(f"{path}:{p.line}") for p in matching)
    if line is not None:
        assert [p.line for p in matching] == [line] * len(matching), text
    assert "Traceback" not in text


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.stem)
def test_good_scenario_loads(path: Path):
    topology = load_scenario(path)
    assert topology.hosts
    assert topology.source == str(path)
