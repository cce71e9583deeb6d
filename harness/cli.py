"""The `harness` command line."""

from __future__ import annotations

import argparse
import atexit
import gc
import logging
import os
import signal
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from harness import engines
from harness.results import RunResult
from harness.scenario import ScenarioError, load_scenario
from harness.substrates import names as substrate_names
from harness.substrates.runs import WORK_ROOT
from harness.topology import Topology

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


def _variables(pairs: list[str]) -> dict[str, str]:
    variables = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"harness: --var wants KEY=VALUE, got {pair!r}")
        variables[key] = value
    return variables


def load_all(files: list[str], variables: dict[str, str],
             engine: str | None = None) -> list[Topology]:
    """Load every file; on any invalid one print every problem and exit 2 (nothing created).
    `engine`: `--engine`, when the verb has it (over each scenario's own `engine:`)."""
    topologies, problems = [], []
    for name in files:
        try:
            topologies.append(load_scenario(Path(name), variables, engine))
        except ScenarioError as exc:
            problems.append(str(exc))
        except OSError as exc:
            problems.append(f"{name}: {exc.strerror or exc}")
    names = [t.name for t in topologies]
    for duplicate in sorted({n for n in names if names.count(n) > 1}):
        sources = [t.source for t in topologies if t.name == duplicate]
        problems.append(f"scenario name {duplicate!r} is used by {', '.join(map(str, sources))}")
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        raise SystemExit(EXIT_INVALID)
    return topologies


def _select(topologies: list[Topology], keyword: str | None, tags: list[str]) -> list[Topology]:
    chosen = []
    for topology in topologies:
        if keyword and keyword not in topology.name:
            continue
        if tags and not set(tags) & set(topology.tags):
            continue
        chosen.append(topology)
    return chosen


def _setup_progress(verbose: bool) -> None:
    from harness.progress import install

    install(verbose)


def _finish_progress() -> None:
    """Take the live status line down before printing to stdout."""
    from harness.progress import finish

    finish()


def _terminate_on_sigterm() -> None:
    def handler(signum, frame):  # turn SIGTERM into the same clean path as Ctrl-C
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)


# ---------------------------------------------------------------------- verbs
def cmd_validate(args) -> int:
    warned = False
    for topology in load_all(args.files, _variables(args.var), args.engine):
        checks = len(topology.checks) + sum(len(s.checks) for s in topology.stages)
        stages = f", {len(topology.stages)} stage(s)" if topology.stages else ""
        for warning in topology.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        warned = warned or bool(topology.warnings)
        verdict = "ok" if not topology.warnings else f"ok, {len(topology.warnings)} warning(s)"
        print(f"{topology.source}: {verdict} ({topology.name}: {len(topology.hosts)} host(s), "
              f"{checks} check(s){stages})")
    return EXIT_INVALID if warned and args.strict else EXIT_OK


def _inventory(path: str) -> str:
    """--inventory FILE: the ssh substrate reads it from HARNESS_INVENTORY (substrates/ssh.py)."""
    os.environ["HARNESS_INVENTORY"] = str(Path(path).resolve())
    return path


