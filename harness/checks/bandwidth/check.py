"""`bandwidth`: the throughput from `from` to `to`, measured at the receiver, is `expect_mbit`.

A paced UDP stream is offered well above the expected rate (so a limit shows as the rate that
arrives) for a few seconds, bounded in time and bytes; the receiver counts what arrives per
tenth of a second. The first second is left out (LXD's `limits.egress` police allows a
1 MB burst), the rest gives the rate. Present when it is within `tolerance` (a fraction,
default 0.2) of `expect_mbit`. The evidence says which way the stream went for each
instance (egress of `from`, ingress of `to`) and the `limits.*` their NICs carry.
"""

from __future__ import annotations

import secrets
import statistics

from harness.checks.base import Check, CheckContext, Inconclusive, Observation, register
from harness.topology import Endpoint

PORT = 5201
SECONDS = 3.0  # of offered traffic
WARMUP = 1.0  # seconds left out at the start (a limiter's burst allowance)
OFFER_FACTOR = 2.0  # the offer is this many times the upper end of the tolerance
OFFER_REACHED = 0.8  # below this share of the offer asked, a sender is too slow to judge by
MIN_OFFER_MBIT = 5.0
MAX_BYTES = 150_000_000
SAMPLE_PACKETS = 60  # the pcap holds a sample of the stream, not all of it


@register
class Bandwidth(Check):
    type = "bandwidth"

    def observe(self, ctx: CheckContext, part: str) -> Observation:
        source, target = self.params["from"], self.params["to"]
        expect = float(self.params["expect_mbit"])
        tolerance = float(self.params.get("tolerance", 0.2))
        sender_ns, receiver_ns = ctx.netns(source), ctx.netns(target)
        # a source without an address proves nothing: inconclusive
        towards = ctx.address(source)
        dst = ctx.address(target)
        offer = max(expect * (1 + tolerance) * OFFER_FACTOR, MIN_OFFER_MBIT)
        token = secrets.token_hex(4)
        pcap = ctx.pcap(self.spec.id, "receiver-sample")
        receiving = ctx.probes.start(receiver_ns, "throughput.receive", wait_ready=True,
                                     port=PORT, token=token, seconds=SECONDS + 4,
                                     towards=towards, pcap=pcap, sample=SAMPLE_PACKETS)
        sent = ctx.probes.call(sender_ns, "throughput.send", dst=dst, port=PORT, token=token,
                               mbit=offer, seconds=SECONDS, max_bytes=MAX_BYTES)
        got = receiving.result()
        evidence = [f"{source} -> {target} ({dst}) UDP {PORT}: "
                    f"{_directions(ctx, source, target)}", *_limits(ctx, source, target)]
        return judge(expect, tolerance, sent, got, evidence, [pcap])


def steady_rate(received: dict, warmup: float = WARMUP) -> tuple[float, int]:
    """Mbit/s over the whole slices after `warmup`, and how many slices that was."""
    skip = int(round(warmup / received["slice"]))
    steady = received["slices"][skip:-1]  # the last slice is partial
    if not steady:
        return 0.0, 0
    return sum(steady) * 8 / (len(steady) * received["slice"]) / 1e6, len(steady)


def judge(expect: float, tolerance: float, sent: dict, received: dict, evidence: list[str],
          pcaps: list[str]) -> Observation:
    """The verdict's facts from what was offered and what arrived (pure)."""
    low, high = expect * (1 - tolerance), expect * (1 + tolerance)
    evidence.append(f"offered {sent['offered_mbit']:.1f} Mbit/s (asked {sent['asked_mbit']:.1f})"
                    f" for {sent['seconds']:.1f} s: {sent['datagrams']} datagrams sent"
                    + (f", {sent['queue_full']} refused by the sender's full queue"
                       if sent["queue_full"] else "")
                    + (f", {sent['send_errors']} send errors ({sent['first_error']})"
                       if sent["send_errors"] else ""))
    if not received["datagrams"]:
        raise Inconclusive(f"nothing arrived ({sent['datagrams']} datagrams sent)"
                           + (f": {sent['first_error']}" if sent["first_error"] else ""))
    rate, slices = steady_rate(received)
    per_slice = [round(b * 8 / received["slice"] / 1e6, 1) for b in received["slices"]]
    evidence.append(f"received {received['datagrams']} datagrams ({received['lost']} lost) "
                    f"from {', '.join(received['senders'])} over {received['seconds']:.1f} s")
    evidence.append(f"Mbit/s per {received['slice']:.1f} s of kernel arrival time at the receiver: "
                    f"{' '.join(str(x) for x in per_slice)}")
    if slices < 10:
        raise Inconclusive(f"the stream arrived for only {received['seconds']:.1f} s: too short "
                           f"to measure past the {WARMUP:.0f} s burst allowance")
    steady = per_slice[int(round(WARMUP / received["slice"])):-1]
    evidence.append(f"after {WARMUP:.0f} s: {rate:.2f} Mbit/s (median slice "
                    f"{statistics.median(steady):.1f}), expected {expect:g} +- "
                    f"{tolerance:.0%} = {low:.2f}..{high:.2f}")
    within = low <= rate <= high
    # Less than was asked, on a machine that cannot even send it, proves nothing: the same
    # starved CPU may have lost the rest on the way. More than the limit arriving does.
    if rate <= high and sent["offered_mbit"] < sent["asked_mbit"] * OFFER_REACHED:
        raise Inconclusive(f"the sender offered only {sent['offered_mbit']:.1f} of the "
                           f"{sent['asked_mbit']:.1f} Mbit/s asked ({rate:.2f} arrived): a "
                           "limit cannot be told from a slow machine")
    summary = f"{rate:.2f} Mbit/s arrived with {sent['offered_mbit']:.1f} offered"
    if within:
        return Observation(True, f"{summary}: within {tolerance:.0%} of {expect:g}",
                           evidence, pcaps)
    side = "more" if rate > high else "less"
    return Observation(False, f"{summary}: {side} than {expect:g} +- {tolerance:.0%}",
                       evidence, pcaps, stimulus=f"{received['datagrams']} datagrams of the "
                       f"stream arrived at the receiver")


def _directions(ctx: CheckContext, source: str, target: str) -> str:
    parts = []
    for text, way in ((source, "egress"), (target, "ingress")):
        endpoint = Endpoint.parse(text)
        kind = "instance" if endpoint.instance else "node"
        parts.append(f"{way} of {kind} {text}")
    return ", ".join(parts)


def _limits(ctx: CheckContext, source: str, target: str) -> list[str]:
    """The `limits.*` keys on the NICs of the instances involved, as LXD has them now."""
    lines = []
    for text in (source, target):
        endpoint = Endpoint.parse(text)
        if endpoint.instance is None:
            continue
        devices = ctx.client(endpoint.node).instances.get(endpoint.instance).expanded_devices
        for name, device in sorted(devices.items()):
            if device.get("type") != "nic":
                continue
            limits = {k: v for k, v in device.items() if k.startswith("limits.")}
            shown = ", ".join(f"{k}={v}" for k, v in sorted(limits.items())) or "no limits"
            lines.append(f"  {text} {name}: {shown}")
    return lines
