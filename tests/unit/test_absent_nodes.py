"""A check that uses a node the substrate does not provide is a skip naming why, never a
raw error (was: `error: KeyError: "no node 'upstream' in lab ..."`)."""

from __future__ import annotations

import pytest

from harness.checks.base import run_check
from harness.checks.context import CheckContext
from harness.results import Outcome
from harness.scenario import load_text
from harness.substrates.base import HostNode, Lab
from harness.substrates.ssh import SshSubstrate

SCENARIO = """
name: absent
hosts:
  host1:
    underlay: 172.31.0.11/24
    instances: {app1: {}}
checks:
  - nat: {from: host1:app1}
  - ping: {among: [host1:app1, upstream], unreachable: ["upstream->host1:app1"]}
  - ping: {from: host1, to: lan-peer}
  - ping: {from: host1, to: host1:app1}
"""


@pytest.fixture
def ctx(tmp_path):
    topology = load_text(SCENARIO)
    lab = Lab(run_id="abc123", scenario="absent", substrate="ssh", workdir=str(tmp_path),
              hosts={"host1": HostNode(name="host1", kind="host", netns="")})
    return topology, CheckContext(topology, lab, probes=None, artifacts=tmp_path,
                                  substrate=SshSubstrate(tmp_path))


def test_upstream_and_peers_missing_on_the_ssh_substrate_are_skips_with_the_reason(ctx):
    topology, context = ctx
    nat, among, peer, _own = topology.checks
    for spec, node in ((nat, "upstream"), (among, "upstream"), (peer, "lan-peer")):
        results = run_check(spec, context)
        assert {r.outcome for r in results} == {Outcome.SKIP}, results
        assert all(f"no `{node}` node" in r.reason and "ssh substrate" in r.reason
                   for r in results)


def test_checks_among_hosts_only_are_not_affected(ctx):
    topology, context = ctx
    assert context.absent_nodes({"host1", "app1", "nonsense"}) == []
    assert context.absent_nodes({"upstream"})[0].startswith("the ssh substrate")


def test_require_all_turns_the_skip_into_a_failure(ctx):
    topology, context = ctx
    results = run_check(topology.checks[0], context, require_all=True)
    assert [r.outcome for r in results] == [Outcome.FAIL]


def test_a_lab_asked_for_a_node_it_lacks_names_the_substrate_and_what_it_has(tmp_path):
    lab = Lab(run_id="abc123", scenario="absent", substrate="ssh", workdir=str(tmp_path),
              hosts={"host1": HostNode(name="host1", kind="host", netns="")})
    with pytest.raises(KeyError, match="ssh substrate has no node 'upstream'.*host1"):
        lab.node("upstream")
