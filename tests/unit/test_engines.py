"""The engine table: names, line translation, removed keys, versions, and the header renaming
pylxd needs on Incus (the real Incus daemon is exercised in tests/integration)."""

from __future__ import annotations

import re
import shlex

import pytest
import requests
from requests.adapters import BaseAdapter

from harness import engines
from harness.engines import INCUS, LXD, UnknownEngine, translate
from harness.lxd.client import HeaderRenamingSession, session_for


def words(line: str) -> list[str]:
    return shlex.split(line)


def test_names_and_default():
    assert engines.get(None) is LXD
    assert engines.get("incus") is INCUS
    assert set(engines.ENGINES) == {"lxd", "incus"}


def test_unknown_engine_suggests_the_closest():
    with pytest.raises(UnknownEngine, match=r"unknown engine 'incsu' \(did you mean 'incus'\?\)"):
        engines.get("incsu")


def test_daemon_folder_and_admin_commands_differ():
    assert LXD.daemon_argv("/w/h1/lxd") == ["lxd", "--group", "root", "--logfile",
                                           "/w/h1/lxd/lxd.log"]
    assert INCUS.daemon_argv("/w/h1/incus")[0] == "/usr/libexec/incus/incusd"
    assert INCUS.env("/w/h1/incus") == {"INCUS_DIR": "/w/h1/incus"}
    assert LXD.env("/w/h1/lxd") == {"LXD_DIR": "/w/h1/lxd"}
    assert INCUS.socket("/d") == LXD.socket("/d") == "/d/unix.socket"
    assert LXD.admin_argv("init", "--preseed") == ["lxd", "init", "--preseed"]
    assert INCUS.admin_argv("init", "--preseed") == ["incus", "admin", "init", "--preseed"]


@pytest.mark.parametrize("line, on_lxd, on_incus", [
    ("lxc network create lxdbr1337 ipv4.nat=true", "lxc network create lxdbr1337 ipv4.nat=true",
     "incus network create lxdbr1337 ipv4.nat=true"),
    ("incus config device set app1 eth0 ipv4.address 10.13.37.66",
     "lxc config device set app1 eth0 ipv4.address 10.13.37.66",
     "incus config device set app1 eth0 ipv4.address 10.13.37.66"),
    ("/usr/bin/lxc restart app1", "lxc restart app1", "incus restart app1"),
    ("incus create busybox app2", "lxc init busybox app2", "incus create busybox app2"),
    ("lxd init --preseed", "lxd init --preseed", "incus admin init --preseed"),
    ("incus admin waitready", "lxd waitready", "incus admin waitready"),
    ("brctl addbr lanbr", "brctl addbr lanbr", "brctl addbr lanbr"),
    ("lxd", "lxd", "lxd"),  # the daemon itself is not an administrative verb
])
def test_lines_run_on_either_engine(line, on_lxd, on_incus):
    assert translate(LXD, words(line)) == words(on_lxd)
    assert translate(INCUS, words(line)) == words(on_incus)


def test_incus_lacks_fan_bridges():
    create = words("lxc network create fan-10 bridge.mode=fan fan.underlay_subnet=172.21.0.0/16")
    assert engines.removed_in_line(INCUS, create) == ["bridge.mode=fan", "fan.*"]
    assert engines.removed_in_line(LXD, create) == []
    assert engines.removed_in_line(INCUS, words("incus network set fanbr bridge.mode fan")) == [
        "bridge.mode=fan"]
    assert engines.removed_in_line(INCUS, words("lxc network set br0 bridge.mode standard")) == []
    assert engines.removed_in_line(INCUS, words("fanctl up -o 10.0.0.0/8 -u 1.2.3.4/16")) == []
    assert engines.removed_in_config(INCUS, {"fan.type": "ipip", "ipv4.nat": "true"}) == ["fan.*"]
    assert engines.removed_features(INCUS, [{"bridge.mode": "fan"}], [create]) == [
        "bridge.mode=fan", "fan.*"]
    assert "Incus" in INCUS.removed_why and "bridge.mode=fan" in INCUS.removed_why


@pytest.mark.parametrize("engine", [LXD, INCUS], ids=lambda e: e.name)
def test_versions_of_the_installed_engines(engine):
    if not engines.installed(engine):
        pytest.skip(f"{engine.title} is not installed (scripts/setup.sh installs it)")
    assert re.fullmatch(r"\d+\.\d+(\.\d+)?", engines.version(engine) or "")


class _Recorder(BaseAdapter):
    """Answers every request like Incus's file API, remembering what it was sent."""

    def __init__(self):
        super().__init__()
        self.sent: dict[str, str] = {}

    def send(self, request, **kwargs):
        self.sent = dict(request.headers)
        response = requests.Response()
        response.status_code = 200
        response.headers.update({"X-Incus-Type": "directory", "X-Incus-Mode": "0755"})
        response._content = b"{}"
        response.request = request
        return response

    def close(self):
        pass


def test_incus_session_renames_file_headers_both_ways():
    session = HeaderRenamingSession(INCUS.header_prefix)
    adapter = _Recorder()
    session.mount("http+unix://", adapter)
    response = session.post("http+unix://sock/1.0/instances/a/files", data=b"x",
                            headers={"X-LXD-mode": "0640", "X-LXD-type": "file"})
    assert adapter.sent["X-Incus-mode"] == "0640" and adapter.sent["X-Incus-type"] == "file"
    assert not any(name.startswith("X-LXD") for name in adapter.sent)
    assert response.headers["X-LXD-type"] == "directory"  # what pylxd's recursive_get reads
    assert response.headers["X-LXD-mode"] == "0755"


def test_lxd_keeps_pylxds_own_session():
    assert session_for(LXD, "/d/unix.socket") is None
    assert isinstance(session_for(INCUS, "/d/unix.socket"), HeaderRenamingSession)


PLANNED = """
name: planned-engine
hosts:
  host1:
    setup: [lxd init --auto]
    networks:
      lxdbr1337: {config: {ipv4.address: 10.13.37.1/24}}
    instances: {app1: {}}
    commands:
      - lxc config device set app1 eth0 ipv4.address 10.13.37.66
      - incus restart app1
"""


def test_plan_speaks_the_engines_client():
    from harness.lxd.plan import format_plan
    from harness.scenario import load_text

    topology = load_text(PLANNED, "planned.yaml")
    on_incus = format_plan(topology, INCUS)
    assert "# engine: Incus." in on_incus and "`incus admin init`" in on_incus
    assert "incus admin init --auto" in on_incus
    assert "incus network create lxdbr1337 ipv4.address=10.13.37.1/24" in on_incus
    assert "incus config device set app1 eth0 ipv4.address 10.13.37.66" in on_incus
    assert "\nlxc " not in on_incus
    on_lxd = format_plan(topology, LXD)
    assert "lxc restart app1" in on_lxd and "\nincus " not in on_lxd


def test_engine_in_the_scenario_is_checked_with_its_line():
    from harness.scenario import ScenarioError, load_text

    assert load_text(PLANNED + "engine: incus\n", "e.yaml").engine == "incus"
    assert load_text(PLANNED, "e.yaml").engine is None  # the run decides: default lxd
    with pytest.raises(ScenarioError, match=r"e.yaml:12 engine: should be 'lxd' or 'incus'"):
        load_text(PLANNED + "engine: icus\n", "e.yaml")
