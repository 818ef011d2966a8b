"""The typing indicator relay, and TURN credentials verified independently."""

from __future__ import annotations

import base64
import hashlib
import hmac

from chalicelib.config import load_settings
from chalicelib.service import build
from tests.conftest import RELAXED
from tests.support.harness import Harness, RecordingSender

SECRET = "coturn-static-auth-secret-0123456789"


def test_typing_is_relayed_to_the_peer_only(harness):
    a, b, room = harness.pair()
    c, d, _ = harness.pair()
    harness.send(a, {"action": "typing"})
    assert harness.new(b) == [{"event": "typing", "room_code": room}]
    assert harness.new(a) == [] and harness.new(c) == [] and harness.new(d) == []


def test_typing_outside_a_room_is_refused(harness):
    a = harness.connect()
    harness.send(a, {"action": "typing"})
    assert harness.new(a)[0]["code"] == "not_in_room"


def test_matched_carries_time_limited_turn_credentials_bound_to_the_connection(redis_server, redis_client, clock):
    sender = RecordingSender()
    env = {"REDIS_URL": redis_server.url, "TURN_URLS": "turn:turn.example.org:3478?transport=udp,turns:turn.example.org:5349",
           "TURN_SECRET": SECRET, "TURN_TTL_SECONDS": "600", "STUN_URLS": "stun:stun.example.org:3478", **RELAXED}
    h = Harness(build(load_settings(env), sender=sender, clock=clock), sender.received, clock)
    a, b, room = h.pair(join=False)
    for cid in (a, b):
        stun, turn = h.received(cid)[-1]["ice_servers"]
        assert stun == {"urls": ["stun:stun.example.org:3478"]}
        assert turn["urls"] == ["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349"]
        expiry, user = turn["username"].split(":", 1)
        assert user == cid, "the credential is bound to this connection"
        assert 590 <= int(expiry) - __import__("time").time() <= 610
        expected = base64.b64encode(hmac.new(SECRET.encode(), turn["username"].encode(), hashlib.sha1).digest()).decode()
        assert turn["credential"] == expected
