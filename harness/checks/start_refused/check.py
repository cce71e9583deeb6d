"""`start_refused`: LXD refuses to start an instance, for the stated reason.

Some LXD behaviours are refusals: a routed NIC whose address is already in use on the parent
network (LXD probes the parent with ARP first, `ipv4.neighbor_probe`), a NIC whose MAC or
address clashes. The instance is created by the scenario but not started (`lxc init` in
`commands:`); the check asks LXD to start it. Present when LXD refuses with a message that
contains `reason`; absent when the instance starts (then it is left running, as LXD left it).
"""

from __future__ import annotations

from pylxd.exceptions import LXDAPIException

from harness.checks.base import Check, CheckContext, Inconclusive, Observation, register
from harness.engines import LXD, Engine


@register
class StartRefused(Check):
    type = "start_refused"

    def observe(self, ctx: CheckContext, part: str) -> Observation:
        endpoint, reason = self.params["instance"], self.params["reason"]
        host, _, name = endpoint.partition(":")
        instance = ctx.client(host).instances.get(name)
        before = instance.state().status
        if before == "Running":
            raise Inconclusive(f"{endpoint} is running already: start it from the check, "
                               f"create it with `{ctx.engine.client} init` (not in `instances:`)")
        try:
            instance.start(wait=True)
        except LXDAPIException as exc:
            message = _message(exc)
            return judge(endpoint, reason, message, "Stopped", ctx.engine)
        return judge(endpoint, reason, None, instance.state().status, ctx.engine)


def judge(endpoint: str, reason: str, refusal: str | None, status: str,
          engine: Engine = LXD) -> Observation:
    """The verdict's facts from the engine's answer to the start (pure)."""
    host, _, name = endpoint.partition(":")
    said = f"{engine.title} refused: {refusal}" if refusal is not None else f"started ({status})"
    evidence = [f"{engine.client} start {name} on {host}: {said}"]
    if refusal is None:
        return Observation(False, f"{engine.title} started {endpoint} (status {status}): "
                           "nothing refused", evidence,
                           stimulus=f"the start of {endpoint} was asked of {engine.title}")
    if reason.lower() in refusal.lower():
        return Observation(True, f"{engine.title} refused to start {endpoint}: {refusal}",
                           evidence)
    raise Inconclusive(f"{engine.title} refused to start {endpoint}, but not because "
                       f"{reason!r}: {refusal}")


def _message(exc: LXDAPIException) -> str:
    try:
        return exc.response.json().get("error") or str(exc)
    except Exception:
        return str(exc)
