"""What this machine's kernel can do, found by trying each feature in a scratch namespace."""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from harness.hostnet import ovs
from harness.shell import run
from harness.substrates.runs import scratch_netns

#: feature -> (what a skip says when it is missing, commands to try in order inside a scratch
#: namespace; all must work)
_PROBES: dict[str, tuple[str, list[list[str]]]] = {
    "vxlan": ("kernel has no vxlan", [
        ["ip", "link", "add", "vx0", "type", "vxlan", "id", "1", "dstport", "4789"]]),
    "vxlan_external": ("kernel has no vxlan external mode", [
        ["ip", "link", "add", "vx1", "type", "vxlan", "external", "dstport", "4790"]]),
    "gretap": ("kernel has no gretap", [
        ["ip", "link", "add", "gt0", "type", "gretap", "local", "127.0.0.1",
         "remote", "127.0.0.2"]]),
    "8021q": ("kernel has no 802.1Q VLAN devices", [
        ["ip", "link", "add", "ve0", "type", "veth", "peer", "name", "ve1"],
        ["ip", "link", "add", "link", "ve0", "name", "ve0.5", "type", "vlan", "id", "5"]]),
    "vlan_filtering": ("kernel bridge has no vlan_filtering", [
        ["ip", "link", "add", "br0", "type", "bridge", "vlan_filtering", "1"]]),
    "macvlan": ("kernel has no macvlan", [
        ["ip", "link", "add", "mp0", "type", "veth", "peer", "name", "mp1"],
        ["ip", "link", "add", "mv0", "link", "mp0", "type", "macvlan", "mode", "bridge"]]),
    "ipip": ("kernel has no ipip", [
        ["ip", "link", "add", "ip0", "type", "ipip", "local", "127.0.0.1",
         "remote", "127.0.0.2"]]),
    "geneve": ("kernel has no geneve", [
        ["ip", "link", "add", "gn0", "type", "geneve", "id", "1", "remote", "127.0.0.2"]]),
    "dummy": ("kernel has no dummy devices", [["ip", "link", "add", "du0", "type", "dummy"]]),
    "fan_map": ("kernel has no Ubuntu fan-map patch", [
        ["ip", "link", "add", "fan0", "type", "vxlan", "id", "3", "dstport", "0",
         "fan-map", "10.0.0.0/8:172.21.0.0/16"]]),
    "tc_police": ("kernel has no tc police action (act_police), which a NIC's limits.egress "
                  "needs", [
        ["ip", "link", "add", "tp0", "type", "veth", "peer", "name", "tp1"],
        ["tc", "qdisc", "add", "dev", "tp0", "handle", "ffff:", "ingress"],
        ["tc", "filter", "add", "dev", "tp0", "parent", "ffff:", "protocol", "all", "u32",
         "match", "u32", "0", "0", "police", "rate", "1mbit", "burst", "10k", "drop"]]),
}


#: every feature `probe` answers for (a cached answer lacking one is probed again)
_FEATURES = (*_PROBES, "openvswitch_datapath", "nftables")


@dataclass
class Capabilities:
    works: dict[str, bool] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)  # feature -> why it is missing

    def reason(self, feature: str) -> str:
        return self.notes.get(feature, f"{feature} is not available")


def _boot_id() -> str:
    return Path("/proc/sys/kernel/random/boot_id").read_text().strip()


def _probe_openvswitch(netns: str) -> bool:
    families = run(["genl", "ctrl", "list"], netns=netns, check=False).stdout
    return "ovs_datapath" in families


def probe(cache_dir: Path | None = None, netns: str | None = None) -> Capabilities:
    """Try every feature once per boot of this kernel (the answer is cached by boot id).

    `netns` names the scratch namespace (a lab passes one tagged with its run id, so that
    `harness gc` finds it if the run dies mid-probe)."""
    cache = cache_dir / f"capabilities-{_boot_id()}.json" if cache_dir else None
    if cache is not None and cache.exists():
        data = json.loads(cache.read_text())
        if set(_FEATURES) <= set(data["works"]):  # else written before a feature was added
            return _with_tools(Capabilities(data["works"], data["notes"]))
    caps = Capabilities()
    netns = netns or scratch_netns()
    run(["ip", "netns", "add", netns])
    try:
        for feature, (missing, steps) in _PROBES.items():
            ok = all(run(step, netns=netns, check=False).returncode == 0 for step in steps)
            caps.works[feature] = ok
            if not ok:
                caps.notes[feature] = missing
        caps.works["openvswitch_datapath"] = _probe_openvswitch(netns)
        if not caps.works["openvswitch_datapath"]:
            caps.notes["openvswitch_datapath"] = (
                "kernel has no openvswitch datapath (Open vSwitch falls back to userspace)")
        nft = run(["nft", "list", "tables"], netns=netns, check=False)
        caps.works["nftables"] = nft.returncode == 0
        if nft.returncode != 0:
            caps.notes["nftables"] = "nftables does not work here"
    finally:
        run(["ip", "netns", "del", netns], check=False)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        # write then rename: a lab starting at the same moment must never read half a file
        partial = cache.with_name(f"{cache.name}.{os.getpid()}.partial")
        partial.write_text(json.dumps({"works": caps.works, "notes": caps.notes}))
        os.replace(partial, cache)
    return _with_tools(caps)


def _with_tools(caps: Capabilities) -> Capabilities:
    """Installed tools can change within a boot: looked up every time, never cached."""
    missing = ovs.missing_tools()
    caps.works["openvswitch"] = not missing
    if missing:
        caps.notes["openvswitch"] = (f"Open vSwitch is not installed (missing {', '.join(missing)}"
                                     "; Debian: openvswitch-switch)")
    return caps


# ---------------------------------------------------------------------- on another machine
_SCRIPT_TAIL = """
if ovs-vsctl --timeout=5 show >/dev/null 2>&1; then echo "openvswitch 1"
else echo "openvswitch 0"; fi
modprobe openvswitch 2>/dev/null
if genl ctrl list 2>/dev/null | grep -q ovs_datapath; then echo "openvswitch_datapath 1"
else echo "openvswitch_datapath 0"; fi
if nft list tables >/dev/null 2>&1; then echo "nftables 1"; else echo "nftables 0"; fi
"""
_SCRIPT_MISSING = {"openvswitch": "Open vSwitch does not run",
                   "openvswitch_datapath": "kernel has no openvswitch datapath",
                   "nftables": "nftables does not work"}


def probe_script() -> str:
    """The same tries as `probe`, as one `sh` script for a host reached over SSH: prints
    "FEATURE 1" or "FEATURE 0" per line (see `from_script_output`)."""
    scratch = scratch_netns()
    lines = [f"ip netns add {scratch}"]
    for feature, (_, steps) in _PROBES.items():
        tries = " && ".join(shlex.join(["ip", "netns", "exec", scratch, *step])
                            for step in steps)
        lines.append(f"if {tries} 2>/dev/null; then echo '{feature} 1'; "
                     f"else echo '{feature} 0'; fi")
    lines.append(f"ip netns del {scratch}")
    return "\n".join(lines) + _SCRIPT_TAIL


def from_script_output(output: str, where: str) -> Capabilities:
    caps = Capabilities()
    for line in output.splitlines():
        feature, _, works = line.partition(" ")
        caps.works[feature] = works == "1"
    missing = {**{feature: why for feature, (why, _) in _PROBES.items()}, **_SCRIPT_MISSING}
    for feature, why in missing.items():
        if not caps.works.get(feature):
            caps.notes[feature] = f"{why} (on {where})"
    return caps
