"""Access control: what a client can never do, whatever it sends."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from chalicelib import store

WEB_DIR = Path(__file__).resolve().parents[2] / "chalicelib" / "web"


def test_chat_and_signals_reach_only_the_senders_own_peer(harness):
    pairs = [harness.pair(f"a{i}", f"b{i}") for i in range(3)]
    for i, (a, _, room) in enumerate(pairs):
        harness.send(a, {"action": "chat", "room_code": room, "message": f"secret {i}"})
        harness.send(a, {"action": "signal", "room_code": room, "type": "offer", "data": {"n": i}})
    for i, (a, b, _) in enumerate(pairs):
        got = harness.new(b)
        assert [e.get("message") or e["data"]["n"] for e in got] == [f"secret {i}", i]
        assert harness.new(a) == []


def test_a_stranger_cannot_signal_into_or_join_a_room_by_knowing_its_code(harness):
    a, b, room = harness.pair()
    intruder = harness.connect()
    harness.send(intruder, {"action": "join", "room_code": room})
    harness.send(intruder, {"action": "signal", "room_code": room, "type": "candidate", "data": {}})
    harness.send(intruder, {"action": "chat", "room_code": room, "message": "let me in"})
    assert [e["code"] for e in harness.new(intruder)] == ["not_in_room"] * 3
    assert harness.new(a) == [] and harness.new(b) == []


def test_an_old_room_code_is_useless_after_next(harness):
    a, b, room = harness.pair()
    harness.send(a, {"action": "next"})
    harness.send(b, {"action": "register"})
    harness.new(a)
    harness.new(b)
    harness.send(a, {"action": "join", "room_code": room})
    harness.send(a, {"action": "signal", "room_code": room, "type": "offer", "data": {}})
    assert [e["code"] for e in harness.new(a)] == ["wrong_room", "wrong_room"]
    assert harness.new(b) == []


def test_guessed_room_codes_are_refused(harness):
    a, b, room = harness.pair()
    c, d, other = harness.pair()
    for guess in (room[:-1] + "A", room.upper(), " " + room, other[:12]):
        harness.send(c, {"action": "join", "room_code": guess})
    assert {e["code"] for e in harness.new(c)} == {"wrong_room"}


def test_roles_cannot_be_claimed_by_the_client(harness):
    a, b, room = harness.pair()
    harness.send(b, {"action": "signal", "room_code": room, "type": "offer", "data": {}, "role": "initiator"})
    harness.send(b, {"action": "signal", "room_code": room, "type": "offer", "data": {}})
    assert [e["code"] for e in harness.new(b)] == ["invalid_field", "wrong_role"]
    assert harness.new(a) == []


def test_room_codes_come_from_the_os_csprng_with_at_least_128_bits(monkeypatch):
    calls = []
    real = secrets.token_urlsafe

    def spy(nbytes: int) -> str:
        calls.append(nbytes)
        return real(nbytes)

    monkeypatch.setattr(store.secrets, "token_urlsafe", spy)
    codes = {store.new_room_code() for _ in range(10_000)}
    assert len(codes) == 10_000
    assert set(calls) == {store.ROOM_CODE_BYTES} and store.ROOM_CODE_BYTES * 8 >= 128
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{24}", code) for code in codes)


def test_the_page_never_renders_text_as_html():
    scripts = list(WEB_DIR.glob("*.js"))
    assert scripts, "the web client has no scripts"
    for script in scripts:
        source = script.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert sink not in source, f"{script.name} uses {sink}"
