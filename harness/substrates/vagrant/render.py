"""The Vagrantfile of a lab, worked out from the topology alone (no I/O but the template).

One VM per host; every segment is a point-to-point libvirt UDP tunnel over 127.0.0.1, so a
segment joins at most two NICs. Each NIC gets a MAC and a pair of UDP ports unique in the
lab, and the box names it by its MAC (vagrant/box/build.sh). `render_vagrantfile` is a pure
function of its arguments: tests/golden/vagrant holds what it renders for the VM labs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jinja2

from harness.substrates.base import SubstrateError
from harness.substrates.runs import run_prefix
from harness.substrates.vagrant.box import BOX_DIR, BOX_NAME, RECIPE_DIR
from harness.substrates.vagrant.libvirtd import LIBVIRT_NETNS
from harness.topology import UNDERLAY_NIC, Host, Topology

MEMORY_MB = 1024
BOOT_TIMEOUT = 600  # seconds Vagrant waits for SSH; TCG boots take one to two minutes


@dataclass(frozen=True)
class VmNic:
    """One NIC of a VM: its end of a segment's UDP tunnel."""

    name: str  # the name the harness gives it inside the VM (found by its MAC)
    segment: str
    mac: str
    local_port: int
    remote_port: int
    peer: str  # "HOST:NIC" at the other end, or "nobody"


def mgmt_mac(host: Host) -> str:
    """The box names the NIC with this MAC `mgmt0` (vagrant/box/build.sh)."""
    return f"52:54:00:ff:00:{host.index:02x}"


def segment_ends(topology: Topology) -> dict[str, list[tuple[str, str]]]:
    """segment -> [(host, nic)]: every host's eth0 on the default segment, then its NICs."""
    ends: dict[str, list[tuple[str, str]]] = {name: [] for name in topology.segments}
    lan = topology.default_segment
    for host in topology.hosts.values():
        ends[lan].append((host.name, UNDERLAY_NIC))
        for nic in host.interfaces.values():
            ends[nic.segment].append((host.name, nic.name))
    return ends


def link_problems(topology: Topology) -> list[str]:
    problems = []
    for segment, ends in segment_ends(topology).items():
        if len(ends) > 2:
            shown = ", ".join(f"{h}:{n}" for h, n in ends)
            problems.append(
                f"segment {segment} joins {len(ends)} NICs ({shown}); on the vagrant substrate "
                "a segment is a point-to-point UDP tunnel: give each pair its own segment")
    for peer in topology.peers.values():
        if not peer.implicit:
            problems.append(f"peer {peer.name}: plain LAN nodes are not supported on the "
                            "vagrant substrate yet")
    return problems


def plan_nics(topology: Topology, port_base: int) -> dict[str, list[VmNic]]:
    """The NICs of every VM, with UDP ports and MACs that are unique in the lab."""
    problems = link_problems(topology)
    if problems:
        raise SubstrateError("; ".join(problems))
    nics: dict[str, list[VmNic]] = {name: [] for name in topology.hosts}
    port = port_base
    for seg_index, (segment, ends) in enumerate(segment_ends(topology).items()):
        ports = {end: port + i for i, end in enumerate(ends)}
        port += len(ends)
        for host_name, nic in ends:
            others = [end for end in ends if end != (host_name, nic)]
            host = topology.hosts[host_name]
            number = len(nics[host_name]) + 1
            nics[host_name].append(VmNic(
                name=nic, segment=segment,
                mac=f"52:54:00:{host.index:02x}:{seg_index:02x}:{number:02x}",
                local_port=ports[(host_name, nic)],
                # a lone NIC sends into a port nobody listens on, like an unplugged cable
                remote_port=ports[others[0]] if others else port_base - 1,
                peer=f"{others[0][0]}:{others[0][1]}" if others else "nobody"))
    return nics


def port_base_for(run_id: str) -> int:
    return 20000 + (int(run_id, 16) % 1000) * 40


def mgmt_subnet_for(run_id: str) -> str:
    return f"10.254.{int(run_id, 16) % 250}.0/24"


def render_vagrantfile(topology: Topology, run_id: str, workdir: Path, *, driver: str,
                       box_dir: Path = BOX_DIR, memory: int = MEMORY_MB,
                       boot_timeout: int = BOOT_TIMEOUT, kernel_args: str = "") -> str:
    nics = plan_nics(topology, port_base_for(run_id))
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(RECIPE_DIR),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    hosts = [{"name": host.name, "mgmt_mac": mgmt_mac(host), "nics": nics[host.name],
              "console": str(workdir / host.name / "console.log")}
             for host in topology.hosts.values()]
    return env.get_template("Vagrantfile.j2").render(
        scenario=topology.name, run_id=run_id, netns=LIBVIRT_NETNS, box=BOX_NAME,
        boot_timeout=boot_timeout, driver=driver, memory=memory, cpus=1,
        kernel_args=f"root=/dev/vda rw console=ttyS0 net.ifnames=0 {kernel_args}".strip(),
        kernel=str(box_dir / "vmlinuz"), initrd=str(box_dir / "initrd.img"),
        mgmt_network=f"{run_prefix(run_id)}mgmt", mgmt_subnet=mgmt_subnet_for(run_id),
        prefix=run_prefix(run_id), hosts=hosts)
