"""What scenarios a folder holds (`harness ls`): one summary per file, invalid ones included."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.scenario import ScenarioError, load_scenario

SCENARIO_SUFFIXES = (".yaml", ".yml")


@dataclass
class ScenarioSummary:
    path: Path
    name: str = ""
    description: str = ""
    tags: list[str] = field(default_factory=list)
    hosts: int = 0
    checks: int = 0
    #: the first problem when the file does not load
    error: str | None = None


def scenario_files(paths: list[Path]) -> list[Path]:
    """Scenario files in the given folders (not recursive) and files, sorted per folder."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix in SCENARIO_SUFFIXES)
        else:
            files.append(path)
    return files


def summarize(path: Path, variables: dict[str, str] | None = None) -> ScenarioSummary:
    try:
        topology = load_scenario(path, variables)
    except ScenarioError as exc:
        if not exc.problems:
            return ScenarioSummary(path, error=str(exc))
        first = exc.problems[0]  # the file is in the FILE column already
        where = f"line {first.line} " if first.line is not None else ""
        field_name = f"{first.field}: " if first.field else ""
        return ScenarioSummary(path, error=f"{where}{field_name}{first.message}".strip())
    return ScenarioSummary(path, topology.name, topology.description, list(topology.tags),
                           len(topology.hosts), len(topology.checks))


def format_table(summaries: list[ScenarioSummary]) -> str:
    """Aligned columns; an invalid file shows INVALID and its first problem."""
    rows = [("NAME", "HOSTS", "CHECKS", "TAGS", "FILE", "DESCRIPTION")]
    for s in summaries:
        if s.error is not None:
            rows.append(("INVALID", "-", "-", "-", str(s.path), s.error))
        else:
            rows.append((s.name, str(s.hosts), str(s.checks), ",".join(s.tags) or "-",
                         str(s.path), s.description))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines) + "\n"
