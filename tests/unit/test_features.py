"""Capability names: one list, which the substrates' probes and the schema both use."""

from __future__ import annotations

import textwrap

import pytest

from harness.features import FEATURES
from harness.scenario import ScenarioError, load_text
from harness.substrates import capabilities


def test_every_probed_capability_is_a_known_name():
    probed = set(capabilities._FEATURES) | {"openvswitch", "kvm"}
    assert probed <= set(FEATURES), probed - set(FEATURES)


@pytest.mark.parametrize("written, hint", [
    ("kernel:gretap", "gretap"), ("kernel:gre", "gretap"), ("ovs", "openvswitch"),
    ("vxlan-external", "vxlan_external"),
])
def test_a_misspelt_capability_is_an_input_error_with_a_hint(written, hint):
    text = textwrap.dedent(f"""\
        name: t
        hosts: {{host1: {{instances: {{app1: {{}}}}}}}}
        checks:
          - ping: {{from: host1:app1, to: upstream, requires: [{written}]}}
        """)
    with pytest.raises(ScenarioError) as info:
        load_text(text, "t.yaml")
    (problem,) = info.value.problems
    assert problem.line == 4
    assert f"unknown capability {written!r} (did you mean {hint!r}?)" in problem.message
