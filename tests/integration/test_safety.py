"""Nothing left behind, crash recovery with `harness gc`, and who may talk to the lab's LXD."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import textwrap
from pathlib import Path

import pytest
from lab_helpers import (
    SLOW_APPLY,
    HarnessProcess,
    harness,
    leftovers,
    namespaces,
    run_dirs,
    wait_until_gone,
)

from harness.scenario import load_text
from harness.session import Options, ScenarioRun
from harness.substrates.base import Lab

pytestmark = pytest.mark.root

ONE_HOST = """
    name: safety-one-host
    hosts:
      host1: {underlay: 172.31.0.11/24, instances: {app1: {}}}
    checks:
      - ping: {from: host1:app1, to: upstream}
"""


def test_teardown_names_what_it_could_not_remove(work_root: Path, tmp_path: Path):
    """A process the lab does not know about, but which names its work folder, is reported."""
    topology = load_text(textwrap.dedent(ONE_HOST), str(tmp_path / "s.yaml"))
    run = ScenarioRun(topology, Options(out_dir=tmp_path / "out", work_root=work_root))
    lab = run.up()
    stray = subprocess.Popen(["sleep", "60"], env={"STRAY_IN": f"{lab.workdir}/x"},
                             start_new_session=True)
    try:
        left = run.down(lab)
    finally:
        stray.kill()
        stray.wait()
    assert any(f"process {stray.pid} (sleep 60)" in item for item in left), left
    assert run.result.error and run.result.error.startswith("teardown left: "), run.result.error
    assert f"process {stray.pid}" in run.result.error


def test_clean_run_reports_no_leftovers(work_root: Path, tmp_path: Path):
    topology = load_text(textwrap.dedent(ONE_HOST), str(tmp_path / "s.yaml"))
    result = ScenarioRun(topology, Options(out_dir=tmp_path / "out", work_root=work_root)).run()
    assert result.error is None, result.error
    assert [c.outcome for c in result.checks] == ["pass"]
    assert run_dirs(work_root) == []


def test_gc_reaps_a_killed_run(work_root: Path, tmp_path: Path):
    scenario = tmp_path / "slow.yaml"
    scenario.write_text(SLOW_APPLY.format(name="killed-run"))
    run = HarnessProcess(["run", str(scenario), "--workdir", str(work_root),
                          "--out", str(tmp_path / "out")], work_root)
    try:
        run.wait_for(lambda: run.saw(": check "), timeout=60, what="checks")
        alive = harness("gc", "--dry-run", "--workdir", str(work_root))
        run.proc.send_signal(signal.SIGKILL)  # the harness only: its daemons live on
        run.finish(timeout=10)
    finally:
        run.kill()
    (run_id,) = run.run_ids
    assert f"kept run {run_id}: its owner process {run.proc.pid} is running" in alive.stdout
    assert namespaces({run_id}), "a killed run leaves its namespaces (else this test is moot)"
    assert leftovers(work_root, {run_id})

    gc = harness("gc", "--workdir", str(work_root), timeout=60)
    assert gc.returncode == 0, gc.stdout + gc.stderr
    assert f"removed dead run {run_id}" in gc.stdout
    assert wait_until_gone(work_root, {run_id}, timeout=5) == []
    again = harness("gc", "--workdir", str(work_root))
    assert again.returncode == 0 and "no runs" in again.stdout


def test_gc_never_touches_what_is_not_a_dead_run(work_root: Path):
    """Folders without lab.json, and namespaces of runs it has no lab.json for, stay."""
    stranger = work_root / "notalab"
    stranger.mkdir()
    (stranger / "data").write_text("not the harness'")
    gc = harness("gc", "--workdir", str(work_root))
    assert gc.returncode == 0, gc.stderr
    assert (stranger / "data").exists()


def test_lxd_listens_only_on_a_root_only_socket(work_root: Path, tmp_path: Path):
    scenario = tmp_path / "access.yaml"
    scenario.write_text(textwrap.dedent(ONE_HOST))
    up = harness("up", str(scenario), "--workdir", str(work_root), timeout=120)
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        state = json.loads((work_root / "by-name" / "safety-one-host.json").read_text())
        lab = Lab.load(Path(state["lab"]))
        host = lab.hosts["host1"]
        env = {**os.environ, **host.lxc_env}

        https = subprocess.run(["lxc", "config", "get", "core.https_address"], env=env,
                               capture_output=True, text=True, check=True)
        assert https.stdout.strip() == ""
        listeners = subprocess.run(["ip", "netns", "exec", host.netns, "ss", "-ltnpH"],
                                   capture_output=True, text=True, check=True).stdout
        assert "lxd" not in listeners, listeners

        socket = Path(host.lxd_socket).stat()
        assert stat.S_ISSOCK(socket.st_mode)
        assert (socket.st_uid, socket.st_gid) == (0, 0)
        assert stat.S_IMODE(socket.st_mode) & 0o007 == 0, oct(socket.st_mode)
        # 0711, not 0700: the containers' root (uid 1000000) must traverse to its rootfs
        assert stat.S_IMODE(Path(lab.workdir).stat().st_mode) == 0o711
        key = Path(host.lxd_dir) / "server.key"
        assert stat.S_IMODE(key.stat().st_mode) & 0o077 == 0

        # `harness up` keeps the lab on purpose: gc leaves it alone
        gc = harness("gc", "--workdir", str(work_root))
        assert f"kept run {lab.run_id}: kept up by `harness up`" in gc.stdout

        out = tmp_path / "out"
        harness("verify", str(scenario), "--workdir", str(work_root), "--out", str(out))
        written = [p for p in [*out.rglob("*"), *Path(lab.workdir).rglob("*.log"),
                               Path(lab.workdir) / "host1" / "daemon.out"] if p.is_file()]
        assert written
        for path in written:
            assert b"PRIVATE KEY" not in path.read_bytes(), path
        copies = [p for p in work_root.rglob("server.key") if p != key]
        assert copies == []
    finally:
        down = harness("down", str(scenario), "--workdir", str(work_root), timeout=120)
    assert down.returncode == 0, down.stdout + down.stderr
    assert wait_until_gone(work_root, {lab.run_id}, timeout=5) == []
