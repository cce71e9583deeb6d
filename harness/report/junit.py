"""JUnit XML: one <testsuite> per scenario, one <testcase> per check."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from harness.results import CheckResult, Outcome, RunResult, ScenarioResult

# Characters XML 1.0 cannot carry at all, not even as character references.
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: object) -> str:
    return _ILLEGAL_XML.sub("", str(text))


def _seconds(value: float) -> str:
    return f"{value:.3f}"


def _add_properties(parent: ET.Element, props: list[tuple[str, object]]) -> None:
    if not props:
        return
    element = ET.SubElement(parent, "properties")
    for name, value in props:
        ET.SubElement(element, "property", name=xml_safe(name), value=xml_safe(value))


def _failure_message(scenario: ScenarioResult, check: CheckResult) -> str | None:
    if scenario.error is not None:
        if check.reason and check.reason != scenario.error:
            return f"{scenario.error}: {check.reason}"
        return scenario.error
    if check.outcome == Outcome.FAIL:
        return check.reason or "check failed"
    return None


def _testcase(suite: ET.Element, scenario: ScenarioResult, check: CheckResult) -> None:
    case = ET.SubElement(
        suite,
        "testcase",
        name=xml_safe(f"{scenario.name}::{check.id}"),
        classname=xml_safe(scenario.name),
        time=_seconds(check.duration),
    )
    props: list[tuple[str, object]] = [("type", check.type)]
    if check.expect_failure:
        props.append(("expect_failure", "true"))
    props += [(f"param.{key}", value) for key, value in check.params.items()]
    props += [(f"evidence.{i}", line) for i, line in enumerate(check.evidence)]
    props += [(f"pcap.{i}", pcap) for i, pcap in enumerate(check.pcaps)]
    _add_properties(case, props)

    message = _failure_message(scenario, check)
    if message is not None:
        failure = ET.SubElement(case, "failure", message=xml_safe(message), type="fail")
        failure.text = xml_safe("\n".join(check.evidence))
    elif check.outcome == Outcome.SKIP:
        ET.SubElement(case, "skipped", message=xml_safe(check.reason or "skipped"))
    if check.pcaps:
        # Jenkins' attachments plugin picks these lines up from system-out.
        out = ET.SubElement(case, "system-out")
        out.text = xml_safe("\n".join(f"[[ATTACHMENT|{p}]]" for p in check.pcaps))


def _testsuite(root: ET.Element, run: RunResult, scenario: ScenarioResult) -> None:
    suite = ET.SubElement(
        root,
        "testsuite",
        name=xml_safe(scenario.name),
        time=_seconds(sum(scenario.phases.values())),
    )
    if run.started:
        suite.set("timestamp", xml_safe(run.started))
    props: list[tuple[str, object]] = [("outcome", str(scenario.outcome)),
                                       ("substrate", scenario.substrate),
                                       ("engine", scenario.engine)]
    if scenario.source:
        props.append(("source", scenario.source))
    if scenario.description:
        props.append(("description", scenario.description))
    if scenario.tags:
        props.append(("tags", ",".join(scenario.tags)))
    props += [(f"phase.{name}", _seconds(sec)) for name, sec in scenario.phases.items()]
    if scenario.error is not None:
        props.append(("error", scenario.error))
    if scenario.interrupted:
        props.append(("interrupted", scenario.interrupted))
    _add_properties(suite, props)

    for check in scenario.checks:
        _testcase(suite, scenario, check)
    if scenario.error is not None and not scenario.checks:
        # No checks to carry the error: keep the failed bring-up visible anyway.
        case = ET.SubElement(
            suite,
            "testcase",
            name=xml_safe(f"{scenario.name}::bring-up"),
            classname=xml_safe(scenario.name),
            time=_seconds(scenario.phases.get("up", 0.0) + scenario.phases.get("apply", 0.0)),
        )
        ET.SubElement(case, "failure", message=xml_safe(scenario.error), type="error")

    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(sum(c.find("failure") is not None for c in cases)))
    suite.set("errors", "0")
    suite.set("skipped", str(sum(c.find("skipped") is not None for c in cases)))


def junit_tree(run: RunResult) -> ET.ElementTree:
    root = ET.Element("testsuites", name="harness", time=_seconds(run.duration))
    for scenario in run.scenarios:
        _testsuite(root, run, scenario)
    for attr in ("tests", "failures", "errors", "skipped"):
        root.set(attr, str(sum(int(s.get(attr, "0")) for s in root.iter("testsuite"))))
    ET.indent(root)
    return ET.ElementTree(root)


def render_junit(run: RunResult) -> str:
    return ET.tostring(junit_tree(run).getroot(), encoding="unicode", xml_declaration=True) + "\n"


def write_junit(run: RunResult, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_junit(run), encoding="utf-8")
    return path
