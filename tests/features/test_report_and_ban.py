"""Report ends the chat, blocks the pair for good, and enough distinct reporters ban the address."""

from __future__ import annotations

from chalicelib import sweep
from tests.support import invariants


def _pair_from(h, ip_a, ip_b):
    a, b = h.connect(ip=ip_a), h.connect(ip=ip_b)
    h.send(a, {"action": "register"})
    h.send(b, {"action": "register"})
    room = h.new(b)[-1]["room_code"]
    h.new(a)
    return a, b, room


def test_report_ends_the_chat_and_records_it_against_the_peers_address(policy_harness, redis_client, keys):
    h = policy_harness
    a, b, room = _pair_from(h, "198.51.100.1", "203.0.113.66")
    h.send(a, {"action": "report", "reason": "harassment"})
    assert h.new(a) == [{"event": "reported"}]
    assert h.new(b) == [{"event": "peer-disconnected", "room_code": room, "message": "Stranger has disconnected"}]
    state = invariants.check(redis_client, keys)
    assert state["rooms"] == {}
    assert "198.51.100.1" in redis_client.hget(keys.reports, "203.0.113.66")


def test_a_reporter_is_never_matched_with_the_reported_person_again(policy_harness, clock):
    h = policy_harness
    a, b, room = _pair_from(h, "198.51.100.1", "203.0.113.66")
    h.send(a, {"action": "report", "reason": "spam"})
    clock.advance(3600)  # long after the no-repeat period and the fallback
    b2 = h.connect(ip="203.0.113.66")  # even from a new connection
    h.send(a, {"action": "register"})
    h.send(b2, {"action": "register"})
    clock.advance(30)
    sweep.run(h.service, clock=clock, window_seconds=0)
    assert [e["event"] for e in h.new(b2)] == ["queued"]
    assert [e["event"] for e in h.new(a)][-1] == "queued"


def test_distinct_reporters_ban_an_address_which_is_then_refused_at_connect(policy_harness, clock):
    h = policy_harness
    for i in range(3):
        reporter, offender, room = _pair_from(h, f"198.51.100.{10 + i}", "203.0.113.66")
        h.send(reporter, {"action": "report", "reason": "nudity"})
        clock.advance(1)
    assert h.sender.closed[-1] == offender, "the banned address's current socket is closed"
    assert h.received(offender)[-1]["event"] == "banned", "and it was told why first"
    assert h.connect_as("QmFubmVkQ29ubg0=", ip="203.0.113.66") == {"statusCode": 403}
    assert h.connect_as("Tm90QmFubmVkMDE=", ip="203.0.113.67") == {"statusCode": 200}


def test_reports_count_distinct_reporter_addresses(policy_harness, redis_client, keys):
    h = policy_harness
    for i in range(2):
        reporter, offender, room = _pair_from(h, f"198.51.100.{40 + i}", f"203.0.113.{110 + i}")
        h.send(reporter, {"action": "report", "reason": "spam"})
    # Two reporters from one address (behind the same NAT) against the same offender count once.
    a, b, room = _pair_from(h, "198.51.100.50", "203.0.113.120")
    h.send(a, {"action": "report", "reason": "spam"})
    c, d, room = _pair_from(h, "198.51.100.50", "203.0.113.121")
    redis_client.hset(keys.reports, "203.0.113.121", redis_client.hget(keys.reports, "203.0.113.120"))
    h.send(c, {"action": "report", "reason": "spam"})
    assert list(__import__("json").loads(redis_client.hget(keys.reports, "203.0.113.121"))) == ["198.51.100.50"]


def test_reports_older_than_the_window_do_not_count(policy_harness, clock):
    h = policy_harness
    for i in range(3):
        reporter, offender, room = _pair_from(h, f"198.51.100.{20 + i}", "203.0.113.90")
        h.send(reporter, {"action": "report", "reason": "spam"})
        clock.advance(3601)
    assert h.connect_as("T2xkUmVwb3J0czA=", ip="203.0.113.90") == {"statusCode": 200}


def test_a_ban_expires(policy_harness, clock):
    h = policy_harness
    for i in range(3):
        reporter, offender, room = _pair_from(h, f"198.51.100.{30 + i}", "203.0.113.99")
        h.send(reporter, {"action": "report", "reason": "spam"})
    assert h.connect_as("QmFubmVkWWV0MDA=", ip="203.0.113.99") == {"statusCode": 403}
    clock.advance(86_401)
    assert h.connect_as("VW5iYW5uZWQwMDA=", ip="203.0.113.99") == {"statusCode": 200}


def test_report_outside_a_chat_or_with_an_unknown_reason_is_refused(policy_harness):
    h = policy_harness
    a = h.connect()
    h.send(a, {"action": "report", "reason": "spam"})
    h.send(a, {"action": "report", "reason": "boring"})
    assert [e["code"] for e in h.new(a)] == ["not_in_room", "invalid_field"]


def test_a_ban_ends_every_open_socket_of_the_address_and_tells_their_strangers(policy_harness, redis_client, keys, clock):
    h = policy_harness
    offender_ip = "203.0.113.77"
    waiting = h.connect(ip=offender_ip)  # another tab of the offender, looking for someone
    chatting, bystander, room = _pair_from(h, offender_ip, "198.51.100.90")  # and a third, mid-chat
    h.send(waiting, {"action": "register", "interests": ["knitting"]})  # nobody else shares it
    h.new(waiting)
    for i in range(3):
        reporter, offender, _ = _pair_from(h, f"198.51.100.{60 + i}", offender_ip)
        h.send(reporter, {"action": "report", "reason": "harassment"})
        clock.advance(1)
    for sock in (waiting, chatting, offender):
        assert h.received(sock)[-1]["event"] == "banned" and sock in h.sender.closed
    assert h.new(bystander) == [{"event": "peer-disconnected", "room_code": room, "message": "Stranger has disconnected"}]
    state = invariants.check(redis_client, keys)
    assert not {waiting, chatting, offender} & (set(state["conns"]) | set(state["seats"]) | set(state["queue"]))
    assert redis_client.hget(keys.ipsocks, offender_ip) is None and redis_client.hget(keys.ipconns, offender_ip) is None


def test_every_action_from_a_banned_address_is_refused_and_its_socket_closed(policy_harness, redis_client, keys, clock):
    h = policy_harness
    a = h.connect(ip="203.0.113.78")
    redis_client.zadd(keys.bans, {"203.0.113.78": clock() + 60_000})  # banned while its socket is open
    redis_client.expire(keys.bans, 60)
    h.send(a, {"action": "register"})
    [refusal] = h.new(a)
    assert refusal["event"] == "error" and refusal["code"] == "banned"
    assert h.sender.closed == [a]
    assert invariants.check(redis_client, keys)["queue"] == []
