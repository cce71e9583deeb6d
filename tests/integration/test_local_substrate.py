"""The local substrate on the real thing: namespaces, LXD daemons, teardown."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from harness.results import Outcome
from harness.scenario import load_text
from harness.session import Options, ScenarioRun

pytestmark = pytest.mark.root


def netns_names() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def lab_processes(workdir: str) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if workdir in line]


def scenario(text: str, tmp_path: Path):
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(text))
    return load_text(path.read_text(), str(path))


TWO_HOSTS = """
    name: two-hosts
    hosts:
      host1: {underlay: 172.31.0.11/24, instances: {app1: {}}}
      host2: {underlay: 172.31.0.12/24}
    checks:
      - ping: {from: host1, to: host2}
      - ping: {from: host1:app1, to: upstream}
      - ping: {from: host2, to: host1:app1, expect_failure: true}
"""


def test_up_check_down_leaves_nothing(tmp_path):
    topology = scenario(TWO_HOSTS, tmp_path)
    run = ScenarioRun(topology, Options(out_dir=tmp_path / "out"))
    lab = run.up()
    try:
        names = {node.netns for node in [*lab.hosts.values(), *lab.nodes.values()]}
        assert names <= netns_names()
        assert all(Path(h.lxd_socket).exists() for h in lab.hosts.values())
        assert oct(Path(lab.workdir).stat().st_mode & 0o777) == "0o711"
        results = run.verify(lab)
    finally:
        assert run.down(lab) == []
    assert [r.outcome for r in results] == [Outcome.PASS] * 3, [r.reason for r in results]
    assert not names & netns_names()
    assert not Path(lab.workdir).exists()
    assert lab_processes(lab.workdir) == []


def test_refused_lxd_config_fails_every_check_and_cleans_up(tmp_path):
    topology = scenario("""
        name: refused
        hosts:
          host1:
            networks:
              lxdbr9: {config: {ipv4.address: 10.9.9.1/24, no.such.key: "1"}}
        checks:
          - ping: {from: host1, to: upstream}
    """, tmp_path)
    run = ScenarioRun(topology, Options(out_dir=tmp_path / "out"))
    result = run.run()
    assert result.error and "network lxdbr9" in result.error and "host1" in result.error
    assert [c.outcome for c in result.checks] == [Outcome.FAIL]
    # only this run's namespaces: other labs may come and go meanwhile (pytest -n 2)
    assert not [n for n in netns_names() if n.startswith(f"hl-{run.substrate.run_id}-")]


def test_instance_without_address_is_inconclusive_not_pass(tmp_path):
    topology = scenario("""
        name: no-dhcp
        hosts:
          host1:
            networks:
              br0: {config: {ipv4.address: 10.9.8.1/24, ipv4.dhcp: "false"}}
            instances:
              app1: {devices: {eth0: {type: nic, nictype: bridged, parent: br0}}}
        checks:
          - ping: {from: host1:app1, to: upstream, expect_failure: true}
    """, tmp_path)
    result = ScenarioRun(topology, Options(out_dir=tmp_path / "out")).run()
    (check,) = result.checks
    assert check.outcome == Outcome.FAIL
    assert "inconclusive" in check.reason


def test_work_folder_that_containers_cannot_reach_is_refused(tmp_path):
    from harness.substrates.base import SubstrateError
    from harness.substrates.local import LocalSubstrate

    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    topology = scenario(TWO_HOSTS, tmp_path)
    with pytest.raises(SubstrateError, match="not searchable"):
        LocalSubstrate(private / "work").up(topology)