def cmd_run(args) -> int:
    from harness.lab.staged import scenario_run_for
    from harness.report import markdown_summary, write_reports
    from harness.session import Options

    topologies = _select(load_all(args.files, _variables(args.var), args.engine), args.k,
                         args.tag)
    if not topologies:
        print("harness: no scenario selected", file=sys.stderr)
        return EXIT_INVALID
    _setup_progress(args.verbose)
    _terminate_on_sigterm()
    options = Options(substrate=args.substrate, engine=args.engine, out_dir=Path(args.out),
                      require_all=args.require_all,
                      work_root=Path(args.workdir) if args.workdir else None)
    run = RunResult(started=datetime.now(UTC).isoformat(timespec="seconds"),
                    substrate=args.substrate or "scenario default",
                    engine=args.engine or "scenario default")
    started = time.monotonic()
    interrupted = False
    try:
        if args.jobs > 1 and len(topologies) > 1:
            from harness.parallel import run_side_by_side

            run.scenarios, interrupted = run_side_by_side(topologies, args.jobs,
                                                          _forwarded(args), _work_root(args))
        for topology in topologies if args.jobs <= 1 or len(topologies) == 1 else []:
            scenario_run = scenario_run_for(topology, options)
            try:
                run.scenarios.append(scenario_run.run())
            except KeyboardInterrupt:
                run.scenarios.append(scenario_run.result)
                interrupted = True
                break
    finally:
        _finish_progress()
        run.duration = round(time.monotonic() - started, 3)
        used = sorted({s.substrate for s in run.scenarios})
        if used:
            run.substrate = ", ".join(used)
        engines_used = sorted({s.engine for s in run.scenarios})
        if engines_used:
            run.engine = ", ".join(engines_used)
        if args.json_only:  # a child of `run -j N`: its parent writes the reports
            from harness.report.json_report import write_json

            write_json(run, Path(args.json))
        else:
            written = write_reports(run, Path(args.out), junit=_path(args.junit),
                                    json_path=_path(args.json), html=_path(args.html))
            print(markdown_summary(run))
            print("reports: " + ", ".join(str(p) for p in written.values()), file=sys.stderr)
    if interrupted:
        return 130
    return EXIT_FAILED if run.failed else EXIT_OK


def _forwarded(args) -> list[str]:
    """The options of `run` that a child of `run -j N` must also get."""
    forwarded = ["--out", args.out]
    for pair in args.var:
        forwarded += ["--var", pair]
    for flag, value in (("--substrate", args.substrate), ("--engine", args.engine),
                        ("--workdir", args.workdir),
                        ("--inventory", getattr(args, "inventory", None))):
        if value:
            forwarded += [flag, str(value)]
    if args.require_all:
        forwarded.append("--require-all")
    return forwarded


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def cmd_up(args) -> int:
    from harness.session import Options, ScenarioRun, save_state

    (topology,) = load_all([args.file], _variables(args.var), args.engine)
    if topology.stages:
        print(f"harness: {topology.name} is a training lab: `up` brings up its starting point "
              f"(before stage 1 of {len(topology.stages)}); `harness lab start {args.file}` "
              "works through its stages", file=sys.stderr)
    _setup_progress(args.verbose)
    _terminate_on_sigterm()
    options = Options(substrate=args.substrate, engine=args.engine,
                      work_root=Path(args.workdir) if args.workdir else None)
    scenario_run = ScenarioRun(topology, options)
    lab = scenario_run.up()
    state = save_state(Path(lab.workdir).parent, topology.name, lab, topology.source,
                       _variables(args.var))
    _finish_progress()
    print(f"{topology.name} is up (run {lab.run_id}); state in {state}")
    print(f"next: harness verify {args.file}   then: harness down {args.file}")
    return EXIT_OK


def _work_root(args) -> Path:
    return Path(args.workdir) if args.workdir else WORK_ROOT


def cmd_verify(args) -> int:
    from harness.report import markdown_summary, write_reports
    from harness.session import Options, ScenarioRun, load_state

    (topology,) = load_all([args.file], _variables(args.var))
    if topology.stages:
        where = (f"`harness lab check` (after `harness lab start {args.file}`), "
                 f"`harness run {args.file}` or `pytest {args.file}`")
        if not topology.checks:
            print(f"harness: {topology.name} is a training lab with no checks of its own: "
                  f"its stages' checks run with {where}", file=sys.stderr)
            return EXIT_INVALID
        print(f"harness: {topology.name} is a training lab: verify runs only its own "
              f"`checks:`; its stages' checks run with {where}", file=sys.stderr)
    _setup_progress(args.verbose)
    lab, _ = load_state(_work_root(args), topology.name)
    options = Options(substrate=lab.substrate, engine=lab.engine, out_dir=Path(args.out),
                      require_all=args.require_all, work_root=_work_root(args))
    scenario_run = ScenarioRun(topology, options)
    scenario_run.verify(lab)
    run = RunResult(scenarios=[scenario_run.result], substrate=lab.substrate, engine=lab.engine,
                    started=datetime.now(UTC).isoformat(timespec="seconds"))
    write_reports(run, Path(args.out), junit=_path(args.junit), json_path=_path(args.json))
    _finish_progress()
    print(markdown_summary(run))
    return EXIT_FAILED if run.failed else EXIT_OK


