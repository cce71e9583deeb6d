"""The tutorial suite on the local substrate: wall time, and each scenario's phases.

    .venv/bin/python bench/suite.py            # scenarios/*.yaml, 3 runs
    .venv/bin/python bench/suite.py -n 1 scenarios/custom-bridge.yaml

Every run is one `harness run` over all the files (one scenario after the other, as a user
runs it), then, unless --workers 0, one `pytest -n WORKERS` over the same files (whole
files per worker, as `make test` runs them). Per scenario, the split into up / apply /
checks / down comes from the harness run's results.json; figures are medians over the runs
with (min-max).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from common import HARNESS, REPO, machine_note, median, spread, table, timed

PHASES = ("up", "apply", "checks", "down")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", help="scenario files (default: scenarios/*.yaml)")
    parser.add_argument("-n", "--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2,
                        help="also time `pytest -n WORKERS` over the files (0: do not)")
    args = parser.parse_args()
    files = args.files or sorted(str(p.relative_to(REPO)) for p in REPO.glob("scenarios/*.yaml"))

    walls: list[float] = []
    parallel_walls: list[float] = []
    phases: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    outcomes: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    per_type: dict[str, list[float]] = defaultdict(list)  # check type -> durations
    errors: set[str] = set()
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="bench-suite-") as out:
            wall, code = timed([HARNESS, "run", "--out", out, *files],
                               log=Path(out) / "run.log")
            walls.append(wall)
            results = json.loads((Path(out) / "results.json").read_text())
            for scenario in results["scenarios"]:
                for phase in PHASES:
                    phases[scenario["name"]][phase].append(scenario["phases"].get(phase, 0.0))
                for check in scenario["checks"]:
                    outcomes[scenario["name"]][check["outcome"]] += 1
                    if check["outcome"] != "skip":
                        per_type[check["type"]].append(check["duration"])
                if scenario.get("error"):
                    errors.add(f"{scenario['name']}: {scenario['error'][:200]}")
            print(f"run {run + 1}: {wall:.1f} s wall, exit {code}", file=sys.stderr)
            if args.workers:
                wall, code = timed([str(Path(HARNESS).with_name("pytest")), "-q",
                                    "-n", str(args.workers), "-p", "no:cacheprovider",
                                    "--lab-out", out, *files], log=Path(out) / "pytest.log")
                parallel_walls.append(wall)
                print(f"run {run + 1}: pytest -n {args.workers}: {wall:.1f} s wall, exit {code}",
                      file=sys.stderr)

    rows = []
    for name, by_phase in phases.items():
        total = sum(median(by_phase[p]) for p in PHASES)
        counts = ", ".join(f"{n} {o}" for o, n in sorted(outcomes[name].items()))
        rows.append([name, *(f"{median(by_phase[p]):.1f}" for p in PHASES), f"{total:.1f}",
                     counts])
    sums = [sum(median(by_phase[p]) for by_phase in phases.values()) for p in PHASES]
    rows.append(["**sum**", *(f"{s:.1f}" for s in sums), f"{sum(sums):.1f}", ""])
    print(f"suite: {len(files)} scenarios, {args.runs} run(s): `harness run` wall "
          f"{spread(walls)} s" + (f"; `pytest -n {args.workers}` wall {spread(parallel_walls)} s"
                                  if parallel_walls else ""))
    print(table(["scenario", "up", "apply", "checks", "down", "total", "checks (all runs)"],
                rows))
    print()
    print(table(["check type", "results", "median s", "min-max s"],
                [[kind, len(d), f"{median(d):.2f}", f"{min(d):.2f}-{max(d):.2f}"]
                 for kind, d in sorted(per_type.items())]))
    for error in sorted(errors):
        print(f"error: {error}")
    print(machine_note())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
