"""Reports from synthetic results: JUnit, JSON, Markdown, HTML."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.report import load_results, markdown_summary, render_html, write_reports
from harness.report.junit import render_junit
from harness.results import CheckResult, Outcome, RunResult, ScenarioResult

ODD = [
    "nul\x00 bell\x07 esc\x1b[31mred\x1b[0m",
    "lone surrogate \ud800 end",
    "<script>alert('x')</script> & \"quotes\" ]]>",
    "tab\there\r\ncrlf | pipe `tick` ```fence```",
    "unicode: \u00fcn\u00efc\u00f6d\u00e9 \u2713 \u6f22\u5b57",
]


def make_run() -> RunResult:
    bridge = ScenarioResult(
        name="custom-bridge",
        source="scenarios/custom-bridge.yaml",
        description="Custom bridge lxdbr1337 with NAT and DHCP",
        tags=["tutorial", "bridge"],
        phases={"up": 1.5, "apply": 2.25, "checks": 4.0, "down": 0.5},
        capabilities={"host1": {"vxlan": True, "gretap": False}},
        checks=[
            CheckResult(
                id="0-ping",
                type="ping",
                outcome=Outcome.PASS,
                reason="4/4 replies",
                duration=0.25,
                params={"from": "host1:app1", "to": "upstream"},
            ),
            CheckResult(
                id="1-dhcp",
                type="dhcp",
                outcome=Outcome.FAIL,
                reason="got 10.13.37.12, expected 10.13.37.66",
                evidence=["DHCPOFFER yiaddr=10.13.37.12", "DHCPACK yiaddr=10.13.37.12"],
                duration=1.5,
                pcaps=["pcaps/custom-bridge/1-dhcp.pcap"],
            ),
            CheckResult(
                id="2-gre",
                type="gre",
                outcome=Outcome.SKIP,
                reason="kernel has no gretap",
            ),
            CheckResult(
                id="3-mac_filtering",
                type="mac_filtering",
                outcome=Outcome.FAIL,
                reason="odd | reason <b>bold</b>",
                evidence=list(ODD),
                expect_failure=True,
            ),
        ],
    )
    passing = ScenarioResult(
        name="default-bridge",
        phases={"up": 0.5, "apply": 0.5, "checks": 1.0, "down": 0.25},
        checks=[CheckResult(id="0-ping", type="ping", outcome=Outcome.PASS, duration=0.1)],
    )
    broken = ScenarioResult(
        name="ovs-vlan",
        error="bring-up failed: ovs-vswitchd did not start",
        interrupted=None,
        checks=[
            CheckResult(id="0-vlan", type="vlan", outcome=Outcome.FAIL, reason="not run"),
            CheckResult(id="1-ping", type="ping", outcome=Outcome.FAIL),
        ],
    )
    no_checks = ScenarioResult(name="gre-tunnel", error="lxd init failed")
    return RunResult(
        scenarios=[passing, bridge, broken, no_checks],
        started="2024-05-01T12:00:00+00:00",
        duration=12.3,
        substrate="local",
    )


@pytest.fixture
def run() -> RunResult:
    return make_run()


# --- JUnit ------------------------------------------------------------------


def junit_root(run: RunResult) -> ET.Element:
    return ET.fromstring(render_junit(run).encode("utf-8"))


def cases(root: ET.Element) -> dict[str, ET.Element]:
    return {c.get("name"): c for c in root.iter("testcase")}


def test_junit_one_suite_per_scenario_and_case_names(run: RunResult) -> None:
    root = junit_root(run)
    assert root.tag == "testsuites"
    assert [s.get("name") for s in root.iter("testsuite")] == [s.name for s in run.scenarios]
    by_name = cases(root)
    assert "custom-bridge::0-ping" in by_name
    assert "custom-bridge::3-mac_filtering" in by_name
    assert by_name["custom-bridge::1-dhcp"].get("classname") == "custom-bridge"
    assert by_name["custom-bridge::1-dhcp"].get("time") == "1.500"


def test_junit_failure_skip_and_evidence(run: RunResult) -> None:
    by_name = cases(junit_root(run))
    ping = by_name["custom-bridge::0-ping"]
    assert ping.find("failure") is None and ping.find("skipped") is None

    failure = by_name["custom-bridge::1-dhcp"].find("failure")
    assert failure is not None
    assert failure.get("message") == "got 10.13.37.12, expected 10.13.37.66"
    assert "DHCPACK yiaddr=10.13.37.12" in failure.text
    props = {
        p.get("name"): p.get("value") for p in by_name["custom-bridge::1-dhcp"].iter("property")
    }
    assert props["evidence.0"] == "DHCPOFFER yiaddr=10.13.37.12"
    assert props["evidence.1"] == "DHCPACK yiaddr=10.13.37.12"
    assert props["pcap.0"] == "pcaps/custom-bridge/1-dhcp.pcap"

    skipped = by_name["custom-bridge::2-gre"].find("skipped")
    assert skipped is not None and skipped.get("message") == "kernel has no gretap"


def test_junit_scenario_error_fails_every_check(run: RunResult) -> None:
    root = junit_root(run)
    by_name = cases(root)
    for name in ("ovs-vlan::0-vlan", "ovs-vlan::1-ping"):
        failure = by_name[name].find("failure")
        assert failure is not None
        assert failure.get("message").startswith("bring-up failed: ovs-vswitchd did not start")
    # a scenario that failed before it had any check still shows up as a failure
    bring_up = by_name["gre-tunnel::bring-up"].find("failure")
    assert bring_up is not None and bring_up.get("message") == "lxd init failed"


def test_junit_counts(run: RunResult) -> None:
    root = junit_root(run)
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    bridge = suites["custom-bridge"]
    assert (bridge.get("tests"), bridge.get("failures"), bridge.get("skipped")) == ("4", "2", "1")
    assert suites["ovs-vlan"].get("failures") == "2"
    assert root.get("tests") == "8"
    assert root.get("failures") == "5"


def test_junit_odd_characters_stay_well_formed(run: RunResult) -> None:
    root = junit_root(run)
    failure = cases(root)["custom-bridge::3-mac_filtering"].find("failure")
    assert failure is not None
    text = failure.text
    assert "\x00" not in text and "\x1b" not in text
    assert "<script>alert('x')</script>" in text
    assert "]]>" in text
    assert "\u6f22\u5b57" in text
    assert failure.get("message") == "odd | reason <b>bold</b>"


# --- JSON -------------------------------------------------------------------


def test_json_shape_and_round_trip(run: RunResult, tmp_path: Path) -> None:
    paths = write_reports(run, tmp_path)
    data = json.loads(paths["json"].read_text())
    assert paths["json"] == tmp_path / "results.json"
    names = [s["name"] for s in data["scenarios"]]
    assert names == [s.name for s in run.scenarios]
    check = data["scenarios"][1]["checks"][1]
    assert {"id", "type", "outcome", "reason", "evidence"} <= set(check)
    assert check["outcome"] == "fail"
    assert {c["outcome"] for s in data["scenarios"] for c in s["checks"]} == {
        "pass",
        "fail",
        "skip",
    }
    assert data["substrate"] == "local" and data["duration"] == 12.3
    assert data["summary"] == {"pass": 2, "fail": 4, "skip": 1, "failed": True,
                               "outcome": "fail"}

    for source in (paths["json"], tmp_path):  # a file or the folder holding it
        again = load_results(source)
        assert again.to_dict() == run.to_dict()


def test_json_params_that_are_not_json(run: RunResult, tmp_path: Path) -> None:
    run.scenarios[0].checks[0].params = {"path": Path("/tmp/x"), "addrs": {"10.0.0.1"}}
    path = write_reports(run, tmp_path)["json"]
    params = json.loads(path.read_text())["scenarios"][0]["checks"][0]["params"]
    assert params["path"] == "/tmp/x"


# --- Markdown ---------------------------------------------------------------


def test_markdown_headline_and_tables(run: RunResult) -> None:
    md = markdown_summary(run)
    assert "**2 passed, 4 failed, 1 skipped** in 12.3 s" in md
    assert "| `1-dhcp` | **FAIL** | got 10.13.37.12, expected 10.13.37.66 | 1.5 s |" in md
    assert "| `2-gre` | **SKIP** | kernel has no gretap | - |" in md
    assert "| `0-ping` | **PASS** | 4/4 replies |" in md
    assert "Phases: up 1.5 s, apply 2.2 s, checks 4.0 s, down 0.50 s" in md
    assert "**Bring-up failed:** bring-up failed: ovs-vswitchd did not start" in md


def test_markdown_failures_first_with_evidence(run: RunResult) -> None:
    md = markdown_summary(run)
    # failed scenarios before the passing one, failed checks before passing ones
    assert md.index("### FAIL `custom-bridge`") < md.index("### PASS `default-bridge`")
    section = md[md.index("### FAIL `custom-bridge`") :]
    assert section.index("`1-dhcp`") < section.index("`0-ping`")
    assert "<details><summary>1-dhcp evidence (2 lines)</summary>" in md
    assert "DHCPOFFER yiaddr=10.13.37.12" in md


def test_markdown_escapes_odd_text(run: RunResult) -> None:
    md = markdown_summary(run)
    assert "odd \\| reason &lt;b>bold&lt;/b>" in md
    assert "\x00" not in md and "\ud800" not in md
    # the evidence fence is longer than any backtick run inside it
    assert "````text" in md
    md.encode("utf-8")


def test_markdown_is_emoji_free(run: RunResult) -> None:
    md = markdown_summary(run)
    evidence = "\n".join(ODD)
    assert not [ch for ch in md if ord(ch) > 0x2000 and ch not in evidence]


# --- HTML -------------------------------------------------------------------

EXTERNAL = re.compile(
    r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?(?:https?:)?//|@import""",
    re.I,
)


