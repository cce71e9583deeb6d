"""`mtu`: the largest IPv4 packet (total length, DF set) that gets from `from` to `to`.

DF-set echo requests of exactly `expect` and `expect + 1` bytes are sent (after a small
one, which proves the path works at all). Present iff `expect` passes and `expect + 1`
does not. When that is not what happens, the real limit is found by bisection, and the
result says what became of the packet that was too big: refused by the sender's own
kernel (EMSGSIZE), answered with ICMP "fragmentation needed" (and its next-hop MTU), or
silently dropped somewhere on the way.
"""

from __future__ import annotations

from harness.checks.base import Check, CheckContext, Inconclusive, Observation, register

BASELINE = 84  # an ordinary ping
CEILING = 9001  # above every segment MTU the schema allows
PROBE_COUNT = 2
PROBE_TIMEOUT = 1.0


@register
class Mtu(Check):

    def observe(self, ctx: CheckContext, part: str) -> Observation:
        source, target, expect = self.params["from"], self.params["to"], int(self.params["expect"])
        prober = _Prober(ctx, ctx.netns(source), ctx.address(target))
        evidence = [f"DF-set echo requests {source} -> {target} ({prober.dst}), "
                    f"sizes are IPv4 total lengths"]
        if not prober.passes(BASELINE):
            evidence += prober.lines()
            raise Inconclusive(f"{source} cannot reach {target} even with {BASELINE}-byte "
                               f"packets: {prober.fate(BASELINE)}")
        at, over = prober.passes(expect), prober.passes(expect + 1)
        if at and not over:
            largest = expect
        elif not at:
            largest = prober.bisect(BASELINE, expect)
        else:
            largest = prober.bisect(expect + 1, CEILING) if not prober.passes(CEILING) \
                else CEILING
        evidence += prober.lines()
        bigger = largest + 1
        fate = prober.fate(bigger) if bigger in prober.seen else "not probed"
        evidence.append(f"largest size that passes: {largest}; {bigger}: {fate}")
        present = at and not over
        works = f"{BASELINE}-byte pings from {source} get through"
        if present:
            summary = f"{expect} passes, {expect + 1} does not ({fate})"
        elif largest >= CEILING:
            summary = f"expected at most {expect}, but even {CEILING} passes"
        else:
            summary = f"expected {expect}, the largest that passes is {largest}; {bigger}: {fate}"
        return Observation(present, summary, evidence, stimulus=works)


class _Prober:
    """Sends DF-set pings of given sizes, once per size, and remembers what happened."""

    def __init__(self, ctx: CheckContext, netns: str, dst: str):
        self.ctx, self.netns, self.dst = ctx, netns, dst
        self.seen: dict[int, dict] = {}

    def passes(self, size: int) -> bool:
        if size not in self.seen:
            self.seen[size] = self.ctx.probes.call(
                self.netns, "icmp.ping", dst=self.dst, size=size, df=True, count=PROBE_COUNT,
                timeout=PROBE_TIMEOUT, interval=0.05)
        return self.seen[size]["received"] > 0

    def bisect(self, good: int, bad: int) -> int:
        """Largest passing size in [good, bad) given that `good` passes and `bad` does not."""
        self.passes(good)
        while bad - good > 1:
            middle = (good + bad) // 2
            if self.passes(middle):
                good = middle
            else:
                bad = middle
        self.passes(bad)
        return good

    def fate(self, size: int) -> str:
        reply = self.seen[size]
        if reply["received"]:
            return f"passes ({reply['received']}/{reply['sent']} answered)"
        too_big = [e for e in reply["errors"] if e["type"] == 3 and e["code"] == 4]
        if too_big:
            # the kernel remembers the path MTU: later sends of that size fail locally
            learnt = " (then EMSGSIZE: the sender learnt the path MTU)" \
                if reply["local_errors"] else ""
            return (f"ICMP fragmentation needed from {too_big[0]['from']}, "
                    f"next-hop MTU {too_big[0].get('next_hop_mtu')}{learnt}")
        if reply["local_errors"]:
            return f"refused by the sender's kernel ({reply['local_errors'][0]})"
        if reply["errors"]:
            error = reply["errors"][0]
            return f"ICMP type {error['type']} code {error['code']} from {error['from']}"
        return f"silently dropped ({reply['sent']} sent, no answer, no ICMP error)"

    def lines(self) -> list[str]:
        return [f"  {size}: {self.fate(size)}" for size in sorted(self.seen)]
