"""A training lab seen stage by stage without running anything: `harness plan` and
`harness graph` of a staged file.

Pure: a Topology in, text out. The lab "at" a stage is the starting point (`hosts:`) with
the solutions of the stages up to it applied, as `harness lab` and `harness run` apply them.
"""

from __future__ import annotations

import dataclasses
import difflib
import shlex
import textwrap
from pathlib import Path

from harness.checks.base import planned_ids
from harness.engines import LXD, Engine, is_client_line, translate
from harness.lab.hosts import LabError
from harness.lab.words import describe
from harness.lxd.plan import format_plan
from harness.report.graph import Drawn, drawn, topology_dot
from harness.topology import Stage, Topology

WIDTH = 96
#: `harness graph --stage all`: the starting point, then every stage
ALL = "all"


def stage_index(topology: Topology, wanted: str | None) -> int:
    """`--stage NAME` or `--stage N` (1-based) -> index; None -> the first stage."""
    if not topology.stages:
        raise LabError(f"{topology.source or topology.name} has no `stages:` "
                       "(it is a scenario, not a training lab): leave out --stage")
    if wanted is None:
        return 0
    names = [stage.name for stage in topology.stages]
    if wanted.isdigit() and 1 <= int(wanted) <= len(names):
        return int(wanted) - 1
    if wanted in names:
        return names.index(wanted)
    close = difflib.get_close_matches(wanted, names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise LabError(f"{topology.name} has no stage {wanted!r}{hint}; stages: "
                   f"{stage_list(topology)}")


def stage_list(topology: Topology) -> str:
    return ", ".join(f"{i}. {stage.name}" for i, stage in enumerate(topology.stages, 1))


def solved_through(topology: Topology, count: int) -> Topology:
    """The lab as the solutions of its first `count` stages leave it, for plans and pictures:
    each host's `lxc` lines join its `commands:`, its other lines (brctl, ip, ovs-vsctl,
    fanctl) its `setup:`. Not for bringing a lab up (`harness lab` runs them in order)."""
    hosts = {}
    for name, host in topology.hosts.items():
        lines = [argv for stage in topology.stages[:count] for argv in stage.solution.get(name, ())]
        hosts[name] = dataclasses.replace(
            host,
            setup=host.setup + tuple(argv for argv in lines if not is_client_line(argv)),
            commands=host.commands + tuple(argv for argv in lines if is_client_line(argv)))
    return dataclasses.replace(topology, hosts=hosts)


def _heading(topology: Topology, index: int) -> str:
    return f"stage {index + 1}/{len(topology.stages)} {topology.stages[index].name}"


# ------------------------------------------------------------------------------ what changes
def stage_changes(topology: Topology, index: int) -> tuple[Drawn, list[str]]:
    """What stage `index`'s solution changes in the picture of the lab: the nodes and edges
    it adds or changes (to draw in red), and the same as lines (`+` added, `~` changed,
    `-` removed)."""
    before, after = (drawn(solved_through(topology, n), every_default_bridge=True)
                     for n in (index, index + 1))
    lines: list[str] = []
    changed_nodes = {}
    for node, label in after.nodes.items():
        old = before.nodes.get(node)
        if old is None:
            lines.append(f"+ {node}: {', '.join(label[1:]) or label[0]}")
        elif old != label:
            lines.append(f"~ {node}: " + ", ".join(part for part in label if part not in old))
        else:
            continue
        changed_nodes[node] = label
    lines += [f"- {node}" for node in before.nodes if node not in after.nodes]
    new_edges = after.edges - before.edges
    gone_edges = before.edges - after.edges
    for a, b, label in sorted(new_edges):
        same_ends = [e for e in gone_edges if e[:2] == (a, b)]
        lines.append(f"{'~' if same_ends else '+'} {_edge(a, b, label)}")
        gone_edges -= set(same_ends)
    lines += [f"- {_edge(a, b, label)}" for a, b, label in sorted(gone_edges)]
    return Drawn(changed_nodes, frozenset(new_edges)), lines


def _edge(a: str, b: str, label: tuple[str, ...]) -> str:
    return f"{a} -- {b}" + (f" ({', '.join(label)})" if label else "")


# ------------------------------------------------------------------------------------ plan
def _comment(text: str, indent: str = "") -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent="# " + indent,
                         subsequent_indent="# " + indent + "  ")


