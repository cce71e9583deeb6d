"""Names carry the run id, so two runs (and xdist workers) never collide."""

import ipaddress

from harness.lxd.preseed import default_bridge_address
from harness.substrates.runs import netns_name, new_run_id
from harness.topology import Endpoint, Host, upstream_address_for


def test_run_ids_differ_and_are_short():
    ids = {new_run_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(len(i) == 6 for i in ids)


def test_namespace_names_carry_run_id_and_node():
    assert netns_name("ab12cd", "host1") == "hl-ab12cd-host1"


def test_upstream_router_is_last_usable_address():
    assert str(upstream_address_for(ipaddress.IPv4Interface("172.31.0.11/24"))) == "172.31.0.254"


def test_default_bridge_per_host():
    host = Host("h", 3, ipaddress.IPv4Interface("172.31.0.13/24"))
    assert default_bridge_address(host) == "10.218.3.1/24"


def test_endpoint_parsing():
    assert Endpoint.parse("host1:app1") == Endpoint("host1", "app1")
    assert str(Endpoint.parse("upstream")) == "upstream"
