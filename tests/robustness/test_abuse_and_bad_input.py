"""Bad input gets exactly one clear error, changes nothing, reaches nobody, and, since every
refused frame cost an invocation, a flood of them ends in a close."""

from __future__ import annotations

import tracemalloc

import pytest

from chalicelib import web
from chalicelib.config import DEFAULT_RATES
from tests.support import invariants


def test_a_flood_of_malformed_frames_drains_the_abuse_bucket_and_closes_the_socket(policy_harness):
    h = policy_harness
    a = h.connect()
    burst = int(DEFAULT_RATES["abuse"][0])
    for _ in range(300):
        h.send(a, "{oops")
        if h.sender.closed:
            break
    errors = h.new(a)
    assert h.sender.closed == [a], "300 malformed frames and the socket stays open"
    assert len(errors) == burst + 1 and {e["code"] for e in errors} == {"bad_json"}


def test_refusals_from_the_scripts_count_toward_the_abuse_limit_too(policy_harness):
    h = policy_harness
    a = h.connect()
    for _ in range(100):
        h.send(a, {"action": "chat", "room_code": "nowhere", "message": "hi"})
        if h.sender.closed:
            break
    assert h.sender.closed == [a]
    assert {e["code"] for e in h.new(a)} == {"not_in_room", "rate_limited"}


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_inside_a_signal_are_refused_not_relayed(harness, constant):
    a, b, room = harness.pair()
    harness.send(a, f'{{"action": "signal", "room_code": "{room}", "type": "offer", "data": {{"sdp": {constant}}}}}')
    assert [e["code"] for e in harness.new(a)] == ["bad_json"]
    assert harness.new(b) == []


@pytest.mark.parametrize("name", ["\u200b", "\u200b\u200d", "\u2066\u2067", "\u202eredro", "ab\u202d", "\u0301"])
def test_display_names_that_would_show_blank_or_reversed_are_refused(harness, redis_client, keys, name):
    a = harness.connect()
    harness.send(a, {"action": "register", "name": name})
    [reply] = harness.new(a)
    assert reply["code"] == "invalid_field" and "name" in reply["message"]
    assert invariants.check(redis_client, keys)["queue"] == []


@pytest.mark.parametrize("name", ["שלום", "Zoë", "李雷", "👩\u200d💻 dev"])
def test_real_names_in_any_script_are_accepted(harness, name):
    a, b = harness.connect(), harness.connect()
    harness.send(a, {"action": "register", "name": name})
    harness.send(b, {"action": "register"})
    assert harness.new(b)[-1]["peer"]["name"] == name


def test_interests_made_only_of_invisible_characters_are_refused(harness):
    a = harness.connect()
    harness.send(a, {"action": "register", "interests": ["\u200b\u200b"]})
    assert harness.new(a)[0]["code"] == "invalid_field"


def test_requests_for_missing_assets_do_not_grow_the_cache():
    assert web.asset("index.html") is not None  # whatever is cached is cached now
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    for i in range(20_000):
        assert web.asset(f"missing-{i}.js") is None
    after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert after - before < 100_000, f"20,000 made-up names kept {after - before} bytes"