def test_html_contains_names_and_outcomes(run: RunResult, tmp_path: Path) -> None:
    html = write_reports(run, tmp_path)["html"].read_text()
    for scenario in run.scenarios:
        assert scenario.name in html
        for check in scenario.checks:
            assert check.id in html
    assert "kernel has no gretap" in html
    assert "DHCPACK yiaddr=10.13.37.12" in html
    assert "2 passed" in html and "4 failed" in html and "1 skipped" in html
    assert "Custom bridge lxdbr1337 with NAT and DHCP" in html
    assert "2024-05-01 12:00:00 UTC" in html


def test_html_is_self_contained(run: RunResult) -> None:
    html = render_html(run)
    assert not EXTERNAL.search(html)
    assert "http" not in html.lower()
    assert "<link" not in html


def test_html_escapes_everything(run: RunResult) -> None:
    html = render_html(run)
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "<b>bold</b>" not in html
    assert "\x00" not in html and "\ud800" not in html


def test_html_failures_first(run: RunResult) -> None:
    html = render_html(run)
    assert html.index('id="scenario-custom-bridge"') < html.index('id="scenario-default-bridge"')
    bridge = html[html.index('id="scenario-custom-bridge"') :]
    assert bridge.index("1-dhcp") < bridge.index("0-ping")


