"""Where hosts come from: this machine's namespaces, Vagrant VMs, or existing SSH hosts."""

from __future__ import annotations

from pathlib import Path

from harness.substrates.base import Substrate

SUBSTRATES = ("local", "vagrant", "ssh")


def make_substrate(name: str, work_root: Path | None = None) -> Substrate:
    if name == "local":
        from harness.substrates.local import DEFAULT_WORK_ROOT, LocalSubstrate

        return LocalSubstrate(work_root or DEFAULT_WORK_ROOT)
    if name == "vagrant":
        from harness.substrates.local import DEFAULT_WORK_ROOT
        from harness.substrates.vagrant import VagrantSubstrate

        return VagrantSubstrate(work_root or DEFAULT_WORK_ROOT)
    if name == "ssh":  # the inventory: --inventory, or HARNESS_INVENTORY
        from harness.substrates.local import DEFAULT_WORK_ROOT
        from harness.substrates.ssh import SshSubstrate

        return SshSubstrate(work_root or DEFAULT_WORK_ROOT)
    raise ValueError(f"unknown substrate {name!r}; this build knows: {', '.join(SUBSTRATES)}")
