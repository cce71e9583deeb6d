"""Parity: the same scenarios on every substrate, outcome by outcome.

    .venv/bin/python bench/parity.py [--on local vagrant inside-vm] [-o docs/parity.md] [FILES]

- `local`: `harness run -j 2 --substrate local` on this machine (its kernel decides what skips);
- `vagrant`: `harness run -j 2 --substrate vagrant` (every host a VM; VMs booted once);
- `inside-vm`: `harness run --substrate local` inside one VM of the vagrant substrate's pool,
  as a CI runner with a full kernel does (harness.substrates.vagrant.inside). Only the
  scenarios that need what this machine's kernel lacks (INSIDE, or --inside FILES): the VM
  has one emulated core, and the rest already run on the local substrate here.

Scenarios with a `bandwidth` check run afterwards on their own (`-j 1`), on every substrate.
Prints (and writes with -o) one table: scenario x check x substrate, each outcome with the
reason when it is not a pass, then every row whose outcomes differ. Default FILES: the
tutorial suite (scenarios/*.yaml). Reports of each run under /tmp/parity/SUBSTRATE.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from common import HARNESS, REPO, machine_note, table, timed

sys.path.insert(0, str(REPO))

ON = ("local", "vagrant", "inside-vm")
#: gretap, 802.1Q, the OVS datapath, fan-map, tc police: what skips or is emulated here
INSIDE = ("gre", "gre-ovs", "openvswitch-vlan409", "fan", "mtu-lab", "nic-limits-egress")
WHY = "## Why they differ"
TITLES = {"local": "local (this machine)", "vagrant": "vagrant (VMs)",
          "inside-vm": "local inside a VM"}


def needs_the_machine(path: Path) -> bool:
    """A scenario that measures throughput: run on its own, not beside another one (on
    emulated VMs two labs at once leave a sender unable to offer twice the limit)."""
    from harness.scenario import load_scenario

    return any(check.type == "bandwidth" for check in load_scenario(path).checks)


def run_on(substrate: str, files: list[Path], out: Path) -> tuple[list[Path], float]:
    """Run the files on one substrate; (its results.json files, wall seconds)."""
    out.mkdir(parents=True, exist_ok=True)
    if substrate == "inside-vm":
        from harness.substrates.vagrant.inside import run_inside

        started = time.monotonic()
        results = run_inside(files, out)
        return [results], time.monotonic() - started
    alone = [f for f in files if needs_the_machine(f)]
    side_by_side = [f for f in files if f not in alone]
    found, seconds = [], 0.0
    for group, folder, jobs in ((side_by_side, out, "2"), (alone, out / "alone", "1")):
        if not group:
            continue
        # -j 2 on VMs too: the children hand their VMs back (one pool)
        argv = [HARNESS, "run", "-j", jobs, "--substrate", substrate, "--out", str(folder),
                "--json", str(folder / "results.json"), *map(str, group)]
        folder.mkdir(parents=True, exist_ok=True)
        took, _code = timed(argv, log=folder / "run.log", timeout=6 * 3600)
        seconds += took
        found.append(folder / "results.json")
    return found, seconds


def results_of(substrate: str, out: Path) -> list[Path]:
    if substrate == "inside-vm":
        return [out / "reports" / "results.json"]
    return [path for path in (out / "results.json", out / "alone" / "results.json")
            if path.exists()]


def outcomes(results: list[Path]) -> dict[tuple[str, str], tuple[str, str]]:
    """(scenario, check id) -> (outcome, reason)."""
    found = {}
    for path in results:
        for scenario in json.loads(path.read_text()).get("scenarios", []):
            for check in scenario.get("checks", []):
                found[(scenario["name"], check["id"])] = (check["outcome"],
                                                          check.get("reason", ""))
    return found


def cell(entry: tuple[str, str] | None) -> str:
    if entry is None:
        return "-"  # not run there
    outcome, reason = entry
    if outcome == "pass":
        return "pass"
    reason = reason.replace("|", "/").replace("\n", " ")
    return f"**{outcome}**: {reason[:160]}"


def report(per_substrate: dict[str, dict[tuple[str, str], tuple[str, str]]],
           seconds: dict[str, float]) -> str:
    names = list(per_substrate)
    rows = sorted({key for found in per_substrate.values() for key in found})
    lines = ["| scenario | check | " + " | ".join(TITLES[n] for n in names) + " |",
             "|---|---|" + "---|" * len(names)]
    differ = []
    for scenario, check in rows:
        entries = [per_substrate[n].get((scenario, check)) for n in names]
        lines.append(f"| {scenario} | {check} | " + " | ".join(cell(e) for e in entries) + " |")
        if len({e[0] for e in entries if e}) > 1:  # "-": not run there
            differ.append((scenario, check, entries))
    counts = []
    for name in names:
        tally: dict[str, int] = {}
        for outcome, _ in per_substrate[name].values():
            tally[outcome] = tally.get(outcome, 0) + 1
        counts.append([TITLES[name], *(str(tally.get(o, 0)) for o in ("pass", "fail", "skip")),
                       f"{seconds.get(name, 0) / 60:.1f} min"])
    text = ["## Outcomes", "", "`-`: not run on that substrate.", "", "\n".join(lines), "",
            table(["substrate", "pass", "fail", "skip", "wall"], counts), "",
            f"## Differences ({len(differ)})", ""]
    for scenario, check, entries in differ:
        text.append(f"- {scenario} {check}: " + "; ".join(
            f"{TITLES[n]}: {cell(e)}" for n, e in zip(names, entries, strict=True)))
    text += ["", f"Measured on {machine_note()}."]
    return "\n".join(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--on", nargs="+", choices=ON, default=list(ON))
    parser.add_argument("-o", "--output", type=Path, help="also write the table here")
    parser.add_argument("--inside", nargs="+", type=Path, metavar="FILE",
                        help=f"the files for inside-vm (default: scenarios/NAME.yaml, "
                        f"NAME in {', '.join(INSIDE)})")
    parser.add_argument("--reuse", action="store_true",
                        help="read /tmp/parity/SUBSTRATE/results.json where present")
    args = parser.parse_args()
    files = [f.resolve() for f in args.files] or sorted((REPO / "scenarios").glob("*.yaml"))
    per_substrate, seconds = {}, {}
    for substrate in args.on:
        out = Path("/tmp/parity") / substrate
        results = results_of(substrate, out)
        if not (args.reuse and results):
            chosen = files
            if substrate == "inside-vm":
                chosen = [f.resolve() for f in args.inside or
                          [REPO / "scenarios" / f"{name}.yaml" for name in INSIDE]]
            results, seconds[substrate] = run_on(substrate, chosen, out)
            (out / "wall-seconds").write_text(f"{seconds[substrate]:.0f}\n")
        elif (out / "wall-seconds").exists():
            seconds[substrate] = float((out / "wall-seconds").read_text())
        per_substrate[substrate] = outcomes(results)
        print(f"{substrate}: {len(per_substrate[substrate])} results in "
              f"{seconds.get(substrate, 0):.0f} s", file=sys.stderr)
    text = report(per_substrate, seconds)
    print(text)
    if args.output:
        # the explanations below the table are written by hand: kept across runs
        kept = args.output.read_text().partition(WHY)[2] if args.output.exists() else ""
        args.output.write_text("# Parity: the tutorial suite on every substrate\n\n"
                               "Written by `bench/parity.py` (see bench/README.md).\n\n"
                               + text + "\n" + (f"\n{WHY}{kept}" if kept else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
