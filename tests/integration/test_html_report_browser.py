"""The HTML report opened from disk in a real (headless) Chromium."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from harness.report import write_reports
from harness.results import CheckResult, Outcome, RunResult, ScenarioResult

CHROMIUM = shutil.which("chromium")

DIAGRAM = """<svg xmlns="http://www.w3.org/2000/svg" width="420" height="140"
 font-family="sans-serif"
 font-size="13"><rect x="10" y="40" width="110" height="50" rx="6" fill="#ddf4ff" stroke="#0969da"/>
<text x="65" y="70" text-anchor="middle">host1:app1</text>
<rect x="300" y="40" width="110" height="50" rx="6" fill="#ddf4ff" stroke="#0969da"/>
<text x="355" y="70" text-anchor="middle">upstream</text>
<line x1="120" y1="65" x2="300" y2="65" stroke="#59636e" stroke-width="2"/>
<text x="210" y="55" text-anchor="middle">lxdbr1337 (NAT)</text></svg>"""


def synthetic_run(tmp: Path) -> RunResult:
    pcap = tmp / "pcaps" / "custom-bridge" / "1-dhcp.pcap"
    pcap.parent.mkdir(parents=True)
    pcap.write_bytes(b"\xd4\xc3\xb2\xa1")
    bridge = ScenarioResult(
        name="custom-bridge",
        source="scenarios/custom-bridge.yaml",
        description="Custom bridge lxdbr1337 with NAT and DHCP",
        tags=["tutorial", "bridge"],
        phases={"up": 1.2, "apply": 2.4, "checks": 5.1, "down": 0.3},
        capabilities={
            "host1": {"vxlan": True, "gretap": False, "macvlan": True, "vlan": False},
            "host2": {"vxlan": True, "gretap": False, "macvlan": True, "vlan": False},
        },
        checks=[
            CheckResult(
                id="0-ping",
                type="ping",
                outcome=Outcome.PASS,
                reason="4/4 echo replies from upstream",
                evidence=["64 bytes from 203.0.113.1: icmp_seq=1 ttl=63"],
                params={"from": "host1:app1", "to": "upstream"},
                duration=0.31,
            ),
            CheckResult(
                id="1-dhcp",
                type="dhcp",
                outcome=Outcome.FAIL,
                reason="got 10.13.37.12, expected 10.13.37.66",
                evidence=[
                    "DHCPDISCOVER chaddr=00:16:3e:aa:bb:cc",
                    "DHCPOFFER yiaddr=10.13.37.12 server=10.13.37.1",
                    "DHCPREQUEST requested=10.13.37.12",
                    "DHCPACK yiaddr=10.13.37.12 lease=3600",
                    "a very long line " + "x" * 300,
                ],
                params={"instance": "host1:app1", "expect": "10.13.37.66"},
                duration=1.52,
                pcaps=[str(pcap)],
            ),
            CheckResult(
                id="2-nat",
                type="nat",
                outcome=Outcome.PASS,
                reason="upstream saw source 172.31.0.11",
                params={"from": "host1:app1", "expect_source": "host1"},
                duration=0.44,
            ),
            CheckResult(
                id="3-gre",
                type="gre",
                outcome=Outcome.SKIP,
                reason="kernel has no gretap",
                params={"between": ["host1", "host2"], "key": 10},
            ),
            CheckResult(
                id="4-mac_filtering",
                type="mac_filtering",
                outcome=Outcome.PASS,
                reason="spoofed frames dropped <as expected> & logged",
                expect_failure=True,
                evidence=["odd \x00\x1b[31m characters \ud800 \u6f22\u5b57"],
                duration=0.8,
            ),
        ],
    )
    bridge.diagram_svg = DIAGRAM  # type: ignore[attr-defined]
    broken = ScenarioResult(
        name="ovs-vlan",
        description="Open vSwitch with an 802.1Q-tagged bridge",
        error="ovs-vswitchd did not start within 10 s",
        phases={"up": 10.4, "down": 0.2},
        checks=[CheckResult(id="0-vlan", type="vlan", outcome=Outcome.FAIL)],
    )
    passing = ScenarioResult(
        name="default-bridge",
        description="The default lxdbr0 with NAT",
        phases={"up": 0.6, "apply": 0.5, "checks": 1.0, "down": 0.2},
        checks=[
            CheckResult(id="0-ping", type="ping", outcome=Outcome.PASS, reason="4/4", duration=0.2)
        ],
    )
    return RunResult(
        scenarios=[passing, bridge, broken],
        started="2024-05-01T12:00:00+00:00",
        duration=22.9,
        substrate="local",
    )


def screenshot(page: Path, png: Path, profile: Path, size: str = "1200,900") -> None:
    argv = [
        CHROMIUM or "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        f"--screenshot={png}",
        f"--window-size={size}",
        page.resolve().as_uri(),
    ]
    # Own session so that a hung browser can be ended with all its helpers, and only them.
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        output, _ = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("chromium did not finish its screenshot within 120 s")
    assert png.exists(), output.decode(errors="replace")[-2000:]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_html_report_renders_in_chromium(tmp_path: Path) -> None:
    run = synthetic_run(tmp_path)
    html = write_reports(run, tmp_path / "reports")["html"]
    png = tmp_path / "report.png"
    screenshot(html, png, tmp_path / "chromium-profile")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 10_000
