"""`ping`: ICMP reachability between endpoints, one pair or a whole matrix.

A matrix (`among`) is observed in one go the first time one of its pairs is asked for: every
endpoint's namespace and address are looked up once, and each source pings all its targets
at once (`icmp.ping_many`), several sources side by side. Every ordered pair still gets its
own result with its own evidence.
"""

from __future__ import annotations

import time
from itertools import permutations

from harness.checks.base import Check, CheckContext, Inconclusive, Observation, register
from harness.probes.runner import ProbeError, Running

#: local send errors that mean "no route from here", as `ip route get` would say
NO_ROUTE = ("ENETUNREACH", "EHOSTUNREACH")
#: sources probing at the same time (each one a forked probe pinging all its targets)
PARALLEL_SOURCES = 8


@register
class Ping(Check):

    def pairs(self) -> list[tuple[str, str]]:
        if "among" in self.params:
            return list(permutations(self.params["among"], 2))
        return [(self.params["from"], self.params["to"])]

    def parts(self) -> list[str]:
        if "among" not in self.params:
            return [""]
        return [f"{a}->{b}" for a, b in self.pairs()]

    def expected_absent(self, part: str) -> bool:
        flag = self.spec.expect_failure
        unreachable = self.params.get("unreachable") or []
        return bool(flag) or part in unreachable

    def observe(self, ctx: CheckContext, part: str) -> Observation:
        count = int(self.params.get("count", 3))
        if "among" not in self.params:
            source, target = self.pairs()[0]
            return observe_ping(ctx, source, target, count=count)
        matrix = getattr(self, "_matrix", None)
        if matrix is None:
            matrix = self._matrix = ping_matrix(ctx, self.pairs(), count)
        seen = matrix[part]
        if isinstance(seen, Exception):
            raise seen
        return seen


def observe_ping(ctx: CheckContext, source: str, target: str, count: int = 3) -> Observation:
    netns = ctx.netns(source)
    own = ctx.address(source)  # an instance without an address proves nothing: inconclusive
    address = ctx.address(target)
    reply = ctx.probes.call(netns, "icmp.ping", dst=address, count=count)
    return _observation(source, own, target, address, reply)


def ping_matrix(ctx: CheckContext, pairs: list[tuple[str, str]],
                count: int) -> dict[str, Observation | Exception]:
    """"A->B" -> what pinging B from A showed (or why nothing could be observed)."""
    seen: dict[str, Observation | Exception] = {}
    addresses = _lookup(ctx.address, {endpoint for pair in pairs for endpoint in pair})
    namespaces = _lookup(ctx.netns, {source for source, _ in pairs})
    batches: dict[str, list[str]] = {}
    for source, target in pairs:
        part = f"{source}->{target}"
        # the same order of questions as a single pair: namespace, own address, target's
        problem = next((x for x in (namespaces[source], addresses[source], addresses[target])
                        if isinstance(x, Exception)), None)
        if problem is not None:
            seen[part] = problem
        else:
            batches.setdefault(source, []).append(target)

    def finish(source: str, targets: list[str], running: Running, started: float) -> None:
        try:
            replies = running.result()["replies"]
        except ProbeError as exc:
            for target in targets:
                seen[f"{source}->{target}"] = exc
            return
        took = time.monotonic() - started
        for target, reply in zip(targets, replies, strict=True):
            observation = _observation(source, str(addresses[source]), target,
                                       str(addresses[target]), reply)
            observation.evidence.append(f"pinged together with {len(targets) - 1} other "
                                        f"target(s) of {source} in {took:.2f} s")
            seen[f"{source}->{target}"] = observation

    in_flight: list[tuple[str, list[str], Running, float]] = []
    for source, targets in batches.items():
        if len(in_flight) >= PARALLEL_SOURCES:
            finish(*in_flight.pop(0))
        dsts = [str(addresses[target]) for target in targets]
        try:
            running = ctx.probes.start(str(namespaces[source]), "icmp.ping_many", dsts=dsts,
                                       count=count)
        except ProbeError as exc:
            seen.update({f"{source}->{target}": exc for target in targets})
            continue
        in_flight.append((source, targets, running, time.monotonic()))
    for batch in in_flight:
        finish(*batch)
    return seen


def _lookup(question, endpoints: set[str]) -> dict[str, str | Exception]:
    answers: dict[str, str | Exception] = {}
    for endpoint in sorted(endpoints):
        try:
            answers[endpoint] = question(endpoint)
        except Inconclusive as exc:
            answers[endpoint] = exc
    return answers


def _observation(source: str, own: str, target: str, address: str, reply: dict) -> Observation:
    line = (f"{source} ({own}) -> {target} ({address}): {reply['sent']} echo requests sent, "
            f"{reply['received']} replies")
    if reply["local_errors"]:
        line += f" ({reply['local_errors'][0]})"
    evidence = [line]
    if reply["rtt_ms"]:
        evidence.append(f"rtt ms: {', '.join(str(r) for r in reply['rtt_ms'])}; "
                        f"replies from {', '.join(reply['reply_from'])}")
    for error in reply["errors"]:
        evidence.append(f"ICMP error from {error['from']}: type {error['type']} "
                        f"code {error['code']}")
    for error in reply["local_errors"]:
        evidence.append(f"local send error: {error}")
    stray = reply.get("stray_replies") or []
    if stray:
        evidence.append(f"echo replies from {', '.join(sorted(set(stray)))}, not from "
                        f"{address}: not counted")
    if reply["received"]:
        return Observation(True, line, evidence)
    if not reply["sent"]:
        why = "; ".join(dict.fromkeys(reply["local_errors"])) or "nothing sent"
        if all(e.startswith(NO_ROUTE) for e in reply["local_errors"]) and reply["local_errors"]:
            # the sender's own kernel knows no way there: that is the answer, not a failure
            return Observation(False, f"{source} has no route to {target} ({why})", evidence,
                               stimulus=f"{source} tried to send to {address}")
        # nothing left the source (EPERM, a broken namespace): reachability was never tried
        return Observation(False, f"{source} could not send to {target} ({why})", evidence)
    return Observation(False, line, evidence,
                       stimulus=f"{reply['sent']} echo requests left {source} ({own})")
