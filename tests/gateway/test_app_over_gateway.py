"""The real app (app.py + chalicelib/) behind the local gateway, driven by real WebSocket clients.

Each test asserts on exactly what each client received, and on the Redis state the app left.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection

from chalicelib import protocol
from chalicelib.config import load_settings
from chalicelib.errors import ClientError
from chalicelib.keys import Keys
from localdev.redis_server import free_port
from tests.gateway.clients import abort, connect, nothing_received, recv_json, send, wait_for
from tests.gateway.gateway_process import PROJECT_DIR, GatewayProcess

KEYS = Keys("rvc")
ICE = load_settings(os.environ).static_ice_servers()
OFFER = {"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}
ANSWER = {"type": "answer", "sdp": "v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\n"}
CANDIDATE = {"candidate": "candidate:1 1 udp 2122260223 192.0.2.10 54400 typ host", "sdpMid": "0"}


@pytest.fixture(scope="module")
def app_gateway(gateway_redis_url: str) -> Iterator[GatewayProcess]:
    # These tests are about the gateway's mechanics, so the app's matching policies that would
    # change the expected events (no-repeat, resume grace) are off; their own tests cover them.
    env = {"REPEAT_BLOCK_SECONDS": "0", "RESUME_GRACE_SECONDS": "0", "METRICS_ENABLED": "false"}
    with GatewayProcess(PROJECT_DIR, "--no-schedules", "--no-reload", redis_url=gateway_redis_url, env=env) as gateway:
        yield gateway


@pytest.fixture
def app_store(store: Any) -> Iterator[Any]:
    yield store
    # Let the last $disconnects land so the next test starts from an empty database.
    deadline = time.monotonic() + 5
    while store.hlen(KEYS.conns) and time.monotonic() < deadline:
        time.sleep(0.02)


def matched(room: str, initiator: bool, peer: str) -> dict[str, Any]:
    return {
        "event": "matched", "room_code": room, "initiator": initiator, "peer": {"name": peer},
        "interests": [], "ice_servers": ICE,
    }


def without_token(event: dict[str, Any]) -> dict[str, Any]:
    """The event minus its resume token, which must be there and is random."""
    assert isinstance(event.get("resume_token"), str) and len(event["resume_token"]) >= 32
    return {k: v for k, v in event.items() if k != "resume_token"}


def gone_event(room: str) -> dict[str, Any]:
    return {"event": "peer-disconnected", "room_code": room, "message": "Stranger has disconnected"}


def pair(first: ClientConnection, second: ClientConnection, names: tuple[str, str] = ("Alice", "Bob")) -> str:
    """Register both (first waits, second arrives), check both matched events; return the room."""
    send(first, {"action": "register", "name": names[0]})
    assert recv_json(first) == {"event": "queued", "status": "queued"}
    send(second, {"action": "register", "name": names[1]})
    first_match = recv_json(first)
    room = str(first_match["room_code"])
    assert without_token(first_match) == matched(room, True, names[1])
    assert without_token(recv_json(second)) == matched(room, False, names[0])
    return room


def join(first: ClientConnection, second: ClientConnection, room: str) -> None:
    send(first, {"action": "join", "room_code": room})
    assert recv_json(first) == {"event": "verified", "room_code": room, "role": "initiator"}
    send(second, {"action": "join", "room_code": room})
    assert recv_json(second) == {"event": "verified", "room_code": room, "role": "responder"}


def test_two_strangers_match_signal_chat_and_after_next_both_match_again(
    app_gateway: GatewayProcess, app_store: Any
) -> None:
    with connect(app_gateway.ws_url) as alice, connect(app_gateway.ws_url) as bob:
        room = pair(alice, bob)
        join(alice, bob, room)
        for sender, receiver, kind, data, name in [
            (alice, bob, "offer", OFFER, "Alice"),
            (bob, alice, "answer", ANSWER, "Bob"),
            (alice, bob, "candidate", CANDIDATE, "Alice"),
            (bob, alice, "candidate", CANDIDATE, "Bob"),
        ]:
            send(sender, {"action": "signal", "room_code": room, "type": kind, "data": data})
            assert recv_json(receiver) == {"event": "signal", "room_code": room, "from": name, "type": kind, "data": data}
        send(alice, {"action": "chat", "room_code": room, "message": "hi Bob"})
        to_bob = recv_json(bob)
        send(bob, {"action": "chat", "room_code": room, "message": "hi Alice"})
        to_alice = recv_json(alice)
        assert {k: v for k, v in to_bob.items() if k != "timestamp"} == {"event": "chat", "room_code": room, "sender": "Alice", "message": "hi Bob"}
        assert {k: v for k, v in to_alice.items() if k != "timestamp"} == {"event": "chat", "room_code": room, "sender": "Bob", "message": "hi Alice"}
        assert abs(to_bob["timestamp"] - time.time()) < 10

        send(alice, {"action": "next"})
        assert recv_json(bob) == gone_event(room)
        assert recv_json(alice) == {"event": "queued", "status": "queued"}
        send(bob, {"action": "next"})
        again = recv_json(alice)
        new_room = str(again["room_code"])
        assert new_room != room
        assert without_token(again) == matched(new_room, True, "Bob")
        assert without_token(recv_json(bob)) == matched(new_room, False, "Alice")
        assert nothing_received(alice) and nothing_received(bob)


def test_a_waiting_third_client_is_matched_as_soon_as_a_partner_is_free(
    app_gateway: GatewayProcess, app_store: Any
) -> None:
    with connect(app_gateway.ws_url) as a, connect(app_gateway.ws_url) as b, connect(app_gateway.ws_url) as c:
        room = pair(a, b, ("Ann", "Ben"))
        send(c, {"action": "register", "name": "Cy"})
        assert recv_json(c) == {"event": "queued", "status": "queued"}
        assert nothing_received(c, within=0.5)
        started = time.monotonic()
        send(a, {"action": "next"})
        to_c = recv_json(c, timeout=2)
        assert time.monotonic() - started < 3.0  # schedules are off: only the next itself can match
        new_room = str(to_c["room_code"])
        assert without_token(to_c) == matched(new_room, True, "Ann")
        assert without_token(recv_json(a)) == matched(new_room, False, "Cy")
        assert recv_json(b) == gone_event(room)
        assert nothing_received(a) and nothing_received(b) and nothing_received(c)


def test_closing_a_socket_abruptly_tells_the_peer_and_clears_its_state(
    app_gateway: GatewayProcess, app_store: Any
) -> None:
    with connect(app_gateway.ws_url) as alice, connect(app_gateway.ws_url) as bob:
        room = pair(alice, bob)
        join(alice, bob, room)
        abort(alice)
        assert recv_json(bob) == gone_event(room)
        wait_for(lambda: app_store.hlen(KEYS.conns) == 1, what="the aborted connection's record to go")
        assert app_store.hlen(KEYS.rooms) == 0 and app_store.hlen(KEYS.seats) == 0


def test_a_message_over_128_kb_closes_only_that_socket_and_the_peer_is_told(
    app_gateway: GatewayProcess, app_store: Any
) -> None:
    with connect(app_gateway.ws_url) as alice, connect(app_gateway.ws_url) as bob:
        room = pair(alice, bob)
        alice.send('{"action": "chat", "room_code": room, "message": "' + "x" * (128 * 1024) + '"}')
        with pytest.raises(ConnectionClosed) as closed:
            alice.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        assert recv_json(bob) == gone_event(room)
        send(bob, {"action": "ping"})
        assert recv_json(bob) == {"event": "pong"}


DEEPLY_NESTED = {
    "object": '{"a":' * 1000 + "1" + "}" * 1000,
    "array": "[" * 1000 + "]" * 1000,
    "action_beside_it": '{"action": "ping", "x": ' + "[" * 1000 + "]" * 1000 + "}",
}


def app_error_code(frame: str) -> str:
    """The code the app's own parser gives a frame; the gateway must let the app answer it."""
    try:
        protocol.parse(frame, load_settings(os.environ).max_message_bytes)
    except ClientError as exc:
        return exc.code
    raise AssertionError("the app accepts this frame")


