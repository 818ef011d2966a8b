"""Drive the real entry points the way API Gateway would, and read what each client received."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from chalicelib import entry
from chalicelib.service import Service

from .events import connect_event, disconnect_event, message_event, new_connection_id


class FakeClock:
    """Milliseconds since the epoch, moved only by the test."""

    def __init__(self, start_ms: int = 1_760_000_000_000) -> None:
        self.now = start_ms

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1000)


class RecordingSender:
    """Thread-safe in-memory Management API for load and concurrency tests."""

    def __init__(self) -> None:
        self.frames: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.gone: set[str] = set()
        self.lost: dict[str, list[dict[str, Any]]] = defaultdict(list)  # posted after the socket went
        self.closed: list[str] = []
        self._lock = threading.Lock()

    def post(self, endpoint: str, connection_id: str, event: dict[str, Any]) -> bool:
        with self._lock:
            if connection_id in self.gone:
                self.lost[connection_id].append(event)
                return False
            self.frames[connection_id].append(event)
            return True

    def received(self, cid: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.frames[cid])

    def posted(self, cid: str) -> list[dict[str, Any]]:
        """Everything the server meant for ``cid``, including what its vanished socket missed."""
        with self._lock:
            return list(self.frames[cid]) + list(self.lost[cid])

    def close(self, endpoint: str, connection_id: str) -> None:
        with self._lock:
            self.closed.append(connection_id)


class Harness:
    def __init__(self, service: Service, inbox: Callable[[str], list[dict[str, Any]]], clock: FakeClock) -> None:
        self.service = service
        self.inbox = inbox
        self.clock = clock
        self._seen: dict[str, int] = defaultdict(int)

    def connect(self, **kwargs: Any) -> str:
        cid = new_connection_id()
        result = self.connect_as(cid, **kwargs)
        assert result == {"statusCode": 200}, result
        return cid

    def connect_as(self, cid: str, **kwargs: Any) -> dict[str, Any]:
        kwargs.setdefault("connected_at", self.clock())
        return entry.on_connect(connect_event(cid, **kwargs), self.service)

    def send(self, cid: str, body: Any, **kwargs: Any) -> dict[str, Any]:
        """Deliver one frame; returns the event so a test can deliver it again."""
        event = message_event(cid, body, **kwargs)
        entry.on_message(event, self.service)
        return event

    def redeliver(self, event: dict[str, Any]) -> None:
        entry.on_message(event, self.service)

    def disconnect(self, cid: str) -> None:
        entry.on_disconnect(disconnect_event(cid), self.service)

    def received(self, cid: str) -> list[dict[str, Any]]:
        return self.inbox(cid)

    def new(self, cid: str) -> list[dict[str, Any]]:
        """Events that arrived since the previous call for this connection."""
        frames = self.inbox(cid)
        fresh = frames[self._seen[cid] :]
        self._seen[cid] = len(frames)
        return fresh

    def pair(self, name_a: str = "alice", name_b: str = "bob", join: bool = True) -> tuple[str, str, str]:
        """Connect two strangers, match them (a waits, so a is the initiator) and, with ``join``,
        have both seats joined, as the page's first relay or an older page's ``join`` does (here
        ``join``, which relays nothing), so the sweep's announcement check leaves the room be."""
        a, b = self.connect(), self.connect()
        self.send(a, {"action": "register", "name": name_a})
        self.send(b, {"action": "register", "name": name_b})
        room = self.new(b)[-1]["room_code"]
        if join:
            self.send(a, {"action": "join", "room_code": room})
            self.send(b, {"action": "join", "room_code": room})
        self.new(a)
        self.new(b)
        return a, b, room
