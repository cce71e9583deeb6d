"""The ssh substrate: hosts are existing machines from an inventory file, driven with fabric.

Inventory (YAML), one entry per scenario host:

    hosts:
      host1:
        address: 192.0.2.10
        port: 22                     # default 22
        user: root                   # default root; anyone else needs passwordless sudo
        key: ~/.ssh/id_ed25519       # default: the user's usual keys
        known_hosts: ~/.ssh/known_hosts   # host keys are checked (default: the user's file)
        check_host_key: true         # false only for throwaway machines
        python: python3              # needs scapy (Debian: python3-scapy)
        lxd_socket: /var/lib/lxd/unix.socket   # snap: /var/snap/lxd/common/lxd/unix.socket
        netns: null                  # run the host's commands in this network namespace
        from_netns: null             # the local namespace `address` is reachable from
                                     # (e.g. hl-libvirt, for the harness's own VMs)

The harness takes the machine's LXD over (`lxd init --preseed` with the scenario's lxdbr0)
and at teardown deletes the instances, profiles and networks the scenario made. It does
not touch the machine's own network: the scenario's `underlay` must be the address the
machine has, and its `interfaces` NICs the machine has.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pylxd
import yaml
from pylxd.exceptions import NotFound

from harness.lxd.image import build_busybox_image
from harness.substrates import procs
from harness.substrates.base import HostNode, Lab, SubstrateError
from harness.substrates.remote import (
    RemoteHostsSubstrate,
    SshTarget,
    combine_capabilities,
    forget_hosts,
    prepare_lxd,
    probe_capabilities,
    probes_dir_for,
    remote_host,
)
from harness.topology import DEFAULT_BRIDGE, Topology

log = logging.getLogger(__name__)

INVENTORY_ENV = "HARNESS_INVENTORY"
_KEYS = {"address", "port", "user", "key", "known_hosts", "check_host_key", "python",
         "lxd_socket", "netns", "from_netns"}


class InventoryError(ValueError):
    pass


def load_inventory(path: Path) -> dict[str, SshTarget]:
    """host name -> SshTarget; every mistake is named with the host and the key."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InventoryError(f"inventory {path}: {exc}") from exc
    hosts = (data or {}).get("hosts") if isinstance(data, dict) else None
    if not isinstance(hosts, dict) or not hosts:
        raise InventoryError(f"inventory {path}: needs a `hosts:` mapping of host name -> entry")
    targets = {}
    for name, entry in hosts.items():
        if not isinstance(entry, dict) or "address" not in entry:
            raise InventoryError(f"inventory {path}: host {name} needs an `address`")
        unknown = set(entry) - _KEYS
        if unknown:
            raise InventoryError(f"inventory {path}: host {name}: unknown key(s) "
                                 f"{', '.join(sorted(unknown))} "
                                 f"(known: {', '.join(sorted(_KEYS))})")
        known_hosts = entry.get("known_hosts")
        if known_hosts is None and entry.get("check_host_key", True):
            known_hosts = "~/.ssh/known_hosts"
        targets[name] = SshTarget(
            address=str(entry["address"]), port=int(entry.get("port", 22)),
            user=str(entry.get("user", "root")), key=entry.get("key"),
            known_hosts=known_hosts, check_host_key=bool(entry.get("check_host_key", True)),
            python=str(entry.get("python", "python3")),
            lxd_socket=str(entry.get("lxd_socket", "/var/lib/lxd/unix.socket")),
            host_netns=entry.get("netns"), netns=entry.get("from_netns"))
    return targets