@pytest.mark.parametrize("frame", DEEPLY_NESTED.values(), ids=DEEPLY_NESTED.keys())
def test_a_deeply_nested_frame_gets_the_apps_one_error_and_the_socket_stays_open(
    app_gateway: GatewayProcess, app_store: Any, frame: str
) -> None:
    # Too deep for the gateway's json to select a route: API Gateway hands such a frame to
    # $default, and the app answers it, where the gateway used to drop the socket.
    logged_before = len(app_gateway.output())
    with connect(app_gateway.ws_url) as ws:
        ws.send(frame)
        error = recv_json(ws)
        assert (error["event"], error["code"]) == ("error", app_error_code(frame))
        assert nothing_received(ws)
        send(ws, {"action": "ping"})
        assert recv_json(ws) == {"event": "pong"}
    assert "Traceback" not in app_gateway.output()[logged_before:]


def test_connect_is_refused_with_the_apps_503_when_redis_is_unreachable() -> None:
    gateway = GatewayProcess(PROJECT_DIR, "--no-schedules", "--no-reload", redis_url=f"redis://127.0.0.1:{free_port()}/0")
    with gateway, pytest.raises(InvalidStatus) as refused:
        connect(gateway.ws_url)
    assert refused.value.response.status_code == 503


@pytest.fixture(scope="module")
def lossy_gateway(gateway_redis_url: str) -> Iterator[GatewayProcess]:
    """Every $disconnect lost, as AWS may lose one; the sweep runs every second."""
    args = ("--disconnect-loss", "1", "--schedule-interval", "1", "--no-reload")
    env = {"IDLE_TIMEOUT_SECONDS": "10", "RESUME_GRACE_SECONDS": "0", "REPEAT_BLOCK_SECONDS": "0", "SWEEP_WINDOW_SECONDS": "0"}
    with GatewayProcess(PROJECT_DIR, *args, redis_url=gateway_redis_url, env=env) as gateway:
        yield gateway


