"""Sockets reset (TCP RST, no close frame) at the worst moments, through the local gateway and
the real app: a waiter whose socket dies just as a newcomer is paired with it must never leave
the newcomer in a room it was never told of.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.sync.client import ClientConnection

from chalicelib.keys import Keys
from tests.gateway.clients import connect, recv_json, send, wait_for
from tests.gateway.gateway_process import PROJECT_DIR, GatewayProcess

KEYS = Keys("rvc")
TRIALS = 16


@pytest.fixture(scope="module")
def held_seat_gateway(gateway_redis_url: str) -> Iterator[GatewayProcess]:
    # A dropped socket's seat is held for resume, which is what used to trap the newcomer.
    env = {"REPEAT_BLOCK_SECONDS": "0", "RESUME_GRACE_SECONDS": "15", "METRICS_ENABLED": "false"}
    with GatewayProcess(PROJECT_DIR, "--no-schedules", "--no-reload", redis_url=gateway_redis_url, env=env) as gateway:
        yield gateway


def reset(ws: ClientConnection) -> None:
    """Close with a TCP RST: SO_LINGER 0 discards what is unsent and resets the connection."""
    ws.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ws.socket.close()


def events_until_quiet(ws: ClientConnection, quiet: float = 0.5) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    while True:
        try:
            got.append(recv_json(ws, timeout=quiet))
        except TimeoutError:
            return got


def test_a_waiter_reset_as_it_is_matched_never_leaves_the_newcomer_in_a_ghost_room(
    held_seat_gateway: GatewayProcess, store: Any
) -> None:
    for trial in range(TRIALS):
        store.flushdb()
        waiter, newcomer = connect(held_seat_gateway.ws_url), connect(held_seat_gateway.ws_url)
        send(waiter, {"action": "register"})
        assert recv_json(waiter)["event"] == "queued"
        killer = threading.Timer(0.001 * (trial % 4), reset, args=(waiter,))
        killer.start()
        send(newcomer, {"action": "register"})
        killer.join()
        wait_for(lambda: store.hlen(KEYS.conns) == 1, what="the reset waiter's $disconnect")
        time.sleep(0.2)
        got = events_until_quiet(newcomer)
        kinds = [e["event"] for e in got]
        told = {e["room_code"] for e in got if e["event"] == "matched"}
        ended = {e["room_code"] for e in got if e["event"] in {"peer-disconnected", "peer-reconnecting"}}
        seats = store.hgetall(KEYS.seats)
        newcomer_seat = next((s for cid, s in seats.items() if "held" not in s), None)
        if newcomer_seat is not None:  # still seated: only in a room it was told of, its peer away
            assert any(code in newcomer_seat for code in told), (trial, kinds, seats)
            assert "peer-reconnecting" in kinds, (trial, kinds)
        else:  # not seated: looking again, or told its room ended
            queued = store.zrange(KEYS.queue, 0, -1)
            assert queued or (told and told <= ended), (trial, kinds, queued)
        newcomer.close()
        wait_for(lambda: store.hlen(KEYS.conns) == 0, what="the newcomer's $disconnect")
