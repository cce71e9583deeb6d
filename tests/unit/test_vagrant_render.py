"""The Vagrantfile rendered from a scenario: NIC plan, template, and `vagrant validate`."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.scenario import load_scenario, load_text
from harness.substrates.base import SubstrateError
from harness.substrates.vagrant.render import (
    link_problems,
    mgmt_mac,
    plan_nics,
    port_base_for,
    render_vagrantfile,
)

LAB = Path(__file__).resolve().parents[1] / "vm" / "labs" / "gre-vlan.yaml"

THREE_ON_ONE_SEGMENT = """
name: three
hosts:
  host1: {underlay: 172.31.0.11/24}
  host2: {underlay: 172.31.0.12/24}
  host3: {underlay: 172.31.0.13/24}
"""


def test_every_segment_is_one_udp_link_between_two_nics():
    topology = load_scenario(LAB)
    nics = plan_nics(topology, 20000)
    assert [n.name for n in nics["host1"]] == ["eth0", "enp4s0f1"]
    by_end = {(host, nic.name): nic for host, items in nics.items() for nic in items}
    for (host, _name), nic in by_end.items():
        peer_host, _, peer_name = nic.peer.partition(":")
        peer = by_end[(peer_host, peer_name)]
        assert peer_host != host and peer.segment == nic.segment
        # each end sends to the port the other end listens on
        assert nic.remote_port == peer.local_port and peer.remote_port == nic.local_port
    macs = [nic.mac for nic in by_end.values()]
    ports = [nic.local_port for nic in by_end.values()]
    assert len(set(macs)) == len(macs) and len(set(ports)) == len(ports)
    assert all(not mac.startswith("52:54:00:ff") for mac in macs)  # the management NIC's


def test_a_segment_with_three_nics_is_refused_with_the_reason():
    topology = load_text(THREE_ON_ONE_SEGMENT)
    problems = link_problems(topology)
    assert problems and "segment lan joins 3 NICs" in problems[0]
    with pytest.raises(SubstrateError, match="point-to-point"):
        plan_nics(topology, 20000)


def test_template_has_one_vm_per_host_and_the_tunnels(tmp_path: Path):
    topology = load_scenario(LAB)
    text = render_vagrantfile(topology, "0a0b0c", tmp_path, driver="qemu",
                              box_dir=Path("/boxes/b"))
    assert text.count("config.vm.define") == 2
    assert 'libvirt.driver = "qemu"' in text
    assert 'libvirt.kernel = "/boxes/b/vmlinuz"' in text
    assert 'libvirt.management_network_mode = "none"' in text  # isolated: no way out
    assert text.count(':libvirt__tunnel_type => "udp"') == 4
    assert mgmt_mac(topology.hosts["host2"]) in text
    assert str(tmp_path / "host1" / "console.log") in text
    assert str(port_base_for("0a0b0c")) in text


@pytest.mark.skipif(shutil.which("vagrant") is None, reason="needs Debian's vagrant")
def test_vagrant_validate_accepts_the_rendered_file(tmp_path: Path):
    plugins = subprocess.run(["vagrant", "plugin", "list"], capture_output=True, text=True,
                             env={**os.environ, "VAGRANT_CHECKPOINT_DISABLE": "1"}).stdout
    if "vagrant-libvirt" not in plugins:
        pytest.skip("needs Debian's vagrant-libvirt")
    topology = load_scenario(LAB)
    (tmp_path / "Vagrantfile").write_text(
        render_vagrantfile(topology, "0a0b0c", tmp_path, driver="qemu"))
    env = {**os.environ, "VAGRANT_CHECKPOINT_DISABLE": "1", "VAGRANT_DEFAULT_PROVIDER": "libvirt",
           "VAGRANT_HOME": str(tmp_path / "vagrant.d")}
    proc = subprocess.run(["vagrant", "validate"], cwd=tmp_path, capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "validated successfully" in proc.stdout


GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "vagrant"
ONE_HOST_TWO_NICS = """
name: one-host
segments: {lan: {}, wan: {mtu: 1400}}
hosts:
  host1:
    underlay: 172.31.0.11/24
    interfaces: {enp5s0: {segment: wan, mtu: 1400}}
"""


@pytest.mark.parametrize("name", ["gre-vlan", "one-host"])
def test_rendering_is_a_pure_function_with_golden_output(name: str):
    """The same topology, run id and paths give the same Vagrantfile, byte for byte
    (UPDATE_GOLDEN=1 rewrites tests/golden/vagrant after an intended change)."""
    topology = load_scenario(LAB) if name == "gre-vlan" else load_text(ONE_HOST_TWO_NICS)
    text = render_vagrantfile(topology, "0a0b0c", Path("/work/0a0b0c"), driver="qemu",
                              box_dir=Path("/boxes/debian12"), kernel_args="quiet")
    golden = GOLDEN / f"{name}.Vagrantfile"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
        return
    assert text == render_vagrantfile(topology, "0a0b0c", Path("/work/0a0b0c"), driver="qemu",
                                      box_dir=Path("/boxes/debian12"), kernel_args="quiet")
    assert text == golden.read_text()
