"""Checks and results in a learner's words: what must be true, PASS/FAIL, why, hints."""

from __future__ import annotations

from collections.abc import Sequence

from harness.checks import check_params
from harness.results import CheckResult, Outcome
from harness.scenario.fields import spoken
from harness.topology import CheckSpec, Stage


def endpoint(text: str) -> str:
    """`host1:app1` -> `app1 on host1`."""
    return spoken(text)


def describe(spec: CheckSpec, part: str = "") -> str:
    """What the check wants to be true, as a sentence (each check type words its own)."""
    model = check_params().get(spec.type)
    text = model.describe(spec.params, part) if model else f"{spec.type} {spec.params}"
    if spec.expect_failure:
        text = f"it must NOT be true that {text}"
    return text


def _part(result: CheckResult) -> str:
    return result.id.partition("[")[2].rstrip("]")


def plain_reason(reason: str) -> str:
    """A check's reason on one line (no traceback), in plain words."""
    reason = reason.strip().splitlines()[0] if reason.strip() else reason
    # "inconclusive" is for reports; a learner needs what was missing
    reason = reason.removeprefix("inconclusive: ")
    return reason


def grade_lines(stage: Stage, results: Sequence[CheckResult]) -> list[str]:
    """PASS/FAIL/SKIP per check, with why and the stage's hints under each failure."""
    specs = {spec.id: spec for spec in stage.checks}
    lines = []
    for result in results:
        spec = specs.get(result.id.partition("[")[0])
        what = describe(spec, _part(result)) if spec else result.id
        lines.append(f"{str(result.outcome).upper():4}  {what}")
        if result.outcome == Outcome.FAIL:
            lines.append(f"      why:  {plain_reason(result.reason)}")
            lines += [f"      hint: {hint}" for hint in stage.hints]
        elif result.outcome == Outcome.SKIP:
            lines.append(f"      not on this machine: {result.reason}")
    return lines


def passed(results: Sequence[CheckResult]) -> bool:
    """A stage is done when nothing failed and something passed."""
    return (not any(r.outcome == Outcome.FAIL for r in results)
            and any(r.outcome == Outcome.PASS for r in results))
