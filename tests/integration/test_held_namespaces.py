"""Teardown holds a lab's namespaces open until its leftover check is done, so that another
lab's new namespace cannot take over a number the check still counts as this lab's."""

from __future__ import annotations

import os
import subprocess

import pytest

from harness.substrates import procs
from harness.substrates.runs import new_run_id, run_prefix

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (ip netns)")


def _ip(*args: str) -> None:
    subprocess.run(["ip", "netns", *args], check=True)


def test_a_held_namespace_number_is_not_given_to_the_next_namespace():
    run_id, other = new_run_id(), new_run_id()
    ours, theirs = f"{run_prefix(run_id)}a", [f"{run_prefix(other)}{i}" for i in range(8)]
    _ip("add", ours)
    try:
        with procs.held_namespaces(run_id) as inodes:
            assert len(inodes) == 1
            _ip("del", ours)
            for name in theirs:  # the freed number would be handed out again at once
                _ip("add", name)
            made = {os.stat(f"/run/netns/{name}").st_ino for name in theirs}
            assert not inodes & made
    finally:
        for name in [ours, *theirs]:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
