"""`harness run -j N`: scenarios side by side, each in a `harness run` child process of its own.

Separate processes, not threads: each child owns its labs, its probe fork server and its
signal handling, so Ctrl-C or SIGTERM reaches every child and each tears its own lab down.
The parent only forwards signals and merges the children's JSON results, and keeps the VMs
the children leave idle (vagrant substrate) for the next child, destroying them at its end.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from harness.report.graph import topology_svg
from harness.results import CheckResult, Outcome, RunResult, ScenarioResult
from harness.substrates import procs
from harness.substrates.runs import VM_OWNER_ENV, WORK_ROOT
from harness.topology import Topology


def child_argv(topology: Topology, json_path: Path, forwarded: list[str]) -> list[str]:
    return [sys.executable, "-m", "harness.cli", "run", str(topology.source), "--json-only",
            "--json", str(json_path), *forwarded]


def run_side_by_side(topologies: list[Topology], jobs: int, forwarded: list[str],
                     work_root: Path = WORK_ROOT) -> tuple[list[ScenarioResult], bool]:
    """Run every scenario in a child, at most `jobs` at once; return results and interrupted."""
    # the VMs a child leaves idle are this process's, for the next child, until it ends
    me = f"{os.getpid()} {procs.start_time(os.getpid()) or 0}"
    env = {**os.environ, "HARNESS_PROGRESS": "plain", VM_OWNER_ENV: me}
    try:
        return _run_children(topologies, jobs, forwarded, env)
    finally:
        if (work_root / "vm-pool").is_dir():  # imported only then: it brings SSH and more
            from harness.substrates.vagrant.pool import pool_for, shutdown_all

            pool_for(work_root)
            for problem in shutdown_all():
                print(f"harness: {problem}", file=sys.stderr)


def _run_children(topologies: list[Topology], jobs: int, forwarded: list[str],
                  env: dict[str, str]) -> tuple[list[ScenarioResult], bool]:
    pending = list(topologies)
    running: dict[str, tuple[subprocess.Popen, Path, Topology]] = {}
    results: dict[str, ScenarioResult] = {}
    interrupted = False
    with tempfile.TemporaryDirectory(prefix="harness-jobs-") as scratch:
        try:
            while pending or running:
                while pending and len(running) < jobs:
                    topology = pending.pop(0)
                    json_path = Path(scratch) / f"{topology.name}.json"
                    process = subprocess.Popen(child_argv(topology, json_path, forwarded),
                                               env=env, stdout=subprocess.DEVNULL)
                    running[topology.name] = (process, json_path, topology)
                for name, (process, json_path, topology) in list(running.items()):
                    if process.poll() is not None:
                        results[name] = _collect(json_path, topology, process.returncode)
                        del running[name]
                time.sleep(0.1)
        except KeyboardInterrupt:
            interrupted = True
            for process, _, _ in running.values():
                process.send_signal(signal.SIGTERM)  # each child tears its own lab down
            for name, (process, json_path, topology) in running.items():
                process.wait()
                results[name] = _collect(json_path, topology, process.returncode)
    ordered = [results[t.name] for t in topologies if t.name in results]
    return ordered, interrupted


def _collect(json_path: Path, topology: Topology, returncode: int) -> ScenarioResult:
    if json_path.exists():
        scenarios = RunResult.from_json(json_path).scenarios
        if scenarios:
            # the JSON leaves it out; drawn for the engine that ran (the labels name it)
            ran = replace(topology, engine=scenarios[0].engine)
            scenarios[0].diagram_svg = topology_svg(ran)
            return scenarios[0]
    result = ScenarioResult(name=topology.name, source=topology.source,
                            error=f"the harness process for this scenario exited with "
                                  f"{returncode} and wrote no result")
    result.checks = [CheckResult(id=spec.id, type=spec.type, outcome=Outcome.FAIL,
                                 reason=result.error) for spec in topology.checks]
    return result
