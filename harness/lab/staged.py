"""Running a staged file: each stage's solution applied in order, each stage's checks after it.

`harness run` on a training lab proves the course works: stage by stage, as a learner who
types every solution would see it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pylxd

from harness import engines
from harness.checks.base import missing_capabilities, planned_ids
from harness.checks.context import CheckContext
from harness.lxd.apply import wait_for_addresses
from harness.lxd.client import connect
from harness.progress import progress
from harness.results import CheckResult, Outcome
from harness.session import ScenarioRun, probe_runner
from harness.shell import CommandError
from harness.substrates.base import Lab, Substrate
from harness.topology import CheckSpec, Host, Stage, Topology


class SolutionError(RuntimeError):
    """A line of a stage's solution failed; the message names host, line and output."""


def stage_skip_reasons(substrate: Substrate, topology: Topology, lab: Lab,
                       stage: Stage) -> list[str]:
    """The missing capabilities when every check of `stage` lacks one (then it is skipped)."""
    ctx = CheckContext(topology, lab, probe_runner(), Path("."), substrate)
    reasons: list[str] = []
    for spec in stage.checks:
        missing = missing_capabilities(spec, ctx)
        if not missing:
            return []
        reasons += [reason for reason in missing if reason not in reasons]
    return reasons


def apply_solution(substrate: Substrate, lab: Lab, topology: Topology, stage: Stage) -> None:
    """Run the stage's solution lines host by host (`lxc`/`incus` lines with the lab's
    engine's client), then wait for the instances' leases."""
    engine = engines.get(lab.engine)
    for host_name, lines in stage.solution.items():
        runner = substrate.runner(lab.hosts[host_name])
        client = connect(engine, lab.hosts[host_name].lxd_socket)
        for argv in lines:
            try:
                runner(engines.translate(engine, argv))
            except CommandError as exc:
                raise SolutionError(f"{host_name}: `{' '.join(argv)}` failed "
                                    f"(exit {exc.returncode}): {exc.output}") from exc
            if engines.is_client_line(argv):
                keep_macs(client, topology.hosts[host_name], set(argv[1:]))
    for host_name in stage.solution:
        client = connect(engine, lab.hosts[host_name].lxd_socket)
        wait_for_addresses(topology.hosts[host_name], client, timeout=8)


def keep_macs(client: pylxd.Client, host: Host, named: set[str]) -> None:
    """Put back the fixed MACs a line made LXD forget: removing a NIC drops its
    `volatile.NIC.hwaddr`, and LXD makes up a random one for the NIC that takes its place.
    The instance uses the MAC again from its next restart (which such stages do)."""
    for name in named & set(host.instances):
        pinned = {key: value for key, value in host.instances[name].config.items()
                  if key.startswith("volatile.") and key.endswith(".hwaddr")}
        if not pinned:
            continue
        instance = client.instances.get(name)
        drifted = {k: v for k, v in pinned.items() if instance.config.get(k) != v}
        if drifted:
            instance.config.update(drifted)
            instance.save(wait=True)


def all_checks(topology: Topology) -> list[CheckSpec]:
    """Every stage's checks in order, then the file's own `checks:` (graded at the end)."""
    return [spec for stage in topology.stages for spec in stage.checks] + list(topology.checks)


class StagedRun(ScenarioRun):
    """A ScenarioRun that works through the stages of a training lab."""

    def verify(self, lab: Lab, checks: Sequence[CheckSpec] | None = None) -> list[CheckResult]:
        if checks is not None:
            return super().verify(lab, checks)
        results: list[CheckResult] = []
        spent = 0.0
        for stage in self.topology.stages:
            results += self.run_stage(lab, stage)
            spent += self.result.phases.get("checks", 0.0)
            self.result.checks = list(results)
        if self.topology.checks:
            results += super().verify(lab, self.topology.checks)
            spent += self.result.phases.get("checks", 0.0)
        self.result.checks = results
        self.result.phases["checks"] = round(spent, 3)
        return results

    def run_stage(self, lab: Lab, stage: Stage) -> list[CheckResult]:
        skipped = stage_skip_reasons(self.substrate, self.topology, lab, stage)
        if skipped:
            progress.info("%s: stage %s skipped: %s", self.topology.name, stage.name,
                          "; ".join(skipped))
        else:
            self.stage = f"stage {stage.name}"
            progress.info("%s: stage %s: applying its solution", self.topology.name, stage.name)
            try:
                apply_solution(self.substrate, lab, self.topology, stage)
            except SolutionError as exc:
                self.result.phases["checks"] = 0.0
                return failed(stage.checks, f"the solution of stage {stage.name} failed: {exc}")
        return super().verify(lab, stage.checks)

    def _fail_unrun(self, reason: str) -> None:
        done = {c.id for c in self.result.checks}
        self.result.checks += [r for r in failed(all_checks(self.topology), reason)
                               if r.id not in done]


def failed(specs: Sequence[CheckSpec], reason: str) -> list[CheckResult]:
    return [CheckResult(id=check_id, type=spec.type, outcome=Outcome.FAIL, reason=reason,
                        params=dict(spec.params), expect_failure=spec.expect_failure)
            for spec in specs for check_id in planned_ids(spec)]


def scenario_run_for(topology: Topology, options) -> ScenarioRun:
    """The run `harness run` needs for this file: staged or plain."""
    return StagedRun(topology, options) if topology.stages else ScenarioRun(topology, options)
