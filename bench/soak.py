"""Soak: run every scenario N times in a row and print pass counts and median durations.

    sudo .venv/bin/python bench/soak.py                    # every scenarios/*.yaml, 20 times
    sudo .venv/bin/python bench/soak.py -n 3 scenarios/custom-bridge.yaml scenarios/static-ip.yaml
    sudo .venv/bin/python bench/soak.py -n 20 -j 2                # 20 rounds of `run -j 2`
    sudo .venv/bin/python bench/soak.py -n 10 -j 2 --hog 2        # ... beside 2 busy loops

A run counts as passed when `harness run` exits 0 (every check passed or skipped, nothing
left behind); with -j, a round is one `harness run -j N` of every file, and each scenario
counts by its own outcome. Flaky checks are listed with how often they failed and their last
reason. Without -j runs are sequential so that timings are comparable; reports go to a
temporary folder. `--hog N` keeps N processes spinning on the CPU meanwhile (a busy machine).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HARNESS = str(Path(sys.executable).with_name("harness"))


@dataclass
class Tally:
    runs: int = 0
    passed: int = 0
    durations: list[float] = field(default_factory=list)  # wall clock of `harness run`
    phases: dict[str, list[float]] = field(default_factory=dict)
    check_failures: Counter[str] = field(default_factory=Counter)
    last_reason: dict[str, str] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)


def run_once(scenario: Path, out: Path, tally: Tally, extra: list[str]) -> bool:
    started = time.monotonic()
    result = subprocess.run([HARNESS, "run", str(scenario), "--out", str(out),
                             "--json", str(out / "r.json"), *extra],
                            cwd=REPO, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    passed = result.returncode == 0
    tally.runs += 1
    tally.passed += passed
    tally.durations.append(time.monotonic() - started)
    try:
        (scenario_result,) = json.loads((out / "r.json").read_text())["scenarios"]
    except (OSError, ValueError):
        tally.errors[f"exit {result.returncode}: {result.stderr.strip()[-200:]}"] += 1
        return passed
    for phase, seconds in scenario_result["phases"].items():
        tally.phases.setdefault(phase, []).append(seconds)
    if scenario_result["error"]:
        tally.errors[scenario_result["error"][:200]] += 1
    for check in scenario_result["checks"]:
        if check["outcome"] == "fail":
            tally.check_failures[check["id"]] += 1
            tally.last_reason[check["id"]] = check["reason"]
    return passed


def run_round(scenarios: list[Path], out: Path, tallies: dict[str, Tally], extra: list[str],
              jobs: int) -> bool:
    """One `harness run -j JOBS` of every scenario; each scenario tallied on its own."""
    started = time.monotonic()
    result = subprocess.run([HARNESS, "run", "-j", str(jobs), *map(str, scenarios), "--out",
                             str(out), "--json", str(out / "r.json"), *extra],
                            cwd=REPO, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    took = time.monotonic() - started
    try:
        runs = json.loads((out / "r.json").read_text())["scenarios"]
    except (OSError, ValueError):
        for tally in tallies.values():
            tally.runs += 1
            tally.errors[f"exit {result.returncode}: {result.stderr.strip()[-200:]}"] += 1
        return False
    for scenario_result in runs:
        tally = tallies[Path(scenario_result["source"]).stem]
        tally.runs += 1
        passed = scenario_result.get("outcome", "fail") != "fail"
        tally.passed += passed
        tally.durations.append(sum(scenario_result["phases"].values()) or took)
        for phase, seconds in scenario_result["phases"].items():
            tally.phases.setdefault(phase, []).append(seconds)
        if scenario_result["error"]:
            tally.errors[scenario_result["error"][:200]] += 1
        for check in scenario_result["checks"]:
            if check["outcome"] == "fail":
                tally.check_failures[check["id"]] += 1
                tally.last_reason[check["id"]] = check["reason"]
    return result.returncode == 0


def hogs(count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(count)]


def report(name: str, tally: Tally) -> str:
    median = statistics.median(tally.durations) if tally.durations else 0.0
    phases = ", ".join(f"{p} {statistics.median(v):.1f} s" for p, v in tally.phases.items())
    lines = [f"{name}: {tally.passed}/{tally.runs} passed, median {median:.1f} s "
             f"(max {max(tally.durations, default=0):.1f} s; {phases})"]
    for check, count in tally.check_failures.most_common():
        lines.append(f"    {check} failed {count}x, last: {tally.last_reason[check][:150]}")
    for error, count in tally.errors.most_common():
        lines.append(f"    error {count}x: {error}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("scenarios", nargs="*", type=Path,
                        help="scenario files (default: scenarios/*.yaml)")
    parser.add_argument("-n", "--times", type=int, default=20, help="runs per scenario")
    parser.add_argument("--workdir", help="work folder for the labs")
    parser.add_argument("-j", "--jobs", type=int, default=1,
                        help="rounds of `harness run -j JOBS` over every file")
    parser.add_argument("--hog", type=int, default=0, metavar="N",
                        help="keep N busy loops running beside the runs")
    args = parser.parse_args()
    scenarios = args.scenarios or sorted((REPO / "scenarios").glob("*.yaml"))
    extra = ["--workdir", args.workdir] if args.workdir else []
    results = {scenario.stem: Tally() for scenario in scenarios}
    busy = hogs(args.hog)
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="harness-soak-") as tmp:
            if args.jobs > 1:
                for i in range(args.times):
                    passed = run_round(scenarios, Path(tmp) / f"round-{i}", results, extra,
                                       args.jobs)
                    print(f"round {i + 1}/{args.times}: {'pass' if passed else 'FAIL'} "
                          f"({time.monotonic() - started:.0f} s so far)", file=sys.stderr,
                          flush=True)
            for scenario in scenarios if args.jobs <= 1 else []:
                tally = results[scenario.stem]
                for i in range(args.times):
                    passed = run_once(scenario, Path(tmp) / f"{scenario.stem}-{i}", tally, extra)
                    print(f"{scenario.stem} {i + 1}/{args.times}: "
                          f"{'pass' if passed else 'FAIL'} ({tally.durations[-1]:.1f} s)",
                          file=sys.stderr, flush=True)
    finally:
        for process in busy:
            process.kill()
            process.wait()
    print("\n".join(report(name, tally) for name, tally in results.items()))
    return 0 if all(t.passed == t.runs for t in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
