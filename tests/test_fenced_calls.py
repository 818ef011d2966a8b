"""A script call that reaches Redis after its caller gave up does nothing, and says so. (A
retried copy of a call that did run replays its answer: tests/robustness/test_fault_injection.py
loses replies on the wire to show it.)"""

from __future__ import annotations

import logging
import time

import pytest

from chalicelib.keys import Keys
from chalicelib.store import Store, Unavailable
from tests.support import invariants


def _store(client, wall, fence_ms=1000) -> Store:
    return Store(client, Keys(), idle_ms=600_000, cap_ms=7_200_000, fence_ms=fence_ms, wall=wall)


def _connect(store: Store, cid: str) -> str:
    return store.connect(cid, "198.51.100.7", "ua", int(time.time() * 1000), "http://x")


def test_a_call_that_arrives_past_its_fence_changes_nothing_and_is_known_not_done(redis_client, keys):
    moments = iter([time.time() * 1000 - 5000, time.time() * 1000])  # sent 5 s ago, answered now
    store = _store(redis_client, wall=lambda: int(next(moments)))
    with pytest.raises(Unavailable) as raised:
        _connect(store, "TGF0ZUNvbm5lY3Q=")
    assert raised.value.settled
    assert invariants.check(redis_client, keys)["conns"] == {}
    assert redis_client.hgetall(keys.ipconns) == {}


def test_a_redis_clock_ahead_of_ours_is_reported_and_does_not_refuse_every_call(redis_client, keys, caplog):
    store = _store(redis_client, wall=lambda: int(time.time() * 1000) - 10_000)  # our clock 10 s behind
    with caplog.at_level(logging.ERROR, logger="chalicelib.store"):
        assert _connect(store, "U2tld2VkQ2xvY2s=") == "ok"
    assert "clock is ahead" in caplog.text
    assert "U2tld2VkQ2xvY2s=" in invariants.check(redis_client, keys)["conns"]

