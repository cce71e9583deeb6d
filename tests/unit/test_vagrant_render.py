"""The Vagrantfile of a pool VM: its shape (names, MACs), the template, `vagrant validate`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.substrates.vagrant.libvirtd import MGMT_NETWORK
from harness.substrates.vagrant.render import MAX_SLOTS, VmShape, render_vagrantfile

SHAPE = VmShape(slot="0a0b0c", index=3, data_nics=4, driver="qemu", kernel_args="quiet")


def test_a_vm_is_named_after_its_slot_and_its_macs_after_its_index():
    assert SHAPE.domain == "hl-0a0b0c-vm" and SHAPE.idle_bridge == "hl-0a0b0c-idle"
    assert len(SHAPE.idle_bridge) <= 15  # a Linux interface name
    assert SHAPE.mgmt_mac == "52:54:00:ff:00:03"  # the box names this NIC mgmt0
    assert SHAPE.data_macs == [f"52:54:00:03:00:0{k}" for k in range(1, 5)]
    every = [VmShape("0a0b0c", i, 8, "qemu") for i in range(1, MAX_SLOTS + 1)]
    macs = [mac for shape in every for mac in [shape.mgmt_mac, *shape.data_macs]]
    assert len(set(macs)) == len(macs)  # unique among all VMs alive


def test_template_has_the_data_nics_on_the_idle_bridge(tmp_path: Path):
    text = render_vagrantfile(SHAPE, tmp_path, box_dir=Path("/boxes/b"))
    assert text.count("config.vm.define") == 1
    assert 'libvirt.driver = "qemu"' in text
    assert 'libvirt.kernel = "/boxes/b/vmlinuz"' in text
    assert 'libvirt.management_network_mode = "none"' in text  # isolated: no way out
    assert f'libvirt.management_network_name = "{MGMT_NETWORK}"' in text
    assert text.count(':dev => "hl-0a0b0c-idle"') == 4
    assert str(tmp_path / "console.log") in text
    with pytest.raises(ValueError, match="slot index"):
        render_vagrantfile(VmShape("0a0b0c", MAX_SLOTS + 1, 1, "qemu"), tmp_path)


GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "vagrant"


def test_rendering_is_a_pure_function_with_golden_output():
    """The same shape and paths give the same Vagrantfile, byte for byte
    (UPDATE_GOLDEN=1 rewrites tests/golden/vagrant after an intended change)."""
    text = render_vagrantfile(SHAPE, Path("/work/vm-pool/0a0b0c"),
                              box_dir=Path("/boxes/debian12"))
    golden = GOLDEN / "pool-vm.Vagrantfile"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
        return
    assert text == render_vagrantfile(SHAPE, Path("/work/vm-pool/0a0b0c"),
                                      box_dir=Path("/boxes/debian12"))
    assert text == golden.read_text()
