"""Parity: the same scenarios on every substrate, outcome by outcome.

    .venv/bin/python bench/parity.py [--on local vagrant inside-vm] [-o docs/parity.md] [FILES]

- `local`: `harness run --substrate local` on this machine (its kernel decides what skips);
- `vagrant`: `harness run --substrate vagrant` (every host a VM; VMs booted once);
- `inside-vm`: `harness run --substrate local` inside one VM of the vagrant substrate's pool,
  as a CI runner with a full kernel does (harness.substrates.vagrant.inside). Only the
  scenarios that need what this machine's kernel lacks (INSIDE, or --inside FILES): the VM
  has one emulated core, and the rest already run on the local substrate here.

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
TITLES = {"local": "local (this machine)", "vagrant": "vagrant (VMs)",
          "inside-vm": "local inside a VM"}


def run_on(substrate: str, files: list[Path], out: Path) -> tuple[Path, float]:
    """Run the files on one substrate; (its results.json, wall seconds)."""
    out.mkdir(parents=True, exist_ok=True)
    if substrate == "inside-vm":
        from harness.substrates.vagrant.inside import run_inside

        started = time.monotonic()
        results = run_inside(files, out)
        return results, time.monotonic() - started
    argv = [HARNESS, "run", "--substrate", substrate, "--out", str(out),
            "--json", str(out / "results.json"), *map(str, files)]
    argv[2:2] = ["-j", "2"]  # on VMs too: the children hand their VMs back (one pool)
    seconds, _code = timed(argv, log=out / "run.log", timeout=6 * 3600)
    return out / "results.json", seconds


def outcomes(results: Path) -> dict[tuple[str, str], tuple[str, str]]:
    """(scenario, check id) -> (outcome, reason)."""
    data = json.loads(results.read_text())
    found = {}
    for scenario in data.get("scenarios", []):
        for check in scenario.get("checks", []):
            found[(scenario["name"], check["id"])] = (check["outcome"], check.get("reason", ""))
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
        results = out / ("reports" if substrate == "inside-vm" else "") / "results.json"
        if not (args.reuse and results.exists()):
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
        args.output.write_text("# Parity: the tutorial suite on every substrate\n\n"
                               "Written by `bench/parity.py` (see bench/README.md).\n\n"
                               + text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
