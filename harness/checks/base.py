"""Check types: a spec from the scenario -> probes -> a verdict with evidence.

A check *observes* whether a behaviour is present. The verdict follows from that and from
`expect_failure`, and only from positive evidence:

- present: the behaviour was seen (PASS, or FAIL when `expect_failure`);
- absent: the stimulus is shown to have happened where the behaviour would have been seen
  (the probe was sent, the genuine frame arrived, the capture saw the traffic) and the
  behaviour did not follow (FAIL, or PASS when `expect_failure`);
- anything else is inconclusive, a FAIL naming what was missing, whatever was expected.

A missing capability is a skip that names it.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from harness.checks import check_params
from harness.checks.context import CheckContext, Inconclusive
from harness.engines import LXD, Engine
from harness.probes.runner import ProbeError
from harness.results import CheckResult, Outcome
from harness.topology import CheckSpec

__all__ = ["Check", "CheckContext", "Inconclusive", "Observation", "register", "run_check"]


@dataclass
class Observation:
    present: bool  # the behaviour the check describes was seen
    summary: str  # one line: what decided it (when absent and unproven: what was missing)
    evidence: list[str] = field(default_factory=list)
    pcaps: list[str] = field(default_factory=list)
    #: when absent: what shows that the stimulus happened where the behaviour would have been
    #: seen. None: nothing does, so the absence proves nothing (inconclusive).
    stimulus: str | None = None


class Check:
    type: ClassVar[str]
    #: capabilities (from the substrate's probe) this check needs to observe anything
    needs: ClassVar[tuple[str, ...]] = ()
    #: plain nodes (upstream, peers) it uses whatever its parameters say
    nodes: ClassVar[tuple[str, ...]] = ()

    def __init__(self, spec: CheckSpec):
        self.spec = spec
        self.params: dict[str, Any] = spec.params

    def parts(self) -> list[str]:
        """Labels of the results this check yields (one unlabelled result by default)."""
        return [""]

    def expected_absent(self, part: str) -> bool:
        return self.spec.expect_failure

    def needed(self, ctx: CheckContext) -> tuple[str, ...]:
        return self.needs

    def observe(self, ctx: CheckContext, part: str) -> Observation:
        raise NotImplementedError


REGISTRY: dict[str, type[Check]] = {}


def register(cls: type[Check]) -> type[Check]:
    """Make `cls` the check of its type: its package's name (harness/checks/TYPE/check.py),
    unless it names its `type` itself."""
    if "type" not in cls.__dict__:
        cls.type = cls.__module__.rpartition(".")[0].rpartition(".")[2]
    REGISTRY[cls.type] = cls
    return cls


def result_id(spec: CheckSpec, part: str) -> str:
    return f"{spec.id}[{part}]" if part else spec.id


def check_for(spec: CheckSpec) -> Check:
    if spec.type not in REGISTRY and spec.type in check_params():
        importlib.import_module(f"harness.checks.{spec.type}.check")  # registers it
    if spec.type not in REGISTRY:
        known = sorted({*REGISTRY, *check_params()})
        raise KeyError(f"unknown check type {spec.type!r}; known: {', '.join(known)}")
    return REGISTRY[spec.type](spec)


def planned_ids(spec: CheckSpec) -> list[str]:
    """The result ids a check will produce, known before anything runs (for pytest)."""
    try:
        return [result_id(spec, part) for part in check_for(spec).parts()]
    except KeyError:
        return [spec.id]


def run_check(spec: CheckSpec, ctx: CheckContext, require_all: bool = False) -> list[CheckResult]:
    try:
        check = check_for(spec)
    except KeyError as exc:
        return [_result(spec, "", Outcome.FAIL, str(exc.args[0]), [], 0.0)]
    missing = _missing(check, spec, ctx)
    results = []
    for part in check.parts():
        started = time.monotonic()
        if missing:
            outcome = Outcome.FAIL if require_all else Outcome.SKIP
            reason = "; ".join(missing) + (" (--require-all)" if require_all else "")
            results.append(_result(spec, part, outcome, reason, [], 0.0))
            continue
        evidence: list[str] = []
        pcaps: list[str] = []
        try:
            ctx.waits.clear()
            seen = check.observe(ctx, part)
            evidence, pcaps = [*ctx.waits, *seen.evidence], seen.pcaps
            outcome, reason = verdict(seen, check.expected_absent(part))
            if not seen.present and seen.stimulus:
                evidence.append(f"stimulus: {seen.stimulus}")
        except Inconclusive as exc:
            outcome, reason = Outcome.FAIL, f"inconclusive: {exc}"
        except ProbeError as exc:  # the first line says it; the traceback goes to evidence
            first, *rest = str(exc).splitlines() or [""]
            outcome, reason = Outcome.FAIL, f"probe error: {first}"
            evidence = [*evidence, *rest]
        except Exception as exc:  # a check must report, not crash the run
            outcome, reason = Outcome.FAIL, unexpected_error(spec, exc, ctx.engine)
        results.append(_result(spec, part, outcome, reason, evidence,
                               time.monotonic() - started, pcaps, check.expected_absent(part)))
    return results


def missing_capabilities(spec: CheckSpec, ctx: CheckContext) -> list[str]:
    """Why `spec` would be skipped here (its missing capabilities); [] when it can run."""
    try:
        return _missing(check_for(spec), spec, ctx)
    except KeyError:
        return []


def _missing(check: Check, spec: CheckSpec, ctx: CheckContext) -> list[str]:
    reasons = list(ctx.engine_lacks)
    for feature in (*check.needed(ctx), *spec.requires):
        works, why = ctx.capability(feature)
        if not works:
            reasons.append(why)
    return reasons + ctx.absent_nodes(set(check.nodes) | _named_nodes(spec.params))


def _named_nodes(value: Any) -> set[str]:
    """The node part of every endpoint-like string in a check's parameters ("A->B" too)."""
    if isinstance(value, str):
        return {part.strip().partition(":")[0] for part in value.split("->")}
    if isinstance(value, dict):
        return set().union(*map(_named_nodes, value.values())) if value else set()
    if isinstance(value, list | tuple):
        return set().union(*map(_named_nodes, value)) if value else set()
    return set()


