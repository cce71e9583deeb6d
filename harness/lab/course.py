"""A training lab that is up: which file, which stage; start, reset, solve, stop.

The lab itself is recorded like `harness up` records it (`by-name/NAME.json`, so `harness
shell`, `exec`, `down` and `gc` know it); the course's own state is `labs/NAME.json` beside
it, and the current stage is also written where the shell's transcript hook reads it.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.lab import transcript
from harness.lab.hosts import LabError, find_lab, labs_up
from harness.lab.staged import apply_solution, stage_skip_reasons
from harness.lab.views import stage_index  # noqa: F401  (the lab verbs' --stage)
from harness.scenario import ScenarioError, load_scenario
from harness.session import Options, ScenarioRun, load_state, save_state, state_file
from harness.substrates import make_substrate
from harness.substrates.base import Lab
from harness.topology import Stage, Topology


@dataclass
class Course:
    name: str
    source: str
    variables: dict[str, str] = field(default_factory=dict)
    substrate: str | None = None
    #: index into topology.stages
    stage: int = 0
    #: stage name -> why it is skipped on this machine
    skipped: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def path(work_root: Path, name: str) -> Path:
        return work_root / "labs" / f"{name}.json"

    def save(self, work_root: Path) -> None:
        path = self.path(work_root, self.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2))
        transcript.set_stage(work_root, self.name, self.current_name())

    @classmethod
    def load(cls, work_root: Path, name: str | None) -> Course:
        """The course called `name`, or the only one started."""
        started = sorted(p.stem for p in (work_root / "labs").glob("*.json"))
        if name is None:
            if not started:
                raise LabError("no training lab is started: harness lab start FILE")
            if len(started) > 1:
                raise LabError(f"several training labs are started ({', '.join(started)}): "
                               "say which with --lab NAME")
            name = started[0]
        if name not in started:
            close = difflib.get_close_matches(name, started, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise LabError(f"no training lab {name!r} is started{hint}")
        course = cls(**json.loads(cls.path(work_root, name).read_text()))
        if name not in labs_up(work_root):
            raise LabError(f"lab {name} is down (was it stopped with `harness down`?): "
                           f"harness lab start {course.source}")
        return course

    def topology(self) -> Topology:
        try:
            return load_scenario(self.source, self.variables)
        except (ScenarioError, OSError) as exc:
            raise LabError(f"cannot load {self.source}: {exc}") from exc

    def current_name(self) -> str:
        try:
            return self.topology().stages[self.stage].name
        except (LabError, IndexError):
            return ""


def load_course_file(path: str, variables: dict[str, str]) -> Topology:
    try:
        topology = load_scenario(path, variables)
    except OSError as exc:
        raise LabError(f"{path}: {exc.strerror or exc}") from exc
    if not topology.stages:
        raise LabError(f"{path} has no `stages:`: it is a scenario, not a training lab "
                       "(bring it up with `harness up`)")
    return topology


def bring_up(topology: Topology, options: Options, upto: int,
             skipped: dict[str, str]) -> tuple[ScenarioRun, Lab]:
    """A fresh lab at the start of stage `upto`: hosts, then the earlier solutions.

    Stages this machine cannot do are skipped (their reasons go to `skipped`)."""
    run = ScenarioRun(topology, options)
    lab = run.up()
    try:
        for stage in topology.stages[:upto]:
            reasons = stage_skip_reasons(run.substrate, topology, lab, stage)
            if reasons:
                skipped[stage.name] = "; ".join(reasons)
                continue
            apply_solution(run.substrate, lab, topology, stage)
    except BaseException:
        run.down(lab)
        raise
    return run, lab


def next_runnable(run: ScenarioRun, topology: Topology, lab: Lab, index: int,
                  skipped: dict[str, str]) -> int:
    """The first stage from `index` on that this machine can do (or len(stages))."""
    while index < len(topology.stages):
        stage = topology.stages[index]
        reasons = stage_skip_reasons(run.substrate, topology, lab, stage)
        if not reasons:
            return index
        skipped[stage.name] = "; ".join(reasons)
        index += 1
    return index


def stop_running(work_root: Path, name: str) -> list[str]:
    """Tear down lab `name` if it is up; what could not be removed."""
    if name not in labs_up(work_root):
        return []
    lab, _ = load_state(work_root, name)
    leftovers = make_substrate(lab.substrate, work_root).down(lab)
    state_file(work_root, name).unlink(missing_ok=True)
    return leftovers


def start(topology: Topology, source: str, variables: dict[str, str], options: Options,
          index: int) -> tuple[Course, Lab]:
    """Bring the course up at stage `index` (from scratch), recorded for the other verbs."""
    assert options.work_root is not None
    work_root = options.work_root
    leftovers = stop_running(work_root, topology.name)
    if leftovers:
        raise LabError("the previous lab left: " + "; ".join(leftovers))
    skipped: dict[str, str] = {}
    run, lab = bring_up(topology, options, index, skipped)
    index = next_runnable(run, topology, lab, index, skipped)
    save_state(work_root, topology.name, lab, source, variables)
    course = Course(topology.name, str(Path(source).resolve()), variables,
                    options.substrate, min(index, len(topology.stages) - 1), skipped)
    if index >= len(topology.stages):
        course.stage = len(topology.stages) - 1
    course.save(work_root)
    return course, lab


def current_lab(work_root: Path, course: Course) -> Lab:
    return find_lab(work_root, course.name)


def stage_of(course: Course, topology: Topology) -> Stage:
    return topology.stages[course.stage]


def stop(work_root: Path, course: Course) -> list[str]:
    leftovers = stop_running(work_root, course.name)
    Course.path(work_root, course.name).unlink(missing_ok=True)
    transcript.set_stage(work_root, course.name, "")
    return leftovers
