"""One scenario, end to end: bring up, apply, check, tear down (always), into a result.

This is the only place that strings the layers together; the CLI and the pytest plugin
both drive it, so `harness run` and `pytest scenarios/` do exactly the same thing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness import engines
from harness.checks.base import missing_capabilities, planned_ids, run_check
from harness.checks.context import CheckContext
from harness.interrupts import deferred_interrupts
from harness.lxd.apply import apply_host, wait_for_addresses
from harness.lxd.client import connect
from harness.probes.runner import ProbeRunner
from harness.progress import ACTIVITY, progress
from harness.report.graph import topology_svg
from harness.results import CheckResult, Outcome, ScenarioResult
from harness.substrates import default_name, make_substrate
from harness.substrates.base import Lab, Substrate
from harness.topology import CheckSpec, Topology

_probe_runner: ProbeRunner | None = None


def probe_runner() -> ProbeRunner:
    """One probe fork server per process: scapy is imported once per run."""
    global _probe_runner
    if _probe_runner is None:
        _probe_runner = ProbeRunner()
    return _probe_runner


@dataclass
class Options:
    substrate: str | None = None  # overrides the scenario's `substrate:`
    engine: str | None = None  # overrides the scenario's `engine:`
    work_root: Path | None = None
    out_dir: Path = Path("reports")
    require_all: bool = False
    keep: bool = False  # leave the lab up (harness up)
    extra: dict[str, str] = field(default_factory=dict)


class ScenarioRun:
    def __init__(self, topology: Topology, options: Options):
        self.engine = engines.get(options.engine or topology.engine)
        # the substrate reads the engine from the topology: the one that runs, resolved
        self.topology = replace(topology, engine=self.engine.name)
        self.options = options
        self.substrate_name = options.substrate or topology.substrate or default_name()
        self.substrate: Substrate = make_substrate(self.substrate_name, options.work_root)
        self.result = ScenarioResult(
            name=topology.name, source=topology.source, description=topology.description,
            tags=list(topology.tags), substrate=self.substrate_name, engine=self.engine.name)
        # For the HTML report only (a plain attribute, so results.json stays small);
        # None when Graphviz is missing: drawing never fails a run.
        self.result.diagram_svg = topology_svg(self.topology)
        self.stage = "preflight"

    # ------------------------------------------------------------------ phases
    def up(self) -> Lab:
        problems = self.substrate.preflight(self.topology)
        if problems:
            raise RuntimeError("; ".join(problems))
        self.stage = "bring-up"
        started = time.monotonic()
        progress.info("%s: bringing up %d host(s) on %s with %s", self.topology.name,
                      len(self.topology.hosts), self.substrate_name, self.engine.title,
                      extra=ACTIVITY)
        probe_runner().warm_up()  # scapy's import, in the fork server, overlaps the bring-up
        lab = self.substrate.up(self.topology)
        try:
            self.result.phases["up"] = round(time.monotonic() - started, 3)
            self.result.capabilities = {h: dict(lab.capabilities) for h in lab.hosts}
            unobservable = self._unobservable(lab)
            if unobservable:
                # Applying would fail for the same missing feature (LXD's GRE tunnels without
                # gretap, ...): the checks then skip with that reason instead of failing.
                progress.info("%s: not applied, no check can run here: %s", self.topology.name,
                              "; ".join(unobservable))
                return lab
            self.stage = "apply"
            started = time.monotonic()
            progress.info("%s: applying", self.topology.name, extra=ACTIVITY)
            self._apply(lab)
            self.result.phases["apply"] = round(time.monotonic() - started, 3)
        except BaseException:
            stopped_at = self.stage
            self.down(lab)
            self.stage = stopped_at  # the report names where the run stopped, not teardown
            raise
        return lab

    def _unobservable(self, lab: Lab) -> list[str]:
        """The missing capabilities when every check of the scenario lacks one, else []."""
        ctx = CheckContext(self.topology, lab, probe_runner(), self.options.out_dir,
                           self.substrate)
        reasons: list[str] = []
        for spec in self.topology.checks:
            missing = missing_capabilities(spec, ctx)
            if not missing:
                return []
            reasons += [reason for reason in missing if reason not in reasons]
        return reasons

    def _apply(self, lab: Lab) -> None:
        hosts = list(self.topology.hosts.values())

        def one(host):
            node = lab.hosts[host.name]
            client = connect(self.engine, node.lxd_socket)
            apply_host(host, client, self.substrate.runner(node), self.engine)
            return host.name, wait_for_addresses(host, client, timeout=8)

        with ThreadPoolExecutor(max_workers=max(1, len(hosts))) as pool:
            try:
                for name, converged in pool.map(one, hosts):
                    lab.timings[f"dhcp:{name}"] = max(converged.values(), default=0.0)
            except KeyboardInterrupt:
                self.substrate.abandon(lab)  # else the pool waits for the hosts' commands
                raise

    def verify(self, lab: Lab, checks: Sequence[CheckSpec] | None = None) -> list[CheckResult]:
        """Run `checks` (default: the scenario's) against the lab."""
        self.stage = "checks"
        started = time.monotonic()
        artifacts = self.options.out_dir / "pcaps" / self.topology.name
        probes = self.substrate.probes(lab, probe_runner())
        ctx = CheckContext(self.topology, lab, probes, artifacts, self.substrate)
        results: list[CheckResult] = []
        try:
            for spec in self.topology.checks if checks is None else checks:
                progress.info("%s: check %s", self.topology.name, spec.id, extra=ACTIVITY)
                for result in run_check(spec, ctx, self.options.require_all):
                    results.append(result)
                    progress.info("%s: %s %s %s", self.topology.name, result.id,
                                  str(result.outcome).upper(), result.reason)
        finally:
            if hasattr(probes, "close"):
                probes.close()
        self.result.checks = results
        self.result.phases["checks"] = round(time.monotonic() - started, 3)
        return results

    def down(self, lab: Lab) -> list[str]:
        self.stage = "teardown"
        # Ctrl-C / SIGTERM wait until the teardown is done (then stop the run as usual).
        with deferred_interrupts() as held:
            progress.info("%s: tearing down", self.topology.name, extra=ACTIVITY)
            started = time.monotonic()
            leftovers = self.substrate.down(lab)
            self.result.phases["down"] = round(time.monotonic() - started, 3)
            if leftovers:
                self.result.error = "teardown left: " + "; ".join(leftovers)
            if held.signals and not self.result.interrupted:
                self.result.interrupted = "teardown"
        return leftovers

    # ------------------------------------------------------------------ all of it
    def run(self) -> ScenarioResult:
        lab: Lab | None = None
        try:
            lab = self.up()
            self.verify(lab)
        except KeyboardInterrupt:
            self.result.interrupted = self.stage
            self._fail_unrun(f"interrupted during {self.stage}")
            raise
        except Exception as exc:
            self.result.error = f"{self.stage} failed: {exc}"
            self._fail_unrun(self.result.error)
        finally:
            if lab is not None and self.stage != "teardown":
                self.down(lab)
        return self.result

    def _fail_unrun(self, reason: str) -> None:
        done = {c.id for c in self.result.checks}
        for spec in self.topology.checks:
            for check_id in planned_ids(spec):
                if check_id not in done:
                    self.result.checks.append(CheckResult(
                        id=check_id, type=spec.type, outcome=Outcome.FAIL, reason=reason,
                        params=dict(spec.params), expect_failure=spec.expect_failure))


# ---------------------------------------------------------------------- up / verify / down
def state_file(work_root: Path, scenario: str) -> Path:
    return work_root / "by-name" / f"{scenario}.json"


def save_state(work_root: Path, scenario: str, lab: Lab, source: str | None,
               variables: dict[str, str]) -> Path:
    path = state_file(work_root, scenario)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"lab": str(Path(lab.workdir) / "lab.json"), "source": source,
                                "variables": variables, "substrate": lab.substrate}))
    return path


def load_state(work_root: Path, scenario: str) -> tuple[Lab, dict]:
    path = state_file(work_root, scenario)
    if not path.exists():
        raise FileNotFoundError(f"scenario {scenario} is not up (no {path}); run `harness up`")
    state = json.loads(path.read_text())
    return Lab.load(Path(state["lab"])), state
