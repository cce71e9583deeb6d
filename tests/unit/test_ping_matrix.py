"""`ping among`: one batched probe per source, one result per ordered pair (fake lab)."""

from __future__ import annotations

from harness.checks.base import Inconclusive, run_check
from harness.probes.runner import ProbeError
from harness.results import Outcome
from harness.topology import CheckSpec

ADDRESSES = {"h1:a": "10.0.0.1", "h1:b": "10.0.0.2", "h2:c": "10.0.1.3"}


class FakeRunning:
    def __init__(self, value):
        self.value = value

    def result(self):
        if isinstance(self.value, Exception):
            raise self.value
        return self.value


class FakeProbes:
    """Answers `icmp.ping_many`: every address in `reachable` replies once."""

    def __init__(self, reachable: set[str], broken_source: str | None = None):
        self.reachable = reachable
        self.broken_source = broken_source
        self.calls: list[tuple[str, list[str]]] = []

    def start(self, netns, probe, /, **kwargs):
        assert probe == "icmp.ping_many"
        self.calls.append((netns, kwargs["dsts"]))
        if netns == self.broken_source:
            return FakeRunning(ProbeError("probe icmp.ping_many failed: boom"))
        replies = [{"dst": d, "sent": 1, "received": int(d in self.reachable), "rtt_ms": [],
                    "reply_from": [], "errors": [], "local_errors": []}
                   for d in kwargs["dsts"]]
        return FakeRunning({"replies": replies})


class FakeContext:
    def __init__(self, probes: FakeProbes, no_address: str | None = None):
        self.probes = probes
        self.no_address = no_address
        self.waits: list[str] = []
        self.lookups: list[str] = []
        self.engine_lacks: list[str] = []

    def absent_nodes(self, names):
        return []

    def capability(self, feature):
        return True, ""

    def netns(self, endpoint):
        return f"ns-{endpoint}"

    def address(self, endpoint):
        self.lookups.append(endpoint)
        if endpoint == self.no_address:
            raise Inconclusive(f"{endpoint} has no IPv4 address")
        return ADDRESSES[endpoint]


def matrix(**params) -> CheckSpec:
    return CheckSpec(index=0, type="ping", params={"among": list(ADDRESSES), **params})


def outcomes(results) -> dict[str, Outcome]:
    return {r.id.split("[")[1].rstrip("]"): r.outcome for r in results}


def test_one_probe_per_source_and_one_result_per_pair():
    probes = FakeProbes(reachable=set(ADDRESSES.values()))
    ctx = FakeContext(probes)
    results = run_check(matrix(), ctx)
    assert len(results) == 6 and all(r.outcome == Outcome.PASS for r in results)
    assert sorted(probes.calls) == [("ns-h1:a", ["10.0.0.2", "10.0.1.3"]),
                                    ("ns-h1:b", ["10.0.0.1", "10.0.1.3"]),
                                    ("ns-h2:c", ["10.0.0.1", "10.0.0.2"])]
    assert sorted(ctx.lookups) == sorted(ADDRESSES)  # each endpoint looked up once


def test_unreachable_and_expected_unreachable_pairs():
    probes = FakeProbes(reachable={"10.0.0.1", "10.0.0.2"})
    results = run_check(matrix(unreachable=["h1:a->h2:c"]), FakeContext(probes))
    seen = outcomes(results)
    assert seen["h1:a->h2:c"] == Outcome.PASS  # expected to fail, and it does
    assert seen["h1:b->h2:c"] == Outcome.FAIL
    assert seen["h2:c->h1:a"] == Outcome.PASS


def test_missing_address_and_broken_probe_fail_only_their_pairs():
    probes = FakeProbes(reachable=set(ADDRESSES.values()), broken_source="ns-h1:b")
    results = run_check(matrix(), FakeContext(probes, no_address="h2:c"))
    by_pair = {r.id.split("[")[1].rstrip("]"): r for r in results}
    assert by_pair["h1:a->h1:b"].outcome == Outcome.PASS
    assert "inconclusive: h2:c has no IPv4 address" in by_pair["h1:a->h2:c"].reason
    assert "inconclusive" in by_pair["h2:c->h1:a"].reason
    assert by_pair["h1:b->h1:a"].reason.startswith("probe error:")
    assert ("ns-h2:c", ["10.0.0.1", "10.0.0.2"]) not in probes.calls
