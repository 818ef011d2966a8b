"""A reference model of the server: plain Python, no Redis, no concurrency.

It predicts, for every action, exactly which events each connection receives. The stateful test
runs the same actions through the real handlers and Redis and compares. Room codes are random, so
the model names rooms itself and learns each real code the first time it is delivered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

IDLE_MS = 600_000
CAP_MS = 7_200_000
PAIRS_PER_SWEEP = 16


@dataclass
class Conn:
    cid: str
    at: int
    deadline: int
    name: str | None = None
    connected: bool = True  # the server has a record of it
    gone: bool = False  # its socket vanished: posts to it answer 410
    closed: bool = False  # $disconnect arrived
    room: int | None = None
    role: str = ""
    peer: str = ""
    joined: bool = False


@dataclass
class Model:
    now: int
    conns: dict[str, Conn] = field(default_factory=dict)
    queue: dict[str, int] = field(default_factory=dict)  # cid -> waiting since
    rooms: dict[int, tuple[str, str]] = field(default_factory=dict)
    expected: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _next_room: int = 0

    # ---- helpers mirroring the Lua prelude -------------------------------------------------
    def live(self, cid: str) -> bool:
        conn = self.conns.get(cid)
        return bool(conn and conn.connected and conn.deadline > self.now)

    def refresh(self, conn: Conn) -> None:
        conn.deadline = min(conn.at + CAP_MS, self.now + IDLE_MS)

    def name_of(self, cid: str) -> str:
        return self.conns[cid].name or "Stranger"

    def ordered_queue(self) -> list[str]:
        return [cid for cid, _ in sorted(self.queue.items(), key=lambda item: (item[1], item[0]))]

    def end_room(self, cid: str) -> tuple[str, int | None]:
        conn = self.conns[cid]
        room, peer = conn.room, conn.peer
        assert room is not None
        del self.rooms[room]
        for member in (cid, peer):
            other = self.conns[member]
            other.room, other.role, other.peer, other.joined = None, "", "", False
        return peer, room

    def forget(self, cid: str) -> tuple[str, int | None]:
        conn = self.conns.get(cid)
        if conn is None or not conn.connected:
            return "", None
        conn.connected = False
        self.queue.pop(cid, None)
        if conn.room is not None:
            return self.end_room(cid)
        return "", None

    def pair(self, waiter: str, newcomer: str) -> int:
        room = self._next_room
        self._next_room += 1
        self.queue.pop(waiter, None)
        self.queue.pop(newcomer, None)
        self.rooms[room] = (waiter, newcomer)
        for cid, role, peer in ((waiter, "initiator", newcomer), (newcomer, "responder", waiter)):
            conn = self.conns[cid]
            conn.room, conn.role, conn.peer, conn.joined = room, role, peer, False
        return room

    # ---- delivery, mirroring delivery.Outbox -----------------------------------------------
    def expect(self, cid: str, event: dict[str, Any]) -> None:
        self.expected.setdefault(cid, []).append(event)

    def send(self, cid: str, event: dict[str, Any]) -> None:
        if self.conns[cid].gone or self.conns[cid].closed:
            self.tell(*self.forget(cid))
        else:
            self.expect(cid, event)

    def tell(self, peer: str, room: int | None) -> None:
        if peer:
            self.send(peer, {"event": "peer-disconnected", "room_code": ("room", room)})

    def error(self, cid: str, code: str) -> None:
        self.expect(cid, {"event": "error", "code": code})

    def matched(self, room: int, initiator: bool, peer_name: str) -> dict[str, Any]:
        return {"event": "matched", "room_code": ("room", room), "initiator": initiator, "peer": {"name": peer_name}}

    def deliver_pair(self, waiter: str, newcomer: str, room: int) -> bool:
        if self.conns[waiter].gone or self.conns[waiter].closed:
            self.forget(waiter)
            return False
        self.expect(waiter, self.matched(room, True, self.name_of(newcomer)))
        self.send(newcomer, self.matched(room, False, self.name_of(waiter)))
        return True

    # ---- actions ---------------------------------------------------------------------------
    def seek(self, cid: str, mode: str, name: str) -> None:
        while True:
            conn = self.conns[cid]
            if not conn.connected:
                return self.error(cid, "not_connected")
            self.refresh(conn)
            ended: tuple[str, int | None] = ("", None)
            if conn.room is not None:
                if mode != "next":
                    return self.error(cid, "in_room")
                ended = self.end_room(cid)
            if name:
                conn.name = name
            if cid in self.queue:
                self.tell(*ended)
                return self.expect(cid, {"event": "queued", "status": "exists"})
            partner = None
            for other in self.ordered_queue():
                if other == cid:
                    continue
                if self.live(other) and self.conns[other].room is None:
                    partner = other
                    break
                del self.queue[other]
            self.tell(*ended)
            if partner is None:
                self.queue[cid] = self.now
                return self.expect(cid, {"event": "queued", "status": "queued"})
            room = self.pair(partner, cid)
            if self.deliver_pair(partner, cid, room):
                return None
            mode, name = "register", ""

    def leave(self, cid: str) -> None:
        conn = self.conns[cid]
        if not conn.connected:
            return self.error(cid, "not_connected")
        self.refresh(conn)
        self.queue.pop(cid, None)
        if conn.room is not None:
            self.tell(*self.end_room(cid))
        self.expect(cid, {"event": "left"})
        return None

    def ping(self, cid: str) -> None:
        conn = self.conns[cid]
        if not conn.connected:
            return self.error(cid, "not_connected")
        self.refresh(conn)
        self.expect(cid, {"event": "pong"})
        return None

    def join(self, cid: str, room: int | None) -> None:
        conn = self.conns[cid]
        if not conn.connected:
            return self.error(cid, "not_connected")
        self.refresh(conn)
        if conn.room is None:
            return self.error(cid, "not_in_room")
        if room != conn.room:
            return self.error(cid, "wrong_room")
        conn.joined = True
        self.expect(cid, {"event": "verified", "room_code": ("room", room), "role": conn.role})
        return None

    def signal(self, cid: str, room: int | None, kind: str, data: Any) -> None:
        conn = self.conns[cid]
        if not conn.connected:
            return self.error(cid, "not_connected")
        self.refresh(conn)
        if conn.room is None:
            return self.error(cid, "not_in_room")
        if room != conn.room:
            return self.error(cid, "wrong_room")
        if not conn.joined:
            return self.error(cid, "not_joined")
        if (kind == "offer" and conn.role != "initiator") or (kind == "answer" and conn.role != "responder"):
            return self.error(cid, "wrong_role")
        event = {"event": "signal", "room_code": ("room", room), "from": self.name_of(cid), "type": kind, "data": data}
        self.send(conn.peer, event)
        return None

    def chat(self, cid: str, message: str) -> None:
        conn = self.conns[cid]
        if not conn.connected:
            return self.error(cid, "not_connected")
        self.refresh(conn)
        if conn.room is None:
            return self.error(cid, "not_in_room")
        self.send(conn.peer, {"event": "chat", "sender": self.name_of(cid), "message": message})
        return None

    def disconnect(self, cid: str) -> None:
        self.conns[cid].closed = True
        self.tell(*self.forget(cid))

    def sweep(self) -> None:
        expired = sorted(
            (c for c in self.conns.values() if c.connected and c.deadline <= self.now),
            key=lambda c: (c.deadline, c.cid),
        )
        ended = [self.forget(c.cid) for c in expired]
        notify = [(peer, room) for peer, room in ended if peer and self.live(peer)]
        waiting = []
        for cid in self.ordered_queue():
            if self.live(cid) and self.conns[cid].room is None:
                waiting.append(cid)
            else:
                del self.queue[cid]
        pairs = []
        for i in range(0, min(len(waiting) - 1, 2 * PAIRS_PER_SWEEP), 2):
            pairs.append((waiting[i], waiting[i + 1], self.pair(waiting[i], waiting[i + 1])))
        for peer, room in notify:
            self.tell(peer, room)
        for waiter, other, room in pairs:
            if not self.deliver_pair(waiter, other, room):
                self.seek(other, "register", "")
