"""`macvlan`: an instance NIC on a macvlan of a host's physical NIC sits directly on that LAN.

Reachable (ICMP echo) from another node of the LAN, and, when `not_from` is given, not from
that node: the tutorial's caveat is that the host itself cannot talk to the instance
through the parent interface (macvlan never hands frames between parent and child).
"""

from __future__ import annotations

from harness.checks.base import Check, CheckContext, Observation, register
from harness.checks.ping.check import observe_ping


@register
class Macvlan(Check):
    needs = ("macvlan",)

    def observe(self, ctx: CheckContext, part: str) -> Observation:
        endpoint = self.params["instance"]
        host, _, name = endpoint.partition(":")
        nic = self.params.get("nic", "eth0")
        device = ctx.instance_devices(host, name).get(nic, {})
        keys = ", ".join(f"{k}={v}" for k, v in sorted(device.items()))
        evidence = [f"{endpoint} {nic}: {keys}"]
        configured = f"{ctx.engine.title}'s expanded devices of {endpoint}"
        if device.get("nictype") != "macvlan" and device.get("type") != "nic":
            return Observation(False, f"{endpoint} {nic} is not a NIC", evidence,
                               stimulus=configured)
        if device.get("nictype") != "macvlan":
            return Observation(False, f"{endpoint} {nic} is {device.get('nictype')}, "
                               "not macvlan", evidence, stimulus=configured)

        reachable = observe_ping(ctx, self.params["reachable_from"], endpoint)
        evidence += reachable.evidence
        problems = [] if reachable.present else [
            f"not reachable from {self.params['reachable_from']}"]
        proofs = [] if reachable.present else [reachable.stimulus]
        not_from = self.params.get("not_from")
        if not_from:
            blocked = observe_ping(ctx, not_from, endpoint)
            evidence += blocked.evidence
            if blocked.present:
                problems.append(f"reachable from {not_from} too")
                proofs.append(f"{not_from} got replies")
            elif blocked.stimulus is None:  # its pings never left: that shows nothing
                problems.append(f"{not_from} could not even try ({blocked.summary})")
                proofs.append(None)
            elif _host_unreachable(blocked):
                evidence.append(f"  (host unreachable: {not_from}'s ARP requests for "
                                f"{endpoint} were never answered)")
        if problems:
            # absent only when every part that went wrong was really tried
            stimulus = None if None in proofs else "; ".join(p for p in proofs if p)
            return Observation(False, f"{endpoint} on macvlan {device.get('parent')}: "
                               + "; ".join(problems), evidence, stimulus=stimulus)
        summary = (f"{endpoint} on macvlan {device.get('parent')} answers "
                   f"{self.params['reachable_from']}")
        if not_from:
            summary += f", not {not_from}"
        return Observation(True, summary, evidence)


def _host_unreachable(seen: Observation) -> bool:
    return any("type 3 code 1" in line for line in seen.evidence)
