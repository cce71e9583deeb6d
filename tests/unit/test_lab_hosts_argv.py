"""How `harness shell`/`exec` reach a host: the substrate's interactive argv."""

from __future__ import annotations

from harness.substrates.base import HostNode
from harness.substrates.local import LocalSubstrate
from harness.substrates.ssh import SshSubstrate
from harness.substrates.vagrant import VagrantSubstrate


def test_local_host_is_its_namespace_with_its_lxd(tmp_path):
    node = HostNode(name="host1", kind="host", netns="hl-abc-host1", lxd_dir="/w/host1/lxd",
                    ovs_rundir="/w/host1/ovs")
    argv = LocalSubstrate(tmp_path).interactive_argv(node, ["bash", "-i"], {"HARNESS_HOST": "h"})
    assert argv[:5] == ["ip", "netns", "exec", "hl-abc-host1", "env"]
    assert "LXD_DIR=/w/host1/lxd" in argv and "OVS_RUNDIR=/w/host1/ovs" in argv
    assert "HARNESS_HOST=h" in argv
    assert argv[-2:] == ["bash", "-i"]


def test_remote_hosts_go_through_ssh(tmp_path):
    node = HostNode(name="host1", kind="host", netns="", lxd_dir="/w/host1/lxd", remote={
        "address": "192.168.121.10", "port": 2222, "user": "vagrant", "key": "/k/id",
        "check_host_key": False, "netns": "hl-libvirt", "host_netns": None})
    for substrate in (VagrantSubstrate(tmp_path), SshSubstrate(tmp_path)):
        argv = substrate.interactive_argv(node, ["bash", "-c", "lxc list"], {"A": "b"})
        assert argv[:4] == ["ip", "netns", "exec", "hl-libvirt"]
        assert "ssh" in argv and "vagrant@192.168.121.10" in argv
        assert argv[argv.index("-p") + 1] == "2222" and argv[argv.index("-i") + 1] == "/k/id"
        assert argv[-1] == "sudo -n env A=b bash -c 'lxc list'"
