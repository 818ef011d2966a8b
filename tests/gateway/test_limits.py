"""API Gateway's quotas, enforced locally: message size, idle timeout, connection lifetime."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from tests.gateway.clients import connect, recorded, recv_json, send, wait_for, whoami
from tests.gateway.gateway_process import ECHO_APP, GatewayProcess

LIMIT = 128 * 1024


def test_a_message_over_128_kb_closes_that_socket_with_1009_and_no_other(
    echo_gateway: GatewayProcess, store: Any
) -> None:
    with connect(echo_gateway.ws_url) as big, connect(echo_gateway.ws_url) as bystander:
        big_id = whoami(big)
        big.send(json.dumps({"action": "echo", "padding": "x" * LIMIT}))
        with pytest.raises(ConnectionClosed) as closed:
            big.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        send(bystander, {"action": "echo", "still": "here"})
        assert recv_json(bystander)["echo"] == {"action": "echo", "still": "here"}
    wait_for(lambda: big_id in store.lrange("disconnected", 0, -1), what="$disconnect")
    last = recorded(store, big_id)[-1]["requestContext"]
    assert (last["eventType"], last["disconnectStatusCode"]) == ("DISCONNECT", 1009)
    assert [e["requestContext"]["eventType"] for e in recorded(store, big_id)] == ["CONNECT", "MESSAGE", "DISCONNECT"]


def test_a_message_of_exactly_128_kb_is_delivered(echo_gateway: GatewayProcess, store: Any) -> None:
    envelope = json.dumps({"action": "measure", "padding": ""})
    body = json.dumps({"action": "measure", "padding": "x" * (LIMIT - len(envelope))})
    with connect(echo_gateway.ws_url) as ws:
        ws.send(body)
        assert recv_json(ws) == {"bytes": LIMIT}


@pytest.fixture(scope="module")
def short_limits_gateway(gateway_redis_url: str) -> Iterator[GatewayProcess]:
    args = ("--idle-timeout", "1", "--max-connection-seconds", "4", "--no-schedules", "--no-reload")
    with GatewayProcess(ECHO_APP, *args, redis_url=gateway_redis_url) as gateway:
        yield gateway


def test_an_idle_connection_is_closed_with_1001_going_away(short_limits_gateway: GatewayProcess, store: Any) -> None:
    with connect(short_limits_gateway.ws_url, ping_interval=None) as ws:
        me = whoami(ws)
        started = time.monotonic()
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
        waited = time.monotonic() - started
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1001, "Going away")
    assert 0.8 < waited < 3.0  # the idle timeout, well before the 4 s cap
    wait_for(lambda: me in store.lrange("disconnected", 0, -1), what="$disconnect")
    assert recorded(store, me)[-1]["requestContext"]["disconnectStatusCode"] == 1001


def test_client_pings_do_not_keep_a_connection_alive_but_messages_do(
    short_limits_gateway: GatewayProcess, store: Any
) -> None:
    with connect(short_limits_gateway.ws_url, ping_interval=0.2) as pinged, pytest.raises(ConnectionClosed):
        pinged.recv(timeout=5)
    with connect(short_limits_gateway.ws_url, ping_interval=None) as chatty:
        for _ in range(5):
            time.sleep(0.5)
            send(chatty, {"action": "echo"})
            recv_json(chatty)


def test_a_busy_connection_is_still_closed_at_the_connection_cap(
    short_limits_gateway: GatewayProcess, store: Any
) -> None:
    with connect(short_limits_gateway.ws_url, ping_interval=None) as ws:
        started = time.monotonic()
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                send(ws, {"action": "echo"})
                recv_json(ws)
                time.sleep(0.3)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert 3.5 < time.monotonic() - started < 6.0
