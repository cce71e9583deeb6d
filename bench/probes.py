"""Probe costs: scapy's import paid once per run, then what one probe costs.

    .venv/bin/python bench/probes.py [-n 10]

In a scratch namespace (hl-bpRID-probe, loopback only) one ProbeRunner, as a run uses it:
the first `icmp.ping` starts the fork server (which imports scapy), later ones only fork it.
Also: scapy's import alone in a fresh interpreter, and one `icmp.ping_many` to 63 addresses
against 63 single `icmp.ping` calls. Medians with (min-max).
"""

from __future__ import annotations

import argparse
import secrets
import subprocess
import sys
import time

from common import machine_note, spread, table

sys.path.insert(0, str(__import__("common").REPO))
from harness.probes.runner import ProbeRunner  # noqa: E402


def seconds(action) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def scapy_import() -> float:
    return seconds(lambda: subprocess.run(
        [sys.executable, "-c", "import scapy.all"], check=True))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=10)
    args = parser.parse_args()
    netns = f"hl-bp{secrets.token_hex(2)}-probe"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        subprocess.run(["ip", "-n", netns, "link", "set", "lo", "up"], check=True)
        path = f"/run/netns/{netns}"
        runner = ProbeRunner()
        ping = lambda: runner.call(path, "icmp.ping", dst="127.0.0.1", count=1)  # noqa: E731
        first = seconds(ping)
        later = [seconds(ping) for _ in range(args.runs)]
        targets = [f"127.0.0.{i}" for i in range(2, 65)]
        many = [seconds(lambda: runner.call(path, "icmp.ping_many", dsts=targets, count=1))
                for _ in range(3)]
        singles = seconds(lambda: [runner.call(path, "icmp.ping", dst=t, count=1)
                                   for t in targets])
        imports = [scapy_import() for _ in range(3)]
    finally:
        subprocess.run(["ip", "netns", "del", netns], check=False)
    rows = [
        ["`import scapy.all` in a fresh python", spread(imports)],
        ["first probe of a run (fork server start + scapy import + probe)", f"{first:.2f}"],
        [f"each later probe ({args.runs} runs: fork, setns, probe)", spread(later)],
        ["63 targets: one `icmp.ping_many` (3 runs)", spread(many)],
        ["63 targets: 63 `icmp.ping` one after the other", f"{singles:.2f}"],
    ]
    print(table(["what", "seconds"], rows))
    print(f"first / later (median): {first / sorted(later)[len(later) // 2]:.1f}x")
    print(machine_note())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
