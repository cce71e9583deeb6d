"""The vagrant substrate: every host is a VM made by Vagrant (provider libvirt), driven over SSH.

- box.py: the box, built locally from vagrant/box and cached;
- libvirtd.py: libvirtd and virtlogd in a namespace of their own, KVM or QEMU (TCG);
- render.py: the Vagrantfile of a lab (a pure function of the topology);
- cli.py: Vagrant commands, run inside the libvirt namespace;
- substrate.py: VagrantSubstrate, which strings them together.
"""

from harness.substrates.vagrant.libvirtd import LIBVIRT_NETNS
from harness.substrates.vagrant.substrate import VagrantSubstrate

__all__ = ["LIBVIRT_NETNS", "VagrantSubstrate"]
