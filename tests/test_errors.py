"""Every client mistake gets exactly one error event with a stable code, and state is untouched."""

from __future__ import annotations

import json

import pytest

from tests.support import invariants

BAD_FRAMES = [
    ("not json at all", "bad_json"),
    ("[1, 2, 3]", "bad_json"),
    ('"register"', "bad_json"),
    ("", "bad_json"),
    ("[" * 10_000 + "]" * 10_000, "bad_json"),
    ("{}", "unknown_action"),
    ('{"action": "teleport"}', "unknown_action"),
    ('{"action": 5}', "unknown_action"),
    ('{"action": "register", "name": 7}', "invalid_field"),
    ('{"action": "register", "name": "' + "x" * 33 + '"}', "invalid_field"),
    ('{"action": "register", "name": "bad\\u0000name"}', "invalid_field"),
    ('{"action": "register", "target": "someone"}', "invalid_field"),
    ('{"action": "join"}', "invalid_field"),
    ('{"action": "join", "room_code": ""}', "invalid_field"),
    ('{"action": "join", "room_code": 12345}', "invalid_field"),
    ('{"action": "signal", "room_code": "r", "type": "hello", "data": {}}', "invalid_field"),
    ('{"action": "signal", "room_code": "r", "data": {}}', "invalid_field"),
    ('{"action": "signal", "room_code": "r", "type": "offer", "data": 5}', "invalid_field"),
    ('{"action": "signal", "room_code": "r", "type": "offer", "data": {}, "from": "alice"}', "invalid_field"),
    ('{"action": "chat"}', "invalid_field"),
    ('{"action": "chat", "room_code": "r", "message": ["a"]}', "invalid_field"),
    ('{"action": "ping", "extra": true}', "invalid_field"),
]


@pytest.mark.parametrize(("body", "code"), BAD_FRAMES)
def test_malformed_frames_get_one_error_with_a_stable_code_and_change_nothing(harness, redis_client, keys, body, code):
    a, b, room = harness.pair()
    before = invariants.snapshot(redis_client, keys)
    harness.send(a, body)
    [reply] = harness.new(a)
    assert reply["event"] == "error" and reply["code"] == code
    assert set(reply) == {"event", "code", "message"} and reply["message"]
    assert "Traceback" not in reply["message"] and "pydantic" not in reply["message"]
    assert harness.new(b) == []
    after = invariants.snapshot(redis_client, keys)
    assert after == before


def test_oversize_payload_is_refused_before_parsing(harness):
    a, b, room = harness.pair()
    harness.send(a, {"action": "chat", "room_code": room, "message": "x" * 40_000})
    [reply] = harness.new(a)
    assert reply["code"] == "too_large" and "32768" in reply["message"]
    assert harness.new(b) == []


def test_base64_encoded_frames_are_decoded_like_text(harness):
    a = harness.connect()
    harness.send(a, {"action": "ping"}, base64_encoded=True)
    assert harness.new(a) == [{"event": "pong"}]


def test_actions_from_a_connection_the_server_does_not_know_say_so(harness, redis_client, keys):
    ghost = "Z2hvc3RnaG9zdA0="
    for body in (
        {"action": "register"},
        {"action": "next"},
        {"action": "ping"},
        {"action": "leave"},
        {"action": "join", "room_code": "r"},
        {"action": "chat", "room_code": "r", "message": "hi"},
        {"action": "signal", "room_code": "r", "type": "candidate", "data": None},
    ):
        harness.send(ghost, body)
        assert harness.new(ghost)[0]["code"] == "not_connected"
    assert invariants.snapshot(redis_client, keys)["queue"] == []


def test_error_messages_are_plain_sentences_for_each_code(harness):
    a = harness.connect()
    harness.send(a, {"action": "join", "room_code": 1})
    [reply] = harness.new(a)
    assert reply["message"] == "Invalid field 'room_code': Input should be a valid string."
    json.dumps(reply)
