"""The vagrant substrate for real: VMs under QEMU (TCG here), booted once for the whole module.

Slow tier (marker `vm`): `make test-vm` or `pytest -m vm tests/vm`. The tests share this
process' VM pool (conftest.py), in this order: the three-host lab boots three VMs at once; the
next labs reuse two of them, reverted to their snapshot (GRE broken on purpose among them);
the boot failure boots its own; gc removes a domain whose pool slot is gone.
Figures (box cached) are in bench/README.md.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.results import Outcome
from harness.scenario import load_scenario, load_text
from harness.session import Options, ScenarioRun
from harness.substrates.base import SubstrateError
from harness.substrates.remote import forget_hosts, remote_host
from harness.substrates.runs import WORK_ROOT
from harness.substrates.vagrant import LIBVIRT_NETNS, VagrantSubstrate
from harness.substrates.vagrant.libvirtd import defined_domains
from harness.substrates.vagrant.pool import Pool, pool_for
from harness.substrates.vagrant.substrate import prepare_vms

LABS = Path(__file__).resolve().parent / "labs"
SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"

pytestmark = [
    pytest.mark.vm,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("vagrant") is None,
                       reason="needs root, vagrant, vagrant-libvirt, libvirt and QEMU"),
]


def _run(path: Path, tmp_path: Path) -> tuple[ScenarioRun, dict]:
    scenario_run = ScenarioRun(load_scenario(path), Options(substrate="vagrant",
                                                            out_dir=tmp_path))
    result = scenario_run.run()
    outcomes = {c.id: (str(c.outcome), c.reason) for c in result.checks}
    print(result.name, "phases:", result.phases, "\noutcomes:", outcomes)
    assert result.error is None, result.error
    assert not Path(scenario_run.substrate.work_root, scenario_run.substrate.run_id).exists()
    return scenario_run, outcomes


def _lab_links(run_id: str) -> list[str]:
    links = subprocess.run(["ip", "-n", LIBVIRT_NETNS, "-o", "link", "show"],
                           capture_output=True, text=True).stdout
    return [line for line in links.splitlines() if run_id in line]


def test_three_vms_upstream_and_a_peer_on_one_segment(tmp_path):
    _scenario_run, outcomes = _run(LABS / "three-hosts.yaml", tmp_path)
    assert all(outcome == Outcome.PASS for outcome, _ in outcomes.values()), outcomes


LAST: dict[str, str] = {}  # what a test leaves for the next one


def test_gre_and_vlan_409_pass_on_two_vms(tmp_path):
    scenario_run, outcomes = _run(LABS / "gre-vlan.yaml", tmp_path)
    LAST["gre-vlan"] = scenario_run.substrate.run_id
    assert all(outcome == Outcome.PASS for outcome, _ in outcomes.values()), outcomes
    assert not _lab_links(scenario_run.substrate.run_id)  # its bridges went with it


def test_scenario_a_never_reaches_scenario_b(tmp_path):
    """After gre-vlan (OVS bridges, a veth pair, LXD's br0 with its GRE tunnel and nft
    rules, instances), the next lab gets the same VMs with none of it."""
    pool = pool_for(WORK_ROOT)
    if "gre-vlan" not in LAST:
        pytest.skip("needs the VMs the gre-vlan test used")
    used = {slot.id for slot in pool.slots() if slot.last_lab == LAST["gre-vlan"]}
    assert len(used) == 2 and all(pool.load(s).state == "idle" for s in used)
    others = Pool(WORK_ROOT)  # holds the other idle VMs, as another process would
    for slot in pool.slots():
        if slot.id not in used:
            others._claim(slot.id)
    substrate = VagrantSubstrate()
    topology = load_scenario(LABS / "gre-vlan.yaml")
    try:
        lab = substrate.up(topology)  # brought up only, not applied
    finally:
        for slot_id in list(others._claims):
            others._unclaim(slot_id)
    try:
        assert {node.vm for node in lab.hosts.values()} == used
        for name, node in lab.hosts.items():
            remote = remote_host(node)
            seen = {
                "links": remote.run(["ip", "-o", "link", "show"]).stdout,
                "ovs": remote.run(["ovs-vsctl", "list-br"]).stdout,
                "nft": remote.run(["nft", "list", "ruleset"]).stdout,
                "lxd": remote.run(["lxc", "list", "--format", "csv", "-c", "n"]).stdout
                + remote.run(["lxc", "network", "list", "--format", "csv"]).stdout,
            }
            for what in ("ctr-bridge", "vlan409", "v409", "br0", "lan409", "app1", "app2",
                         "vlanapp"):
                name = re.compile(rf"(?<![\w-]){what}(?![\w-])")  # br0, fwd.br0; not lxdbr0
                left = [kind for kind, text in seen.items() if name.search(text)]
                assert not left, f"{name}: {what} from the last lab is in its {left}"
    finally:
        forget_hosts(lab)
        assert substrate.down(lab) == []


def test_gre_fails_with_a_tunnel_on_one_side_and_a_key_it_does_not_use(tmp_path):
    """The GRE breakages a local kernel (no gretap) cannot show: each check fails, with an
    observation (packets were seen), for the reason the breakage causes."""
    _scenario_run, outcomes = _run(LABS / "gre-broken.yaml", tmp_path)
    expected = {
        "0-gre": "GRE went one way only",
        "1-gre": "expected GRE carrying Ethernet (0x6558) with key 10; seen protocol 0x6558 "
                 "key None",
        "2-ping": "3 echo requests sent, 0 replies",
    }
    assert set(outcomes) == set(expected), outcomes
    for check, phrase in expected.items():
        outcome, reason = outcomes[check]
        assert outcome == Outcome.FAIL and phrase in reason, (check, outcome, reason)
        assert "inconclusive" not in reason, (check, reason)


def test_a_vm_that_does_not_boot_is_named_with_its_console_log(tmp_path):
    topology = load_text("name: no-boot\nhosts: {host1: {underlay: 172.31.0.11/24}}\n")
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
    assert message.startswith("host1: VM hl-") and "did not boot" in message
    assert "console log" in message
    assert "/dev/nonexistent does not exist" in message  # the console's own words
    assert not (substrate.work_root / substrate.run_id).exists()
    assert not _lab_links(substrate.run_id)
    broken = [slot for slot in pool_for(WORK_ROOT).slots()
              if slot.shape.kernel_args == "root=/dev/nonexistent"]
    assert broken == []  # the VMs that did not boot are gone


def test_gc_removes_a_domain_whose_pool_slot_is_gone(tmp_path):
    """A run killed after its slot folder went but before its domain did (or while libvirtd
    was down) leaves a domain no pool knows: `harness gc` removes it, and leaves the VMs of
    this (running) process alone."""
    prepare_vms(WORK_ROOT)  # libvirtd running
    ours = {slot.id for slot in pool_for(WORK_ROOT).slots()}
    name = "hl-0000aa-vm"
    xml = (f"<domain type='qemu'><name>{name}</name>"
           f"<description>Source: {tmp_path}/gone/Vagrantfile</description>"
           "<memory unit='MiB'>64</memory><os><type arch='x86_64'>hvm</type></os></domain>")
    subprocess.run(["virsh", "define", "/dev/stdin"], input=xml, text=True, check=True,
                   capture_output=True)
    assert name in defined_domains()
    gc = subprocess.run([str(Path(sys.executable).with_name("harness")), "gc"],
                        capture_output=True, text=True)
    assert f"removed VM {name} (its pool slot was gone)" in gc.stdout, gc.stdout + gc.stderr
    listed = subprocess.run(["virsh", "-q", "list", "--all", "--name"], capture_output=True,
                            text=True).stdout.split()
    assert name not in listed and name not in defined_domains()
    assert name not in gc.stderr
    assert {slot.id for slot in pool_for(WORK_ROOT).slots()} == ours  # kept: we still run
