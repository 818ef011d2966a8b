"""Report ends the chat and blocks the two devices for good; enough distinct reporters ban the
reported device; an address is banned only once several devices behind it were."""

from __future__ import annotations

import json

from chalicelib import sweep
from testkit.harness import Harness
from tests.support import invariants
from tests.support.devices import Person

GONE = {"event": "peer-disconnected", "message": "Stranger has disconnected"}


def meet(h: Harness, a: Person, b: Person) -> tuple[str, str, str]:
    """Both open a socket and look for someone (a waits, b arrives); returns their sockets and room."""
    sa, sb = a.connect(), b.connect()
    h.send(sa, {"action": "register"})
    h.send(sb, {"action": "register"})
    matched = [e for e in h.new(sb) if e["event"] == "matched"]
    assert matched, f"{a.label} and {b.label} were not paired"
    h.new(sa)
    return sa, sb, matched[-1]["room_code"]


def ban_by_reports(h: Harness, clock, offender: Person, reporters: list[Person]) -> str:
    """Each reporter meets the offender and reports them; returns the offender's last socket."""
    sock = ""
    for reporter in reporters:
        mine, sock, _ = meet(h, reporter, offender)
        h.send(mine, {"action": "report", "reason": "spam"})
        clock.advance(1)
    return sock


def test_a_report_ends_the_chat_and_is_recorded_against_the_peers_device(device_harness, redis_client, keys):
    h = device_harness
    ana, bo = h.person("ana", "198.51.100.1"), h.person("bo", "203.0.113.66")
    a, b, room = meet(h, ana, bo)
    h.send(a, {"action": "report", "reason": "harassment"})
    assert h.new(a) == [{"event": "reported"}]
    assert h.new(b) == [{**GONE, "room_code": room}]
    assert invariants.check(redis_client, keys)["rooms"] == {}
    assert list(json.loads(redis_client.hget(keys.reports, bo.device))) == [ana.device]
    assert redis_client.hget(keys.reports, "203.0.113.66") is None, "nothing is recorded against the address"


def test_a_reporter_never_meets_the_reported_device_again_but_meets_its_neighbour(device_harness, clock):
    h = device_harness
    ana, bo = h.person("ana", "198.51.100.1"), h.person("bo", "203.0.113.66")
    neighbour = h.person("bo's flatmate", "203.0.113.66")  # the same address, another person
    a, _, _ = meet(h, ana, bo)
    h.send(a, {"action": "report", "reason": "spam"})
    clock.advance(3600)  # long after the no-repeat period and the fallback
    again = bo.connect()  # a new socket: a reload, or Stop and Start
    h.send(a, {"action": "register"})
    h.send(again, {"action": "register"})
    clock.advance(30)
    sweep.run(h.service, clock=clock, window_seconds=0)
    assert [e["event"] for e in h.new(again)] == ["queued"]
    flatmate = neighbour.connect()
    h.send(flatmate, {"action": "register"})
    assert [e["event"] for e in h.new(flatmate)] == ["matched"], "a report blocks a device, not an address"


def test_distinct_reporters_ban_the_device_which_is_then_refused_at_connect(device_harness, clock, redis_client, keys):
    h = device_harness
    offender = h.person("offender", "203.0.113.66")
    reporters = [h.person(f"reporter {i}", f"198.51.100.{10 + i}") for i in range(3)]
    last = ban_by_reports(h, clock, offender, reporters)
    assert h.sender.closed[-1] == last, "the banned device's socket is closed"
    assert h.received(last)[-1]["event"] == "banned", "and it was told why first"
    assert offender.connect_status() == 403
    assert h.person("neighbour", "203.0.113.66").connect_status() == 200, "its address is not banned"
    assert redis_client.zscore(keys.bans, f"d:{offender.device}") is not None
    assert redis_client.zscore(keys.bans, "a:203.0.113.66") is None


def test_reports_count_distinct_reporting_devices(device_harness, clock, redis_client, keys):
    h = device_harness
    offender, reporter = h.person("offender", "203.0.113.120"), h.person("reporter", "198.51.100.50")
    for _ in range(3):  # the same person reporting three times, from new sockets
        mine, _, _ = meet(h, reporter, offender)
        h.send(mine, {"action": "report", "reason": "spam"})
        clock.advance(400)  # past the no-repeat period; the report block still keeps them apart
        redis_client.delete(keys.blocked)
    assert list(json.loads(redis_client.hget(keys.reports, offender.device))) == [reporter.device]
    assert offender.connect_status() == 200


