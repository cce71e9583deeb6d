"""Scale: N hosts x M instances brought up, a full ordered ping matrix verified, torn down.

    .venv/bin/python bench/scale.py                       # 1x2 2x2 4x4 4x8 8x8, 3 runs each
    .venv/bin/python bench/scale.py -n 1 --sizes 2x2 8x8

Each size is `harness run bench/scale.yaml.j2 --var hosts=N --var instances=M` (every
instance pings every other one: M*N*(M*N-1) results). Per size: wall time of the whole
command and the phases from results.json (medians over the runs). Then a least-squares fit
wall = a + b*hosts + c*instances over all sizes: b is the marginal cost of a host, c of an
instance; the fit's largest relative error says whether growth stays linear.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import linfit
from common import HARNESS, machine_note, median, spread, table, timed

PHASES = ("up", "apply", "checks", "down")


def run_size(hosts: int, instances: int) -> tuple[float, dict[str, float], str]:
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as out:
        wall, code = timed([HARNESS, "run", "bench/scale.yaml.j2", "--var", f"hosts={hosts}",
                            "--var", f"instances={instances}", "--out", out],
                           log=Path(out) / "run.log")
        results = json.loads((Path(out) / "results.json").read_text())
        (scenario,) = results["scenarios"]
        outcomes: dict[str, int] = {}
        for check in scenario["checks"]:
            outcomes[check["outcome"]] = outcomes.get(check["outcome"], 0) + 1
        verdict = ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items()))
        if code != 0:
            verdict += f" (exit {code}: {scenario.get('error') or 'a check failed'})"
        return wall, scenario["phases"], verdict


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=3)
    parser.add_argument("--sizes", nargs="+", default=["1x2", "2x2", "4x4", "4x8", "8x8"])
    args = parser.parse_args()
    rows, points = [], []
    for size in args.sizes:
        hosts, instances = (int(x) for x in size.split("x"))
        walls, phases, verdicts = [], {p: [] for p in PHASES}, []
        for _ in range(args.runs):
            wall, phase, verdict = run_size(hosts, instances)
            walls.append(wall)
            verdicts.append(verdict)
            for p in PHASES:
                phases[p].append(phase.get(p, 0.0))
        total = hosts * instances
        points.append((hosts, total, median(walls)))
        rows.append([size, total * (total - 1), spread(walls),
                     *(f"{median(phases[p]):.1f}" for p in PHASES), "; ".join(set(verdicts))])
    header = ["hosts x instances", "ping pairs", "wall s", *PHASES, "results"]
    fitted = ""
    if len(points) >= 3:
        a, b, c = linfit.least_squares([(1.0, h, i) for h, i, _ in points], [w for *_, w in points])
        header.insert(3, "linear fit s")
        for row, (h, i, _) in zip(rows, points, strict=True):
            row.insert(3, f"{a + b * h + c * i:.1f}")
        worst = max(abs(a + b * h + c * i - w) / w for h, i, w in points)
        fitted = (f"\nfit: wall = {a:.1f} s + {b:.2f} s per host + {c:.3f} s per instance "
                  f"(largest error {worst:.0%})")
    print(table(header, rows) + fitted)
    print(f"{args.runs} run(s) per size; medians (min-max). " + machine_note())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
