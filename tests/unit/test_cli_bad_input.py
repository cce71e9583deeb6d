"""Every bad corpus file, through the real command line: exit 2, file:line and the field,
no traceback, and nothing created (no work folder, no report, no namespace)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "bad"
BAD = sorted(CORPUS.glob("*.yaml"))
HARNESS = str(Path(sys.executable).with_name("harness"))


def _header(path: Path) -> tuple[str, int | None]:
    lines = path.read_text().splitlines()
    expect = lines[0].removeprefix("# expect: ").strip()
    line = int(lines[1].removeprefix("# line: ")) if lines[1].startswith("# line: ") else None
    return expect, line


def _namespaces() -> set[str]:
    return set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()


def _assert_reported(path: Path, stderr: str) -> None:
    expect, line = _header(path)
    assert expect in stderr
    where = re.escape(f"{path}:") + (str(line) if line else r"\d+")
    assert re.search(where, stderr), stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize("verb", ["validate", "run"])
@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_bad_file_exits_2_with_its_place(path: Path, verb: str, tmp_path: Path, capsys):
    work_root, out = tmp_path / "work", tmp_path / "out"
    extra = ["--workdir", str(work_root)] + (["--out", str(out)] if verb == "run" else [])
    with pytest.raises(SystemExit) as exited:
        main([verb, str(path), *extra])
    assert exited.value.code == 2
    _assert_reported(path, capsys.readouterr().err)
    assert not work_root.exists() and not out.exists()


@pytest.mark.parametrize("verb", ["validate", "run"])
def test_the_command_itself_exits_2_for_all_of_them(verb: str, tmp_path: Path):
    """One real process per verb (the in-process test above covers each file)."""
    work_root, out = tmp_path / "work", tmp_path / "out"
    before = _namespaces()
    extra = ["--workdir", str(work_root)] + (["--out", str(out)] if verb == "run" else [])
    result = subprocess.run([HARNESS, verb, *map(str, BAD), *extra], capture_output=True,
                            text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 2, result.stdout + result.stderr
    for path in BAD:
        _assert_reported(path, result.stderr)
    assert result.stdout == ""
    assert not work_root.exists() and not out.exists()
    assert not {n for n in _namespaces() - before if "bad" in n}