def test_reports_older_than_the_window_do_not_count_and_are_deleted(device_harness, clock, redis_client, keys):
    h = device_harness
    offender = h.person("offender", "203.0.113.90")
    for i in range(3):
        ban_by_reports(h, clock, offender, [h.person(f"reporter {i}", f"198.51.100.{20 + i}")])
        clock.advance(3601)
    assert offender.connect_status() == 200
    sweep.run(h.service, clock=clock, window_seconds=0)
    assert redis_client.hlen(keys.reports) == 0, "reports past their window are kept"
    assert not [m for m in redis_client.zrange(keys.trim, 0, -1) if m.startswith("r:")]


def test_a_ban_expires(device_harness, clock):
    h = device_harness
    offender = h.person("offender", "203.0.113.99")
    ban_by_reports(h, clock, offender, [h.person(f"reporter {i}", f"198.51.100.{30 + i}") for i in range(3)])
    assert offender.connect_status() == 403
    clock.advance(86_401)
    assert offender.connect_status() == 200


def test_an_address_is_banned_only_once_several_devices_behind_it_were(device_harness, clock, redis_client, keys):
    h = device_harness
    campus = "203.0.113.50"
    reporters = [h.person(f"reporter {i}", f"198.51.100.{70 + i}") for i in range(3)]
    bystander = h.person("bystander", campus)
    for n in range(1, 4):
        ban_by_reports(h, clock, h.person(f"offender {n}", campus), reporters)
        redis_client.delete(keys.blocked)
        clock.advance(400)  # past the no-repeat period, so the reporters may meet the next one
        if n < 3:
            assert bystander.connect_status() == 200, f"{n} banned devices banned their whole address"
    assert bystander.connect_status() == 403
    assert json.loads(redis_client.hget(keys.strikes, campus)).keys() == {
        h.device_of(f"offender {n}") for n in range(1, 4)}


def test_a_ban_ends_every_open_socket_of_the_device_and_tells_their_strangers(device_harness, redis_client, keys, clock):
    h = device_harness
    offender = h.person("offender", "203.0.113.77")
    stranger = h.person("stranger", "198.51.100.90")
    waiting = offender.connect()  # another tab of the offender, looking for someone
    chatting, talking_to, room = meet(h, offender, stranger)  # and a third, mid-chat
    h.send(waiting, {"action": "register", "interests": ["knitting"]})  # nobody else shares it
    h.new(waiting)
    last = ban_by_reports(h, clock, offender, [h.person(f"reporter {i}", f"198.51.100.{60 + i}") for i in range(3)])
    for sock in (waiting, chatting, last):
        assert h.received(sock)[-1]["event"] == "banned" and sock in h.sender.closed
    assert h.new(talking_to) == [{**GONE, "room_code": room}]
    state = invariants.check(redis_client, keys)
    assert not {waiting, chatting, last} & (set(state["conns"]) | set(state["seats"]) | set(state["queue"]))
    assert redis_client.zrangebylex(keys.devsockets, f"[{offender.device}\0", f"({offender.device}\1") == []
    assert redis_client.hget(keys.devconns, offender.device) is None


def test_every_action_from_a_banned_device_is_refused_and_its_socket_closed(device_harness, redis_client, keys, clock):
    h = device_harness
    person = h.person("soon banned", "203.0.113.78")
    a = person.connect()
    redis_client.zadd(keys.bans, {f"d:{person.device}": clock() + 60_000})  # banned while its socket is open
    redis_client.expire(keys.bans, 60)
    h.send(a, {"action": "register"})
    [refusal] = h.new(a)
    assert refusal["event"] == "error" and refusal["code"] == "banned"
    assert h.sender.closed == [a]
    assert invariants.check(redis_client, keys)["queue"] == []


def test_report_outside_a_chat_or_with_an_unknown_reason_is_refused(policy_harness):
    h = policy_harness
    a = h.connect()
    h.send(a, {"action": "report", "reason": "spam"})
    h.send(a, {"action": "report", "reason": "boring"})
    assert [e["code"] for e in h.new(a)] == ["not_in_room", "invalid_field"]