def test_html_pcap_links_are_relative_to_the_report(run: RunResult, tmp_path: Path) -> None:
    pcap = tmp_path / "pcaps" / "one two.pcap"
    pcap.parent.mkdir()
    pcap.write_bytes(b"\xd4\xc3\xb2\xa1")
    run.scenarios[1].checks[1].pcaps = [str(pcap), "pcaps/custom-bridge/1-dhcp.pcap"]
    html = write_reports(run, tmp_path / "out")["html"].read_text()
    assert 'href="../pcaps/one%20two.pcap"' in html
    assert 'href="pcaps/custom-bridge/1-dhcp.pcap"' in html


def test_html_capabilities_and_phases(run: RunResult) -> None:
    html = render_html(run)
    caps = html[html.index('class="caps"') :]
    assert "host1" in caps and "gretap" in caps and "vxlan" in caps
    assert '<td class="no">no</td>' in caps and '<td class="yes">yes</td>' in caps
    assert "apply 2.2 s" in html


def test_html_embeds_optional_diagram(run: RunResult) -> None:
    assert "data:image/svg+xml" not in render_html(run)
    svg = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect/></svg>'
    run.scenarios[0].diagram_svg = svg  # type: ignore[attr-defined]
    html = render_html(run)
    assert "data:image/svg+xml;base64," in html
    assert not EXTERNAL.search(html)


