"""`bandwidth`: the steady rate at the receiver, and the verdict from it."""

from __future__ import annotations

import pytest

from harness.checks.bandwidth.check import judge, steady_rate
from harness.checks.base import Inconclusive

MBIT_SLICE = 1e6 / 8 / 10  # bytes per 0.1 s slice at 1 Mbit/s


def received(rates: list[float]) -> dict:
    return {"datagrams": 1000, "frame_bytes": 0, "seconds": len(rates) / 10, "slice": 0.1,
            "slices": [int(r * MBIT_SLICE) for r in rates], "lost": 0,
            "senders": ["10.13.37.1"]}


def sent(offered: float = 24.0) -> dict:
    return {"datagrams": 1000, "seconds": 3.0, "offered_mbit": offered, "sent_mbit": offered,
            "asked_mbit": 24.0, "queue_full": 0, "send_errors": 0, "first_error": None}


def test_the_burst_and_the_last_partial_slice_are_left_out():
    rate, slices = steady_rate(received([30.0] * 10 + [10.0] * 20 + [1.0]))
    assert slices == 20 and rate == pytest.approx(10.0, rel=0.01)


def test_within_tolerance_is_present():
    seen = judge(10, 0.2, sent(), received([10.0] * 31), [], [])
    assert seen.present and "within 20% of 10" in seen.summary


def test_an_unlimited_stream_is_absent_with_a_stimulus():
    seen = judge(10, 0.2, sent(), received([24.0] * 31), [], [])
    assert not seen.present and "more than 10" in seen.summary and seen.stimulus


def test_a_slow_sender_cannot_show_a_limit():
    with pytest.raises(Inconclusive, match="offered only 11.0 of the 24.0 Mbit/s asked"):
        judge(10, 0.2, sent(offered=11.0), received([10.0] * 31), [], [])


def test_a_slow_sender_cannot_show_a_shortfall_either():
    """Measured on VMs under emulation, two labs at once: 6.0 offered, 5.2 arrived read as
    "less than 10"; 14.6 offered, 11.9 arrived on an unlimited NIC read as a limit."""
    with pytest.raises(Inconclusive, match="offered only 6.0"):
        judge(10, 0.2, sent(offered=6.0), received([5.2] * 31), [], [])
    with pytest.raises(Inconclusive, match="offered only 14.6"):
        judge(10, 0.2, sent(offered=14.6), received([11.9] * 31), [], [])


def test_more_than_the_limit_arriving_needs_no_full_offer():
    seen = judge(10, 0.2, sent(offered=16.0), received([15.0] * 31), [], [])
    assert not seen.present and "more than 10" in seen.summary


def test_nothing_arrived_is_inconclusive():
    with pytest.raises(Inconclusive, match="nothing arrived"):
        judge(10, 0.2, sent(), {**received([]), "datagrams": 0}, [], [])


def test_too_short_a_stream_is_inconclusive():
    with pytest.raises(Inconclusive, match="too short"):
        judge(10, 0.2, sent(), received([10.0] * 12), [], [])
