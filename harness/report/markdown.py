"""Markdown summary, shaped for a GitHub job summary ($GITHUB_STEP_SUMMARY).

Also holds the small formatting helpers the HTML report shares.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from harness.engines import titled
from harness.report.junit import xml_safe
from harness.results import CheckResult, Outcome, RunResult, ScenarioResult

PHASE_ORDER = ("up", "apply", "checks", "down")
_OUTCOME_RANK = {Outcome.FAIL: 0, Outcome.SKIP: 1, Outcome.PASS: 2}
# Keeps one noisy check from eating GitHub's 1 MiB job-summary budget.
MAX_EVIDENCE_LINES = 60
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|])")


def fmt_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.2f} s" if seconds < 1 else f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


def fmt_started(started: str) -> str:
    """An ISO timestamp as "YYYY-MM-DD HH:MM:SS [TZ]"; anything else unchanged."""
    try:
        moment = datetime.fromisoformat(started)
    except ValueError:
        return started
    zone = moment.strftime(" %Z") if moment.tzinfo else ""
    return moment.strftime("%Y-%m-%d %H:%M:%S") + zone


def totals_line(counts: dict[str, int]) -> str:
    return ", ".join(
        f"{counts[key]} {word}"
        for key, word in (("pass", "passed"), ("fail", "failed"), ("skip", "skipped"))
    )


def ordered_phases(phases: dict[str, float]) -> list[tuple[str, float]]:
    known = [(name, phases[name]) for name in PHASE_ORDER if name in phases]
    return known + [(k, v) for k, v in phases.items() if k not in PHASE_ORDER]


def scenarios_failures_first(run: RunResult) -> list[ScenarioResult]:
    return sorted(run.scenarios, key=lambda s: not s.failed)


def checks_failures_first(checks: Iterable[CheckResult]) -> list[CheckResult]:
    return sorted(checks, key=lambda c: _OUTCOME_RANK.get(c.outcome, 3))


def check_outcome(scenario: ScenarioResult, check: CheckResult) -> Outcome:
    """What a report shows: a scenario error fails every check, whatever it recorded."""
    return scenario.outcome_of(check)


def scenario_badge(scenario: ScenarioResult) -> str:
    return str(scenario.outcome).upper()


def _cell(text: str) -> str:
    # only "<" can open HTML in a Markdown table cell; "->" must stay readable as text
    text = text.replace("&", "&amp;").replace("<", "&lt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return "<br>".join(line.strip() for line in text.strip().splitlines()) or " "


def _fence(lines: list[str]) -> tuple[str, str]:
    longest = max((len(m) for line in lines for m in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return fence + "text", fence


def _evidence_block(check: CheckResult) -> list[str]:
    lines = [line for entry in check.evidence for line in str(entry).splitlines()]
    if not lines:
        return []
    shown = lines[:MAX_EVIDENCE_LINES]
    if len(lines) > len(shown):
        shown.append(f"... {len(lines) - len(shown)} more lines in results.json")
    opening, closing = _fence(shown)
    return [
        f"<details><summary>{_cell(check.id)} evidence ({len(lines)} lines)</summary>",
        "",
        opening,
        *shown,
        closing,
        "",
        "</details>",
        "",
    ]


def _scenario_section(scenario: ScenarioResult) -> list[str]:
    marker = scenario_badge(scenario)
    title = f"### {marker} `{scenario.name}`"
    if scenario.description:
        title += f" - {_cell(scenario.description)}"
    out = [title, ""]
    facts = [totals_line(scenario.counts()), f"substrate `{scenario.substrate}`",
             f"engine `{scenario.engine}`"]
    if scenario.source:
        facts.append(f"source `{scenario.source}`")
    out += [", ".join(facts), ""]
    if scenario.error is not None:
        out += [f"**Bring-up failed:** {_cell(scenario.error)}", ""]
    elif scenario.outcome == Outcome.SKIP:
        out += ["**Skipped:** every check lacked a capability; nothing was shown to work", ""]
    if scenario.interrupted:
        out += [f"**Interrupted** during {_cell(scenario.interrupted)}", ""]
    if scenario.phases:
        phases = ", ".join(f"{n} {fmt_seconds(s)}" for n, s in ordered_phases(scenario.phases))
        out += [f"Phases: {phases}", ""]

    checks = checks_failures_first(scenario.checks)
    if checks:
        out += ["| Check | Outcome | Reason | Time |", "| --- | --- | --- | ---: |"]
        for check in checks:
            outcome = str(check_outcome(scenario, check)).upper()
            if check.expect_failure:
                outcome += " (expected failure)"
            reason = check.reason or ("" if scenario.error is None else scenario.error)
            time = fmt_seconds(check.duration) if check.duration else "-"
            out.append(f"| `{check.id}` | **{outcome}** | {_cell(reason)} | {time} |")
        out.append("")
    for check in checks:
        if check_outcome(scenario, check) == Outcome.FAIL:
            out += _evidence_block(check)
    return out


def markdown_summary(run: RunResult) -> str:
    verdict = run.outcome.verdict
    headline = f"**{totals_line(run.counts())}** in {fmt_seconds(run.duration)}"
    facts = [f"substrate `{run.substrate}`", f"engine `{run.engine}`"]
    errors = sum(s.error is not None for s in run.scenarios)
    if errors:
        facts.insert(0, f"**{errors} scenario{'s' if errors > 1 else ''} failed to come up**")
    if run.started:
        facts.append(f"started {fmt_started(run.started)}")
    out = [f"## {titled(run.engine)} netlab: {verdict}", "", headline, "", ", ".join(facts), ""]

    scenarios = scenarios_failures_first(run)
    if len(scenarios) > 1:
        out += ["| Scenario | Result | Passed | Failed | Skipped | Time |"]
        out += ["| --- | --- | ---: | ---: | ---: | ---: |"]
        for s in scenarios:
            c = s.counts()
            out.append(
                f"| `{s.name}` | **{scenario_badge(s)}** | {c['pass']} | "
                f"{c['fail']} | {c['skip']} | {fmt_seconds(sum(s.phases.values()))} |"
            )
        out.append("")
    if not scenarios:
        out += ["No scenarios were run.", ""]
    for scenario in scenarios:
        out += _scenario_section(scenario)
    # Control characters and lone surrogates from evidence would break the file's encoding.
    return xml_safe("\n".join(out).rstrip() + "\n")
