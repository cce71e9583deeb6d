"""`start_refused`: LXD's answer to a start, judged; the instance may come from `lxc init`."""

from __future__ import annotations

import textwrap

import pytest

from harness.checks.base import Inconclusive
from harness.checks.start_refused.check import judge
from harness.scenario import ScenarioError, load_text

REFUSAL = 'Failed to start device "eth0": IP address "172.31.0.60" in use on parent network'


def test_the_stated_refusal_is_present():
    assert judge("host1:app2", "in use on parent network", REFUSAL, "Stopped").present


def test_a_start_is_absent_with_a_stimulus():
    seen = judge("host1:app2", "in use on parent network", None, "Running")
    assert not seen.present and "LXD started host1:app2" in seen.summary and seen.stimulus


def test_another_refusal_is_inconclusive():
    with pytest.raises(Inconclusive, match="not because"):
        judge("host1:app2", "in use on parent network", "Missing storage pool", "Stopped")


SCENARIO = """
    name: t
    hosts:
      host1:
        commands: [{commands}]
    checks:
      - start_refused: {instance: host1:app2, reason: in use}
"""


def test_an_instance_made_by_lxc_init_may_be_named():
    text = SCENARIO.replace("{commands}", "lxc init busybox app2 --storage default")
    assert load_text(textwrap.dedent(text)).checks[0].params["instance"] == "host1:app2"


def test_an_instance_nobody_makes_is_an_input_error():
    text = SCENARIO.replace("{commands}", "lxc init busybox app3")
    with pytest.raises(ScenarioError, match="host1 has no instance 'app2'"):
        load_text(textwrap.dedent(text))
