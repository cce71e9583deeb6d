"""The harness against the same lab typed by hand (bench/hand/*.sh: ip, lxd, lxc).

    .venv/bin/python bench/vs_hand.py [-n 3]

Cases: scenarios/custom-bridge.yaml against bench/hand/custom-bridge.sh (one host, four
checks), and bench/scale.yaml.j2 with 2 hosts x 2 instances against bench/hand/routed.sh 2 2
(two hosts, 12 pings). Both sides build the same namespaces and LXD daemons from the same
image, probe, and tear everything down; each is timed as a whole command. Runs alternate
harness / by hand, and the ratio harness / by hand is taken pair by pair (target <= 1.0).
The harness's own phases (results.json) are shown too: "outside" is its wall time less the
run itself (Python's start and imports, scenario loading, the reports, the exit).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from common import HARNESS, REPO, machine_note, median, spread, table, timed

sys.path.insert(0, str(REPO))
from harness.lxd.image import build_busybox_image  # noqa: E402
from harness.substrates.runs import WORK_ROOT  # noqa: E402

CASES = {
    "custom-bridge (1 host, 4 checks)": (
        ["scenarios/custom-bridge.yaml"], ["bash", "bench/hand/custom-bridge.sh"]),
    "routed 2 hosts x 2 instances (12 pings)": (
        ["bench/scale.yaml.j2", "--var", "hosts=2", "--var", "instances=2"],
        ["bash", "bench/hand/routed.sh", "2", "2"]),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=3)
    args = parser.parse_args()
    rows = []
    # the image the harness itself uses (its cache names it by recipe): same bytes both sides
    image = {"IMAGE": str(build_busybox_image(WORK_ROOT / "cache"))}
    with tempfile.TemporaryDirectory(prefix="bench-vs-hand-") as out:
        log = Path(out) / "log"
        for case, (scenario, by_hand) in CASES.items():
            ours, theirs, failures = [], [], []
            phases: dict[str, list[float]] = {}
            for _ in range(args.runs):
                (Path(out) / "results.json").unlink(missing_ok=True)  # never the last run's
                wall, code = timed([HARNESS, "run", "--out", out, *scenario], log=log)
                ours.append(wall)
                failures += [f"harness exit {code}"] if code else []
                for phase, seconds in _phases(Path(out) / "results.json", wall).items():
                    phases.setdefault(phase, []).append(seconds)
                wall, code = timed(by_hand, log=log, env=image)
                theirs.append(wall)
                failures += [f"by hand exit {code}"] if code else []
            ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
            rows.append([case, spread(ours), spread(theirs),
                         f"{median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})",
                         ", ".join(f"{k} {median(v):.2f}" for k, v in phases.items()),
                         ", ".join(failures) or "all passed"])
        if any("exit" in row[-1] for row in rows):
            print(log.read_text()[-3000:])
    print(table(["case", "harness s", "by hand s", "harness / by hand", "harness phases s",
                 "outcome"], rows))
    print(f"{args.runs} alternating runs per case; medians (min-max). " + machine_note())
    return 0


def _phases(results: Path, wall: float) -> dict[str, float]:
    """up / apply / checks / down of the run, and "outside": the rest of its wall time."""
    try:
        run = json.loads(results.read_text())
    except (OSError, ValueError):
        return {}
    phases = dict(run["scenarios"][0]["phases"]) if run.get("scenarios") else {}
    return {**phases, "outside": wall - run.get("duration", wall)}


if __name__ == "__main__":
    raise SystemExit(main())
