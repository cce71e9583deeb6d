"""The vagrant substrate: every host is a VM made by Vagrant (provider libvirt), driven over SSH.

- box.py: the box, built locally from vagrant/box and cached;
- libvirtd.py: libvirtd and virtlogd in a namespace of their own, KVM or QEMU (TCG), the
  VMs' isolated management network;
- render.py: the Vagrantfile of one pool VM (a pure function of its shape);
- pool.py: booted VMs kept from lab to lab, reverted to a snapshot in between;
- cli.py: Vagrant commands, run inside the libvirt namespace;
- substrate.py: VagrantSubstrate: the lab's network (the shared fabric), VMs from the pool.
"""

from harness.substrates.vagrant.libvirtd import LIBVIRT_NETNS
from harness.substrates.vagrant.substrate import VagrantSubstrate

__all__ = ["LIBVIRT_NETNS", "VagrantSubstrate"]