def test_posting_to_a_closed_connection_gets_gone_and_the_app_cleans_it_up(
    lossy_gateway: GatewayProcess, store: Any
) -> None:
    with connect(lossy_gateway.ws_url) as alice, connect(lossy_gateway.ws_url) as bob:
        room = pair(alice, bob)
        join(alice, bob, room)
        bob.close()
        wait_for(lambda: "dropped: --disconnect-loss" in lossy_gateway.output(), what="the lost $disconnect")
        assert store.hlen(KEYS.conns) == 2  # the app has not heard that Bob left
        send(alice, {"action": "chat", "room_code": room, "message": "still there?"})
        assert recv_json(alice) == gone_event(room)  # the post to Bob got 410; Bob was cleaned up
        assert store.hlen(KEYS.conns) == 1 and store.hlen(KEYS.seats) == 0 and store.hlen(KEYS.rooms) == 0


def test_the_scheduled_sweep_evicts_a_connection_whose_disconnect_was_lost(
    lossy_gateway: GatewayProcess, store: Any
) -> None:
    with connect(lossy_gateway.ws_url) as alice, connect(lossy_gateway.ws_url) as bob:
        room = pair(alice, bob)
        join(alice, bob, room)
        abort(bob)
        deadline = time.monotonic() + 20
        received = None
        while received is None and time.monotonic() < deadline:
            send(alice, {"action": "ping"})  # Alice stays alive; Bob's liveness runs out
            event = recv_json(alice)
            if event != {"event": "pong"}:
                received = event
            time.sleep(1)
        assert received == gone_event(room)
        assert store.hlen(KEYS.conns) == 1
    assert "schedule          sweep" in lossy_gateway.output()
