"""`flow`: its parameters, and its verdict from recorded sender and listener reports."""

from __future__ import annotations

import textwrap

import pytest

from harness.checks.flow.check import judge, refusal_of
from harness.scenario import ScenarioError, load_text

SCENARIO = """
    name: t
    hosts:
      host1: {instances: {app1: {}}}
    checks:
      - {check}
"""


def load_check(check: str):
    return load_text(textwrap.dedent(SCENARIO).replace("{check}", check)).checks[0]


def test_an_address_is_a_target_and_the_listener_defaults_to_none():
    params = load_check("flow: {from: upstream, to: 172.31.0.11, proto: tcp, port: 80, "
                        "listener: host1:app1, listener_port: 8080}").params
    assert params["to"] == "172.31.0.11" and params["listener_port"] == 8080


@pytest.mark.parametrize("check, message", [
    ("flow: {from: upstream, to: host1:app1, proto: icmp, port: 1}", "icmp has no ports"),
    ("flow: {from: upstream, to: host1:app1, proto: tcp}", "tcp needs a port"),
    ("flow: {from: upstream, to: host1:app1, proto: sctp, port: 1}", "'tcp', 'udp' or 'icmp'"),
    ("flow: {from: upstream, to: 10.0.0.1, proto: udp, port: 1, listener_port: 2}",
     "listener_port needs a listener"),
    ("flow: {from: upstream, to: host1:app9, proto: udp, port: 1}", "no instance 'app9'"),
])
def test_bad_flow_parameters_are_refused(check, message):
    with pytest.raises(ScenarioError) as info:
        load_check(check)
    assert message in str(info.value)


def sender(**changes) -> dict:
    base = {"proto": "tcp", "dst": "198.51.100.1", "port": 80, "iface": "eth0",
            "src": "10.13.37.10", "sport": 40000, "sent": 1, "outcome": "silence",
            "errno": None, "handshake": False, "answer": None, "answer_from": None,
            "rst_from": None, "icmp_errors": [], "seen_leaving": 2, "seconds": 2.0}
    return {**base, **changes}


def listener(syns: int = 0, **changes) -> dict:
    base = {"proto": "tcp", "port": 80, "bound": True, "bind_error": None,
            "arrivals": [{"src": "172.31.0.11", "dst": "198.51.100.1", "sport": 40000,
                          "dport": 80, "kind": "SYN"}] * syns,
            "accepted": [], "answered": [], "addresses": ["198.51.100.1"]}
    return {**base, **changes}


def observe(sent: dict, heard: dict | None):
    return judge("host1:app1", "upstream", "TCP handshake to 198.51.100.1:80", sent, heard,
                 "upstream" if heard is not None else None, 80,
                 names={"10.13.37.1": "host1 lxdbr1337"})


def test_a_completed_handshake_that_arrived_is_present():
    seen = observe(sender(outcome="answered", handshake=True, answer_from="198.51.100.1"),
                   listener(syns=1))
    assert seen.present and "handshake completed" in seen.summary


def test_a_handshake_with_someone_else_is_not_the_flow_arriving():
    seen = observe(sender(outcome="answered", handshake=True, answer_from="198.51.100.1"),
                   listener(syns=0))
    assert not seen.present and "never arrived at upstream" in seen.summary
    assert seen.stimulus


def test_reject_and_drop_are_told_apart():
    icmp = {"from": "10.13.37.1", "type": 3, "code": 3,
            "meaning": "destination unreachable (port unreachable)"}
    rejected = observe(sender(outcome="icmp-error", icmp_errors=[icmp]), listener())
    assert "rejected with ICMP destination unreachable (port unreachable) from 10.13.37.1 " \
           "(host1 lxdbr1337)" in rejected.summary
    reset = observe(sender(outcome="reset", rst_from="198.51.100.1"), listener())
    assert "rejected with a TCP RST from 198.51.100.1" in reset.summary
    dropped = observe(sender(), listener())
    assert "dropped: no answer, no RST, no ICMP error" in dropped.summary
    assert all(not s.present and s.stimulus for s in (rejected, reset, dropped))


def test_nothing_seen_leaving_proves_nothing():
    seen = observe(sender(seen_leaving=0, outcome="local-error", errno="ENETUNREACH: no route",
                          sent=0), listener())
    assert not seen.present and seen.stimulus is None


def test_the_senders_own_firewall_is_a_refusal_with_a_stimulus():
    seen = observe(sender(proto="udp", seen_leaving=0, outcome="local-error",
                          errno="EPERM: Operation not permitted"), listener(proto="udp"))
    assert "refused by the sender's own kernel" in seen.summary and seen.stimulus


def test_udp_is_present_when_the_token_arrived_even_unanswered():
    arrival = {"src": "172.31.0.11", "dst": "198.51.100.1", "sport": 1, "dport": 53,
               "kind": "datagram", "token": True}
    seen = observe(sender(proto="udp"), listener(proto="udp", bound=False,
                                                 bind_error="EADDRINUSE", arrivals=[arrival]))
    assert seen.present


def test_an_echo_reply_from_elsewhere_is_not_the_target_answering():
    sent = sender(proto="icmp", outcome="answered", answer_from="10.0.0.9")
    seen = judge("upstream", "10.99.0.200", "ICMP echo to 198.51.100.1", sent, None, None, 0)
    assert not seen.present


def test_refusal_wording_for_an_answer():
    assert refusal_of(sender(outcome="answered", answer_from="1.2.3.4"), {}) == \
        "answer from 1.2.3.4"
