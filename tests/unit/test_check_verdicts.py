"""The verdict rules every check type shares, with a fake check (pure logic, no lab)."""

from __future__ import annotations

import pytest

from harness import engines
from harness.checks.base import REGISTRY, Check, Inconclusive, Observation, register, run_check
from harness.results import Outcome
from harness.topology import CheckSpec


class FakeContext:
    def __init__(self, capabilities=None, engine_lacks=()):
        self.capabilities = capabilities or {"vxlan": True, "gretap": False}
        self.waits: list[str] = []
        self.engine_lacks = list(engine_lacks)
        self.engine = engines.LXD

    def absent_nodes(self, names):
        return []

    def capability(self, feature):
        if feature not in self.capabilities:
            return False, f"unknown capability {feature!r}"
        works = self.capabilities[feature]
        return works, "" if works else f"kernel has no {feature}"


@pytest.fixture
def fake_type():
    @register
    class Fake(Check):
        type = "fake"
        needs = ()

        def observe(self, ctx, part):
            mode = self.params["mode"]
            if mode == "inconclusive":
                raise Inconclusive("saw nothing")
            if mode == "crash":
                raise RuntimeError("boom")
            if mode == "unproven":  # absent, but nothing shows the stimulus happened
                return Observation(False, "saw nothing at all", ["evidence line"])
            return Observation(mode == "present", f"behaviour {mode}", ["evidence line"],
                               stimulus="the probe was sent")

    yield Fake
    REGISTRY.pop("fake")


def outcome(mode, expect_failure=False, requires=(), require_all=False, caps=None,
            engine_lacks=()):
    spec = CheckSpec(0, "fake", {"mode": mode}, expect_failure, tuple(requires))
    (result,) = run_check(spec, FakeContext(caps, engine_lacks), require_all)
    return result


def test_what_the_engine_lacks_is_a_skip_naming_it(fake_type):
    lacks = ["Incus has no fan bridges; the scenario uses bridge.mode=fan"]
    result = outcome("present", engine_lacks=lacks)
    assert result.outcome == Outcome.SKIP and result.reason == lacks[0]
    result = outcome("absent", expect_failure=True, engine_lacks=lacks)  # never a silent pass
    assert result.outcome == Outcome.SKIP
    assert outcome("present", engine_lacks=lacks, require_all=True).outcome == Outcome.FAIL


@pytest.mark.parametrize("mode,expect_failure,want", [
    ("present", False, Outcome.PASS),
    ("absent", False, Outcome.FAIL),
    ("present", True, Outcome.FAIL),
    ("absent", True, Outcome.PASS),
    ("inconclusive", False, Outcome.FAIL),
    ("inconclusive", True, Outcome.FAIL),  # seeing nothing never passes
    ("crash", True, Outcome.FAIL),
    ("unproven", False, Outcome.FAIL),
    ("unproven", True, Outcome.FAIL),  # absent without a stimulus proves nothing
])
def test_verdicts(fake_type, mode, expect_failure, want):
    result = outcome(mode, expect_failure)
    assert result.outcome == want, result.reason
    assert result.id == "0-fake"


def test_an_unproven_absence_is_inconclusive_and_names_what_was_missing(fake_type):
    result = outcome("unproven", expect_failure=True)
    assert result.reason == "inconclusive: saw nothing at all"


def test_an_absence_carries_its_stimulus_as_evidence(fake_type):
    result = outcome("absent", expect_failure=True)
    assert result.reason == "fails as expected: behaviour absent"
    assert "stimulus: the probe was sent" in result.evidence


def test_unexpected_errors_are_told_in_the_users_terms(fake_type):
    result = outcome("crash")
    assert result.reason.startswith("internal error in the fake check (RuntimeError: boom)")
    assert "harness bug" in result.reason


def test_missing_capability_is_a_skip_that_names_it(fake_type):
    result = outcome("present", requires=["gretap"])
    assert result.outcome == Outcome.SKIP
    assert "kernel has no gretap" in result.reason


def test_require_all_turns_the_skip_into_a_failure(fake_type):
    result = outcome("present", requires=["gretap"], require_all=True)
    assert result.outcome == Outcome.FAIL
    assert "gretap" in result.reason


def test_unknown_check_type_fails():
    (result,) = run_check(CheckSpec(3, "nope", {}), FakeContext())
    assert result.outcome == Outcome.FAIL and "unknown check type" in result.reason


def test_ping_matrix_has_one_result_id_per_ordered_pair():
    from harness.checks.base import planned_ids

    spec = CheckSpec(2, "ping", {"among": ["a:x", "b", "upstream"]})
    ids = planned_ids(spec)
    assert len(ids) == 6
    assert "2-ping[a:x->upstream]" in ids and "2-ping[upstream->a:x]" in ids
