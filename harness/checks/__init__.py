"""Check types; importing this package registers them all."""

from harness.checks import dhcp, dns, nat, ping  # noqa: F401
from harness.checks import mac_filtering, macvlan  # noqa: F401
from harness.checks.base import REGISTRY, planned_ids, run_check  # noqa: F401
