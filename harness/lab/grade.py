"""`harness lab grade`: each learner's transcripts replayed into a fresh lab, every stage graded.

The replay follows the learner's timeline: their commands run on the hosts in the order they
typed them (through bash, as they did), `harness lab solve` applies the stage's solution,
`harness lab start/reset` rebuild the lab at that stage. A stage is graded when the learner
moved past it (their next command belongs to a later stage) or at the end; its checks are
the same as `harness lab check`'s.
"""

from __future__ import annotations

import csv
import html
import os
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from harness import engines
from harness.lab import transcript
from harness.lab.course import bring_up
from harness.lab.hosts import LabError
from harness.lab.staged import SolutionError, apply_solution, stage_skip_reasons
from harness.lab.words import describe, plain_reason
from harness.lxd.apply import wait_for_addresses
from harness.lxd.client import connect
from harness.results import CheckResult, Outcome
from harness.session import Options, ScenarioRun
from harness.substrates.base import Lab
from harness.topology import Stage, Topology

#: one replayed command may take this long (an interactive program typed there gets no input)
COMMAND_TIMEOUT = 90


@dataclass
class Cell:
    """One learner's grade for one stage."""

    grade: str  # pass | fail | solved | skip
    reasons: list[str] = field(default_factory=list)


@dataclass
class Sheet:
    lab: str
    stages: list[str]
    rows: dict[str, dict[str, Cell]] = field(default_factory=dict)

    def passed(self, learner: str) -> int:
        return sum(1 for cell in self.rows[learner].values() if cell.grade == "pass")


class Replay:
    """One learner's timeline against one lab."""

    def __init__(self, topology: Topology, options: Options):
        self.topology = topology
        self.options = options
        self.names = [stage.name for stage in topology.stages]
        self.run: ScenarioRun | None = None
        self.lab: Lab | None = None
        self.skipped: dict[str, str] = {}
        self.cells: dict[str, Cell] = {}
        self.typed: dict[str, int] = {}
        self.solved: set[str] = set()
        self.position = 0

    # ------------------------------------------------------------------ lab
    def rebuild(self, index: int) -> None:
        self.close()
        self.run, self.lab = bring_up(self.topology, self.options, index, self.skipped)
        self.position = index
        for name in self.names[index:]:
            self.cells.pop(name, None)
            self.typed.pop(name, None)
            self.solved.discard(name)

    def close(self) -> None:
        if self.run is not None and self.lab is not None:
            self.run.down(self.lab)
        self.run = self.lab = None

    # ------------------------------------------------------------------ timeline
    def play(self, entries: list[transcript.Entry]) -> dict[str, Cell]:
        first = next((e for e in entries if _event(e)), None)
        self.rebuild(self._index(first.stage) if first and "start" in first.command else 0)
        try:
            for entry in entries:
                target = self._index(entry.stage)
                while self.position < target:
                    self.grade(self.position)
                    self.position += 1
                if _event(entry):
                    if entry.command.startswith(("harness lab start", "harness lab reset")):
                        self.rebuild(target)
                    elif entry.command.startswith("harness lab solve"):
                        self.solve(target)
                elif not _harness_line(entry.command):
                    self.replay(entry)
            for index in range(self.position, len(self.names)):
                self.grade(index)
        finally:
            self.close()
        return self.cells

    def _index(self, stage: str) -> int:
        return self.names.index(stage) if stage in self.names else self.position

    def replay(self, entry: transcript.Entry) -> None:
        assert self.run is not None and self.lab is not None
        stage = self.names[self.position]
        self.typed[stage] = self.typed.get(stage, 0) + 1
        node = self.lab.hosts.get(entry.host)
        if node is None:
            return  # a host this lab does not have: nothing it could have changed
        argv = self.run.substrate.interactive_argv(node, ["bash", "-c", entry.command], {})
        try:
            subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=COMMAND_TIMEOUT, env={**os.environ})
        except subprocess.TimeoutExpired:
            pass  # the learner would have had to interrupt it too

    def solve(self, index: int) -> None:
        assert self.run is not None and self.lab is not None
        stage = self.topology.stages[index]
        self.solved.add(stage.name)
        try:
            apply_solution(self.run.substrate, self.lab, self.topology, stage)
        except SolutionError:
            pass  # as for the learner: what they had typed was in the way; graded as is

    def grade(self, index: int) -> None:
        assert self.run is not None and self.lab is not None
        stage = self.topology.stages[index]
        reasons = stage_skip_reasons(self.run.substrate, self.topology, self.lab, stage)
        if reasons:
            self.cells[stage.name] = Cell("skip", ["; ".join(reasons)])
            return
        for host in self.topology.hosts.values():
            client = connect(engines.get(self.lab.engine),
                             self.lab.hosts[host.name].lxd_socket)
            wait_for_addresses(host, client, timeout=8)
        results = self.run.verify(self.lab, stage.checks)
        failures = _failures(stage, results)
        if failures:
            if not self.typed.get(stage.name) and stage.name not in self.solved:
                failures.insert(0, "nothing typed for this stage")
            self.cells[stage.name] = Cell("fail", failures)
        elif stage.name in self.solved:
            self.cells[stage.name] = Cell("solved", ["applied with `harness lab solve`"])
        else:
            self.cells[stage.name] = Cell("pass")


