"""The dnsmasq daemons of a lab that are not LXD's: upstream's resolver, the peers' DHCP."""

from __future__ import annotations

import subprocess
from pathlib import Path

from harness.substrates.base import Node
from harness.topology import UPSTREAM_WAN_ADDRESS


def start_upstream_dns(upstream: Node) -> subprocess.Popen:
    """The lab's "internet" resolver: knows only upstream.test, NXDOMAIN for the rest.

    (A REFUSED would make a forwarding dnsmasq give up silently, and clients time out.)
    """
    proc = subprocess.Popen(
        ["ip", "netns", "exec", upstream.netns, "dnsmasq", "--keep-in-foreground",
         "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--bind-interfaces",
         f"--listen-address={UPSTREAM_WAN_ADDRESS.ip}", "--pid-file=", "--user=root",
         f"--address=/upstream.test/{UPSTREAM_WAN_ADDRESS.ip}", "--local=/#/",
         "--log-facility=-"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    upstream.pids.append(proc.pid)
    return proc


def start_peer_dhcp(workdir: Path, node: Node, dhcp_range: str) -> subprocess.Popen:
    """A LAN's own DHCP server (for macvlan or external bridges, where LXD serves none).

    It hands out `dhcp_range` ("first,last") on the peer's eth0 and names itself as
    router; no DNS (port 0), no ping before an offer (fast, and the lab is private).
    """
    leases = workdir / f"{node.name}.leases"
    proc = subprocess.Popen(
        ["ip", "netns", "exec", node.netns, "dnsmasq", "--keep-in-foreground",
         "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--port=0",
         "--interface=eth0", "--bind-interfaces", f"--dhcp-range={dhcp_range},1h",
         f"--dhcp-leasefile={leases}", "--no-ping", "--pid-file=", "--user=root",
         "--log-facility=-"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    node.pids.append(proc.pid)
    return proc
