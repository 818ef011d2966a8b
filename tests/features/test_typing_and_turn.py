"""The typing indicator relay, and TURN credentials verified independently."""

from __future__ import annotations

import time

from tests.support.turn import STUN_URL, TURN_URLS, expected_credential, turn_harness

SECRET = "coturn-static-auth-secret-0123456789"


def test_typing_is_relayed_to_the_peer_only(harness):
    a, b, room = harness.pair()
    c, d, _ = harness.pair()
    harness.send(a, {"action": "typing", "room_code": room})
    assert harness.new(b) == [{"event": "typing", "room_code": room}]
    assert harness.new(a) == [] and harness.new(c) == [] and harness.new(d) == []


def test_typing_outside_a_room_is_refused(harness):
    a = harness.connect()
    harness.send(a, {"action": "typing", "room_code": "r"})
    assert harness.new(a)[0]["code"] == "not_in_room"


def test_matched_carries_time_limited_turn_credentials_bound_to_the_connection(redis_env, redis_client, clock):
    h = turn_harness(redis_env, clock, TURN_SECRET=SECRET, TURN_TTL_SECONDS="600")
    a, b, room = h.pair(join=False)
    for cid in (a, b):
        stun, turn = h.received(cid)[-1]["ice_servers"]
        assert stun == {"urls": [STUN_URL]}
        assert turn["urls"] == TURN_URLS
        expiry, user = turn["username"].split(":", 1)
        assert user == cid, "the credential is bound to this connection"
        assert 590 <= int(expiry) - time.time() <= 610
        assert turn["credential"] == expected_credential(SECRET, turn["username"])
