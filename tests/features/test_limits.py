"""Rate limits per device and action family, admission limits per address, and origins."""

from __future__ import annotations

import pytest

from chalicelib.config import DEFAULT_RATES
from chalicelib.service import build
from testkit.harness import Harness, RecordingSender


@pytest.mark.parametrize(
    ("family", "body"),
    [
        ("chat", {"action": "chat", "message": "hi"}),
        ("signal", {"action": "signal", "type": "candidate", "data": None}),
        ("typing", {"action": "typing"}),
        ("seek", {"action": "next"}),
        ("misc", {"action": "ping"}),
    ],
)
def test_each_family_allows_its_burst_and_refuses_the_next_with_a_retry_hint(policy_harness, clock, family, body):
    h = policy_harness
    a, b, room = h.pair()
    if family in {"signal", "chat", "typing"}:
        body = {**body, "room_code": room}
    burst, per_second = DEFAULT_RATES[family]
    h.new(a)
    if family in {"seek", "misc"}:  # pairing used one 'seek' token (register) and one 'misc' (join)
        burst -= 1
    for _ in range(int(burst)):
        h.send(a, body)
    assert not [e for e in h.new(a) if e.get("code") == "rate_limited"], f"{family} refused within its burst"
    h.send(a, body)
    [refused] = [e for e in h.new(a) if e["event"] == "error"]
    assert refused["code"] == "rate_limited"
    assert refused["retry_after_ms"] == pytest.approx(1000 / per_second, abs=1)
    clock.advance(1 / per_second)
    h.send(a, body)
    assert not [e for e in h.new(a) if e.get("code") == "rate_limited"], "a token came back after the hint"


def test_sustained_abuse_closes_the_connection(policy_harness):
    h = policy_harness
    a, b, room = h.pair()
    for _ in range(5 + 20):
        h.send(a, {"action": "chat", "room_code": room, "message": "spam"})
    assert h.sender.closed == []
    h.send(a, {"action": "chat", "room_code": room, "message": "spam"})
    assert h.sender.closed == [a]


def tight(policy_settings, clock, **limits: int) -> Harness:
    """Production policies with the per-address limits set low, to find their edges quickly."""
    sender = RecordingSender()
    config = policy_settings.model_copy(update=limits)
    return Harness(build(config, sender=sender, clock=clock), sender.received, clock)


def test_limits_on_one_address_do_not_affect_others(policy_settings, redis_client, clock):
    h = tight(policy_settings, clock, max_connections_per_ip=10)
    results = [h.connect_as(f"UmF0ZUxpbWl0{i:04d}", ip="192.0.2.50")["statusCode"] for i in range(12)]
    assert results == [200] * 10 + [429] * 2
    assert h.connect_as("UmF0ZUxpbWl0OTk5", ip="192.0.2.51") == {"statusCode": 200}


def test_connections_per_minute_edge(policy_settings, redis_client, clock):
    h = tight(policy_settings, clock, connections_per_ip_per_minute=30)
    statuses = [h.connect_as(f"UGVyTWludXRl{i:04d}", ip="192.0.2.60")["statusCode"] for i in range(31)]
    assert statuses == [200] * 30 + [429]
    clock.advance(60)
    assert h.connect_as("UGVyTWludXRlOTk5", ip="192.0.2.60") == {"statusCode": 200}


def test_concurrent_connections_per_address_edge(policy_settings, redis_client, clock):
    h = tight(policy_settings, clock, max_connections_per_ip=10)
    cids = [f"Q29uY3VycmVudA{i:02d}" for i in range(11)]
    statuses = [h.connect_as(cid, ip="192.0.2.70")["statusCode"] for cid in cids]
    assert statuses == [200] * 10 + [429]
    h.disconnect(cids[0])
    assert h.connect_as("Q29uY3VycmVudDk5", ip="192.0.2.70") == {"statusCode": 200}


def test_the_default_address_limits_let_a_carrier_nat_full_of_people_through(policy_harness):
    h = policy_harness
    statuses = [h.connect_as(f"Q2Fycmllck5BVA{i:04d}", ip="100.64.0.1")["statusCode"] for i in range(600)]
    assert statuses == [200] * 600, "600 people behind one carrier address in one minute"


def test_an_origin_outside_the_allowlist_is_refused(policy_settings, redis_client, clock):
    sender = RecordingSender()
    config = policy_settings.model_copy(update={"allowed_origins": ["https://chat.example.org"]})
    h = Harness(build(config, sender=sender, clock=clock), sender.received, clock)
    assert h.connect_as("T3JpZ2luT2sxMjM=", headers={"Origin": "https://chat.example.org"}) == {"statusCode": 200}
    assert h.connect_as("T3JpZ2luQmFkMTI=", headers={"Origin": "https://evil.example"}) == {"statusCode": 403}
    assert h.connect_as("T3JpZ2luTm9uZTE=", headers={"Origin": ""}) == {"statusCode": 403}
