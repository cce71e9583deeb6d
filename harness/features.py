"""Capability names: what a check may list in `requires:` and a substrate reports per lab.

The one list of them. The scenario schema refuses any other name (a misspelt one would
otherwise skip its check for ever); the substrates probe these (see `harness doctor`).
"""

from __future__ import annotations

from harness.engines import ENGINES

#: name -> what it means (a substrate reports True or False for each it can probe)
FEATURES: dict[str, str] = {
    "vxlan": "the kernel's VXLAN devices",
    "vxlan_external": "VXLAN devices in external mode (encap routes)",
    "gretap": "the kernel's gretap devices (GRE tunnels of LXD and Incus networks)",
    "8021q": "802.1Q VLAN devices",
    "vlan_filtering": "VLAN filtering on Linux bridges",
    "macvlan": "macvlan devices",
    "ipip": "IP-in-IP tunnels",
    "geneve": "Geneve tunnels",
    "dummy": "dummy devices",
    "fan_map": "Ubuntu's fan-map patch to VXLAN",
    "openvswitch": "Open vSwitch installed",
    "openvswitch_datapath": "the kernel's Open vSwitch datapath",
    "nftables": "nftables",
    "tc_police": "the kernel's tc police action (a NIC's limits.egress)",
    "kvm": "hardware-accelerated VMs (vagrant substrate)",
    # the engine every host runs: `requires: [incus]` is a check of that engine only
    **{name: f"the lab runs {engine.title} (a check of that engine only)"
       for name, engine in ENGINES.items()},
}

#: names people write for a capability -> its name here (for "did you mean")
AKA: dict[str, str] = {"ovs": "openvswitch", "gre": "gretap", "vlan": "8021q", "fan": "fan_map"}
