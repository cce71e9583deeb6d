"""Check types; importing this package registers them all."""

from harness.checks import dhcp, dns, mac_filtering, macvlan, mtu, nat, ping, vxlan  # noqa: F401  # noqa: F401
from harness.checks.base import REGISTRY, planned_ids, run_check  # noqa: F401
