"""The vagrant substrate for real: two VMs (QEMU TCG here), GRE and VLAN 409 proven on them.

Slow tier (marker `vm`, not part of `make test`): run with `pytest -m vm tests/vm`.
Measured on a 2-core machine with software emulation (TCG): building the box takes
1.5-3 min (once; cached in /var/cache/lxd-harness/boxes, rebuilt when vagrant/box changes)
and uploading it to libvirt a few seconds; the two-VM run takes about 2.5 min (boot 1.5 min,
apply 20 s, checks 20 s, teardown 10 s), the boot failure test about 2.5 min. Budget for the
tier: 8 min with a cached box, 12 min without.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.results import Outcome
from harness.scenario import load_scenario
from harness.session import Options, ScenarioRun
from harness.substrates.base import SubstrateError
from harness.substrates.vagrant import LIBVIRT_NETNS, VagrantSubstrate

LAB = Path(__file__).resolve().parent / "labs" / "gre-vlan.yaml"

pytestmark = [
    pytest.mark.vm,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("vagrant") is None,
                       reason="needs root, vagrant, vagrant-libvirt, libvirt and QEMU"),
]


def _leftovers(run_id: str) -> list[str]:
    domains = subprocess.run(["virsh", "-q", "list", "--all", "--name"], capture_output=True,
                             text=True).stdout.split()
    return [d for d in domains if d.startswith(f"hl-{run_id}-")]


def test_gre_and_vlan_409_pass_on_two_vms(tmp_path):
    topology = load_scenario(LAB)
    scenario_run = ScenarioRun(topology, Options(substrate="vagrant", out_dir=tmp_path))
    result = scenario_run.run()
    outcomes = {c.id: (c.outcome, c.reason) for c in result.checks}
    print("phases:", result.phases, "\noutcomes:", outcomes)
    assert result.error is None, result.error
    by_type = {c.type: c for c in result.checks}
    assert by_type["gre"].outcome == Outcome.PASS, by_type["gre"].reason
    assert by_type["vlan"].outcome == Outcome.PASS, by_type["vlan"].reason
    assert all(c.outcome == Outcome.PASS for c in result.checks), outcomes
    run_id = scenario_run.substrate.run_id
    assert not _leftovers(run_id)
    assert not Path(scenario_run.substrate.work_root, run_id).exists()


def test_a_vm_that_does_not_boot_is_named_with_its_console_log(tmp_path):
    topology = load_scenario(LAB)
    # the kernel starts, then finds no root file system: the initramfs gives up
    substrate = VagrantSubstrate(boot_timeout=90, kernel_args="root=/dev/nonexistent")
    lab = None
    try:
        with pytest.raises(SubstrateError) as failed:
            lab = substrate.up(topology)
    finally:
        if lab is not None:  # it booted after all: leave nothing behind
            substrate.down(lab)
    message = str(failed.value)
    assert message.startswith("VM host") and "did not boot" in message
    assert "console log of host1" in message and "console log of host2" in message
    assert "/dev/nonexistent does not exist" in message  # the console's own words
    assert not _leftovers(substrate.run_id)
    assert not (substrate.work_root / substrate.run_id).exists()
    active = list((substrate.work_root / "vagrant-active").glob("*"))
    if not active:  # the last Vagrant lab: libvirt's namespace is gone too
        assert not Path(f"/run/netns/{LIBVIRT_NETNS}").exists()
