"""The verbs that need no lab: ls, plan, graph, image; and `run --tag` selecting scenarios."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from harness.catalog import format_table, scenario_files, summarize
from harness.cli import EXIT_INVALID, EXIT_OK, build_parser, main
from harness.report.graph import graphviz_available

ROOT = Path(__file__).resolve().parents[2]
GOOD = ROOT / "tests" / "corpus" / "good"
BAD = ROOT / "tests" / "corpus" / "bad"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for name in ("vxlan-template", "minimal-defaults", "ovs-vlan"):
        shutil.copy(GOOD / f"{name}.yaml", tmp_path)
    shutil.copy(BAD / "unknown-key.yaml", tmp_path)
    (tmp_path / "notes.txt").write_text("not a scenario")
    return tmp_path


def test_ls_lists_valid_and_invalid_files(folder, capsys):
    assert main(["ls", str(folder)]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "HOSTS", "CHECKS", "TAGS", "FILE", "DESCRIPTION"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows["vxlan-template"][1:4] == ["2", "4", "tutorial,tunnel"]
    assert rows["minimal-defaults"][1:4] == ["1", "2", "-"]
    assert rows["INVALID"][4].endswith("unknown-key.yaml")
    invalid = next(line for line in lines if "INVALID" in line)
    assert re.search(r"unknown-key\.yaml +line \d+ hosts\.host1\.netwroks: unknown key", invalid)
    assert not any("notes.txt" in line for line in lines)


def test_ls_by_tag_keeps_invalid_files_visible(folder, capsys):
    assert main(["ls", str(folder), "--tag", "ovs"]) == EXIT_OK
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]]
    assert names == ["ovs-vlan", "INVALID"]  # an invalid file's tags are unknown


def test_ls_of_a_missing_folder_is_an_error(tmp_path, capsys):
    assert main(["ls", str(tmp_path / "nope")]) == EXIT_INVALID
    assert "no such file or folder" in capsys.readouterr().err


def test_summary_of_an_invalid_file_names_line_and_field():
    summary = summarize(BAD / "unknown-key.yaml")
    assert summary.error is not None and summary.error.startswith("line ")
    assert str(BAD) not in summary.error  # the file is in its own column
    table = format_table([summary])
    assert "INVALID" in table and summary.error in table


def test_scenario_files_are_sorted_and_only_yaml(folder):
    names = [p.name for p in scenario_files([folder])]
    assert names == sorted(names) and "notes.txt" not in names and len(names) == 4


def test_plan_prints_the_commands(capsys):
    assert main(["plan", str(GOOD / "ovs-vlan.yaml")]) == EXIT_OK
    out = capsys.readouterr().out
    assert "ovs-vsctl add-br vlan409 ctr-bridge 409\n" in out
    assert "lxc config device override app1 eth0 parent=vlan409\n" in out


def test_plan_takes_template_variables(capsys):
    assert main(["plan", str(GOOD / "vxlan-template.yaml"), "--var", "vni=77"]) == EXIT_OK
    assert "tunnel.host2.id=77" in capsys.readouterr().out


def test_graph_without_output_prints_dot(capsys):
    assert main(["graph", str(GOOD / "minimal-defaults.yaml")]) == EXIT_OK
    out = capsys.readouterr().out
    assert out.startswith('graph "minimal-defaults" {') and out.endswith("}\n")


def test_graph_writes_dot_text_by_extension(tmp_path):
    out = tmp_path / "t.dot"
    assert main(["graph", str(GOOD / "minimal-defaults.yaml"), "-o", str(out)]) == EXIT_OK
    assert out.read_text().startswith('graph "minimal-defaults"')


@pytest.mark.skipif(not graphviz_available(), reason="Graphviz `dot` is not installed")
def test_graph_draws_svg(tmp_path):
    out = tmp_path / "t.svg"
    assert main(["graph", str(GOOD / "design-example.yaml"), "-o", str(out)]) == EXIT_OK
    assert "<svg" in out.read_text()


def test_graph_without_graphviz_says_how_to_get_it(tmp_path, monkeypatch, capsys):
    from harness.report import graph

    monkeypatch.setattr(graph.shutil, "which", lambda name: None)
    assert main(["graph", str(GOOD / "minimal-defaults.yaml"), "-o", str(tmp_path / "x.svg")]) == 1
    assert "apt-get install graphviz" in capsys.readouterr().err
    assert not (tmp_path / "x.svg").exists()


def test_run_takes_tag_after_the_files():
    args = build_parser().parse_args(["run", "a.yaml", "b.yaml", "--tag", "vxlan", "-k", "br"])
    assert args.files == ["a.yaml", "b.yaml"] and args.tag == ["vxlan"] and args.k == "br"


def test_run_with_a_tag_nothing_has_selects_nothing(capsys):
    files = [str(p) for p in sorted(GOOD.glob("*.yaml"))]
    assert main(["run", *files, "--tag", "no-such-tag"]) == EXIT_INVALID
    assert "no scenario selected" in capsys.readouterr().err


def test_run_selects_by_tag():
    from harness.cli import _select, load_all

    topologies = load_all([str(p) for p in sorted(GOOD.glob("*.yaml"))], {})
    assert [t.name for t in _select(topologies, None, ["tunnel"])] == ["vxlan-template"]
    assert [t.name for t in _select(topologies, None, ["ovs", "tunnel"])] == [
        "ovs-vlan", "vxlan-template"]
