"""Transcript files and grade sheets (no lab needed)."""

from __future__ import annotations

import csv

import pytest

from harness.lab import transcript
from harness.lab.grade import Cell, Sheet, format_sheet, write_csv, write_html
from harness.lab.words import describe, plain_reason
from harness.topology import CheckSpec


def test_append_and_read_back_in_typing_order(tmp_path):
    folder = tmp_path / "alice"
    transcript.append(folder / "host2.log", "attach", 0, "lxc list")
    transcript.append(folder / "host1.log", "attach", 1, "lxc info app1\n| head")
    (folder / "host1.log").open("a").write("1796100000,5\tgre\t\tlxc network list\n")
    entries = transcript.read_folder(folder)
    assert [(e.host, e.stage, e.status, e.command) for e in entries] == [
        ("host1", "gre", None, "lxc network list"),  # bash's EPOCHREALTIME with a comma
        ("host2", "attach", 0, "lxc list"),
        ("host1", "attach", 1, "lxc info app1 | head")]


def test_a_broken_line_names_the_file(tmp_path):
    bad = tmp_path / "host1.log"
    bad.write_text("lxc list\n")
    with pytest.raises(ValueError, match="host1.log: not a transcript line"):
        transcript.read(bad)


def test_sheet_files(tmp_path):
    sheet = Sheet("course", ["one", "two"], {
        "ann": {"one": Cell("pass"), "two": Cell("fail", ["x <b>: y"])},
        "bob": {"one": Cell("solved", ["applied"]), "two": Cell("skip", ["no gretap"])}})
    write_csv(sheet, tmp_path / "g.csv")
    rows = list(csv.reader((tmp_path / "g.csv").open()))
    assert rows == [["learner", "one", "two", "passed", "failures"],
                    ["ann", "pass", "fail", "1/2", "two: x <b>: y"],
                    ["bob", "solved", "skip", "0/2", ""]]
    write_html(sheet, tmp_path / "g.html")
    assert "x &lt;b&gt;: y" in (tmp_path / "g.html").read_text()
    assert format_sheet(sheet).splitlines()[1].split() == ["ann", "pass", "fail", "1/2"]


def test_learner_words():
    spec = CheckSpec(0, "dhcp", {"instance": "host1:app1", "range": "10.1.1.2,10.1.1.9"})
    assert describe(spec) == "app1 on host1 gets an address in 10.1.1.2 - 10.1.1.9 by DHCP"
    nat = CheckSpec(1, "nat", {"from": "host1:app2", "expect_source": "host1"},
                    expect_failure=True)
    assert describe(nat).startswith("it must NOT be true that app2 on host1 reaches")
    assert plain_reason("probe error: boom\nTraceback (most recent call last):\n  x") == \
        "probe error: boom"
    assert plain_reason("inconclusive: host1 has no LXD network 'x'") == \
        "host1 has no LXD network 'x'"
    # a missing network or instance is said by the check context itself (checks/context.py)
    assert plain_reason("inconclusive: host1 has no LXD network 'x': that network does not "
                        "exist") == "host1 has no LXD network 'x': that network does not exist"
