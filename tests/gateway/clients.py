"""Small helpers for driving the gateway with real ``websockets`` clients and reading Redis."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from typing import Any, TypeVar

from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

T = TypeVar("T")


def connect(url: str, **kwargs: Any) -> ClientConnection:
    """A client that ignores proxy variables: the gateway is always on loopback."""
    return ws_connect(url, proxy=None, open_timeout=5, **kwargs)


def send(ws: ClientConnection, payload: dict[str, Any]) -> None:
    ws.send(json.dumps(payload))


def recv_json(ws: ClientConnection, timeout: float = 5.0) -> Any:
    return json.loads(ws.recv(timeout=timeout))


def nothing_received(ws: ClientConnection, within: float = 0.3) -> bool:
    try:
        ws.recv(timeout=within)
    except TimeoutError:
        return True
    return False


def whoami(ws: ClientConnection) -> str:
    """The connection id the gateway gave this client (the echo app tells it)."""
    send(ws, {"action": "whoami"})
    return str(recv_json(ws)["connectionId"])


def abort(ws: ClientConnection) -> None:
    """Drop the TCP connection without a close frame, like a browser tab that crashed."""
    ws.socket.shutdown(socket.SHUT_RDWR)
    ws.socket.close()


def wait_for(probe: Callable[[], T | None], timeout: float = 5.0, what: str = "condition") -> T:
    """Poll until ``probe`` returns something truthy, and return it."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def recorded(store: Any, connection_id: str) -> list[dict[str, Any]]:
    """Every event the echo app's handlers received for one connection, in order."""
    return [json.loads(item) for item in store.lrange(f"events:{connection_id}", 0, -1)]


def recorded_types(store: Any, connection_id: str) -> list[str]:
    return [event["requestContext"]["eventType"] for event in recorded(store, connection_id)]
