"""Real faults under the real handlers: Valkey paused (SIGSTOP), killed and restarted, replies
lost on the wire, a stranger vanishing between a match and its announcement.

Each test asserts what every client received and what Redis holds afterwards. The rule they
prove: an action either never takes effect, or everyone it touches is told.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

import pytest
import redis

from chalicelib import sweep
from chalicelib.config import load_settings
from chalicelib.keys import Keys
from chalicelib.service import build
from chalicelib.store import Unavailable
from localdev.redis_server import RedisServer
from testkit.harness import FakeClock, Harness, RecordingSender
from testkit.policies import RELAXED
from tests.support import invariants
from tests.support.faults import paused
from tests.support.latency_proxy import LatencyProxy

TIMEOUT = 0.5  # seconds; the fence is half of it
UNAVAILABLE = "unavailable"


def harness_on(url: str, clock: FakeClock | None = None, **policy: str) -> Harness:
    sender = RecordingSender()
    clock = clock or FakeClock()
    config = load_settings({
        "REDIS_URL": url, "REDIS_TIMEOUT_SECONDS": str(TIMEOUT), "METRICS_ENABLED": "false", **RELAXED, **policy,
    })
    h = Harness(build(config, sender=sender, clock=clock), sender.received, clock)
    h.sender = sender  # type: ignore[attr-defined]
    return h


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [e["code"] if e["event"] == "error" else e["event"] for e in events]


@pytest.fixture
def valkey():
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
def admin(valkey):
    client = redis.Redis.from_url(valkey.url, decode_responses=True)
    yield client
    client.close()


def in_background(target: Any, *args: Any) -> threading.Thread:
    worker = threading.Thread(target=target, args=args)
    worker.start()
    return worker


def test_a_register_sent_while_redis_is_paused_never_seats_anyone_it_did_not_tell(valkey, admin):
    h = harness_on(valkey.url)
    waiter, newcomer = h.connect(), h.connect()
    h.send(waiter, {"action": "register"})
    with paused(valkey):
        worker = in_background(h.send, newcomer, {"action": "register"})
        time.sleep(3 * TIMEOUT)  # the handler gives up; its command waits inside the paused server
    worker.join()
    time.sleep(0.2)  # the server has woken and run what it was sent
    assert kinds(h.new(waiter)) == ["queued"]
    assert kinds(h.new(newcomer)) == [UNAVAILABLE]
    state = invariants.check(admin, Keys())
    assert state["queue"] == [waiter] and state["seats"] == {}, "the late register ran after all"

    h.send(newcomer, {"action": "register"})  # the page retries, and it works
    assert kinds(h.new(waiter)) == ["matched"] and kinds(h.new(newcomer)) == ["matched"]


def test_a_next_sent_while_redis_is_paused_leaves_the_room_as_both_strangers_believe(valkey, admin):
    h = harness_on(valkey.url)
    a, b, room = h.pair()
    with paused(valkey):
        worker = in_background(h.send, a, {"action": "next"})
        time.sleep(3 * TIMEOUT)
    worker.join()
    time.sleep(0.2)
    assert kinds(h.new(a)) == [UNAVAILABLE] and h.new(b) == []
    state = invariants.check(admin, Keys())
    assert state["seats"][a]["room"] == room and state["seats"][b]["room"] == room


def test_sockets_refused_while_redis_is_paused_are_never_recorded_later(valkey, admin):
    h = harness_on(valkey.url, MAX_CONNECTIONS_PER_IP="10", CONNECTIONS_PER_IP_PER_MINUTE="100")
    refused: list[dict[str, Any]] = []
    with paused(valkey):
        workers = [in_background(lambda cid: refused.append(h.connect_as(cid)), f"Z2hvc3Q{i:08d}=") for i in range(8)]
        time.sleep(3 * TIMEOUT)
    for worker in workers:
        worker.join()
    time.sleep(0.2)
    assert refused == [{"statusCode": 503}] * 8
    assert invariants.check(admin, Keys())["conns"] == {}
    assert admin.hgetall(Keys().ipconns) == {} and admin.zrange(Keys().ipsockets, 0, -1) == []
    admitted = [h.connect_as(f"bmV3Y29tZXI{i:05d}=") for i in range(10)]
    assert admitted == [{"statusCode": 200}] * 10, "ghosts of refused sockets counted against the address"


def test_a_reply_lost_on_the_wire_is_replayed_by_the_retry_instead_of_acting_twice(valkey, admin):
    with LatencyProxy(valkey.port) as proxy:
        h = harness_on(f"redis://127.0.0.1:{proxy.port}/0")
        waiter, newcomer = h.connect(), h.connect()
        h.send(waiter, {"action": "register"})
        h.send(newcomer, {"action": "ping"})  # the pooled connection is open now
        proxy.drop_replies_on_open_connections()
        h.send(newcomer, {"action": "register"})
        assert proxy.swallowed >= 1, "no reply was lost: the test proved nothing"
    assert kinds(h.new(waiter)) == ["queued", "matched"]
    assert kinds(h.new(newcomer)) == ["pong", "matched"]
    state = invariants.check(admin, Keys())
    assert set(state["seats"]) == {waiter, newcomer} and len(state["rooms"]) == 1


def test_a_match_whose_every_reply_was_lost_is_ended_by_the_sweep_and_both_strangers_are_paired_again(valkey, admin):
    clock = FakeClock()
    with LatencyProxy(valkey.port) as proxy:
        h = harness_on(f"redis://127.0.0.1:{proxy.port}/0", clock, ANNOUNCE_SECONDS="8")
        waiter, newcomer = h.connect(), h.connect()
        h.send(waiter, {"action": "register"})
        h.send(newcomer, {"action": "ping"})
        proxy.drop_all = True  # the first reply and the retry's are both lost
        h.send(newcomer, {"action": "register"})
        proxy.drop_all = False
        assert kinds(h.new(newcomer)) == ["pong", UNAVAILABLE]
        assert kinds(h.new(waiter)) == ["queued"]
        seated = invariants.check(admin, Keys())["seats"]
        assert set(seated) == {waiter, newcomer}, "the register ran, though nobody heard of it"

        clock.advance(9)
        h.send(waiter, {"action": "ping"})
        h.send(newcomer, {"action": "ping"})
        sweep.run(h.service, clock=clock, window_seconds=0)
    assert kinds(h.new(waiter)) == ["pong", "matched"]
    assert kinds(h.new(newcomer)) == ["pong", "matched"]
    state = invariants.check(admin, Keys())
    assert set(state["seats"]) == {waiter, newcomer} and state["seats"][waiter]["room"] not in seated[waiter]["room"]


@pytest.mark.parametrize("action", ["next", "leave", "report"])
def test_a_room_ended_by_an_action_whose_every_reply_was_lost_is_still_told_to_the_other_stranger(valkey, admin, action):
    clock = FakeClock()
    with LatencyProxy(valkey.port) as proxy:
        h = harness_on(f"redis://127.0.0.1:{proxy.port}/0", clock, END_NOTICE_SECONDS="3")
        a, b, room = h.pair()
        h.service.store.load_scripts()  # else the lost reply is a NOSCRIPT, and nothing ran at all
        proxy.drop_all = True  # the first reply and the retry's are both lost
        h.send(a, {"action": action, **({"reason": "spam"} if action == "report" else {})})
        proxy.drop_all = False
        assert kinds(h.new(a)) == [UNAVAILABLE] and h.new(b) == []
        assert invariants.check(admin, Keys())["rooms"] == {}, f"the {action} ran, though nobody heard of it"
        assert admin.zrange(Keys().ended, 0, -1) == [b]

        clock.advance(2)
        sweep.run(h.service, clock=clock, window_seconds=0)
        assert h.new(b) == [], "told before its handler had the chance to"
        clock.advance(2)
        sweep.run(h.service, clock=clock, window_seconds=0)
        assert [(e["event"], e["room_code"]) for e in h.new(b)] == [("peer-disconnected", room)]
        clock.advance(10)
        sweep.run(h.service, clock=clock, window_seconds=0)
    assert h.new(b) == [], "told twice: the sweep's own telling was not acknowledged"
    assert admin.zcard(Keys().ended) == 0 and admin.hlen(Keys().endedroom) == 0


def test_an_action_that_ended_a_room_and_told_the_stranger_leaves_no_notice_for_the_sweep(valkey, admin):
    clock = FakeClock()
    h = harness_on(valkey.url, clock, END_NOTICE_SECONDS="3")
    a, b, room = h.pair()
    h.send(a, {"action": "next"})
    assert [(e["event"], e["room_code"]) for e in h.new(b)] == [("peer-disconnected", room)]
    assert admin.zcard(Keys().ended) == 0, "the handler told b but did not say so"
    clock.advance(5)
    sweep.run(h.service, clock=clock, window_seconds=0)
    assert h.new(b) == []


def test_a_sweep_pass_whose_reply_was_lost_still_tells_the_peer_of_a_stranger_it_evicted(valkey, admin, monkeypatch):
    clock = FakeClock()
    with LatencyProxy(valkey.port) as proxy:
        h = harness_on(f"redis://127.0.0.1:{proxy.port}/0", clock, END_NOTICE_SECONDS="3")
        quiet, b, room = h.pair()
        h.service.store.load_scripts()
        clock.advance(400)
        h.send(b, {"action": "ping"})
        clock.advance(201)  # quiet passed its idle timeout; b did not
        h.new(b)
        real_sweep = h.service.store.sweep

        def lossy_sweep(*args: Any, **kwargs: Any) -> Any:
            proxy.drop_all = True
            try:
                return real_sweep(*args, **kwargs)
            finally:
                proxy.drop_all = False

        monkeypatch.setattr(h.service.store, "sweep", lossy_sweep)
        with pytest.raises(Unavailable):
            sweep.run(h.service, clock=clock, window_seconds=0)
        monkeypatch.setattr(h.service.store, "sweep", real_sweep)
        assert quiet not in invariants.check(admin, Keys())["conns"], "the pass did not run"
        assert h.new(b) == []
        clock.advance(4)
        sweep.run(h.service, clock=clock, window_seconds=0)
    assert [(e["event"], e["room_code"]) for e in h.new(b)] == [("peer-disconnected", room)]
    assert admin.zcard(Keys().ended) == 0


def test_a_redis_killed_and_restarted_mid_chat_tells_both_to_reconnect_and_keeps_no_ghost(valkey, admin):
    h = harness_on(valkey.url)
    a, b, room = h.pair()
    os.kill(valkey.pid, signal.SIGKILL)
    h.send(a, {"action": "chat", "room_code": room, "message": "are you there?"})
    assert kinds(h.new(a)) == [UNAVAILABLE] and h.new(b) == []
    valkey.stop()
    valkey.start()  # same port, empty: a crash without persistence
    h.send(a, {"action": "chat", "room_code": room, "message": "hello?"})
    h.send(b, {"action": "ping"})
    assert kinds(h.new(a)) == ["not_connected"] and kinds(h.new(b)) == ["not_connected"]
    assert invariants.check(admin, Keys()) == {"alive": {}, "conns": {}, "queue": [], "seats": {}, "rooms": {}}


class VanishingSender(RecordingSender):
    """The recipient's socket drops the moment its `matched` is on the way: API Gateway runs its
    $disconnect (which holds the seat) and the post answers 410."""

    def __init__(self) -> None:
        super().__init__()
        self.vanish: set[str] = set()
        self.on_vanish: Any = None

    def post(self, endpoint: str, connection_id: str, event: dict[str, Any]) -> bool:
        if connection_id in self.vanish and event["event"] == "matched":
            self.vanish.discard(connection_id)
            self.gone.add(connection_id)
            self.on_vanish(connection_id)
        return super().post(endpoint, connection_id, event)


def vanishing_harness(url: str, clock: FakeClock | None = None, **policy: str) -> Harness:
    sender = VanishingSender()
    clock = clock or FakeClock()
    config = load_settings({"REDIS_URL": url, "METRICS_ENABLED": "false", **RELAXED, **policy})
    h = Harness(build(config, sender=sender, clock=clock), sender.received, clock)
    sender.on_vanish = h.disconnect
    h.sender = sender  # type: ignore[attr-defined]
    return h


def test_a_waiter_that_leaves_as_it_is_matched_leaves_the_newcomer_looking_not_in_a_ghost_room(valkey, admin):
    h = vanishing_harness(valkey.url, RESUME_GRACE_SECONDS="15")  # its $disconnect holds the seat
    waiter, second, newcomer = h.connect(), h.connect(), h.connect()
    h.send(waiter, {"action": "register"})
    h.sender.vanish.add(waiter)
    h.send(newcomer, {"action": "register"})
    # The waiter's $disconnect speaks of a room the newcomer never heard of; its page drops that.
    told = h.new(newcomer)
    assert kinds(told) == ["peer-reconnecting", "queued"]
    state = invariants.check(admin, Keys())
    assert state["seats"] == {} and state["rooms"] == {} and state["queue"] == [newcomer]
    assert admin.hgetall(Keys().held) == {} and admin.hgetall(Keys().tokens) == {}
    h.send(second, {"action": "register"})  # and the next stranger meets it
    assert kinds(h.new(newcomer)) == ["matched"] and kinds(h.new(second)) == ["matched"]


def test_a_newcomer_that_leaves_as_it_is_matched_ends_the_room_for_the_waiter_at_once(valkey, admin):
    h = vanishing_harness(valkey.url, RESUME_GRACE_SECONDS="15")
    waiter, newcomer = h.connect(), h.connect()
    h.send(waiter, {"action": "register"})
    h.sender.vanish.add(newcomer)
    h.send(newcomer, {"action": "register"})
    room = h.received(waiter)[1]["room_code"]
    assert kinds(h.new(waiter)) == ["queued", "matched", "peer-reconnecting", "peer-disconnected"]
    assert h.received(waiter)[-1]["room_code"] == room
    state = invariants.check(admin, Keys())
    assert state["seats"] == {} and state["rooms"] == {} and newcomer not in state["conns"]


def test_the_sweep_finishes_its_pass_when_a_post_fails_and_a_waiter_vanishes(valkey, admin):
    clock = FakeClock()
    h = vanishing_harness(valkey.url, clock, INTEREST_FALLBACK_SECONDS="10", ANNOUNCE_SECONDS="8")
    cids = [h.connect() for _ in range(6)]
    for i, cid in enumerate(cids):  # nobody shares an interest: only the sweep's fallback pairs them
        h.send(cid, {"action": "register", "interests": [f"topic{i}"]})
        clock.advance(0.001)  # oldest first: the sweep pairs (0, 1), (2, 3), (4, 5)
    h.sender.vanish.add(cids[0])  # the oldest waiter's socket drops as the sweep announces it
    original = h.sender.post

    def failing(endpoint: str, connection_id: str, event: dict[str, Any]) -> bool:
        if connection_id == cids[2] and event["event"] == "matched":
            raise RuntimeError("the Management API failed for this one")
        return original(endpoint, connection_id, event)

    h.sender.post = failing  # type: ignore[method-assign]
    clock.advance(11)
    for cid in cids[1:]:
        h.send(cid, {"action": "ping"})
    stats = sweep.run(h.service, clock=clock, window_seconds=0)
    assert (stats.paired, stats.failed) == (1, 1)
    assert kinds(h.received(cids[4]))[-1] == "matched" and kinds(h.received(cids[5]))[-1] == "matched"
    assert kinds(h.received(cids[1]))[-1] == "queued", "the vanished waiter's partner was not put back to looking"
    assert "matched" not in kinds(h.received(cids[2]) + h.received(cids[3]))
    invariants.check(admin, Keys())

    # The room whose announcement failed is ended at its join deadline; both are paired again.
    for cid in cids[4:]:  # those told join, as their pages do, and keep their room
        h.send(cid, {"action": "join", "room_code": h.received(cid)[-1]["room_code"]})
    h.sender.post = original  # type: ignore[method-assign]
    clock.advance(11)  # past the join deadline, and past the interest fallback once more
    for cid in cids[1:]:
        h.send(cid, {"action": "ping"})
    sweep.run(h.service, clock=clock, window_seconds=0)
    state = invariants.check(admin, Keys())
    looking = cids[1:4]  # back in the queue together, equally old: any two of them meet
    told = [cid for cid in looking if kinds(h.received(cid))[-1] == "matched"]
    assert len(told) == 2 and state["seats"][told[0]]["peer"] == told[1]
    assert state["queue"] == [cid for cid in looking if cid not in told]
    assert state["seats"][cids[4]]["peer"] == cids[5], "a room both joined was ended"


def test_a_register_whose_every_reply_was_lost_is_learnt_by_asking_again(valkey, admin):
    """The page retries a register answered `unavailable`: if it did run, both strangers are told."""
    with LatencyProxy(valkey.port) as proxy:
        h = harness_on(f"redis://127.0.0.1:{proxy.port}/0")
        waiter, newcomer = h.connect(), h.connect()
        h.send(waiter, {"action": "register"})
        proxy.drop_all = True
        h.send(newcomer, {"action": "register"})
        proxy.drop_all = False
        assert kinds(h.new(newcomer)) == [UNAVAILABLE] and kinds(h.new(waiter)) == ["queued"]
        h.send(newcomer, {"action": "register"})
    to_waiter, to_newcomer = h.new(waiter), h.new(newcomer)
    assert kinds(to_waiter) == ["matched"] and kinds(to_newcomer) == ["matched"]
    assert to_waiter[0]["room_code"] == to_newcomer[0]["room_code"]
    assert to_waiter[0]["initiator"] is True and to_newcomer[0]["initiator"] is False
    state = invariants.check(admin, Keys())
    assert state["seats"][waiter]["room"] == to_waiter[0]["room_code"]
    assert state["seats"][waiter]["token"] == to_waiter[0]["resume_token"]


def test_a_second_register_after_joining_is_still_refused_as_in_room(valkey):
    h = harness_on(valkey.url)
    a, b, room = h.pair(join=True)
    h.send(b, {"action": "register"})
    assert kinds(h.new(b)) == ["in_room"] and h.new(a) == []


def test_a_requeue_the_sweep_makes_on_someones_behalf_takes_no_rate_token(valkey, admin):
    clock = FakeClock()
    rates = {"RATE_LIMITS": '{"seek": [3, 0.001]}'}  # three registers, then none for a long while
    h = vanishing_harness(valkey.url, clock, INTEREST_FALLBACK_SECONDS="10", **rates)
    waiter, other = h.connect(), h.connect()
    h.send(waiter, {"action": "register", "interests": ["chess"]})
    clock.advance(0.001)
    for _ in range(3):  # the other spends every seek token it has
        h.send(other, {"action": "register", "interests": ["music"]})
    assert kinds(h.new(other)) == ["queued", "queued", "queued"]
    bucket = admin.hget(Keys().buckets, f"{other}:seek")
    h.sender.vanish.add(waiter)  # the sweep pairs them at the fallback; the waiter is gone
    clock.advance(11)
    h.send(other, {"action": "ping"})
    stats = sweep.run(h.service, clock=clock, window_seconds=0)
    assert stats.failed == 0
    # (The waiter's $disconnect speaks first of the room, which the other's page never knew.)
    assert kinds(h.new(other)) == ["pong", "peer-disconnected", "queued"], "the requeue was refused as rate_limited"
    assert admin.hget(Keys().buckets, f"{other}:seek") == bucket
    assert invariants.check(admin, Keys())["queue"] == [other]
