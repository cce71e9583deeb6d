"""`ping`: ICMP reachability between endpoints, one pair or a whole matrix."""

from __future__ import annotations

from itertools import permutations

from harness.checks.base import Check, CheckContext, Observation, register


@register
class Ping(Check):
    type = "ping"

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
        source, target = self.pairs()[self.parts().index(part)]
        return observe_ping(ctx, source, target, count=int(self.params.get("count", 3)))


def observe_ping(ctx: CheckContext, source: str, target: str, count: int = 3) -> Observation:
    netns = ctx.netns(source)
    own = ctx.address(source)  # an instance without an address proves nothing: inconclusive
    address = ctx.address(target)
    reply = ctx.probes.call(netns, "icmp.ping", dst=address, count=count)
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
    return Observation(reply["received"] > 0, line, evidence)
