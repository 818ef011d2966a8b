"""The lobby: waiters indexed by interest, the sweep's look at those who fell due, and /stats.

A register reads only the lists it needs (waiters sharing one of its interests; when it takes
anyone, waiters who named none and waiters past their fallback), so a compatible waiter is
found wherever it is in the queue, and the sweep looks only at waiters whose situation changed.
"""

from __future__ import annotations

from chalicelib import entry, sweep
from chalicelib.keys import Keys
from tests.support import invariants


def _sweep(harness):
    return sweep.run(harness.service, clock=harness.clock, window_seconds=0)


def _register(harness, cid, *interests):
    return harness.send(cid, {"action": "register", "interests": list(interests)})


def test_a_stranger_who_shares_an_interest_is_found_behind_more_waiters_than_one_register_reads(harness):
    scan = harness.service.settings.match_scan_limit
    crowd = [harness.connect() for _ in range(scan + 8)]
    for i, cid in enumerate(crowd):
        _register(harness, cid, f"topic-{i}")
    knitter = harness.connect()
    _register(harness, knitter, "knitting")
    newcomer = harness.connect()
    _register(harness, newcomer, "knitting", "chess")
    [matched] = harness.new(newcomer)
    assert matched["event"] == "matched" and matched["interests"] == ["knitting"]
    assert harness.new(knitter)[-1]["room_code"] == matched["room_code"]
    assert all(harness.new(cid) == [{"event": "queued", "status": "queued"}] for cid in crowd)


def test_the_index_holds_each_waiter_once_per_interest_and_forgets_it_when_it_is_paired(
    harness, redis_client, keys: Keys
):
    a, b = harness.connect(), harness.connect()
    _register(harness, a, "chess", "go")
    waiting = redis_client.zrange(keys.waiting, 0, -1)
    assert sorted(member.split("\0")[0] for member in waiting) == ["chess", "go"]
    assert all(member.endswith("\0" + a) for member in waiting)
    assert redis_client.zscore(keys.due, a) == redis_client.zscore(keys.queue, a) + 10_000  # its fallback
    _register(harness, b, "go")
    assert redis_client.zrange(keys.waiting, 0, -1) == [] and redis_client.zrange(keys.due, 0, -1) == []
    invariants.check(redis_client, keys)


def test_new_interests_while_waiting_keep_the_place_and_are_found_under_the_new_ones(harness, redis_client, keys):
    a, b, c = harness.connect(), harness.connect(), harness.connect()
    _register(harness, a, "chess")
    harness.clock.advance(1)
    _register(harness, b, "jazz")
    since = redis_client.zscore(keys.queue, b)
    _register(harness, b, "go")
    assert harness.new(b) == [{"event": "queued", "status": "queued"}, {"event": "queued", "status": "exists"}]
    assert redis_client.zscore(keys.queue, b) == since
    assert [m.split("\0")[0] for m in redis_client.zrange(keys.waiting, 0, -1)] == ["chess", "go"]
    _register(harness, c, "go")
    assert harness.new(c)[0]["interests"] == ["go"] and harness.new(b)[0]["room_code"] == harness.received(c)[0]["room_code"]


def test_a_stranger_with_no_interests_takes_a_waiter_past_its_fallback_not_one_before(harness, clock):
    tagged, untagged = harness.connect(), harness.connect()
    _register(harness, tagged, "chess")
    clock.advance(9)
    _register(harness, untagged)
    assert harness.new(untagged) == [{"event": "queued", "status": "queued"}]
    late = harness.connect()
    clock.advance(1)  # tagged has now waited its 10 s fallback; untagged is the older of the two who take anyone
    _register(harness, late)
    [matched] = harness.new(late)
    assert matched["event"] == "matched" and harness.new(tagged)[-1]["room_code"] == matched["room_code"]


def test_the_sweep_pairs_a_waiter_when_its_fallback_passes_and_is_due_next_at_the_next_fallback(
    harness, redis_client, keys, clock
):
    a, b = harness.connect(), harness.connect()
    _register(harness, a, "chess")
    clock.advance(4)
    _register(harness, b, "go")
    clock.advance(6)  # a's fallback: it takes anyone now, but b still wants someone who likes go
    stats = _sweep(harness)
    assert stats.paired == 0 and redis_client.zrange(keys.due, 0, -1) == [b]
    clock.advance(4)
    assert _sweep(harness).paired == 1
    assert harness.new(a)[-1]["initiator"] is True and harness.new(b)[-1]["initiator"] is False
    assert redis_client.zrange(keys.queue, 0, -1) == []


def test_a_sweep_pass_looks_only_at_waiters_who_fell_due_however_long_the_queue(harness, redis_client, keys, clock):
    crowd = [harness.connect() for _ in range(300)]
    for i, cid in enumerate(crowd):
        _register(harness, cid, f"topic-{i}")
    redis_client.config_resetstat()
    _sweep(harness)
    calls = redis_client.info("commandstats")
    # Nothing fell due: the pass reads the due list and the oldest few waiters, not the queue.
    assert calls.get("cmdstat_zrangebylex", {}).get("calls", 0) == 0
    assert calls.get("cmdstat_hget", {}).get("calls", 0) < 20
    assert len(redis_client.zrange(keys.queue, 0, -1)) == 300


def test_stats_count_every_match_but_keep_a_sample_of_waits_and_are_computed_once_per_cache_period(
    harness, clock
):
    for _ in range(20):  # 20 matches in one second: all counted, 16 waits sampled
        a, b = harness.connect(), harness.connect()
        _register(harness, a)
        _register(harness, b)
    body, _ = entry.stats(harness.service)
    assert body["matches_last_minute"] == 20 and body["median_wait_ms"] == 0
    lone = harness.connect()
    _register(harness, lone)
    clock.advance(1)  # within STATS_CACHE_SECONDS: the shared answer, computed a second ago
    assert entry.stats(harness.service)[0]["waiting"] == 0
    clock.advance(1)
    assert entry.stats(harness.service)[0]["waiting"] == 1
