"""What `lxd init --preseed` gives every host, on every substrate.

Storage `dir`, the default bridge (`lxdbr0`, 10.218.N.1/24 with NAT and DHCP, unless the
scenario configures it itself) and the default profile with `eth0` on it. The bridge is made
here, before any instance exists: an automatic address would make LXD probe addresses
outside the machine.
"""

from __future__ import annotations

from collections.abc import Mapping

import yaml

from harness.topology import DEFAULT_BRIDGE, Host


def default_bridge_address(host: Host) -> str:
    return f"10.218.{host.index}.1/24"


def preseed(host: Host, server_config: Mapping[str, str] | None = None) -> str:
    """`server_config`: more server keys (an engine's own, see the local substrate)."""
    bridge_config = {"ipv4.address": default_bridge_address(host), "ipv4.nat": "true",
                     "ipv6.address": "none"}
    if DEFAULT_BRIDGE in host.networks:
        bridge_config.update(host.networks[DEFAULT_BRIDGE].config)
    document = {
        "config": {"images.auto_update_interval": "0", **(server_config or {})},
        "networks": [{"name": DEFAULT_BRIDGE, "type": "bridge", "config": bridge_config}],
        "storage_pools": [{"name": "default", "driver": "dir"}],
        "profiles": [{
            "name": "default",
            "devices": {
                "root": {"path": "/", "pool": "default", "type": "disk"},
                "eth0": {"name": "eth0", "network": DEFAULT_BRIDGE, "type": "nic"},
            },
        }],
    }
    return yaml.safe_dump(document)
