"""Captures are proven listening before the stimulus, and their window lasts until the check
says the stimulus is over, however long that takes (the false FAILs of a busy machine)."""

from __future__ import annotations

import secrets
import subprocess
import time

import pytest

from harness.probes.runner import ProbeError, ProbeRunner

pytestmark = pytest.mark.root

FRAME = {"kind": "icmp", "src": "169.254.1.1", "dst": "169.254.1.2"}


@pytest.fixture(scope="module")
def wire():
    """A namespace with a veth pair va <-> vb (up) and vdown (down)."""
    name = f"hl-lt{secrets.token_hex(2)}-scratch"
    subprocess.run(["ip", "netns", "add", name], check=True)
    for argv in (["link", "add", "va", "type", "veth", "peer", "name", "vb"],
                 ["link", "set", "va", "up"], ["link", "set", "vb", "up"],
                 ["link", "add", "vdown", "type", "veth", "peer", "name", "vdown2"]):
        subprocess.run(["ip", "-n", name, *argv], check=True)
    yield f"/run/netns/{name}"
    subprocess.run(["ip", "netns", "del", name], check=False)


@pytest.fixture(scope="module")
def probes():
    return ProbeRunner()


def test_a_stimulus_long_after_the_start_is_still_seen(wire, probes):
    sniffer = probes.start(wire, "capture.capture", wait_ready=True, iface="vb", bpf="icmp",
                           duration=30, count=10)
    time.sleep(4)  # a busy machine: the stimulus comes late; the old 2-3 s windows missed it
    probes.call(wire, "l2.send_frames", iface="va", frames=[FRAME], repeat=2)
    started = time.monotonic()
    seen = sniffer.finish()
    assert time.monotonic() - started < 3, "finish() must end the window, not wait it out"
    assert seen["ended"] == "stopped by the check"
    assert seen["window"] > 4 and seen["listening_after"] < 5
    assert [p["src"] for p in seen["packets"]] == ["169.254.1.1", "169.254.1.1"]  # no sentinel


def test_a_marked_frame_watch_is_proven_listening_too(wire, probes):
    sniffer = probes.start(wire, "frames.watch", wait_ready=True, iface="vb", marks=["m1"],
                           duration=30)
    probes.call(wire, "frames.send_marked", iface="va", frames=[{"mark": "m1"}], repeat=2)
    seen = sniffer.finish()
    assert seen["seen"] == {"m1": [None, None]} and seen["ended"] == "stopped by the check"


@pytest.mark.parametrize("iface, why", [("vdown", "Network is down"), ("nope", "not found")])
def test_a_capture_that_cannot_listen_says_so_before_the_stimulus(wire, probes, iface, why):
    with pytest.raises(ProbeError) as info:
        probes.start(wire, "capture.capture", wait_ready=True, iface=iface, duration=30)
    assert "NotListening" in str(info.value) and why in str(info.value)
