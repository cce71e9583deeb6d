"""The `ovs-vsctl` the harness puts first on a host's PATH when the kernel has no OVS datapath.

Usage (from the wrapper script): python -m harness.hostnet.ovs_vsctl REAL_OVS_VSCTL ARGS...

- every real bridge (`add-br NAME`, not a fake VLAN bridge `add-br NAME PARENT VID`) is
  created with `datapath_type=netdev` in the same transaction: OVS has no setting for a
  default datapath type, and a bridge on the missing kernel datapath never comes up;
- every veth added as a port (by a setup line or by LXD for an instance NIC) gets tx checksum
  offload off, on both ends when the peer is in this namespace: the userspace datapath
  forwards the kernel's unfinished checksums as they are, and TCP/UDP then stall.
It wraps LXD's own calls too, since LXD runs with the same PATH.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from harness.hostnet.wrappers import write_wrapper

#: global options of ovs-vsctl that take their value as a separate word
_VALUE_OPTIONS = {"-t", "--timeout", "--db", "-d", "--format", "--columns"}


def commands(args: list[str]) -> list[list[str]]:
    """The positional words of each command (commands are separated by `--`)."""
    result: list[list[str]] = []
    words: list[str] = []
    skip_value = False
    for arg in args:
        if arg == "--":
            result.append(words)
            words, skip_value = [], False
        elif skip_value:
            skip_value = False
        elif arg.startswith("-"):
            skip_value = arg in _VALUE_OPTIONS and not words
        else:
            words.append(arg)
    result.append(words)
    return [words for words in result if words]


def rewrite(args: list[str], datapath: str = "netdev") -> tuple[list[str], list[str]]:
    """Return the arguments with the datapath set on new bridges, and the ports being added."""
    extra: list[str] = []
    ports: list[str] = []
    for words in commands(args):
        if words[0] == "add-br" and len(words) == 2:
            extra += ["--", "set", "bridge", words[1], f"datapath_type={datapath}"]
        elif words[0] == "add-port" and len(words) >= 3:
            ports.append(words[2])
    return [*args, *extra], ports


def _link(name: str) -> dict | None:
    proc = subprocess.run(["ip", "-d", "-j", "link", "show", "dev", name], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        return None
    links = json.loads(proc.stdout or "[]")
    return links[0] if links else None


def checksum_offload_off(port: str) -> list[str]:
    """Turn tx checksum offload off on a veth port and its peer; return the devices changed."""
    link = _link(port)
    if link is None or link.get("linkinfo", {}).get("info_kind") != "veth":
        return []
    if shutil.which("ethtool") is None:
        print(f"harness ovs-vsctl: ethtool missing, tx checksum offload stays on for {port}",
              file=sys.stderr)
        return []
    names = [port]
    if "link_netnsid" not in link and link.get("link"):  # the peer is in this namespace
        names.append(link["link"])
    changed = []
    for name in names:
        done = subprocess.run(["ethtool", "-K", name, "tx", "off"], capture_output=True)
        if done.returncode == 0:
            changed.append(name)
    return changed


def write_ovs_vsctl(tool_dir: Path) -> Path:
    real = shutil.which("ovs-vsctl")
    if real is None:
        raise FileNotFoundError("ovs-vsctl is not installed (Debian: openvswitch-switch)")
    return write_wrapper(tool_dir, "ovs-vsctl", "harness.hostnet.ovs_vsctl", [real])


def main(argv: list[str]) -> int:
    real, args = argv[0], argv[1:]
    args, ports = rewrite(args)
    code = subprocess.run([real, *args]).returncode
    if code == 0:
        for port in ports:
            checksum_offload_off(port)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
