"""The command line of training labs: `harness shell`, `harness exec`, `harness lab ...`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.lab.hosts import LabError
from harness.scenario import ScenarioError

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


def work_root(args: argparse.Namespace) -> Path:
    from harness.substrates.runs import WORK_ROOT

    return Path(args.workdir) if getattr(args, "workdir", None) else WORK_ROOT


def _guarded(verb):
    """Lab and input errors end as one line on stderr and exit 2, never a traceback."""
    def run(args: argparse.Namespace) -> int:
        try:
            return verb(args)
        except (LabError, ScenarioError) as exc:
            print(f"harness: {exc}" if isinstance(exc, LabError) else exc, file=sys.stderr)
            return EXIT_INVALID
    return run


def cmd_shell(args: argparse.Namespace) -> int:
    from harness.lab.hosts import shell

    return shell(work_root(args), args.lab, args.host)


def cmd_exec(args: argparse.Namespace) -> int:
    from harness.lab.hosts import exec_command

    command = list(args.command)
    if "--" in command:  # options typed after HOST: `exec host1 --lab x -- lxc list`
        split = command.index("--")
        options = argparse.ArgumentParser(prog="harness exec", add_help=False)
        options.add_argument("--lab")
        options.add_argument("--workdir")
        given = options.parse_args(command[:split])
        args.lab = given.lab or args.lab
        args.workdir = given.workdir or args.workdir
        command = command[split + 1:]
    return exec_command(work_root(args), args.lab, args.host, command)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    def where(p: argparse.ArgumentParser) -> None:
        p.add_argument("--lab", metavar="NAME", help="which lab (default: the only one up)")
        p.add_argument("--workdir", help="work folder for labs (default /var/tmp/lxd-harness)")

    p = sub.add_parser("shell", help="a shell on a host of a lab that is up "
                                     "(lxc or incus reaches its daemon)")
    p.add_argument("host", metavar="HOST")
    where(p)
    p.set_defaults(func=_guarded(cmd_shell))

    p = sub.add_parser("exec", help="one command on a host of a lab that is up: exec HOST -- CMD")
    p.add_argument("host", metavar="HOST")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND")
    where(p)
    p.set_defaults(func=_guarded(cmd_exec))
    add_lab_parser(sub)


# ---------------------------------------------------------------------- harness lab ...
def _options(args: argparse.Namespace, substrate: str | None = None):
    from harness.session import Options

    return Options(substrate=substrate, work_root=work_root(args),
                   out_dir=Path(getattr(args, "out", None) or "reports"))


def _variables(pairs: list[str]) -> dict[str, str]:
    from harness.cli import _variables as parse

    return parse(pairs)


def _progress(verbose: bool):
    from harness.progress import finish, install

    install(verbose)
    return finish


def _announce(course, topology, lab=None, skipped_before: dict[str, str] | None = None) -> None:
    stage = topology.stages[course.stage]
    for name, why in course.skipped.items():
        if skipped_before is None or name not in skipped_before:
            print(f"Stage {name} is skipped: this machine lacks what it needs ({why})")
    total = len(topology.stages)
    print(f"\nStage {course.stage + 1}/{total}: {stage.name}")
    print(f"Goal: {stage.goal}")
    hosts = ", ".join(topology.hosts)
    print(f"\nWork on the hosts with `harness shell HOST` ({hosts}); "
          "check your work with `harness lab check`.")


def _start(args: argparse.Namespace, topology, source, variables, substrate: str, index: int,
           verb: str):
    """Bring the course's lab up at stage `index` (start and reset alike), recorded for the
    learner's transcript; returns the course and the lab."""
    from harness.lab import transcript
    from harness.lab.course import start

    done = _progress(args.verbose)
    try:
        course, lab = start(topology, source, variables, _options(args, substrate), index)
    finally:
        done()
    stage = course.current_name()
    transcript.record_event(work_root(args), course.name, stage, f"{verb} --stage {stage}")
    return course, lab


def cmd_lab_start(args: argparse.Namespace) -> int:
    from harness.lab.course import load_course_file, stage_index

    variables = _variables(args.var)
    topology = load_course_file(args.file, variables)
    index = stage_index(topology, args.stage)
    course, lab = _start(args, topology, args.file, variables, args.substrate, index,
                         "harness lab start")
    print(f"{topology.name} is up (run {lab.run_id}, substrate {lab.substrate})")
    _announce(course, topology)
    return EXIT_OK


