"""The vagrant substrate's costs: a boot, a snapshot, a revert, and scenarios on a warm pool.

    .venv/bin/python bench/vms.py [-n 3] [FILES]

Runs each file once to boot its VMs (cold), then `-n` times more on the same VMs, reverted
to their snapshot in between (warm), all in this process (one pool). Prints per scenario the
cold run and the medians of the warm ones (up / apply / checks / down / total), and per VM
its boot, preparation, snapshot and revert times, and what the alternative to a revert
costs on the same VM: a fresh LXD daemon (stopped, its data wiped, started, ready), without
even resetting the network. Default FILES: tests/vm/labs/gre-vlan.yaml (two hosts). The VMs
are destroyed at the end.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from common import REPO, machine_note, spread, table

sys.path.insert(0, str(REPO))
from harness.scenario import load_scenario  # noqa: E402
from harness.session import Options, ScenarioRun  # noqa: E402
from harness.substrates.remote import RemoteHost, SshTarget  # noqa: E402
from harness.substrates.runs import WORK_ROOT  # noqa: E402
from harness.substrates.vagrant.pool import pool_for, shutdown_all  # noqa: E402

PHASES = ("up", "apply", "checks", "down")


def once(path: Path, out: Path) -> tuple[dict[str, float], str]:
    scenario_run = ScenarioRun(load_scenario(path), Options(substrate="vagrant", out_dir=out))
    started = time.monotonic()
    result = scenario_run.run()
    phases = {p: result.phases.get(p, 0.0) for p in PHASES}
    phases["total"] = time.monotonic() - started
    outcomes = sorted({str(c.outcome) for c in result.checks})
    return phases, result.error or ",".join(outcomes)


def fresh_lxd(slot) -> float:
    remote = RemoteHost(slot.id, SshTarget.from_dict(slot.ssh))
    started = time.monotonic()
    remote.run(["sh", "-c", "systemctl stop lxd.socket lxd.service; "
                "umount -lR /var/lib/lxd/shmounts /var/lib/lxd/devlxd 2>/dev/null; "
                "rm -rf /var/lib/lxd/* 2>/dev/null; "
                "systemctl start lxd.socket lxd.service && lxd waitready --timeout=300"],
               timeout=400)
    seconds = time.monotonic() - started
    remote.close()
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("-n", type=int, default=3, help="warm runs per file")
    args = parser.parse_args()
    files = args.files or [REPO / "tests" / "vm" / "labs" / "gre-vlan.yaml"]
    rows = []
    try:
        for path in files:
            cold, outcome = once(path, Path("/tmp/bench-vms"))
            warm = [once(path, Path("/tmp/bench-vms")) for _ in range(args.n)]
            outcomes = {outcome, *(o for _, o in warm)}
            rows.append([path.stem, "cold", *(f"{cold[p]:.1f}" for p in (*PHASES, "total")),
                         " ".join(sorted(outcomes))])
            rows.append([path.stem, f"warm x{args.n}",
                         *(spread([w[p] for w, _ in warm]) for p in (*PHASES, "total")), ""])
        slots = pool_for(WORK_ROOT).slots()
        vm_rows = [[s.id, *(f"{s.timings.get(k, 0):.1f}" for k in
                            ("boot", "prepare", "snapshot", "revert"))] for s in slots]
        fresh = [fresh_lxd(slots[0]) for _ in range(args.n)] if slots else []
    finally:
        leftovers = shutdown_all()
    print(table(["scenario", "run", *PHASES, "total s", "outcomes"], rows))
    print()
    print(table(["VM", "boot s", "prepare s", "snapshot s", "last revert s"], vm_rows))
    print(f"\nfresh LXD daemon instead of a revert (stop, wipe, start, ready): {spread(fresh)} s")
    print(f"\n{machine_note()}")
    if leftovers:
        print("left behind:", "; ".join(leftovers))
    return 1 if leftovers else 0


if __name__ == "__main__":
    sys.exit(main())