def cmd_down(args) -> int:
    from harness.session import load_state, state_file
    from harness.substrates import make_substrate

    name = args.file
    if os.path.exists(args.file):
        (topology,) = load_all([args.file], _variables(args.var))
        name = topology.name
    lab, _ = load_state(_work_root(args), name)
    leftovers = make_substrate(lab.substrate, _work_root(args)).down(lab)
    state_file(_work_root(args), name).unlink(missing_ok=True)
    if leftovers:
        print("left behind: " + "; ".join(leftovers), file=sys.stderr)
        return EXIT_FAILED
    print(f"{name} is down (run {lab.run_id})")
    return EXIT_OK


def cmd_gc(args) -> int:
    from harness.substrates.gc import collect

    report = collect(_work_root(args), dry_run=args.dry_run, vms=args.vms)
    verb = "would remove" if args.dry_run else "removed"
    for run_id in report.reaped:
        print(f"{verb} {run_id}" if run_id.startswith("VM ") else f"{verb} dead run {run_id}")
    for run_id, why in sorted(report.kept.items()):
        print(f"kept {run_id}: {why}" if run_id.startswith("VM ") else f"kept run {run_id}: {why}")
    for problem in report.problems:
        print(f"left behind: {problem}", file=sys.stderr)
    if not report.reaped and not report.kept:
        print(f"no runs in {_work_root(args)}")
    return EXIT_FAILED if report.problems else EXIT_OK


def cmd_doctor(args) -> int:
    from harness.doctor import doctor

    return doctor()


def cmd_schema(args) -> int:
    import json

    from harness.scenario import scenario_json_schema

    text = json.dumps(scenario_json_schema(), indent=2)
    if args.output:
        Path(args.output).write_text(text + "\n")
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        print(text)
    return EXIT_OK


def cmd_graph(args) -> int:
    from harness.lab import views
    from harness.lab.hosts import LabError
    from harness.report.graph import topology_dot

    (topology,) = load_all([args.file], _variables(args.var), args.engine)
    topology = replace(topology, engine=engines.get(topology.engine).name)
    try:
        if args.stage == views.ALL:
            views.stage_index(topology, None)  # says so when the file has no stages
            return _write_graphs(views.all_graphs(topology), args.output)
        if args.stage is not None:
            dot_text = views.stage_graph(topology, views.stage_index(topology, args.stage))
        elif topology.stages:
            dot_text = views.start_graph(topology)
            print(f"harness: {topology.name} is a training lab; this is its starting point. "
                  f"Stages: {views.stage_list(topology)}. --stage N|NAME draws the lab after "
                  "that stage, --stage all every stage", file=sys.stderr)
        else:
            dot_text = topology_dot(topology)
    except LabError as exc:
        print(f"harness: {exc}", file=sys.stderr)
        return EXIT_INVALID
    return _write_graphs([("", dot_text)], args.output)


def _write_graphs(graphs: list[tuple[str, str]], output: str | None) -> int:
    """DOT text to stdout without -o; else one file per graph (`out-SUFFIX.svg` when several),
    drawn by Graphviz unless the file is .dot/.gv."""
    from harness.lab.views import graph_file
    from harness.report.graph import render

    if not output:
        print("".join(text for _, text in graphs), end="")
        return EXIT_OK
    fmt = Path(output).suffix.lstrip(".") or "dot"
    for suffix, dot_text in graphs:
        path = graph_file(Path(output), suffix) if suffix else Path(output)
        if fmt in ("dot", "gv"):
            path.write_text(dot_text)
        else:
            drawn = render(dot_text, fmt)
            if drawn is None:
                print(f"harness: Graphviz `dot` is missing or cannot write {fmt!r} "
                      "(apt-get install graphviz); without -o the DOT text is printed",
                      file=sys.stderr)
                return EXIT_FAILED
            path.write_bytes(drawn)
        print(f"wrote {path}", file=sys.stderr)
    return EXIT_OK


