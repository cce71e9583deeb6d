"""One self-contained HTML report (inline CSS, tiny inline JS, no external resources)."""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from harness.engines import titled
from harness.report.junit import xml_safe
from harness.report.markdown import (
    PHASE_ORDER,
    check_outcome,
    checks_failures_first,
    fmt_seconds,
    fmt_started,
    ordered_phases,
    scenarios_failures_first,
    totals_line,
)
from harness.results import CheckResult, RunResult, ScenarioResult

TEMPLATES = Path(__file__).parent / "templates"


@dataclass
class PhaseView:
    name: str
    css: str
    seconds: str
    percent: float


@dataclass
class CheckView:
    id: str
    type: str
    outcome: str
    reason: str
    evidence: str
    evidence_lines: int
    params: list[str]
    expect_failure: bool
    duration: str
    pcaps: list[tuple[str, str]]  # (label, relative href)


@dataclass
class ScenarioView:
    name: str
    anchor: str
    failed: bool
    outcome: str  # pass, fail or skip: the badge
    description: str
    tags: list[str]
    source: str | None
    substrate: str
    engine: str
    error: str | None
    interrupted: str | None
    counts: dict[str, int]
    duration: str
    phases: list[PhaseView]
    hosts: list[str]
    features: list[tuple[str, list[bool | None]]]  # feature -> one cell per host
    diagram: str | None  # data: URI of the SVG
    checks: list[CheckView] = field(default_factory=list)


def pcap_href(pcap: str, report_dir: Path) -> str:
    """A link to a pcap that works from the report's folder when opened from disk."""
    path = Path(pcap)
    if not path.is_absolute() and not (report_dir / path).exists() and path.exists():
        path = path.resolve()  # relative to where the run happened, not to the report
    if path.is_absolute():
        path = Path(os.path.relpath(path, report_dir.resolve()))
    return quote(path.as_posix())


def _diagram_uri(scenario: ScenarioResult) -> str | None:
    # Not a field of ScenarioResult: an optional attribute set by whoever draws topologies.
    svg = getattr(scenario, "diagram_svg", None)
    if not svg:
        return None
    data = svg if isinstance(svg, bytes) else str(svg).encode("utf-8")
    # As an <img> data URI the SVG can neither run scripts nor load anything.
    return "data:image/svg+xml;base64," + base64.b64encode(data).decode("ascii")


def _param(value: object) -> str:
    if isinstance(value, list | tuple | set):
        return ",".join(str(v) for v in value)
    return str(value)


def _check_view(scenario: ScenarioResult, check: CheckResult, report_dir: Path) -> CheckView:
    reason = check.reason
    if scenario.error is not None and not reason.startswith(scenario.error):
        reason = f"{scenario.error}: {reason}" if reason else scenario.error
    evidence = "\n".join(str(e) for e in check.evidence)
    return CheckView(
        id=check.id,
        type=check.type,
        outcome=str(check_outcome(scenario, check)),
        reason=reason,
        evidence=evidence,
        evidence_lines=len(evidence.splitlines()),
        params=[f"{key}={_param(value)}" for key, value in check.params.items()],
        expect_failure=check.expect_failure,
        duration=fmt_seconds(check.duration) if check.duration else "-",
        pcaps=[(Path(p).name, pcap_href(p, report_dir)) for p in check.pcaps],
    )


def _scenario_view(scenario: ScenarioResult, report_dir: Path) -> ScenarioView:
    total = sum(scenario.phases.values())
    phases = [
        PhaseView(
            name,
            f"ph-{name}" if name in PHASE_ORDER else "ph-other",
            fmt_seconds(sec),
            100.0 * sec / total if total > 0 else 0.0,
        )
        for name, sec in ordered_phases(scenario.phases)
    ]
    hosts = sorted(scenario.capabilities)
    feature_names = sorted({f for caps in scenario.capabilities.values() for f in caps})
    features = [(f, [scenario.capabilities[h].get(f) for h in hosts]) for f in feature_names]
    return ScenarioView(
        name=scenario.name,
        anchor="scenario-" + re.sub(r"[^A-Za-z0-9_-]", "_", scenario.name),
        failed=scenario.failed,
        outcome=str(scenario.outcome),
        description=scenario.description,
        tags=list(scenario.tags),
        source=scenario.source,
        substrate=scenario.substrate,
        engine=scenario.engine,
        error=scenario.error,
        interrupted=scenario.interrupted,
        counts=scenario.counts(),
        duration=fmt_seconds(total),
        phases=phases,
        hosts=hosts,
        features=features,
        diagram=_diagram_uri(scenario),
        checks=[
            _check_view(scenario, c, report_dir) for c in checks_failures_first(scenario.checks)
        ],
    )


def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(run: RunResult, report_dir: Path = Path(".")) -> str:
    """The report as a string; pcap links are made relative to report_dir."""
    counts = run.counts()
    html = (
        _environment()
        .get_template("report.html.j2")
        .render(
            failed=run.failed,
            verdict=run.outcome.verdict,
            counts=counts,
            totals=totals_line(counts),
            total_checks=sum(counts.values()),
            errors=sum(s.error is not None for s in run.scenarios),
            substrate=run.substrate,
            engine=run.engine,
            engine_title=titled(run.engine),
            duration=fmt_seconds(run.duration),
            started=fmt_started(run.started) if run.started else "",
            generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
            scenarios=[_scenario_view(s, report_dir) for s in scenarios_failures_first(run)],
        )
    )
    return xml_safe(html)


def write_html(run: RunResult, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(run, path.parent), encoding="utf-8")
    return path
