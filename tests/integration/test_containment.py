"""No lab packet reaches the machine's own interfaces; hostile names never reach a command."""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from lab_helpers import (
    REPO,
    HarnessProcess,
    harness,
    run_dirs,
)

pytestmark = pytest.mark.root

#: every address range the scenarios use for underlays, bridges, upstream and overlays
LAB_NETWORKS = [ipaddress.ip_network(n) for n in (
    "172.31.0.0/16", "10.0.0.0/8", "198.51.100.0/24", "11.11.11.11/32", "99.99.99.99/32",
    "172.21.0.0/16", "239.0.0.0/8")]
#: the machine's own interfaces, in its own (root) network namespace
WATCHED = ["eth0", "lo"]
CANARY_PORT = 9  # discard: a packet to 127.0.0.1 proves the sniffer on lo really sees traffic


def _lab_addresses(packet) -> list[str]:
    from scapy.layers.inet import IP
    from scapy.layers.l2 import ARP

    found = []
    for layer, fields in ((IP, ("src", "dst")), (ARP, ("psrc", "pdst"))):
        if packet.haslayer(layer):
            for name in fields:
                value = getattr(packet[layer], name)
                try:
                    address = ipaddress.ip_address(value)
                except ValueError:
                    continue
                if any(address in network for network in LAB_NETWORKS):
                    found.append(f"{packet[layer].summary()}")
    return found


def test_no_lab_packet_on_the_machines_interfaces(work_root: Path, tmp_path: Path):
    from scapy.utils import rdpcap

    if not Path("/sys/class/net/eth0").exists():
        pytest.skip("this machine has no eth0")
    if shutil.which("tcpdump") is None:
        pytest.skip("tcpdump is not installed (scripts/setup.sh installs it)")
    sniffers, runs = {}, []
    for iface in WATCHED:
        pcap = tmp_path / f"{iface}.pcap"
        sniffers[iface] = (pcap, subprocess.Popen(
            ["tcpdump", "-i", iface, "-n", "-U", "--immediate-mode", "-Z", "root", "-s", "128",
             "-w", str(pcap)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    try:
        for iface, (_, proc) in sniffers.items():
            assert proc.stderr is not None
            started = proc.stderr.readline()  # tcpdump says so once it captures, or why not
            assert f"listening on {iface}" in started, started
        scenarios = sorted(str(p) for p in (REPO / "scenarios").glob("*.yaml"))
        assert scenarios
        # two `harness run` side by side: half the wall time, and labs next to each other
        runs += [HarnessProcess(["run", *scenarios[i::2], "--workdir", str(work_root),
                                 "--out", str(tmp_path / f"out{i}")], work_root)
                 for i in range(2)]
        codes = [run.finish(timeout=900) for run in runs]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as canary:
            canary.sendto(b"harness-containment-canary", ("127.0.0.1", CANARY_PORT))
        time.sleep(0.5)
    finally:
        for run in runs:
            run.kill()
        for _, proc in sniffers.values():
            proc.send_signal(signal.SIGTERM)
        for _, proc in sniffers.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    for code, run in zip(codes, runs, strict=True):
        assert code in (0, 1), run.log()[-3000:]
    assert run_dirs(work_root) == []

    seen: dict[str, list[str]] = {}
    for iface, (pcap, _) in sniffers.items():
        packets = rdpcap(str(pcap)) if pcap.stat().st_size > 24 else []
        seen[iface] = [a for p in packets for a in _lab_addresses(p)]
        if iface == "lo":
            assert any(b"harness-containment-canary" in bytes(p) for p in packets), \
                "the sniffer on lo saw not even the canary"
    assert seen == {iface: [] for iface in WATCHED}, seen


HOSTILE = {
    "shell metacharacters": """
        name: hostile-shell
        hosts:
          host1: {underlay: 172.31.0.11/24, instances: {"app1;touch /tmp/pwned": {}}}
    """,
    "path traversal": """
        name: hostile-path
        hosts:
          "../../etc": {underlay: 172.31.0.11/24}
    """,
    "16-character interface name": """
        name: hostile-ifname
        hosts:
          host1:
            underlay: 172.31.0.11/24
            networks:
              lxdbr1337abcdefg: {type: bridge, config: {ipv4.address: 10.1.2.1/24}}
    """,
    "16-character host nic": """
        name: hostile-nic
        hosts:
          host1:
            underlay: 172.31.0.11/24
            interfaces:
              enp4s0f0abcdefgh: {segment: lan}
    """,
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_names_are_rejected_before_anything_runs(case: str, tmp_path: Path):
    import textwrap

    scenario = tmp_path / "hostile.yaml"
    scenario.write_text(textwrap.dedent(HOSTILE[case]))
    work_root = tmp_path / "never-created"
    before = set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()
    result = harness("run", str(scenario), "--workdir", str(work_root), "--out",
                     str(tmp_path / "out"))
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{scenario}:" in result.stderr
    assert "Traceback" not in result.stderr
    assert not work_root.exists()
    assert not (tmp_path / "out").exists()
    assert not Path("/tmp/pwned").exists()
    after = set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()
    assert not [n for n in after - before if "hostile" in n or "etc" in n or "pwned" in n]