def _course(args: argparse.Namespace):
    from harness.lab.course import Course

    course = Course.load(work_root(args), args.lab)
    return course, course.topology()


def cmd_lab_check(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from harness.lab.course import current_lab
    from harness.lab.words import grade_lines, passed
    from harness.report import write_reports
    from harness.results import RunResult
    from harness.session import ScenarioRun

    course, topology = _course(args)
    stage = topology.stages[course.stage]
    lab = current_lab(work_root(args), course)
    run = ScenarioRun(topology, _options(args, lab.substrate))
    results = run.verify(lab, stage.checks)
    report = RunResult(scenarios=[run.result], substrate=lab.substrate,
                       started=datetime.now(UTC).isoformat(timespec="seconds"))
    write_reports(report, Path(args.out))
    print(f"Stage {course.stage + 1}/{len(topology.stages)}: {stage.name}")
    print(f"Goal: {stage.goal}\n")
    print("\n".join(grade_lines(stage, results)))
    if passed(results):
        last = course.stage == len(topology.stages) - 1
        after = "that was the last stage." if last else "go on with `harness lab next`."
        print(f"\nPASS: stage {stage.name} is done; {after}")
        return EXIT_OK
    failing = sum(1 for r in results if str(r.outcome) == "fail")
    print(f"\nFAIL: stage {stage.name} is not done yet ({failing} of {len(results)} checks "
          "fail). Stuck? `harness lab solve` applies the solution, `harness lab reset` "
          "starts the stage again.")
    return EXIT_FAILED


def cmd_lab_next(args: argparse.Namespace) -> int:
    from harness.lab.course import current_lab, next_runnable
    from harness.session import ScenarioRun

    course, topology = _course(args)
    if course.stage >= len(topology.stages) - 1:
        print(f"{topology.stages[course.stage].name} is the last stage of {course.name}: "
              "nothing comes next (`harness lab stop` when you are done).")
        return EXIT_OK
    lab = current_lab(work_root(args), course)
    run = ScenarioRun(topology, _options(args, lab.substrate))
    before = dict(course.skipped)
    index = next_runnable(run, topology, lab, course.stage + 1, course.skipped)
    if index >= len(topology.stages):
        course.save(work_root(args))
        _announce_skips(course.skipped, before)
        print("No stage after this one can run on this machine: the course is complete here.")
        return EXIT_OK
    course.stage = index
    course.save(work_root(args))
    _announce(course, topology, lab, before)
    return EXIT_OK


def _announce_skips(skipped: dict[str, str], before: dict[str, str]) -> None:
    for name, why in skipped.items():
        if name not in before:
            print(f"Stage {name} is skipped: this machine lacks what it needs ({why})")


def cmd_lab_reset(args: argparse.Namespace) -> int:
    from harness.lab.course import stage_index

    course, topology = _course(args)
    index = stage_index(topology, args.stage) if args.stage else course.stage
    course, lab = _start(args, topology, course.source, course.variables, course.substrate,
                         index, "harness lab reset")
    print(f"{topology.name} was rebuilt from scratch (run {lab.run_id})")
    _announce(course, topology)
    return EXIT_OK


def cmd_lab_solve(args: argparse.Namespace) -> int:
    from harness.lab import transcript
    from harness.lab.course import current_lab
    from harness.lab.staged import SolutionError, apply_solution
    from harness.substrates import make_substrate

    course, topology = _course(args)
    stage = topology.stages[course.stage]
    lab = current_lab(work_root(args), course)
    for host, lines in stage.solution_text.items():
        print(f"on {host}:")
        print("\n".join(f"  {line}" for line in lines))
    transcript.record_event(work_root(args), course.name, stage.name, "harness lab solve")
    try:
        apply_solution(make_substrate(lab.substrate, work_root(args)), lab, topology, stage)
    except SolutionError as exc:
        print(f"harness: the solution did not apply on top of what is there: {exc}\n"
              "`harness lab reset` starts the stage from scratch.")
        return EXIT_FAILED
    print(f"\nStage {stage.name}: solution applied; `harness lab check` to see it pass.")
    return EXIT_OK


def cmd_lab_status(args: argparse.Namespace) -> int:
    from harness.lab import transcript
    from harness.lab.course import current_lab

    course, topology = _course(args)
    lab = current_lab(work_root(args), course)
    print(f"{course.name}: {course.source} (run {lab.run_id}, substrate {lab.substrate})")
    for index, stage in enumerate(topology.stages):
        mark = ">" if index == course.stage else " "
        note = f"  (skipped: {course.skipped[stage.name]})" if stage.name in course.skipped else ""
        print(f" {mark} {index + 1}. {stage.name}{note}")
    stage = topology.stages[course.stage]
    print(f"\nGoal: {stage.goal}")
    print(f"Hosts: {', '.join(lab.hosts)} (`harness shell HOST`)")
    print(f"Transcripts: {transcript.folder(work_root(args), course.name)}")
    return EXIT_OK


def cmd_lab_stop(args: argparse.Namespace) -> int:
    from harness.lab import transcript
    from harness.lab.course import stop

    course, _ = _course(args)
    leftovers = stop(work_root(args), course)
    print(f"{course.name} is down; transcripts stay in "
          f"{transcript.folder(work_root(args), course.name)}")
    if leftovers:
        print("left behind: " + "; ".join(leftovers), file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def add_lab_parser(sub: argparse._SubParsersAction) -> None:
    from harness.substrates import names as substrate_names

    lab = sub.add_parser("lab", help="training labs: start, check, next, reset, solve, grade")
    verbs = lab.add_subparsers(dest="lab_verb", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--lab", metavar="NAME", help="which lab (default: the only one started)")
        p.add_argument("--workdir", help="work folder for labs (default /var/tmp/lxd-harness)")
        p.add_argument("-v", "--verbose", action="store_true")

    p = verbs.add_parser("start", help="bring a training lab up at the start of a stage")
    p.add_argument("file", metavar="FILE", help="a scenario file with stages:")
    p.add_argument("--stage", metavar="NAME|N", help="start at this stage (default: the first)")
    p.add_argument("--var", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--substrate", choices=substrate_names(),
                   help="where hosts come from (default: the file's, else local)")
    common(p)
    p.set_defaults(func=_guarded(cmd_lab_start))

    p = verbs.add_parser("check", help="grade the current stage: PASS/FAIL with hints")
    p.add_argument("--out", default="reports", help="report folder (default reports/)")
    common(p)
    p.set_defaults(func=_guarded(cmd_lab_check))

    for name, func, text in (
            ("next", cmd_lab_next, "go on to the next stage"),
            ("solve", cmd_lab_solve, "apply the current stage's solution"),
            ("status", cmd_lab_status, "the lab, its stages, where you are"),
            ("stop", cmd_lab_stop, "tear the lab down (transcripts stay)")):
        p = verbs.add_parser(name, help=text)
        common(p)
        p.set_defaults(func=_guarded(func))

    p = verbs.add_parser("grade", help="replay learners' transcripts, grade every stage: "
                                       "a CSV and HTML grade sheet")
    p.add_argument("file", metavar="FILE", help="the training lab (a file with stages:)")
    p.add_argument("transcripts", nargs="+", metavar="TRANSCRIPTS",
                   help="one folder per learner with its HOST.log files")
    p.add_argument("--out", default="reports", help="folder for grades.csv and grades.html")
    p.add_argument("--var", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--substrate", choices=substrate_names())
    p.add_argument("--workdir", help="work folder for labs (default /var/tmp/lxd-harness)")
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(func=_guarded(cmd_lab_grade))

    p = verbs.add_parser("reset", help="rebuild the lab from scratch at the start of a stage")
    p.add_argument("--stage", metavar="NAME|N", help="this stage (default: the current one)")
    common(p)
    p.set_defaults(func=_guarded(cmd_lab_reset))


def cmd_lab_grade(args: argparse.Namespace) -> int:
    from harness.lab.course import load_course_file
    from harness.lab.grade import format_sheet, grade, write_csv, write_html

    topology = load_course_file(args.file, _variables(args.var))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    done = _progress(args.verbose)
    try:
        sheet = grade(topology, [Path(p) for p in args.transcripts],
                      _options(args, args.substrate))
    finally:
        done()
    write_csv(sheet, out / "grades.csv")
    write_html(sheet, out / "grades.html")
    print(format_sheet(sheet))
    print(f"grade sheet: {out / 'grades.csv'}, {out / 'grades.html'}", file=sys.stderr)
    return EXIT_OK
