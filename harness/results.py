"""Outcomes of a run: what reports read, and all they read."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from harness.engines import DEFAULT_ENGINE
from harness.substrates import default_name


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"

    @property
    def verdict(self) -> str:
        """The word for a scenario or a run with this outcome."""
        return {"pass": "PASSED", "fail": "FAILED", "skip": "SKIPPED"}[self.value]


@dataclass
class CheckResult:
    id: str  # "INDEX-TYPE", unique within its scenario
    type: str
    outcome: Outcome
    reason: str = ""
    evidence: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    expect_failure: bool = False
    duration: float = 0.0
    pcaps: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["outcome"] = str(self.outcome)
        return data


@dataclass
class ScenarioResult:
    name: str
    source: str | None = None
    description: str = ""
    tags: list[str] = field(default_factory=list)
    substrate: str = field(default_factory=default_name)
    engine: str = DEFAULT_ENGINE
    checks: list[CheckResult] = field(default_factory=list)
    #: seconds per phase: up, apply, checks, down
    phases: dict[str, float] = field(default_factory=dict)
    #: set when the scenario could not be brought up or applied; every check then failed
    error: str | None = None
    capabilities: dict[str, dict[str, bool]] = field(default_factory=dict)
    #: where the run stopped when it was interrupted (Ctrl-C, SIGTERM)
    interrupted: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None or any(c.outcome == Outcome.FAIL for c in self.checks)

    @property
    def outcome(self) -> Outcome:
        """FAIL when anything failed (a check, bring-up, teardown); SKIP when every check
        skipped (nothing was shown to work); else PASS."""
        if self.failed:
            return Outcome.FAIL
        if self.checks and all(c.outcome == Outcome.SKIP for c in self.checks):
            return Outcome.SKIP
        return Outcome.PASS

    def outcome_of(self, check: CheckResult) -> Outcome:
        """What every report and pytest show for `check`: a scenario error (bring-up,
        preflight, teardown leftovers) fails every check, whatever it recorded."""
        return Outcome.FAIL if self.error is not None else check.outcome

    def counts(self) -> dict[str, int]:
        counts = {str(o): 0 for o in Outcome}
        for check in self.checks:
            counts[str(check.outcome)] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["outcome"] = str(self.outcome)
        data["checks"] = [c.to_dict() for c in self.checks]
        return data


@dataclass
class RunResult:
    scenarios: list[ScenarioResult] = field(default_factory=list)
    started: str = ""
    duration: float = 0.0
    substrate: str = field(default_factory=default_name)
    engine: str = DEFAULT_ENGINE

    @property
    def failed(self) -> bool:
        return any(s.failed for s in self.scenarios)

    @property
    def outcome(self) -> Outcome:
        outcomes = {s.outcome for s in self.scenarios}
        if Outcome.FAIL in outcomes:
            return Outcome.FAIL
        if outcomes == {Outcome.SKIP}:
            return Outcome.SKIP
        return Outcome.PASS

    def counts(self) -> dict[str, int]:
        total = {str(o): 0 for o in Outcome}
        for scenario in self.scenarios:
            for key, value in scenario.counts().items():
                total[key] += value
        return total

    def to_dict(self) -> dict[str, Any]:
        return {
            "started": self.started,
            "duration": self.duration,
            "substrate": self.substrate,
            "engine": self.engine,
            "scenarios": [s.to_dict() for s in self.scenarios],
        }

    @classmethod
    def from_json(cls, path: Path) -> RunResult:
        data = json.loads(path.read_text())
        scenarios = []
        for s in data["scenarios"]:
            checks = [CheckResult(**{**c, "outcome": Outcome(c["outcome"])}) for c in s["checks"]]
            fields = {k: v for k, v in s.items() if k != "outcome"}  # derived, not stored
            scenarios.append(ScenarioResult(**{**fields, "checks": checks}))
        return cls(
            scenarios=scenarios,
            started=data.get("started", ""),
            duration=data.get("duration", 0.0),
            substrate=data.get("substrate") or default_name(),
            engine=data.get("engine") or DEFAULT_ENGINE,
        )
