"""`upstream: {routes: {PREFIX: HOST}}`: the upstream router's routes to prefixes behind hosts."""

from __future__ import annotations

import textwrap

import pytest

from harness.scenario import ScenarioError, load_text

SCENARIO = """
    name: t
    upstream:
      routes: {routes}
    hosts:
      host1: {underlay: 172.31.0.11/24}
"""


def load(routes: str):
    return load_text(textwrap.dedent(SCENARIO).replace("{routes}", routes))


def test_routes_reach_the_topology():
    assert load("{10.99.0.0/24: host1}").upstream_routes == {"10.99.0.0/24": "host1"}


def test_no_upstream_section_means_no_routes():
    text = "name: t\nhosts:\n  host1: {}\n"
    assert load_text(text).upstream_routes == {}


@pytest.mark.parametrize("routes, message", [
    ("{10.99.0.0/24: host9}", "unknown host 'host9'"),
    ("{172.31.0.0/25: host1}", "overlaps the underlay"),
    ("{10.99.0.1/24: host1}", "not an IPv4 network"),
])
def test_bad_routes_are_input_errors_with_their_line(routes, message):
    with pytest.raises(ScenarioError) as info:
        load(routes)
    assert message in str(info.value) and ":4 " in str(info.value)


def test_the_plan_shows_the_upstream_routes():
    from harness.lxd.plan import format_plan

    assert format_plan(load("{10.99.0.0/24: host1}")).endswith(
        "ip route add 10.99.0.0/24 via 172.31.0.11\n")