def _event(entry: transcript.Entry) -> bool:
    return entry.host == transcript.EVENTS


def _harness_line(command: str) -> bool:
    """`harness lab check` typed in a shell: not something to replay."""
    try:
        words = shlex.split(command)
    except ValueError:
        return False
    return bool(words) and os.path.basename(words[0]) == "harness"


def _failures(stage: Stage, results: list[CheckResult]) -> list[str]:
    specs = {spec.id: spec for spec in stage.checks}
    failures = []
    for result in results:
        if result.outcome != Outcome.FAIL:
            continue
        spec = specs.get(result.id.partition("[")[0])
        what = describe(spec, result.id.partition("[")[2].rstrip("]")) if spec else result.id
        failures.append(f"{what}: {plain_reason(result.reason)}")
    return failures


def grade(topology: Topology, folders: list[Path], options: Options) -> Sheet:
    sheet = Sheet(topology.name, [stage.name for stage in topology.stages])
    for folder in folders:
        if not folder.is_dir():
            raise LabError(f"{folder}: not a folder of transcripts (HOST.log files, as "
                           "`harness shell`/`exec` write them)")
        try:
            entries = transcript.read_folder(folder)
        except ValueError as exc:
            raise LabError(str(exc)) from exc
        learner = folder.name
        cells = Replay(topology, options).play(entries)
        sheet.rows[learner] = {name: cells.get(name, Cell("fail", ["not graded"]))
                               for name in sheet.stages}
    return sheet


# ---------------------------------------------------------------------- the grade sheet
def write_csv(sheet: Sheet, path: Path) -> None:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["learner", *sheet.stages, "passed", "failures"])
        for learner, cells in sheet.rows.items():
            failures = [f"{stage}: {reason}" for stage, cell in cells.items()
                        if cell.grade == "fail" for reason in cell.reasons]
            writer.writerow([learner, *(cells[s].grade for s in sheet.stages),
                             f"{sheet.passed(learner)}/{len(sheet.stages)}",
                             " | ".join(failures)])


_COLOURS = {"pass": "#c8ecc8", "fail": "#f6c6c6", "solved": "#f8e6b0", "skip": "#e4e4e4"}


def write_html(sheet: Sheet, path: Path) -> None:
    esc = html.escape
    head = "".join(f"<th>{esc(s)}</th>" for s in sheet.stages)
    rows = []
    for learner, cells in sheet.rows.items():
        tds = []
        for stage in sheet.stages:
            cell = cells[stage]
            notes = "".join(f"<li>{esc(r)}</li>" for r in cell.reasons)
            tds.append(f'<td class="{cell.grade}" style="background:{_COLOURS[cell.grade]}">'
                       f"<b>{cell.grade}</b>{f'<ul>{notes}</ul>' if notes else ''}</td>")
        rows.append(f"<tr><th>{esc(learner)}</th>{''.join(tds)}"
                    f"<td>{sheet.passed(learner)}/{len(sheet.stages)}</td></tr>")
    path.write_text(
        "<!doctype html>\n<html><head><meta charset='utf-8'>"
        f"<title>Grades: {esc(sheet.lab)}</title><style>"
        "body{font-family:sans-serif} table{border-collapse:collapse} "
        "td,th{border:1px solid #999;padding:4px 8px;vertical-align:top;text-align:left} "
        "ul{margin:4px 0;padding-left:16px;font-size:90%}</style></head><body>"
        f"<h1>Grades: {esc(sheet.lab)}</h1><table><tr><th>learner</th>{head}"
        f"<th>passed</th></tr>{''.join(rows)}</table></body></html>\n")


def format_sheet(sheet: Sheet) -> str:
    width = max([len("learner"), *map(len, sheet.rows)])
    cols = [max(len(s), 6) for s in sheet.stages]
    lines = ["  ".join([f"{'learner':{width}}", *(f"{s:{w}}" for s, w in zip(sheet.stages, cols,
                                                                           strict=True)),
                        "passed"])]
    for learner, cells in sheet.rows.items():
        grades = (f"{cells[s].grade:{w}}" for s, w in zip(sheet.stages, cols, strict=True))
        lines.append("  ".join([f"{learner:{width}}", *grades,
                                f"{sheet.passed(learner)}/{len(sheet.stages)}"]))
    return "\n".join(lines)
