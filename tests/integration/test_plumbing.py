"""Batched `ip` commands and in-process sysctls, in a scratch namespace of their own."""

from __future__ import annotations

import subprocess

import pytest

from harness.shell import CommandError
from harness.substrates.plumbing import IpBatch, write_sysctls

pytestmark = pytest.mark.root


def sysctl(netns: str, key: str) -> str:
    return subprocess.run(["ip", "netns", "exec", netns, "sysctl", "-n", key],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_sysctls_land_in_the_namespace_only(scratch_netns):
    netns = scratch_netns
    before = subprocess.run(["sysctl", "-n", "net.ipv6.conf.default.disable_ipv6"],
                            capture_output=True, text=True).stdout.strip()
    write_sysctls(netns, {"net.ipv6.conf.default.disable_ipv6": "1"})
    assert sysctl(netns, "net.ipv6.conf.default.disable_ipv6") == "1"
    assert subprocess.run(["sysctl", "-n", "net.ipv6.conf.default.disable_ipv6"],
                          capture_output=True, text=True).stdout.strip() == before


def test_batch_runs_in_order_and_names_the_failing_command(scratch_netns):
    netns = scratch_netns
    batch = IpBatch()
    batch.add(netns, "scratch", "link", "add", "br9", "type", "bridge")
    batch.add(netns, "scratch", "link", "set", "br9", "up")
    batch.run()
    assert "br9" in subprocess.run(["ip", "-n", netns, "-br", "link"], capture_output=True,
                                   text=True).stdout
    batch.add(netns, "scratch", "link", "set", "lo", "up")
    batch.add(netns, "scratch", "link", "add", "br9", "type", "bridge")
    with pytest.raises(CommandError) as failure:
        batch.run()
    assert failure.value.argv == ["ip", "-n", netns, "link", "add", "br9", "type", "bridge"]
    assert failure.value.where == "scratch"


def test_arguments_that_need_quoting_are_refused():
    with pytest.raises(ValueError):
        IpBatch().add(None, "machine", "link", "add", "a b", "type", "dummy")
