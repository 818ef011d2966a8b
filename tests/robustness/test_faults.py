"""Faults injected on purpose: Redis stops mid-run, fails over to a stale copy, or is flushed;
Redis answers slowly. Handlers never crash, clients get clear errors, and service resumes."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis

from chalicelib import sweep
from chalicelib.config import load_settings
from chalicelib.keys import Keys
from chalicelib.service import build
from localdev.redis_server import RedisServer
from testkit.harness import FakeClock, Harness, RecordingSender
from testkit.policies import RELAXED_NO_METRICS as RELAXED
from tests.support import invariants
from tests.support.latency_proxy import LatencyProxy

KNOWN_CODES = {"unavailable", "not_connected", "in_room", "not_in_room", "wrong_room"}


def _harness(url: str, clock: Any = None, timeout: float = 0.5) -> Harness:
    sender = RecordingSender()
    clock = clock or FakeClock()
    config = load_settings({"REDIS_URL": url, "REDIS_TIMEOUT_SECONDS": str(timeout), **RELAXED})
    h = Harness(build(config, sender=sender, clock=clock), sender.received, clock)
    h.sender = sender  # type: ignore[attr-defined]
    return h


@pytest.fixture
def own_server():
    server = RedisServer().start()
    yield server
    server.stop()


def test_redis_stopped_mid_run_gives_unavailable_then_service_resumes(own_server):
    h = _harness(own_server.url)
    cids = [h.connect() for _ in range(20)]
    errors: Counter[str] = Counter()
    crashed: list[BaseException] = []
    stop = threading.Event()

    def client(index: int) -> None:
        rng = random.Random(index)
        while not stop.is_set():
            try:
                h.send(cids[index], {"action": rng.choice(["register", "next", "leave", "ping"])}
                       if rng.random() < 0.8 else {"action": "chat", "room_code": "r", "message": "hi"})
            except BaseException as exc:  # the handlers must never raise
                crashed.append(exc)

    with ThreadPoolExecutor(len(cids)) as pool:
        for i in range(len(cids)):
            pool.submit(client, i)
        time.sleep(0.5)
        own_server.stop()
        time.sleep(1.0)
        own_server.start()  # same port, no data: as after a crash without persistence
        time.sleep(0.5)
        stop.set()

    assert crashed == []
    for cid in cids:
        for event in h.received(cid):
            if event["event"] == "error":
                errors[event["code"]] += 1
                assert event["code"] in KNOWN_CODES, event
    assert errors["unavailable"] > 0, "clients were not told the service was unavailable"
    assert errors["not_connected"] > 0, "clients were not told to reconnect after the data was lost"

    # Clients reconnect, as the page does on not_connected, and pairing works again.
    a, b = h.connect(), h.connect()
    h.send(a, {"action": "register"})
    h.send(b, {"action": "register"})
    assert h.received(b)[-1]["event"] == "matched", (h.received(a), h.received(b))
    invariants.check(redis.Redis.from_url(own_server.url, decode_responses=True), Keys())


def test_failover_to_a_stale_replica_is_cleaned_by_the_sweep(own_server):
    clock = FakeClock()
    h = _harness(own_server.url, clock)
    admin = redis.Redis.from_url(own_server.url)
    keys = Keys()
    a, b, room = h.pair()
    snapshot = {key: (admin.dump(key), admin.pttl(key)) for key in keys.state() if admin.exists(key)}
    h.sender.gone.add(b)
    h.disconnect(b)  # b leaves; a is told...
    h.new(a)
    admin.flushall()  # ...then the primary dies and a replica that never saw it takes over
    for key, (value, ttl) in snapshot.items():
        admin.restore(key, ttl, value, replace=True)
    state = invariants.check(redis.Redis.from_url(own_server.url, decode_responses=True), keys)
    assert b in state["seats"], "the stale copy still seats the departed stranger"
    clock.advance(300)
    h.send(a, {"action": "ping"})  # a is alive; b will never speak again
    clock.advance(301)
    stats = sweep.run(h.service, clock=clock, window_seconds=0)
    assert stats.evicted == 1
    assert h.new(a) == [{"event": "pong"}, {"event": "peer-disconnected", "room_code": room,
                                             "message": "Stranger has disconnected"}]
    final = invariants.check(redis.Redis.from_url(own_server.url, decode_responses=True), keys)
    assert b not in final["conns"] and final["rooms"] == {}


def test_after_a_flush_clients_are_told_to_reconnect_and_nothing_stale_remains(own_server):
    h = _harness(own_server.url)
    a, b, room = h.pair()
    redis.Redis.from_url(own_server.url).flushall()
    h.send(a, {"action": "chat", "room_code": room, "message": "hello?"})
    assert h.new(a) == [{"event": "error", "code": "not_connected", "action": "chat",
                         "message": "This connection is unknown to the server; reconnect and register again."}]
    assert h.new(b) == []
    assert sweep.run(h.service, window_seconds=0).evicted == 0


def test_handlers_stay_correct_when_every_redis_reply_is_delayed(redis_server):
    with LatencyProxy(redis_server.port, delay=0.01) as proxy:
        h = _harness(f"redis://127.0.0.1:{proxy.port}/0", timeout=2.0)
        redis.Redis.from_url(redis_server.url).flushall()
        cids = [h.connect() for _ in range(24)]
        with ThreadPoolExecutor(12) as pool:
            list(pool.map(lambda c: h.send(c, {"action": "register"}), cids))
            list(pool.map(lambda c: h.send(c, {"action": "next"}), cids[::3]))
            list(pool.map(lambda c: h.send(c, {"action": "register"}), cids))
        state = invariants.check(redis.Redis.from_url(redis_server.url, decode_responses=True), Keys())
        assert set(state["seats"]) | set(state["queue"]) == set(cids)
        assert len(state["queue"]) <= 1
        assert proxy.delayed_chunks > 0
        for cid in cids:
            assert not [e for e in h.received(cid) if e["event"] == "error" and e["code"] != "in_room"]
    redis.Redis.from_url(redis_server.url).flushall()


def test_disconnect_before_an_in_flight_register_finishes_leaves_no_ghost(redis_server, redis_client):
    """$disconnect overtakes the register sent before it (the register's Redis reply is slow)."""
    with LatencyProxy(redis_server.port, delay=0.05) as proxy:
        slow = _harness(f"redis://127.0.0.1:{proxy.port}/0", timeout=2.0)
        fast = _harness(redis_server.url)
        for _ in range(5):
            cid = fast.connect()
            worker = threading.Thread(target=slow.send, args=(cid, {"action": "register"}))
            worker.start()
            time.sleep(0.01)
            fast.disconnect(cid)
            worker.join()
            assert slow.received(cid) == [{"event": "error", "code": "not_connected", "action": "register",
                                           "message": "This connection is unknown to the server; reconnect and register again."}]
            state = invariants.check(redis_client, Keys())
            assert cid not in state["queue"] and cid not in state["conns"] and cid not in state["alive"]