def cmd_plan(args) -> int:
    from harness.lab.hosts import LabError
    from harness.lab.views import format_staged_plan, stage_index
    from harness.lxd.plan import format_plan

    (topology,) = load_all([args.file], _variables(args.var), args.engine)
    engine = engines.get(topology.engine)
    try:
        index = stage_index(topology, args.stage) if args.stage is not None else None
    except LabError as exc:
        print(f"harness: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if topology.stages:
        print(format_staged_plan(topology, engine, index), end="")
    else:
        print(format_plan(topology, engine), end="")
    return EXIT_OK


def cmd_ls(args) -> int:
    from harness.catalog import format_table, scenario_files, summarize

    paths = [Path(p) for p in args.paths or ["scenarios"]]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        print(f"harness: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return EXIT_INVALID
    summaries = [summarize(f, _variables(args.var)) for f in scenario_files(paths)]
    if args.tag:
        summaries = [s for s in summaries if s.error or set(args.tag) & set(s.tags)]
    print(format_table(summaries), end="")
    return EXIT_OK


def cmd_image(args) -> int:
    from harness.lxd.image import ImageError, build_busybox_image

    try:
        built = build_busybox_image(Path(args.dir))
    except ImageError as exc:
        print(f"harness: {exc}", file=sys.stderr)
        return EXIT_FAILED
    tarball = built.replace(built.with_name("busybox-image.tar.gz"))
    print(tarball)
    client = engines.get(args.engine).client
    print(f"import it with: {client} image import {tarball} --alias busybox", file=sys.stderr)
    return EXIT_OK


# ---------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness",
        description="Build LXD or Incus network topologies from scenario files and prove them "
                    "with packets.")
    sub = parser.add_subparsers(dest="verb", required=True)

    def common(p, files="many"):
        if files == "many":
            p.add_argument("files", nargs="+", metavar="FILE", help="scenario files")
        else:
            p.add_argument("file", metavar="FILE", help="scenario file")
        p.add_argument("--var", action="append", default=[], metavar="KEY=VALUE",
                       help="a jinja2 variable for the scenario template (repeatable)")
        p.add_argument("--workdir", help=f"work folder for labs (default {WORK_ROOT})")
        p.add_argument("-v", "--verbose", action="store_true")

    def engine_option(p):
        p.add_argument("--engine", choices=list(engines.ENGINES),
                       help="the container engine every host runs (default: the scenario's, "
                            f"else {engines.DEFAULT_ENGINE})")

    def reporting(p):
        p.add_argument("--out", default="reports", help="report folder (default reports/)")
        p.add_argument("--junit", metavar="PATH", help="also write JUnit XML here")
        p.add_argument("--json", metavar="PATH", help="write the JSON results here")
        p.add_argument("--require-all", action="store_true",
                       help="a check skipped for a missing capability fails instead")

    p = sub.add_parser("validate", help="load, validate and lint scenario files")
    common(p)
    p.add_argument("--strict", action="store_true",
                   help="lint's warnings are errors too (exit 2)")
    engine_option(p)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("run", help="up + verify + down for each scenario, then reports")
    common(p)
    reporting(p)
    p.add_argument("--html", metavar="PATH", help="write the HTML report here")
    p.add_argument("--substrate", choices=substrate_names(),
                   help="where hosts come from (default: the scenario's, else local)")
    engine_option(p)
    p.add_argument("--inventory", metavar="FILE", type=_inventory,
                   help="hosts of the ssh substrate (else $HARNESS_INVENTORY)")
    p.add_argument("-k", metavar="TEXT", help="only scenarios whose name contains TEXT")
    p.add_argument("--tag", action="append", default=[], help="only scenarios with this tag")
    p.add_argument("-j", "--jobs", type=int, default=1, metavar="N",
                   help="run N scenarios side by side, each in its own process (default 1)")
    p.add_argument("--json-only", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("up", help="bring a scenario up and apply it; leave it running")
    common(p, files="one")
    p.add_argument("--substrate", choices=substrate_names())
    engine_option(p)
    p.add_argument("--inventory", metavar="FILE", type=_inventory,
                   help="hosts of the ssh substrate (else $HARNESS_INVENTORY)")
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("verify", help="run the checks against a scenario that is up")
    common(p, files="one")
    reporting(p)
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("down", help="tear a scenario down (FILE or scenario name)")
    common(p, files="one")
    p.set_defaults(func=cmd_down)

    p = sub.add_parser("gc", help="remove what dead runs (a killed harness) left behind")
    p.add_argument("--workdir", help=f"work folder for labs (default {WORK_ROOT})")
    p.add_argument("--dry-run", action="store_true", help="only say what would be removed")
    p.add_argument("--vms", action="store_true",
                   help="also the idle VMs of the vagrant substrate's pool (kept ones too)")
    p.set_defaults(func=cmd_gc)

    p = sub.add_parser("doctor", help="what this machine can do")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("schema", help="the JSON Schema of the scenario format")
    p.add_argument("-o", "--output", help="write it to this file")
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser("graph", help="draw a scenario's topology with Graphviz")
    p.add_argument("file", metavar="FILE", help="scenario file")
    p.add_argument("-o", "--output", metavar="PATH",
                   help="out.svg, out.png, out.pdf (drawn by `dot`) or out.dot; "
                        "default: DOT text on stdout")
    p.add_argument("--var", action="append", default=[], metavar="KEY=VALUE")
    engine_option(p)
    p.add_argument("--stage", metavar="N|NAME|all",
                   help="a training lab after this stage's solution, what the stage adds in "
                        "red (default: its starting point); `all`: the start and every stage, "
                        "one file each (OUT-0-start.svg, OUT-1-NAME.svg, ...)")
    p.set_defaults(func=cmd_graph)

    p = sub.add_parser("plan", help="the commands a scenario means, host by host")
    p.add_argument("file", metavar="FILE", help="scenario file")
    p.add_argument("--var", action="append", default=[], metavar="KEY=VALUE")
    engine_option(p)
    p.add_argument("--stage", metavar="N|NAME",
                   help="a training lab at this stage: the lines that get it there, then the "
                        "stage (default: the starting point and every stage)")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("ls", help="list scenarios: name, hosts, checks, tags, description")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="folders or files (default scenarios/)")
    p.add_argument("--tag", action="append", default=[], help="only scenarios with this tag")
    p.add_argument("--var", action="append", default=[], metavar="KEY=VALUE")
    p.set_defaults(func=cmd_ls)

    p = sub.add_parser("image", help="build the busybox image tarball (for `lxc image import`, "
                                     "`incus image import`)")
    p.add_argument("action", choices=["build"])
    p.add_argument("--dir", default=".", help="folder for busybox-image.tar.gz (default .)")
    engine_option(p)
    p.set_defaults(func=cmd_image)

    from harness.lab.cli import add_parsers as add_lab_parsers

    add_lab_parsers(sub)
    return parser


# The interpreter's last garbage collections would walk every object a run made or imported
# (0.1-0.3 s between the summary and the exit); the process ends anyway, so they skip them.
atexit.register(gc.freeze)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("harness: interrupted; torn down", file=sys.stderr)
        return 130
    except FileNotFoundError as exc:
        print(f"harness: {exc}", file=sys.stderr)
        return EXIT_INVALID


if __name__ == "__main__":
    sys.exit(main())
