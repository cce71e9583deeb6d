"""The Vagrantfile of one pool VM, worked out from its slot alone (no I/O but the template).

A VM is booted once and serves many labs (see pool.py): its data NICs are not tied to a
lab. Each is a tap in LIBVIRT_NETNS, plugged at boot into the slot's own idle bridge; a lab
moves the taps it needs into its segments' bridges (the same bridges the shared fabric makes
for upstream and the peers) and back. Every NIC has a MAC derived from the slot's index,
unique among the VMs alive, and the box names the management NIC by its MAC
(vagrant/box/build.sh). `render_vagrantfile` is a pure function of its arguments:
tests/golden/vagrant holds what it renders.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jinja2

from harness.substrates.runs import run_prefix
from harness.substrates.vagrant.box import BOX_DIR, BOX_NAME, RECIPE_DIR
from harness.substrates.vagrant.libvirtd import LIBVIRT_NETNS, MGMT_NETWORK, MGMT_SUBNET

MEMORY_MB = 1024
BOOT_TIMEOUT = 600  # seconds Vagrant waits for SSH; TCG boots take one to two minutes
#: the box names a NIC with MAC 52:54:00:ff:00:NN (NN = 1..64) mgmt0
MAX_SLOTS = 64
VM_NAME = "vm"


@dataclass(frozen=True)
class VmShape:
    """What a pool VM is booted with; a lab reuses a VM only of a shape that fits."""

    slot: str  # 6 hex digits: domain hl-SLOT-vm, idle bridge hl-SLOT-idle
    index: int  # 1..MAX_SLOTS, unique among the VMs alive: their MACs
    data_nics: int
    driver: str  # kvm | qemu
    kernel_args: str = ""

    @property
    def domain(self) -> str:
        return f"{run_prefix(self.slot)}{VM_NAME}"

    @property
    def idle_bridge(self) -> str:
        return f"{run_prefix(self.slot)}idle"

    @property
    def mgmt_mac(self) -> str:
        return f"52:54:00:ff:00:{self.index:02x}"

    @property
    def data_macs(self) -> list[str]:
        return [f"52:54:00:{self.index:02x}:00:{k:02x}" for k in range(1, self.data_nics + 1)]


def render_vagrantfile(shape: VmShape, workdir: Path, *, box_dir: Path = BOX_DIR,
                       memory: int = MEMORY_MB, boot_timeout: int = BOOT_TIMEOUT) -> str:
    if not 1 <= shape.index <= MAX_SLOTS:
        raise ValueError(f"slot index {shape.index} outside 1..{MAX_SLOTS}")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(RECIPE_DIR),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    kernel_args = f"root=/dev/vda rw console=ttyS0 net.ifnames=0 {shape.kernel_args}".strip()
    return env.get_template("Vagrantfile.j2").render(
        slot=shape.slot, netns=LIBVIRT_NETNS, box=BOX_NAME, boot_timeout=boot_timeout,
        driver=shape.driver, memory=memory, cpus=1, kernel_args=kernel_args,
        kernel=str(box_dir / "vmlinuz"), initrd=str(box_dir / "initrd.img"),
        mgmt_network=MGMT_NETWORK, mgmt_subnet=MGMT_SUBNET, prefix=run_prefix(shape.slot),
        name=VM_NAME, mgmt_mac=shape.mgmt_mac, console=str(workdir / "console.log"),
        idle_bridge=shape.idle_bridge, data_macs=shape.data_macs)
