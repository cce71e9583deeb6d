"""Small parts the substrates share: the process stopper, Vagrant's output parsers."""

from __future__ import annotations

import signal
import subprocess
import time

from harness.substrates import procs
from harness.substrates.vagrant.cli import parse_ssh_config, parse_states


def test_stop_ends_a_process_that_obeys_sigterm_at_once():
    proc = subprocess.Popen(["sleep", "30"], start_new_session=True)
    started = time.monotonic()
    assert procs.stop([proc.pid], grace=5) == []
    assert time.monotonic() - started < 2
    assert not procs.alive(proc.pid)


def test_stop_kills_the_group_of_a_process_that_ignores_sigterm():
    proc = subprocess.Popen(["sh", "-c", "trap '' TERM; sleep 30 & wait"],
                            start_new_session=True)
    deadline = time.monotonic() + 30
    while not any(p.ppid == proc.pid for p in procs.all_processes()):  # the trap is set
        assert time.monotonic() < deadline, "the shell never started its sleep"
        time.sleep(0.02)
    started = time.monotonic()
    assert procs.stop([proc.pid], to_group=True, grace=0.5) == []
    assert 0.4 < time.monotonic() - started < 3
    assert not procs.alive(proc.pid)


def test_stop_of_a_process_that_is_gone_is_quiet():
    proc = subprocess.Popen(["true"])
    proc.wait()
    assert procs.stop([proc.pid]) == []


def test_stop_waits_until_a_killed_process_has_exited(monkeypatch):
    proc = subprocess.Popen(["sleep", "30"])
    exits = iter([True, True, True, False])  # still exiting for three looks after SIGKILL
    real = procs.is_running
    monkeypatch.setattr(procs, "is_running",
                        lambda pid, start: real(pid, start) and next(exits, False))
    assert procs.stop([proc.pid], signum=signal.SIGKILL, grace=0) == []
    assert proc.poll() is not None  # reaped, not left a zombie


def test_vagrant_ssh_config_and_status_are_parsed():
    config = parse_ssh_config("Host host1\n  HostName 10.254.1.17\n  User vagrant\n  Port 22\n"
                              '  IdentityFile "/root/.vagrant.d/insecure_private_key"\n'
                              "  # a comment\n\n")
    assert config == {"HostName": "10.254.1.17", "User": "vagrant", "Port": "22",
                      "IdentityFile": "/root/.vagrant.d/insecure_private_key"}
    states = parse_states("1700000000,host1,provider-name,libvirt\n"
                          "1700000000,host1,state,running\n"
                          "1700000000,host2,state,not_created\n"
                          "1700000000,,ui,info,Current machine states:\n")
    assert states == {"host1": "running", "host2": "not_created"}