def test_html_empty_run() -> None:
    html = render_html(RunResult())
    assert "No scenarios were run." in html


# --- write_reports ----------------------------------------------------------


def test_write_reports_defaults(run: RunResult, tmp_path: Path) -> None:
    paths = write_reports(run, tmp_path / "reports")
    assert set(paths) == {"markdown", "json", "html"}
    assert paths["markdown"] == tmp_path / "reports" / "summary.md"
    assert paths["html"] == tmp_path / "reports" / "report.html"
    assert all(p.is_file() for p in paths.values())


def test_write_reports_explicit_paths(run: RunResult, tmp_path: Path) -> None:
    paths = write_reports(
        run,
        tmp_path / "out",
        junit=tmp_path / "ci" / "junit.xml",
        json_path=tmp_path / "ci" / "run.json",
        html=tmp_path / "site" / "index.html",
    )
    assert paths["junit"] == tmp_path / "ci" / "junit.xml"
    assert paths["json"] == tmp_path / "ci" / "run.json"
    assert paths["html"] == tmp_path / "site" / "index.html"
    assert paths["markdown"] == tmp_path / "out" / "summary.md"
    ET.parse(paths["junit"])
    assert not (tmp_path / "out" / "results.json").exists()


def test_bring_up_errors_are_counted_in_headlines(run: RunResult) -> None:
    assert "**2 scenarios failed to come up**" in markdown_summary(run)
    assert "2 scenarios failed to come up" in render_html(run)


def skipped_run() -> RunResult:
    gre = ScenarioResult(name="gre", checks=[
        CheckResult(id=f"{i}-gre", type="gre", outcome=Outcome.SKIP,
                    reason="kernel has no gretap") for i in range(4)])
    ok = ScenarioResult(name="ok", checks=[
        CheckResult(id="0-ping", type="ping", outcome=Outcome.PASS, reason="fine")])
    return RunResult(scenarios=[gre, ok])


def test_a_scenario_whose_checks_all_skip_is_skipped_in_every_report(tmp_path: Path):
    run = skipped_run()
    gre = run.scenarios[0]
    assert gre.outcome == Outcome.SKIP and not gre.failed
    assert run.outcome == Outcome.PASS  # one scenario was shown to work
    summary = markdown_summary(run)
    assert "### SKIP `gre`" in summary and "| `gre` | **SKIP** |" in summary
    assert "### PASS `ok`" in summary
    suite = ET.fromstring(render_junit(run)).find("testsuite[@name='gre']")
    assert suite.get("skipped") == "4"
    assert suite.find("properties/property[@name='outcome']").get("value") == "skip"
    html = render_html(run)
    assert re.search(r'<span class="badge skip">SKIP</span>\s*<span class="mono">gre</span>', html)
    write_reports(run, tmp_path)
    data = json.loads((tmp_path / "results.json").read_text())
    assert [s["outcome"] for s in data["scenarios"]] == ["skip", "pass"]
    assert load_results(tmp_path).scenarios[0].outcome == Outcome.SKIP  # round trip


def test_a_run_of_skipped_scenarios_only_is_skipped():
    run = RunResult(scenarios=skipped_run().scenarios[:1])
    assert run.outcome == Outcome.SKIP
    assert markdown_summary(run).startswith("## LXD netlab: SKIPPED")
    assert "<title>SKIPPED:" in render_html(run)


def test_a_scenario_error_fails_every_check_whatever_it_recorded():
    scenario = ScenarioResult(name="s", error="teardown left: namespace hl-x-host1", checks=[
        CheckResult(id="0-ping", type="ping", outcome=Outcome.PASS, reason="fine")])
    assert scenario.outcome == Outcome.FAIL
    assert scenario.outcome_of(scenario.checks[0]) == Outcome.FAIL