class SshSubstrate(RemoteHostsSubstrate):
    #: it forwards LXD's socket
    required_tools = {"ssh": "openssh-client"}

    def __init__(self, work_root: Path | None = None, inventory: Path | None = None,
                 run_id: str | None = None):
        super().__init__(work_root, run_id)
        env_inventory = os.environ.get(INVENTORY_ENV)
        self.inventory = inventory or (Path(env_inventory) if env_inventory else None)

    def check(self, topology: Topology) -> list[str]:
        if self.inventory is None:
            return [f"the ssh substrate needs an inventory (--inventory FILE or {INVENTORY_ENV})"]
        try:
            targets = load_inventory(self.inventory)
        except InventoryError as exc:
            return [str(exc)]
        return [f"host {name} is not in the inventory {self.inventory}"
                for name in topology.hosts if name not in targets]

    def absent_node(self, node: str) -> str:
        return (f"the ssh substrate uses existing machines on their own network: it provides "
                f"no `{node}` node (no upstream router, no LAN peers)")

    def created(self, lab: Lab, topology: Topology) -> None:
        # what down() deletes again, also when a later process tears the lab down
        (Path(lab.workdir) / "topology-objects.yaml").write_text(
            yaml.safe_dump(_objects(topology)))

    def bring_up(self, lab: Lab, topology: Topology) -> None:
        assert self.inventory is not None
        targets = load_inventory(self.inventory)
        workdir = Path(lab.workdir)
        for host in topology.hosts.values():
            target = targets[host.name]
            target.probes_dir = probes_dir_for(self.run_id)
            lab.hosts[host.name] = HostNode(
                name=host.name, kind="host", netns=target.host_netns or "",
                lxd_dir=str(workdir / host.name / "lxd"), remote=target.to_dict())
        lab.save(workdir / "lab.json")
        image = build_busybox_image(self.work_root / "cache")

        def prepare(host):
            node = lab.hosts[host.name]
            remote = remote_host(node)
            prepare_lxd(host, node, remote, image)
            return probe_capabilities(remote)

        with ThreadPoolExecutor(max_workers=max(1, len(topology.hosts))) as pool:
            per_host = list(pool.map(prepare, topology.hosts.values()))
        caps = combine_capabilities(per_host)
        lab.capabilities, lab.capability_notes = caps.works, caps.notes

    def tear_down(self, lab: Lab) -> list[str]:
        objects = _saved_objects(Path(lab.workdir))
        leftovers: list[str] = []
        for name, node in lab.hosts.items():
            if Path(node.lxd_socket).exists():
                leftovers.extend(_delete_objects(name, node, objects.get(name, {})))
            for pid in node.pids:
                procs.stop([pid], to_group=True, grace=3.0)
            if node.remote:
                try:
                    remote = remote_host(node)
                    remote.run(["rm", "-rf", remote.probes_dir, f"{remote.probes_dir}.tar.gz"],
                               netns="", check=False)
                except (SubstrateError, OSError) as exc:
                    leftovers.append(f"{name}: probes folder: {exc}")
        forget_hosts(lab)
        return leftovers


def _objects(topology: Topology) -> dict[str, dict[str, list[str]]]:
    return {host.name: {"instances": list(host.instances), "profiles": list(host.profiles),
                        "networks": [n for n in host.networks if n != DEFAULT_BRIDGE]}
            for host in topology.hosts.values()}


def _saved_objects(workdir: Path) -> dict[str, Any]:
    path = workdir / "topology-objects.yaml"
    return yaml.safe_load(path.read_text()) if path.exists() else {}


def _delete_objects(host: str, node: HostNode, objects: dict[str, list[str]]) -> list[str]:
    """Remove what the scenario made on a machine that outlives the lab."""
    leftovers = []
    client = pylxd.Client(endpoint=node.lxd_socket)
    for kind in ("instances", "profiles", "networks"):
        for name in objects.get(kind, []):
            try:
                item = getattr(client, kind).get(name)
                if kind == "instances" and item.status != "Stopped":
                    item.stop(force=True, wait=True)
                if kind == "profiles" and name == "default":
                    continue
                item.delete(wait=True) if kind == "instances" else item.delete()
            except NotFound:
                continue
            except Exception as exc:  # keep going: remove as much as possible
                leftovers.append(f"{host}: {kind[:-1]} {name}: {exc}")
    return leftovers