def _solution_lines(stage: Stage, engine: Engine) -> list[str]:
    lines = []
    for host, argvs in stage.solution.items():
        lines.append(f"# ---- {host}")
        lines += [shlex.join(translate(engine, argv)) for argv in argvs]
    return lines or ["# (nothing to type)"]


def check_lines(stage: Stage) -> list[str]:
    """`ID: what must be true` per check result, as `harness lab check` words them."""
    lines = []
    for spec in stage.checks:
        needs = f" (needs {', '.join(spec.requires)})" if spec.requires else ""
        for check_id in planned_ids(spec):
            part = check_id.partition("[")[2].rstrip("]")
            lines.append(f"{check_id}: {describe(spec, part)}{needs}")
    return lines


def stage_plan(topology: Topology, index: int, engine: Engine = LXD) -> list[str]:
    """One stage in full: goal, its lines host by host, what they change, its checks."""
    stage = topology.stages[index]
    out = [f"# ======== {_heading(topology, index)}", *_comment(f"goal: {stage.goal}")]
    out += _solution_lines(stage, engine)
    _, changes = stage_changes(topology, index)
    if changes:
        out.append("# what this changes (+ added, ~ changed, - removed):")
        out += [line for change in changes for line in _comment(change, "  ")]
    out.append("# checks, after the solution:")
    out += [line for check in check_lines(stage) for line in _comment(check, "  ")]
    return out


def format_staged_plan(topology: Topology, engine: Engine = LXD,
                       stage: int | None = None) -> str:
    """`harness plan` of a training lab: the starting point as for any scenario, then every
    stage in full; with `stage` (an index) the earlier stages only as their lines (how the
    lab gets to that stage, as `harness lab start --stage` builds it), then that stage."""
    count = len(topology.stages)
    if stage is None:
        note = f"a training lab: the starting point, then its {count} stages in order"
        shown = range(count)
    else:
        earlier = f"the solutions of stages 1-{stage}, " if stage > 1 else (
            "the solution of stage 1, " if stage == 1 else "")
        note = (f"the lab at {_heading(topology, stage)}: the starting point, {earlier}"
                f"then stage {stage + 1}")
        shown = range(stage + 1)
    out = [format_plan(topology, engine, note=note).rstrip("\n")]
    for index in shown:
        out.append("")
        if index == stage or stage is None:
            out += stage_plan(topology, index, engine)
        else:
            out += [f"# ======== {_heading(topology, index)}: its solution",
                    *_solution_lines(topology.stages[index], engine)]
    if topology.checks and stage is None:
        out += ["", "# ======== after the last stage: the lab's own checks"]
        out += [f"#   {spec.id}: {describe(spec)}" for spec in topology.checks]
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------------- graph
def stage_graph(topology: Topology, index: int) -> str:
    """The lab once stage `index`'s solution ran, what the stage added or changed in red."""
    changed, changes = stage_changes(topology, index)
    removed = [line[2:] for line in changes if line.startswith("- ")]
    title = [f"{topology.name}: {_heading(topology, index)}, after its solution",
             "red: added or changed by this stage"]
    title += textwrap.wrap("removed: " + "; ".join(removed), WIDTH) if removed else []
    return topology_dot(solved_through(topology, index + 1), title, changed,
                        every_default_bridge=True)


def start_graph(topology: Topology) -> str:
    """The starting point of a training lab (before stage 1), its stages in the caption."""
    title = [f"{topology.name}: the starting point, before stage 1 of {len(topology.stages)}"]
    title += textwrap.wrap("stages: " + stage_list(topology), WIDTH)
    return topology_dot(topology, title, every_default_bridge=True)


def all_graphs(topology: Topology) -> list[tuple[str, str]]:
    """(file-name suffix, DOT text): the starting point, then the lab after each stage."""
    width = len(str(len(topology.stages)))  # 01..12: the files sort in stage order
    graphs = [(f"{0:0{width}}-start", start_graph(topology))]
    graphs += [(f"{i + 1:0{width}}-{stage.name}", stage_graph(topology, i))
               for i, stage in enumerate(topology.stages)]
    return graphs


def graph_file(output: Path, suffix: str) -> Path:
    """`out.svg` + `3-attach` -> `out-3-attach.svg`."""
    return output.with_name(f"{output.stem}-{suffix}{output.suffix}")