def verdict(seen: Observation, expect_absent: bool) -> tuple[Outcome, str]:
    """The one rule that turns an observation into pass or fail (see the module's doc)."""
    if seen.present:
        if expect_absent:
            return Outcome.FAIL, f"expected to fail, but it works: {seen.summary}"
        return Outcome.PASS, seen.summary
    if seen.stimulus is None:
        return Outcome.FAIL, f"inconclusive: {seen.summary}"
    if expect_absent:
        return Outcome.PASS, f"fails as expected: {seen.summary}"
    return Outcome.FAIL, seen.summary


def unexpected_error(spec: CheckSpec, exc: Exception, engine: Engine = LXD) -> str:
    """An exception no check turned into an observation, in words a user can act on."""
    lxd = _lxd_error(exc)
    if lxd is not None:
        return f"inconclusive: {engine.title} refused a question of the {spec.type} check: {lxd}"
    if isinstance(exc, OSError):
        return f"inconclusive: {exc.strerror or exc} ({exc.filename or 'system call'})"
    return (f"internal error in the {spec.type} check ({type(exc).__name__}: {exc}); "
            "the lab was not judged: this is a harness bug")


def _lxd_error(exc: Exception) -> str | None:
    module = type(exc).__module__ or ""
    if module.startswith("pylxd"):
        return str(exc) or type(exc).__name__
    return None


def _result(spec: CheckSpec, part: str, outcome: Outcome, reason: str, evidence: list[str],
            duration: float, pcaps: list[str] | None = None,
            expect_failure: bool | None = None) -> CheckResult:
    return CheckResult(
        id=result_id(spec, part), type=spec.type, outcome=outcome, reason=reason,
        evidence=evidence, params=dict(spec.params),
        expect_failure=spec.expect_failure if expect_failure is None else expect_failure,
        duration=round(duration, 3), pcaps=pcaps or [],
    )
