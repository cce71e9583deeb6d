"""The vagrant substrate: every host is a VM made by Vagrant (provider libvirt), driven over SSH.

- The box is built locally by vagrant/box/build.sh (debootstrap; LXD, Open vSwitch, dnsmasq,
  python3 + scapy baked in), cached in BOX_DIR and rebuilt only when the recipe changes.
- libvirtd, virtlogd, every VM and their isolated management network live in one network
  namespace (`hl-libvirt`): nothing is attached to this machine's own network. The harness
  starts those daemons when absent and stops them when the last Vagrant lab is gone.
- The Vagrantfile is rendered from vagrant/Vagrantfile.j2: one VM per host, each segment a
  point-to-point libvirt UDP tunnel over 127.0.0.1 (so a segment joins at most two NICs).
- `vagrant up` (libvirt brings the VMs up in parallel), `status`, `ssh-config` and `destroy`
  run inside that namespace (cli.py); fabric does the rest (harness/substrates/remote.py).
- KVM when it can boot a kernel here, else QEMU software emulation (TCG): found by booting
  the box's kernel once per boot of this machine, and reported in the lab's notes.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness.hostnet import ovs
from harness.lxd.image import build_busybox_image
from harness.shell import run
from harness.substrates import procs
from harness.substrates.base import HostNode, Lab, SubstrateError, progress
from harness.substrates.capabilities import Capabilities
from harness.substrates.remote import (
    RemoteHost,
    RemoteHostsSubstrate,
    SshTarget,
    combine_capabilities,
    forget_hosts,
    prepare_lxd,
    probe_capabilities,
    probes_dir_for,
    remote_host,
)
from harness.substrates.runs import run_prefix
from harness.substrates.vagrant.box import BOX_DIR, BOX_FILE, ensure_box, locked
from harness.substrates.vagrant.cli import VagrantCli, vagrant_env
from harness.substrates.vagrant.libvirtd import (
    LIBVIRT_NETNS,
    choose_driver,
    ensure_libvirtd,
    pidfile_alive,
    release_libvirtd,
)
from harness.substrates.vagrant.render import (
    BOOT_TIMEOUT,
    VmNic,
    link_problems,
    plan_nics,
    port_base_for,
    render_vagrantfile,
)
from harness.topology import UNDERLAY_NIC, Host, Topology

log = logging.getLogger(__name__)

UP_GRACE = 600  # on top of BOOT_TIMEOUT for all of `vagrant up` (the first box upload)
#: what a console shows when a VM will never come up
DEAD_BOOT = ("Kernel panic", "(initramfs)", "Dropping to a shell", "You are in emergency mode",
             "Give root password for maintenance")

REQUIRED_TOOLS = {
    "vagrant": "vagrant",
    "libvirtd": "libvirt-daemon-system",
    "virsh": "libvirt-clients",
    "qemu-system-x86_64": "qemu-system-x86",
    "qemu-img": "qemu-utils",
    "ssh": "openssh-client",
}

# ---------------------------------------------------------------------- the substrate
class VagrantSubstrate(RemoteHostsSubstrate):
    needs_root = "libvirtd, network namespaces"
    required_tools = REQUIRED_TOOLS
    pytest_marks = ("vm",)  # the slow tier: `-m "not vm"` leaves it out

    def __init__(self, work_root: Path | None = None, run_id: str | None = None,
                 box_dir: Path = BOX_DIR, boot_timeout: int = BOOT_TIMEOUT,
                 kernel_args: str = ""):
        super().__init__(work_root, run_id)
        self.box_dir = box_dir
        self.boot_timeout = boot_timeout
        self.kernel_args = kernel_args  # appended to the VMs' kernel command line

    @property
    def active_dir(self) -> Path:
        return self.work_root / "vagrant-active"

    # ---------------------------------------------------------------- preflight
    def check(self, topology: Topology) -> list[str]:
        problems = []
        plugins = run(["vagrant", "plugin", "list"], env=vagrant_env(), check=False).stdout \
            if shutil.which("vagrant") else ""
        if shutil.which("vagrant") and "vagrant-libvirt" not in plugins:
            problems.append("Vagrant has no libvirt provider: install Debian's vagrant-libvirt")
        if not (self.box_dir / BOX_FILE).exists() and shutil.which("debootstrap") is None:
            problems.append("the box must be built and `debootstrap` is missing: install "
                            "Debian's debootstrap")
        problems.extend(link_problems(topology))
        return problems

    # ---------------------------------------------------------------- up
    def created(self, lab: Lab, topology: Topology) -> None:
        # libvirtd stays while any Vagrant lab is active (see release_libvirtd)
        self.active_dir.mkdir(parents=True, exist_ok=True)
        (self.active_dir / self.run_id).write_text(lab.workdir)

    def bring_up(self, lab: Lab, topology: Topology) -> None:
        workdir = Path(lab.workdir)
        lab.timings["box_build"] = ensure_box(self.box_dir)
        driver, why = choose_driver(self.work_root / "cache", self.box_dir)
        # not a feature checks need: shown in the report, so that it says which was used
        lab.capabilities["kvm"] = driver == "kvm"
        lab.capability_notes["kvm"] = why
        progress.info("vagrant: VMs run on %s (%s)", driver, why)
        with locked(self.work_root / ".libvirtd.lock"):
            ensure_libvirtd(hide_kvm=driver != "kvm")
        for host in topology.hosts.values():
            (workdir / host.name).mkdir()
            lab.hosts[host.name] = HostNode(
                name=host.name, kind="host", netns="",
                lxd_dir=str(workdir / host.name / "lxd"))
        (workdir / "Vagrantfile").write_text(
            render_vagrantfile(topology, self.run_id, workdir, driver=driver,
                               box_dir=self.box_dir, boot_timeout=self.boot_timeout,
                               kernel_args=self.kernel_args))
        lab.save(workdir / "lab.json")
        self._vagrant_up(lab, topology)
        lab.save(workdir / "lab.json")
        image = build_busybox_image(self.work_root / "cache")
        nics = plan_nics(topology, port_base_for(self.run_id))
        with ThreadPoolExecutor(max_workers=max(1, len(topology.hosts))) as pool:
            futures = [pool.submit(self._prepare, lab, topology, host, nics[host.name], image)
                       for host in topology.hosts.values()]
            per_host = [future.result() for future in futures]
        caps = combine_capabilities(per_host)
        lab.capabilities.update(caps.works)
        lab.capability_notes.update(caps.notes)

    # ---------------------------------------------------------------- reachability
    def far_end(self, lab: Lab, host: str, iface: str) -> tuple[str, str, str] | None:
        """Frames injected into one end of a VM's point-to-point link (`links[iface]` is
        [segment, "PEERHOST:PEERNIC"]) arrive at the other end from the wire."""
        link = lab.hosts[host].links.get(iface)
        if not link or ":" not in link[1]:
            return None
        peer_host, _, peer_nic = link[1].partition(":")
        return (self.place(lab, peer_host), peer_nic,
                f"the far end of the link, {peer_host} {peer_nic}")

    def _vagrant_up(self, lab: Lab, topology: Topology) -> None:
        started = time.monotonic()
        progress.info("vagrant: booting %d VM(s) in parallel", len(topology.hosts))
        vagrant = VagrantCli(Path(lab.workdir))
        # Run here, not waited for blindly, so that a VM that cannot boot stops it at once
        # (Vagrant itself would wait ten minutes for a DHCP lease that never comes).
        command = vagrant.argv("up", "--provider=libvirt")
        timeline = Path(lab.workdir) / "vagrant-up.log"
        with open(timeline, "w") as out:  # Vagrant's lines, with the second they came
            proc = subprocess.Popen(command, cwd=lab.workdir, env=vagrant.env, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
            verdict: list[str] = []
            watchdog = threading.Thread(target=self._watch_boot, daemon=True,
                                        args=(lab, proc, started, verdict))
            watchdog.start()
            try:
                assert proc.stdout is not None
                for line in proc.stdout:
                    if "Progress:" in line:
                        continue
                    out.write(f"[{time.monotonic() - started:6.1f}s] {line}")
                    out.flush()
                    if line.startswith("==> ") and ("Starting domain" in line
                                                    or "booted and ready" in line):
                        progress.info("vagrant: %s", line[4:].strip())
                proc.wait()
            finally:
                if proc.poll() is None:  # interrupted: Vagrant must not go on alone
                    procs.stop([proc.pid], to_group=True, grace=3.0)
                watchdog.join()
        if proc.returncode != 0 or verdict:
            reason = verdict[0] if verdict else f"vagrant up failed (exit {proc.returncode})"
            raise SubstrateError(self._boot_failure(lab, vagrant, reason))
        lab.timings["vagrant_up"] = time.monotonic() - started
        progress.info("vagrant: VMs up in %.0f s", lab.timings["vagrant_up"])
        for host in topology.hosts.values():
            config = vagrant.ssh_config(host.name)
            lab.hosts[host.name].remote = SshTarget(
                address=config["HostName"], port=int(config.get("Port", 22)),
                user=config.get("User", "vagrant"), key=config.get("IdentityFile"),
                # a VM made a minute ago by Vagrant, reachable only inside LIBVIRT_NETNS
                check_host_key=False, netns=LIBVIRT_NETNS,
                probes_dir=probes_dir_for(lab.run_id)).to_dict()

    def _watch_boot(self, lab: Lab, proc: subprocess.Popen, started: float,
                    verdict: list[str]) -> None:
        """Stop `vagrant up` when a console shows a dead boot, or when it takes too long."""
        deadline = started + self.boot_timeout + UP_GRACE
        while proc.poll() is None:
            for name in lab.hosts:
                console = Path(lab.workdir) / name / "console.log"
                text = console.read_text(errors="replace") if console.exists() else ""
                dead = next((sign for sign in DEAD_BOOT if sign in text), None)
                if dead:
                    verdict.append(f"VM {name} did not boot: its console shows {dead!r}")
            if not verdict and time.monotonic() > deadline:
                verdict.append(f"vagrant up took longer than {self.boot_timeout + UP_GRACE} s")
            if verdict:
                procs.stop([proc.pid], to_group=True, grace=3.0)
                return
            time.sleep(1)

    def _boot_failure(self, lab: Lab, vagrant: VagrantCli, reason: str) -> str:
        """Which VM did not come up, with its console log and Vagrant's own words."""
        workdir = Path(lab.workdir)
        lines = [reason]
        try:
            states = vagrant.states()
        except subprocess.CalledProcessError:
            states = {}
        for name in lab.hosts:
            lines.append(f"{name}: domain {states.get(name, 'unknown')}")
            console = workdir / name / "console.log"
            tail = console.read_text(errors="replace")[-2500:] if console.exists() else ""
            lines.append(f"--- console log of {name} ({console}):\n"
                         f"{tail.strip() or '(empty: the VM never wrote to its console)'}")
        for log_name in ("vagrant-up.log", "vagrant.log"):
            vagrant_log = workdir / log_name
            if vagrant_log.exists():
                text = re.sub(r"(\x1b\[K)?Progress: \d+%", "",
                              vagrant_log.read_text(errors="replace"))
                lines.append(f"--- {log_name}:\n" + text[-2500:])
        return "\n".join(lines)

    def _prepare(self, lab: Lab, topology: Topology, host: Host, nics: list[VmNic],
                 image: Path) -> Capabilities:
        node = lab.hosts[host.name]
        remote = remote_host(node)
        remote.run(["hostname", host.name])
        remote.run(["sh", "-c", f'echo "127.0.1.1 {host.name}" >> /etc/hosts'])  # for sudo
        remote.run(["modprobe", "-a", "openvswitch", "ip_gre", "gre", "8021q", "vxlan"],
                   check=False)
        # With ip_gre loaded, every new namespace gets gre0/gretap0/erspan0 fallback devices,
        # and the busybox image's DHCP client would pick one of those instead of eth0.
        remote.run(["sysctl", "-qw", "net.core.fb_tunnels_only_for_init_net=2"])
        self._name_nics(remote, host, nics)
        node.links = {nic.name: [nic.segment, nic.peer] for nic in nics}
        remote.run(["ip", "addr", "add", str(host.underlay), "dev", UNDERLAY_NIC])
        # No upstream router between VMs: other hosts' underlays in other subnets are on-link.
        for other in topology.hosts.values():
            if other.name != host.name and other.underlay.ip not in host.underlay.network:
                remote.run(["ip", "route", "add", f"{other.underlay.ip}/32", "dev",
                            UNDERLAY_NIC])
        if ovs.needed_by(host):
            node.ovs_datapath = ovs.KERNEL
        prepare_lxd(host, node, remote, image)
        return probe_capabilities(remote)

    def _name_nics(self, remote: RemoteHost, host: Host, nics: list[VmNic]) -> None:
        """Give the NICs the scenario's names, found by MAC (first to temporary names)."""
        links = remote.run(["ip", "-o", "link", "show"]).stdout
        by_mac = {}
        for line in links.splitlines():
            fields = line.split()
            if "link/ether" in fields:
                by_mac[fields[fields.index("link/ether") + 1]] = fields[1].rstrip(":").split("@")[0]
        for i, nic in enumerate(nics):
            current = by_mac.get(nic.mac)
            if current is None:
                raise SubstrateError(f"{host.name}: no NIC with MAC {nic.mac} for {nic.name} "
                                     f"(links: {', '.join(by_mac.values())})")
            remote.run(["ip", "link", "set", "dev", current, "down"])
            remote.run(["ip", "link", "set", "dev", current, "name", f"hltmp{i}"])
        mtus = {nic.name: host.interfaces[nic.name].mtu for nic in nics
                if nic.name in host.interfaces and host.interfaces[nic.name].mtu}
        for i, nic in enumerate(nics):
            remote.run(["ip", "link", "set", "dev", f"hltmp{i}", "name", nic.name])
            if nic.name in mtus:
                remote.run(["ip", "link", "set", "dev", nic.name, "mtu", str(mtus[nic.name])])
            remote.run(["ip", "link", "set", "dev", nic.name, "up"])

    # ---------------------------------------------------------------- down
    def tear_down(self, lab: Lab) -> list[str]:
        leftovers: list[str] = []
        workdir = Path(lab.workdir)
        forget_hosts(lab)
        for node in lab.hosts.values():
            for pid in node.pids:  # the LXD socket forwards
                procs.stop([pid], to_group=True, grace=3.0)
        if (workdir / "Vagrantfile").exists():
            try:
                VagrantCli(workdir).destroy()
            except subprocess.CalledProcessError as exc:
                log.warning("vagrant destroy failed (exit %s); removing domains by hand",
                            exc.returncode)
        leftovers.extend(self._remove_libvirt_objects(lab))
        (self.active_dir / lab.run_id).unlink(missing_ok=True)
        with locked(self.work_root / ".libvirtd.lock"):
            leftovers.extend(release_libvirtd(self.active_dir))
        return leftovers

    def _remove_libvirt_objects(self, lab: Lab) -> list[str]:
        """Whatever `vagrant destroy` left of this lab: domains, volumes, the mgmt network."""
        if not pidfile_alive("libvirtd"):
            return []
        prefix = run_prefix(lab.run_id)
        leftovers = []
        domains = run(["virsh", "-q", "list", "--all", "--name"], check=False).stdout.split()
        for domain in [d for d in domains if d.startswith(prefix)]:
            run(["virsh", "destroy", domain], check=False)
            undefine = run(["virsh", "undefine", domain, "--remove-all-storage"], check=False)
            if undefine.returncode != 0:
                leftovers.append(f"libvirt domain {domain}")
        networks = run(["virsh", "-q", "net-list", "--all", "--name"], check=False).stdout.split()
        for network in [n for n in networks if n.startswith(prefix)]:
            run(["virsh", "net-destroy", network], check=False)
            if run(["virsh", "net-undefine", network], check=False).returncode != 0:
                leftovers.append(f"libvirt network {network}")
        volumes = run(["virsh", "-q", "vol-list", "--pool", "default"], check=False).stdout
        for line in volumes.splitlines():
            name = line.split()[0] if line.split() else ""
            if name.startswith(prefix):
                run(["virsh", "vol-delete", "--pool", "default", name], check=False)
        return leftovers
