"""Check types; importing this package registers them all."""

from harness.checks import (  # noqa: F401
    dhcp,
    dns,
    fan,
    gre,
    mac_filtering,
    macvlan,
    mtu,
    nat,
    ping,
    vlan,
    vxlan,
)
from harness.checks.base import REGISTRY, planned_ids, run_check  # noqa: F401
