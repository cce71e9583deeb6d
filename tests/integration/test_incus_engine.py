"""The Incus engine on the real thing: each host runs incusd with its own INCUS_DIR, `lxc` and
`incus` lines both reach it, pylxd's file API works through the header renaming, and a key
Incus removed makes every check skip with that reason. (Every scenario on Incus: scenarios/.)"""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from harness import engines
from harness.lxd.client import connect
from harness.results import Outcome
from harness.scenario import load_text
from harness.session import Options, ScenarioRun

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(not engines.installed(engines.INCUS),
                       reason="Incus is not installed (scripts/setup.sh installs it)"),
]

LINES = """
    name: engine-lines
    hosts:
      host1:
        underlay: 172.31.0.11/24
        networks:
          lxdbr1337: {config: {ipv4.address: 10.13.37.1/24, ipv4.nat: "true"}}
        instances: {app1: {}}
        commands:
          - lxc network attach lxdbr1337 app1 eth0
          - incus config device set app1 eth0 ipv4.address 10.13.37.66
          - lxc restart app1
    checks:
      - dhcp: {instance: host1:app1, expect: 10.13.37.66}
"""

FAN_BRIDGE = """
    name: engine-fan
    hosts:
      host1:
        underlay: 172.21.3.15/16
        networks:
          fanbr: {config: {bridge.mode: fan, fan.underlay_subnet: 172.21.0.0/16}}
    checks:
      - ping: {from: host1, to: upstream}
"""


def scenario(text: str, tmp_path: Path, name: str = "s.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return load_text(path.read_text(), str(path))


def test_incus_host_runs_incusd_and_takes_lxc_and_incus_lines(tmp_path, work_root):
    run = ScenarioRun(scenario(LINES, tmp_path),
                      Options(engine="incus", out_dir=tmp_path / "out", work_root=work_root))
    lab = run.up()
    try:
        node = lab.hosts["host1"]
        assert lab.engine == node.engine == "incus"
        assert node.lxc_env["INCUS_DIR"] == node.lxd_dir and "LXD_DIR" not in node.lxc_env
        daemon = Path(f"/proc/{node.pids[-1]}/cmdline").read_bytes().split(b"\0")
        assert daemon[0].decode() == engines.INCUS.daemon
        client = connect(engines.INCUS, node.lxd_socket)
        assert client.host_info["environment"]["server"] == "incus"

        # pylxd's file API: X-LXD-* request headers reach Incus, X-Incus-* answers reach pylxd
        app1 = client.instances.get("app1")
        app1.files.put("/tmp/hello", b"hi\n", mode=0o640)
        app1.files.mk_dir("/tmp/tree", mode=0o750)
        app1.files.put("/tmp/tree/leaf", b"leaf\n", mode=0o600)
        listing = app1.execute(["ls", "-ld", "/tmp/hello", "/tmp/tree"]).stdout
        assert "-rw-r-----" in listing and "drwxr-x---" in listing
        app1.files.recursive_get("/tmp/tree", str(tmp_path / "tree"))
        leaf = tmp_path / "tree" / "leaf"
        assert leaf.read_bytes() == b"leaf\n" and oct(os.stat(leaf).st_mode & 0o777) == "0o600"

        # what a person types in `harness shell`: the tutorial's lxc reaches the host's Incus
        typed = run.substrate.interactive_argv(node, ["lxc", "list", "-c", "n", "-f", "csv"], {})
        assert subprocess.run(typed, capture_output=True, text=True).stdout.split() == ["app1"]

        (result,) = run.verify(lab)
        assert result.outcome == Outcome.PASS, result.reason
        assert run.result.engine == "incus"
    finally:
        assert run.down(lab) == []


def test_a_key_incus_removed_skips_every_check_naming_it(tmp_path, work_root):
    topology = scenario(FAN_BRIDGE, tmp_path)
    result = ScenarioRun(topology, Options(engine="incus", out_dir=tmp_path / "out",
                                           work_root=work_root)).run()
    assert result.error is None
    (check,) = result.checks
    assert check.outcome == Outcome.SKIP
    assert "Incus has no fan bridges" in check.reason and "bridge.mode=fan" in check.reason
    assert "apply" not in result.phases  # not applied: Incus would refuse the key


def test_lxd_stays_the_default(tmp_path):
    run = ScenarioRun(scenario(LINES, tmp_path), Options(out_dir=tmp_path / "out"))
    assert run.engine is engines.LXD and run.result.engine == "lxd"


REFUSED_KEY = """
    name: engine-refuses
    hosts:
      host1:
        underlay: 172.31.0.11/24
        networks:
          br0: {config: {ipv4.address: 10.13.37.1/24, ipv4.nat: "maybe"}}
    checks:
      - ping: {from: host1, to: upstream}
"""


@pytest.mark.parametrize("engine", [
    engines.INCUS,
    pytest.param(engines.LXD, marks=pytest.mark.skipif(
        not engines.installed(engines.LXD), reason="LXD is not installed")),
], ids=lambda e: e.name)
def test_a_refusal_names_the_engine_that_refused(engine, tmp_path, work_root):
    """A value the daemon refuses at apply time: the user reads which engine said no."""
    topology = scenario(REFUSED_KEY, tmp_path)
    result = ScenarioRun(topology, Options(engine=engine.name, out_dir=tmp_path / "out",
                                           work_root=work_root)).run()
    other = engines.LXD if engine is engines.INCUS else engines.INCUS
    assert result.error is not None
    assert f"host1: network br0: {engine.title} refused: " in result.error, result.error
    assert "ipv4.nat" in result.error and other.title not in result.error
