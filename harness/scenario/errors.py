"""Problems found in a scenario file, reported as `file:line field: message`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario, located by file, 1-based line and dotted field path."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        if self.field:
            return f"{where} {self.field}: {self.message}"
        return f"{where}: {self.message}"


class ScenarioError(Exception):
    """A scenario could not be loaded; `problems` says every reason found, in file order."""

    def __init__(self, problems: Iterable[Problem]):
        unique = dict.fromkeys(problems)
        self.problems: list[Problem] = sorted(
            unique, key=lambda p: (p.line is None, p.line or 0, p.field)
        )
        super().__init__("\n".join(str(p) for p in self.problems))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)
