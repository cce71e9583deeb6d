"""pytest collects scenario files: one test per check, one bring-up per file.

`pytest scenarios/` (and `pytest scenarios/ -n 2`, which runs whole files per worker) does
exactly what `harness run scenarios/*.yaml` does; the first test of a file brings the lab
up, runs every check and tears it down, and each test then reports its own check.

A training lab (`stages:`, e.g. `pytest labs/`) gives one test per check of every stage,
named `STAGE/INDEX-TYPE`, and runs like `harness run` of it: each stage's solution applied
on top of the earlier ones, then that stage's checks.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.engines import ENGINES
from harness.results import CheckResult, Outcome, ScenarioResult
from harness.scenario import ScenarioError, load_scenario
from harness.substrates import names as substrate_names
from harness.substrates import substrate_class


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lxd-netlab", "LXD network lab scenarios")
    group.addoption("--substrate", default=None,
                    help=f"where hosts come from ({'|'.join(substrate_names())})")
    group.addoption("--engine", default=None, choices=list(ENGINES),
                    help="the container engine every host runs (default: the scenario's, else "
                         "lxd)")
    group.addoption("--require-all", action="store_true", default=False,
                    help="checks skipped for a missing capability fail instead")
    group.addoption("--lab-var", action="append", default=[], metavar="KEY=VALUE",
                    help="jinja2 variables for scenario templates")
    group.addoption("--lab-out", default="reports", help="folder for pcaps and reports")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # A scenario is brought up once per file: xdist must hand whole files to one worker.
    if getattr(config.option, "dist", "no") == "load":
        config.option.dist = "loadfile"


def _is_scenario(file_path: Path, config: pytest.Config) -> bool:
    """A YAML file in a `scenarios` folder, one named on the command line, or one in a `labs`
    folder named on it (`pytest labs/`; `pytest tests` leaves the tests' own labs alone)."""
    if file_path.suffix not in (".yaml", ".yml"):
        return False
    if "scenarios" in file_path.parts:
        return True
    explicit = {Path(str(a).split("::")[0]).resolve() for a in config.args}
    path = file_path.resolve()
    return path in explicit or any(
        folder.name == "labs" and folder in path.parents for folder in explicit)


def pytest_collect_file(parent: pytest.Collector, file_path: Path):
    if _is_scenario(file_path, parent.config):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    result: ScenarioResult | None = None

    def collect(self):
        variables = dict(v.split("=", 1) for v in self.config.getoption("lab_var"))
        try:
            self.topology = load_scenario(self.path, variables, self.config.getoption("engine"))
        except ScenarioError as exc:
            yield InvalidScenario.from_parent(self, name="validate", error=str(exc))
            return
        from harness.checks.base import planned_ids
        from harness.lab.staged import all_checks

        substrate = self.config.getoption("substrate") or self.topology.substrate
        try:
            marks = substrate_class(substrate).pytest_marks if substrate else ()
        except ValueError:  # an unknown name: the run says so
            marks = ()
        for spec in all_checks(self.topology):  # a training lab's stages, then its own
            for check_id in planned_ids(spec):
                item = CheckItem.from_parent(self, name=check_id, line=spec.line)
                for mark in marks:  # "vm": the slow tier, which `-m "not vm"` leaves out
                    item.add_marker(getattr(pytest.mark, mark))
                yield item

    def run_once(self) -> ScenarioResult:
        if self.result is None:
            from harness.lab.staged import scenario_run_for
            from harness.session import Options

            options = Options(substrate=self.config.getoption("substrate"),
                              engine=self.config.getoption("engine"),
                              require_all=self.config.getoption("require_all"),
                              out_dir=Path(self.config.getoption("lab_out")))
            # the same run as `harness run`: a preflight problem or teardown leftovers fail
            # the scenario there, so they fail every one of its tests here
            # (a training lab: every stage's solution, then its checks, as `harness run`)
            self.result = scenario_run_for(self.topology, options).run()
        return self.result


class CheckFailed(Exception):
    def __init__(self, result: CheckResult, scenario: ScenarioResult):
        super().__init__(result.reason)
        self.result = result
        self.scenario = scenario


class CheckItem(pytest.Item):
    def __init__(self, *, line: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.line = line

    def runtest(self) -> None:
        scenario = self.parent.run_once()
        result = next((c for c in scenario.checks if c.id == self.name), None)
        if result is None:
            raise CheckFailed(CheckResult(self.name, "?", Outcome.FAIL,
                                          scenario.error or "check produced no result"), scenario)
        for pcap in result.pcaps:
            self.user_properties.append(("pcap", pcap))
        outcome = scenario.outcome_of(result)
        if outcome == Outcome.SKIP:
            pytest.skip(result.reason)
        if outcome == Outcome.FAIL:
            raise CheckFailed(result, scenario)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, CheckFailed):
            result, scenario = excinfo.value.result, excinfo.value.scenario
            own = result.outcome == Outcome.FAIL
            lines = [f"{scenario.name}::{result.id} failed: "
                     f"{result.reason if own else scenario.error}"]
            if own and scenario.error is not None and scenario.error != result.reason:
                lines.append(f"the scenario failed too: {scenario.error}")
            elif not own:
                lines.append(f"(the check itself: {result.outcome.upper()} {result.reason})")
            if result.expect_failure:
                lines.append("(this check expects the behaviour to be absent)")
            lines += self._stage_lines()
            lines += [f"  | {line}" for line in result.evidence]
            lines += [f"  pcap: {p}" for p in result.pcaps]
            return "\n".join(lines)
        return super().repr_failure(excinfo)

    def _stage_lines(self) -> list[str]:
        """A training lab's check: which stage, its goal and hints."""
        stage_name = self.name.partition("/")[0] if "/" in self.name else None
        stage = next((s for s in self.parent.topology.stages if s.name == stage_name), None)
        if stage is None:
            return []
        return [f"stage {stage.name}: {stage.goal}", *(f"  hint: {h}" for h in stage.hints)]

    def reportinfo(self):
        return self.path, (self.line or 1) - 1, f"{self.parent.topology.name}::{self.name}"


class InvalidScenarioError(Exception):
    pass


class InvalidScenario(pytest.Item):
    def __init__(self, *, error: str, **kwargs):
        super().__init__(**kwargs)
        self.error = error

    def runtest(self) -> None:
        raise InvalidScenarioError(self.error)

    def repr_failure(self, excinfo, style=None):
        return f"invalid scenario:\n{self.error}"

    def reportinfo(self):
        return self.path, 0, f"{self.path.name}::validate"
