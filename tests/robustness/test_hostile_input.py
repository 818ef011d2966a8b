"""Hostile input at every entry point: a corpus plus a hypothesis fuzzer.

Every malformed frame sent to $default yields exactly one error event with a known code, no
exception escapes, and the state in Redis is unchanged. Hostile query strings and headers on
$connect never crash it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib import entry, protocol
from chalicelib.errors import MESSAGES, ClientError
from chalicelib.handlers import HANDLERS
from testkit.events import connect_event, message_event
from testkit.policies import RELAXED_NO_METRICS as RELAXED
from tests.support import invariants

USER_STATE = ("alive", "conns", "queue", "seats", "rooms")

CORPUS: list[Any] = [
    None,
    "",
    " ",
    "null",
    "true",
    "0",
    "1e999",
    "NaN",
    '"just a string"',
    "[]",
    "{",
    "}",
    '{"action": }',
    '{"action": "register",}',
    '{"action": "register"} trailing',
    "\x00",
    '{"action": "register\\u0000"}',
    '{"action": "\\ud800"}',
    '{"\\ud800": 1}',
    '{"action": "REGISTER"}',
    '{"action": " register"}',
    '{"action": ["register"]}',
    '{"action": {"$ne": null}}',
    '{"action": null}',
    '{"Action": "register"}',
    '{"action": "register", "action": "teleport"}',
    '{"action": "register", "name": "' + "🙂" * 33 + '"}',
    '{"action": "register", "name": "\\u202eevil"}',
    '{"action": "register", "name": ["a"]}',
    '{"action": "register", "name": null, "interests": 5}',
    '{"action": "join", "room_code": "' + "a" * 65 + '"}',
    '{"action": "join", "room_code": null}',
    '{"action": "join", "room_code": "5", "target": "x"}',
    '{"action": "signal", "room_code": "r", "type": "offer", "data": 1.5}',
    '{"action": "signal", "room_code": "r", "type": "offer", "data": [1, 2]}',
    '{"action": "signal", "room_code": "r", "type": "OFFER", "data": {}}',
    '{"action": "signal", "room_code": "r", "type": "offer", "data": {}, "role": "initiator"}',
    '{"action": "signal", "room_code": "r", "type": "offer", "data": {}, "sender": "x"}',
    '{"action": "chat", "room_code": "r", "message": 12}',
    '{"action": "chat", "room_code": "r", "message": "x", "to": "someone"}',
    '{"action": "chat", "room_code": "r", "message": ""}',
    '{"action": "chat", "room_code": "r", "message": "\\u0000"}',
    '{"action": "ping", "x": 1}',
    '{"action": "next", "room_code": "r"}',
    '{"action": "leave", "force": true}',
    "[" * 5000 + "]" * 5000,
    '{"a":' * 3000 + "1" + "}" * 3000,
    '{"action": "signal", "room_code": "r", "type": "candidate", "data": ' + '{"a":' * 900 + "1" + "}" * 900 + "}",
    '{"action": "chat", "room_code": "r", "message": "' + "x" * 40_000 + '"}',
    "x" * 200_000,
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
actions = st.sampled_from(sorted(HANDLERS))
hostile_dicts = st.fixed_dictionaries(
    {"action": st.one_of(actions, st.text(max_size=12), json_values)},
    optional={
        "name": json_values,
        "room_code": json_values,
        "type": st.one_of(st.sampled_from(["offer", "answer", "candidate"]), json_values),
        "data": json_values,
        "message": json_values,
        "target": json_values,
        "from": json_values,
    },
)
bodies = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=100).map(lambda b: b.decode("latin-1")),
    json_values.map(json.dumps),
    hostile_dicts.map(json.dumps),
)


def _is_valid(body: str | None) -> bool:
    try:
        protocol.parse(body, 32_768)
    except ClientError:
        return False
    return True


def _user_state(client: Any, keys: Any) -> dict[str, Any]:
    snapshot = invariants.snapshot(client, keys)
    return {key: snapshot[key] for key in USER_STATE}


@pytest.mark.parametrize("body", CORPUS, ids=range(len(CORPUS)))
def test_every_corpus_frame_gets_one_error_with_a_known_code_and_changes_nothing(harness, redis_client, keys, body):
    a, b, room = harness.pair()
    before = _user_state(redis_client, keys)
    harness.send(a, body)
    [reply] = harness.new(a)
    assert reply["event"] == "error" and reply["code"] in MESSAGES, reply
    assert harness.new(b) == []
    assert _user_state(redis_client, keys) == before


def test_fuzzed_frames_get_one_error_with_a_known_code_and_change_nothing(recording_harness, redis_client, keys):
    h = recording_harness
    a, b, room = h.pair()
    before = _user_state(redis_client, keys)
    tried = {"cases": 0}

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
    @given(body=bodies)
    def check(body: str) -> None:
        if _is_valid(body):
            return
        tried["cases"] += 1
        h.send(a, body)
        [reply] = h.new(a)
        assert reply["event"] == "error" and reply["code"] in MESSAGES, reply
        assert h.new(b) == []
        assert _user_state(redis_client, keys) == before

    check()
    print(f"\nfuzz: {tried['cases']} malformed frames tried")
    assert tried["cases"] > 200


def test_base64_frames_that_do_not_decode_are_bad_json(harness):
    a = harness.connect()
    harness.send(a, "%%% not base64 %%%", base64_encoded=True)
    assert harness.new(a)[0]["code"] == "bad_json"
    harness.send(a, "//79/Q==", base64_encoded=True)  # decodes to invalid UTF-8
    assert harness.new(a)[0]["code"] == "bad_json"


HOSTILE_HEADERS = [
    {"User-Agent": "A" * 100_000},
    {"User-Agent": "\x00\x01\x02"},
    {"User-Agent": "\ud800"},
    {"User-Agent": "'; DROP TABLE users; --"},
    {"Origin": "null"},
    {"X-Forwarded-For": "1.2.3.4, 5.6.7.8"},
    {"Cookie": "a=" + "b" * 8000},
]


@pytest.mark.parametrize("headers", HOSTILE_HEADERS, ids=range(len(HOSTILE_HEADERS)))
def test_hostile_connect_headers_are_stored_safely_or_refused(harness, redis_client, keys, headers):
    cid = "SG9zdGlsZUhlYWQ="
    result = harness.connect_as(cid, headers=headers)
    assert result == {"statusCode": 200}
    stored = invariants.snapshot(redis_client, keys)["conns"][cid]
    assert len(stored["ua"]) <= 256


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(query=st.dictionaries(st.text(max_size=20), st.text(max_size=200), max_size=5),
       agent=st.text(max_size=400))
def test_fuzzed_connect_query_strings_and_agents_never_crash(redis_server, query, agent):
    from chalicelib.config import load_settings
    from chalicelib.service import build
    from testkit.harness import RecordingSender

    service = build(load_settings({"REDIS_URL": redis_server.url, **RELAXED}), sender=RecordingSender())
    event = connect_event("RnV6ekNvbm5lY3Q=", query=query, user_agent=agent)
    assert entry.on_connect(event, service) == {"statusCode": 200}
    assert entry.on_message(message_event("RnV6ekNvbm5lY3Q=", {"action": "ping"}), service) == {"statusCode": 200}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"action": "chat", "room_code": "r", "message": "bell\x07"}, "invalid_field"),
        ({"action": "chat", "room_code": "r", "message": "half \ud800 pair"}, "invalid_field"),
        ({"action": "register", "name": "nul\x00name"}, "invalid_field"),
    ],
)
def test_control_characters_and_lone_surrogates_are_refused(harness, body, code):
    a, b, room = harness.pair()
    harness.send(a, json.dumps(body))
    assert harness.new(a)[0]["code"] == code
    assert harness.new(b) == []


def test_emoji_sequences_newlines_and_right_to_left_text_are_relayed_intact(harness):
    a, b, room = harness.pair()
    text = "👩\u200d👩\u200d👧 line one\n\u05e9\u05dc\u05d5\u05dd\ttab"  # Hebrew "shalom"
    harness.send(a, {"action": "chat", "room_code": room, "message": text})
    assert harness.new(b)[0]["message"] == text
