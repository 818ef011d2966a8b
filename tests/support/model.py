"""A reference model of the server: plain Python, no Redis, no concurrency.

It predicts, for every action, exactly which events each connection receives. The stateful test
runs the same actions through the real handlers and Redis and compares. Room codes and resume
tokens are random, so the model names rooms itself and the test learns the real values the first
time they are delivered.

Like the server, each action is a script (one atomic change of state) and then a handler (the
posts, and what a failed post causes); queue ties are broken as a Redis sorted set breaks them,
by member.

A relay first asks its room's own slot, which answers from the room's view: the copy of the
seats that the last script touching the room sent there, trusted until its lease ends. A script
whose reply is lost sent no view, so the slot goes on answering from the one before
(docs/decisions/0004-room-slots.md); the model keeps the views the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalicelib.store import JOINING_KINDS

IDLE_MS = 600_000
CAP_MS = 7_200_000
FALLBACK_MS = 10_000
REPEAT_MS = 300_000
GRACE_MS = 15_000
ANNOUNCE_MS = 8_000  # a room not joined by both this long after it formed is ended by the sweep
NOTICE_MS = 3_000  # the peer of an ended room nobody said was told this long after is told by the sweep
BLOCK_MS = 86_400_000
REPORT_THRESHOLD = 3  # distinct reporters within the window ban an address
REPORT_WINDOW_MS = 3_600_000
VIEW_LEASE_MS = 30_000  # ROOM_VIEW_LEASE_SECONDS
PAIRS_PER_SWEEP = 16
RECHECK = 4  # the oldest waiters past their fallback that each sweep looks at again


@dataclass
class Conn:
    cid: str
    at: int
    deadline: int
    ip: str
    name: str | None = None
    tags: tuple[str, ...] = ()
    connected: bool = True  # the server has a record of it
    gone: bool = False  # its socket vanished: posts to it answer 410
    closed: bool = False  # $disconnect arrived


@dataclass
class Seat:
    room: int
    role: str
    peer: str
    token: str = ""  # learned from the delivered event
    joined: bool = False
    held: int = 0  # grace deadline while its socket is gone
    name: str = ""
    ip: str = ""


@dataclass(frozen=True)
class View:
    """A room's copy of its seats on the room's slot (view_of in prelude.lua)."""

    members: dict[str, str]  # role -> connection
    active: dict[str, bool]  # connection -> seated there, its socket up
    joined: dict[str, bool]
    names: dict[str, str]
    lease: int


@dataclass
class Model:
    now: int
    conns: dict[str, Conn] = field(default_factory=dict)
    seats: dict[str, Seat] = field(default_factory=dict)
    queue: dict[str, int] = field(default_factory=dict)  # cid -> waiting since
    due: dict[str, int] = field(default_factory=dict)  # waiter -> when the sweep looks for a partner for it
    rooms: dict[int, tuple[str, str]] = field(default_factory=dict)  # room -> (initiator, responder)
    formed: dict[int, int] = field(default_factory=dict)  # room -> when it formed
    fresh: dict[int, int] = field(default_factory=dict)  # room -> when both must have joined it
    ended: dict[str, tuple[int, int]] = field(default_factory=dict)  # peer -> (ended room, when the sweep tells it)
    recent: dict[frozenset[str], int] = field(default_factory=dict)
    blocked: dict[frozenset[str], int] = field(default_factory=dict)
    reports: dict[str, dict[str, int]] = field(default_factory=dict)  # reported ip -> reporter ip -> when
    closing: list[str] = field(default_factory=list)  # sockets the server closed (a ban), in order
    expected: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    lose_reply: bool = False  # the next script's reply is lost on the wire (see reply())
    views: dict[int, View | None] = field(default_factory=dict)  # room -> its slot's view (None: closed)
    touched: set[int] = field(default_factory=set)  # rooms the running script changed
    _next_room: int = 0

    # ---- the Lua prelude ---------------------------------------------------------------------
    def live(self, cid: str) -> bool:
        conn = self.conns.get(cid)
        return bool(conn and conn.connected and conn.deadline > self.now)

    def refresh(self, conn: Conn) -> None:
        conn.deadline = min(conn.at + CAP_MS, self.now + IDLE_MS)

    def name_of(self, cid: str) -> str:
        return self.conns[cid].name or "Stranger"

    def ordered(self, scores: dict[str, int]) -> list[str]:
        return [cid for cid, _ in sorted(scores.items(), key=lambda item: (item[1], item[0]))]

    def enqueue(self, cid: str, since: int, recheck: bool = False) -> None:
        """A waiter with interests is due at its fallback; one put back in the queue at once."""
        self.queue[cid] = since
        self.due.pop(cid, None)
        if recheck or self.conns[cid].tags:
            self.due[cid] = self.now if recheck else since + FALLBACK_MS

    def dequeue(self, cid: str) -> None:
        self.queue.pop(cid, None)
        self.due.pop(cid, None)

    def end_room(self, cid: str) -> str:
        seat = self.seats.pop(cid)
        self.touched.add(seat.room)
        del self.rooms[seat.room]
        self.fresh.pop(seat.room, None)
        peer_seat = self.seats.get(seat.peer)
        if peer_seat and peer_seat.room == seat.room:
            del self.seats[seat.peer]
            if peer_seat.held:
                return ""
        return seat.peer

    def notify(self, peer: str, room: int) -> str:
        """The peer must hear that room ended: a notice the handler acknowledges once it has told it."""
        if peer and NOTICE_MS and self.live(peer):
            self.ended[peer] = (room, self.now + NOTICE_MS)
        return peer

    def forget(self, cid: str, hold: bool) -> tuple[str, int | None, bool]:
        conn = self.conns[cid]
        if conn.connected:
            conn.connected = False
            self.dequeue(cid)
        self.ended.pop(cid, None)
        seat = self.seats.get(cid)
        if seat is None or seat.held:
            return "", None, False
        if hold:
            seat.held, seat.name, seat.ip = self.now + GRACE_MS, self.name_of(cid), conn.ip
            self.touched.add(seat.room)
            return seat.peer, seat.room, True
        return self.notify(self.end_room(cid), seat.room), seat.room, False

    def accepts(self, x: Conn, y: Conn, waited: int) -> bool:
        return not x.tags or waited >= FALLBACK_MS or bool(set(x.tags) & set(y.tags))

    def compatible(self, a: str, wa: int, b: str, wb: int, allow_repeat: bool) -> bool:
        ca, cb = self.conns[a], self.conns[b]
        if a == b or self.blocked.get(frozenset((ca.ip, cb.ip)), 0) > self.now:
            return False
        if not allow_repeat and self.recent.get(frozenset((a, b)), 0) > self.now:
            return False
        return self.accepts(ca, cb, wa) and self.accepts(cb, ca, wb)

    def pair(self, waiter: str, newcomer: str) -> int:
        room = self._next_room
        self._next_room += 1
        self.dequeue(waiter)
        self.dequeue(newcomer)
        self.rooms[room] = (waiter, newcomer)
        self.formed[room] = self.now
        if ANNOUNCE_MS:
            self.fresh[room] = self.now + ANNOUNCE_MS
        self.seats[waiter] = Seat(room, "initiator", newcomer)
        self.seats[newcomer] = Seat(room, "responder", waiter)
        self.recent[frozenset((waiter, newcomer))] = self.now + REPEAT_MS
        return room

    def common(self, a: str, b: str) -> list[str]:
        return [t for t in self.conns[a].tags if t in self.conns[b].tags]

    # ---- delivery.Outbox ---------------------------------------------------------------------
    def expect(self, cid: str, event: dict[str, Any]) -> None:
        self.expected.setdefault(cid, []).append(event)

    def unreachable(self, cid: str) -> bool:
        return self.conns[cid].gone or self.conns[cid].closed

    def send(self, cid: str, event: dict[str, Any], hold: bool = True) -> bool:
        if self.unreachable(cid):
            self.tell(*self.forget(cid, hold))
            return False
        self.expect(cid, event)
        return True

    def tell(self, peer: str, room: int | None, held: bool = False, told: list[tuple[str, int]] | None = None) -> None:
        """Outbox.tell: a peer told its room ended is acknowledged at once, or with the rest of
        the sweep's pass (`told`)."""
        if not peer:
            return
        if held:
            self.send(peer, {"event": "peer-reconnecting", "room_code": ("room", room)})
        elif self.send(peer, {"event": "peer-disconnected", "room_code": ("room", room)}) and room is not None:
            if told is None:
                self.acknowledge([(peer, room)])
            else:
                told.append((peer, room))

    def acknowledge(self, told: list[tuple[str, int]]) -> None:
        for peer, room in told:
            if self.ended.get(peer, (None, 0))[0] == room:
                del self.ended[peer]

    def error(self, cid: str, code: str) -> None:
        self.expect(cid, {"event": "error", "code": code})

    def matched(self, room: int, initiator: bool, peer: str, interests: list[str]) -> dict[str, Any]:
        return {"event": "matched", "room_code": ("room", room), "initiator": initiator,
                "peer": {"name": self.name_of(peer)}, "interests": interests}

    def announce(self, initiator: str, responder: str, room: int, interests: list[str]) -> str:
        """Outbox.announce: the initiator is told first. A member that cannot be told ends the
        room at once (abandon): a member already told hears peer-disconnected, one not told
        goes back to looking, which may pair it again, announced in turn."""
        while True:
            if self.unreachable(initiator):
                status, again = self.abandon(room, initiator, responder, told=False)
                if again is not None:
                    initiator, responder, room, interests = again
                    continue
                if status == "queued":
                    self.send(responder, {"event": "queued", "status": "queued"})
                return status
            self.expect(initiator, self.matched(room, True, responder, interests))
            if self.unreachable(responder):
                status, _ = self.abandon(room, responder, initiator, told=True)
                if status == "told" and self.live(initiator):
                    self.tell(initiator, room)
                return "gone"
            self.expect(responder, self.matched(room, False, initiator, interests))
            return "matched"

    def abandon(
        self, room: int, gone: str, other: str, told: bool
    ) -> tuple[str, tuple[str, str, int, list[str]] | None]:
        """The ABANDON script: returns its status and, for `matched`, the new pair."""
        seat = self.seats.get(gone)
        still_open = room in self.rooms and seat is not None and seat.room == room
        if still_open:
            self.end_room(gone)
        self.forget(gone, False)
        if told:
            if still_open:
                self.notify(other, room)
            return ("told" if still_open else "stale"), None
        if not self.conns[other].connected or not self.live(other):
            return "not_connected", None
        if other in self.seats or other in self.queue:
            return "stale", None
        partner = self.find_partner(other)
        if partner is None:
            return "queued", None
        return "matched", (partner, other, self.pair(partner, other), self.common(partner, other))

    def takes_anyone(self, cid: str, waited: int) -> bool:
        return not self.conns[cid].tags or waited >= FALLBACK_MS

    def partner_for(self, cid: str, waited: int, used: set[str] | frozenset[str] = frozenset()) -> str | None:
        """The oldest waiter cid may be paired with now, or None. Only the waiters the server's
        index lists are looked at (and dropped when stale): those who share an interest with
        cid and, when cid takes anyone, those who take anyone too."""
        tags = set(self.conns[cid].tags)
        for other in self.ordered(self.queue):
            if other == cid or other in used:
                continue
            since = self.queue[other]
            listed = bool(tags & set(self.conns[other].tags)) or (
                self.takes_anyone(cid, waited) and self.takes_anyone(other, self.now - since))
            if not listed:
                continue
            if not self.live(other) or other in self.seats:
                self.dequeue(other)
            elif self.compatible(other, self.now - since, cid, waited, False):
                return other
        return None

    def find_partner(self, cid: str) -> str | None:
        """The oldest compatible waiter, or None, and then cid waits. Pairing is left to the caller."""
        partner = self.partner_for(cid, 0)
        if partner is None:
            self.enqueue(cid, self.now)
        return partner

    # ---- actions -----------------------------------------------------------------------------
    # Each action is its script, which changes state, then its handler, which posts. The script
    # part returns the handler part, so that a reply lost on the wire (`lose_reply`) can be
    # modelled: the script ran, but the handler only answers `unavailable`.
    def reply(self, cid: str | None, handler: Callable[[], None]) -> None:
        if self.lose_reply:
            self.lose_reply = False
            self.touched.clear()  # the views went with the reply
            if cid is not None:
                self.error(cid, "unavailable")
            return
        self.send_views()
        handler()
        self.send_views()  # the scripts a failed post ran (abandon, disconnect) send theirs

    def send_views(self) -> None:
        """store._apply_views: each touched room's slot gets the room as it is now."""
        for room in sorted(self.touched):
            if room not in self.rooms:
                self.views[room] = None
                continue
            members = dict(zip(("initiator", "responder"), self.rooms[room], strict=True))

            def active(cid: str, room: int = room) -> bool:
                seat = self.seats.get(cid)
                return bool(seat and seat.room == room and not seat.held and self.conns[cid].connected)

            self.views[room] = View(
                members, {cid: active(cid) for cid in members.values()},
                {cid: bool(cid in self.seats and self.seats[cid].joined) for cid in members.values()},
                {cid: self.name_of(cid) for cid in members.values()}, self.now + VIEW_LEASE_MS)
        self.touched.clear()

    def relay_in_room(self, cid: str, kind: str, room: int | None) -> tuple[str, str] | None:
        """room_relay.lua: the peer and the sender's name by the room's view, or None (a miss).
        An offer or an answer is a seat's first relay as the page signals: it goes to the lobby."""
        if kind in JOINING_KINDS:
            return None
        view = self.views.get(room) if room is not None else None
        if view is None or view.lease <= self.now:
            return None
        role = next((r for r, member in view.members.items() if member == cid), None)
        if role is None:
            return None
        peer = view.members["responder" if role == "initiator" else "initiator"]
        if not (view.active[cid] and view.active[peer] and view.joined[cid]):
            return None
        if (kind == "offer" and role != "initiator") or (kind == "answer" and role != "responder"):
            return None
        return peer, view.names[cid]

    def begin(self, cid: str, relaying: bool = False) -> Conn | None:
        """What every action script does first: not_connected, or refresh (not for a relay,
        which most often never reaches the lobby: ping alone keeps a connection alive)."""
        conn = self.conns[cid]
        if not conn.connected:
            return None
        if not relaying:
            self.refresh(conn)
        return conn

    def refused(self, cid: str, code: str) -> Callable[[], None]:
        return lambda: self.error(cid, code)

    def seek(self, cid: str, mode: str, name: str, tags: tuple[str, ...] | None) -> None:
        self.reply(cid, self.seek_script(cid, mode, name, tags))

    def seek_script(self, cid: str, mode: str, name: str, tags: tuple[str, ...] | None) -> Callable[[], None]:
        conn = self.begin(cid)
        if conn is None:
            return self.refused(cid, "not_connected")
        left: tuple[str, int | None] = ("", None)
        seat = self.seats.get(cid)
        if seat is not None and mode != "next":
            peer_seat = self.seats.get(seat.peer)
            if seat.joined or peer_seat is None or peer_seat.held:
                return self.refused(cid, "in_room")
            # Seated but never joined: it may never have heard of its room, so both are told
            # again, with the tokens they hold; this register's name and interests are not used.
            first, second = (cid, seat.peer) if seat.role == "initiator" else (seat.peer, cid)
            interests = self.common(seat.peer, cid)
            return lambda: self.announce(first, second, seat.room, interests)
        if seat is not None:
            left = self.end_own_room(cid)
        if name:
            conn.name = name
        if tags is not None:
            conn.tags = tags
            if cid in self.queue:  # it keeps its place, under its new interests
                self.enqueue(cid, self.queue[cid])
        if cid in self.queue:
            return lambda: (self.tell(*left), self.send(cid, {"event": "queued", "status": "exists"}))
        partner = self.find_partner(cid)
        if partner is None:
            return lambda: (self.tell(*left), self.send(cid, {"event": "queued", "status": "queued"}))
        room, interests = self.pair(partner, cid), self.common(partner, cid)
        return lambda: (self.tell(*left), self.announce(partner, cid, room, interests))

    def end_own_room(self, cid: str) -> tuple[str, int]:
        room = self.seats[cid].room
        return self.notify(self.end_room(cid), room), room

    def leave(self, cid: str) -> None:
        self.reply(cid, self.leave_script(cid))

    def leave_script(self, cid: str) -> Callable[[], None]:
        if self.begin(cid) is None:
            return self.refused(cid, "not_connected")
        self.dequeue(cid)
        ended = self.end_own_room(cid) if cid in self.seats else ("", None)
        return lambda: (self.tell(*ended), self.expect(cid, {"event": "left"}))

    def ping(self, cid: str) -> None:
        self.reply(cid, self.ping_script(cid))

    def ping_script(self, cid: str) -> Callable[[], None]:
        if self.begin(cid) is None:
            return self.refused(cid, "not_connected")
        return lambda: self.expect(cid, {"event": "pong"})

    def join(self, cid: str, room: int | None) -> None:
        self.reply(cid, self.join_script(cid, room))

    def join_script(self, cid: str, room: int | None) -> Callable[[], None]:
        if self.begin(cid) is None:
            return self.refused(cid, "not_connected")
        seat = self.seats.get(cid)
        if seat is None:
            return self.refused(cid, "not_in_room")
        if room != seat.room:
            return self.refused(cid, "wrong_room")
        self.mark_joined(cid)
        return lambda: self.expect(cid, {"event": "verified", "room_code": ("room", room), "role": seat.role})

    def mark_joined(self, cid: str) -> None:
        """`join`, or a seat's first relay: once both heard of the room, no announcement was lost."""
        seat = self.seats[cid]
        self.touched.add(seat.room)
        if not seat.joined:
            seat.joined = True
            if self.seats[seat.peer].joined:
                self.fresh.pop(seat.room, None)

    def relay(
        self, cid: str, kind: str, room: int | None, data: Any = None, message: str = "", seq: int | None = None
    ) -> None:
        fast = self.relay_in_room(cid, kind, room)
        if fast is not None:  # the slot relays alone: nothing in the lobby changes
            peer, name = fast
            self.reply(cid, lambda: self.send(peer, self.relay_event(kind, room, name, data, message, seq)))
        elif self.lose_reply and kind not in JOINING_KINDS:  # the slot's miss was the reply lost
            self.lose_reply = False
            self.error(cid, "unavailable")
        else:
            self.reply(cid, self.relay_script(cid, kind, room, data, message, seq))

    def relay_event(
        self, kind: str, room: int | None, name: str, data: Any, message: str, seq: int | None
    ) -> dict[str, Any]:
        code = ("room", room)
        if kind == "chat":
            event = {"event": "chat", "room_code": code, "sender": name, "message": message}
            if seq is not None:
                event["seq"] = seq
            return event
        if kind == "typing":
            return {"event": "typing", "room_code": code}
        return {"event": "signal", "room_code": code, "from": name, "type": kind, "data": data}

    def relay_script(
        self, cid: str, kind: str, room: int | None, data: Any, message: str, seq: int | None
    ) -> Callable[[], None]:
        if self.begin(cid, relaying=True) is None:
            return self.refused(cid, "not_connected")
        seat = self.seats.get(cid)
        if seat is None:
            return self.refused(cid, "not_in_room")
        if room != seat.room:  # every kind names its room; a stale or foreign one reaches nobody
            return self.refused(cid, "wrong_room")
        if (kind == "offer" and seat.role != "initiator") or (kind == "answer" and seat.role != "responder"):
            return self.refused(cid, "wrong_role")
        if self.seats[seat.peer].held:
            return self.refused(cid, "peer_reconnecting")
        self.mark_joined(cid)  # naming its room proves the member heard of it, as `join` does
        event = self.relay_event(kind, seat.room, self.name_of(cid), data, message, seq)
        return lambda: self.send(seat.peer, event)

    def report(self, cid: str) -> None:
        self.reply(cid, self.report_script(cid))

    def report_script(self, cid: str) -> Callable[[], None]:
        conn = self.begin(cid)
        if conn is None:
            return self.refused(cid, "not_connected")
        seat = self.seats.get(cid)
        if seat is None:
            return self.refused(cid, "not_in_room")
        peer_seat = self.seats[seat.peer]
        peer_ip = peer_seat.ip if peer_seat.held else self.conns[seat.peer].ip
        peer, room = self.end_own_room(cid)
        self.blocked[frozenset((conn.ip, peer_ip))] = self.now + BLOCK_MS
        recent = {ip: at for ip, at in self.reports.pop(peer_ip, {}).items() if at > self.now - REPORT_WINDOW_MS}
        recent[conn.ip] = self.now
        closing: list[str] = []
        ended: list[tuple[str, int | None]] = []
        if len(recent) < REPORT_THRESHOLD:
            self.reports[peer_ip] = recent
        else:  # banned: every open socket of the address is forgotten, and the peers of any told
            for sock in [c.cid for c in self.conns.values() if c.connected and c.ip == peer_ip]:
                other, other_room, _ = self.forget(sock, False)
                closing.append(sock)
                if other and other != cid:
                    ended.append((other, other_room))

        def handler() -> None:
            self.tell(peer, room)
            for other, other_room in ended:
                self.tell(other, other_room)
            for sock in closing:  # told, then closed; a post to a socket already gone is simply lost
                if not self.unreachable(sock):
                    self.expect(sock, {"event": "banned"})
                self.closing.append(sock)
            self.expect(cid, {"event": "reported"})

        return handler

    def resume(self, cid: str, token: str) -> None:
        self.reply(cid, self.resume_script(cid, token))

    def resume_script(self, cid: str, token: str) -> Callable[[], None]:
        if self.begin(cid) is None:
            return self.refused(cid, "not_connected")
        if cid in self.seats:
            return self.refused(cid, "in_room")
        old = next((c for c, s in self.seats.items() if s.token == token), None)
        seat = self.seats.get(old) if old else None
        if old is None or seat is None or not seat.held or seat.held <= self.now:
            return self.refused(cid, "invalid_token")
        self.dequeue(cid)
        del self.seats[old]
        self.conns[cid].name = seat.name
        self.seats[cid] = Seat(seat.room, seat.role, seat.peer)
        peer_seat = self.seats[seat.peer]
        peer_seat.peer = cid
        a, b = self.rooms[seat.room]
        self.rooms[seat.room] = (cid, b) if a == old else (a, cid)
        self.touched.add(seat.room)
        peer_name = peer_seat.name if peer_seat.held else self.name_of(seat.peer)
        resumed = {"event": "resumed", "room_code": ("room", seat.room), "initiator": seat.role == "initiator",
                   "peer": {"name": peer_name}, "peer_reconnecting": bool(peer_seat.held)}

        def handler() -> None:
            self.expect(cid, resumed)
            if not peer_seat.held:
                self.send(seat.peer, {"event": "peer-resumed", "room_code": ("room", seat.room)})

        return handler

    def disconnect(self, cid: str) -> None:
        """$disconnect; if its reply is lost the handler only logs (the sweep is the safety net)."""
        self.conns[cid].closed = True
        ended = self.forget(cid, True)
        self.reply(None, lambda: self.tell(*ended))

    def sweep(self) -> None:
        """The sweep script, then its announcements; a lost reply skips them (a later pass ends
        what that left: see `fresh`)."""
        self.reply(None, self.sweep_script())

    def sweep_script(self) -> Callable[[], None]:
        expired = [c.cid for c in self.conns.values() if c.connected and c.deadline <= self.now]
        ended = []
        for cid in self.ordered({c: self.conns[c].deadline for c in expired}):
            peer, room, _ = self.forget(cid, False)
            ended.append((peer, room))
        holds = {c: s.held for c, s in self.seats.items() if s.held and s.held <= self.now}
        for cid in self.ordered(holds):
            if cid in self.seats:
                ended.append(self.end_own_room(cid))
        notify = [(peer, room) for peer, room in ended if peer and self.live(peer)]
        # Ended rooms nobody said were told: told now (and due again unless acknowledged), unless
        # their peer has moved on or is gone.
        for peer in sorted((p for p, (_, due) in self.ended.items() if due <= self.now), key=lambda p: (self.ended[p][1], p)):
            room, _ = self.ended[peer]
            if self.live(peer) and peer not in self.seats and peer not in self.queue:
                self.ended[peer] = (room, self.now + NOTICE_MS)
                notify.append((peer, room))
            else:
                del self.ended[peer]
        # Rooms not joined by both in time may have lost an announcement: they end; a member that
        # joined is told, one that never did goes back to the queue as of when the room formed.
        for room in sorted((r for r, due in self.fresh.items() if due <= self.now), key=lambda r: self.fresh[r]):
            del self.fresh[room]
            if room not in self.rooms:
                continue
            members = self.rooms[room]
            seats = [self.seats.get(member) for member in members]
            self.end_room(members[0] if seats[0] else members[1])
            for member, seat in zip(members, seats, strict=True):
                if seat and seat.room == room and not seat.held and self.live(member):
                    if seat.joined:
                        notify.append((self.notify(member, room), room))
                    else:
                        self.enqueue(member, self.formed[room], recheck=True)
        # Waiters who may be paired now but were not when they last looked: those due (their
        # fallback passed, or they were put back), then the oldest few past their fallback, in
        # the order they started waiting (sweep.lua's pair_waiters).
        due = [cid for cid in self.ordered(self.due) if self.due[cid] <= self.now][: 2 * PAIRS_PER_SWEEP]
        overdue = [cid for cid in self.ordered(self.queue) if self.queue[cid] <= self.now - FALLBACK_MS]
        seekers = sorted([(self.queue[c], c) for c in due]
                         + [(self.queue[c], c) for c in overdue[:RECHECK] if c not in due])
        used: set[str] = set()
        pairs: list[tuple[str, str, int, list[str]]] = []

        def try_pair(x: str, y: str) -> None:
            # The one who waited longer initiates; of two who started at once, the lower id.
            first, second = sorted((x, y), key=lambda c: (self.queue[c], c))
            used.update((first, second))
            pairs.append((first, second, self.pair(first, second), self.common(first, second)))

        for since, cid in seekers:
            if len(pairs) >= PAIRS_PER_SWEEP:
                break  # out of room codes: the rest stay due, for the next pass
            self.due.pop(cid, None)
            if cid in used or cid not in self.queue:
                continue
            if not self.live(cid) or cid in self.seats:
                self.dequeue(cid)
                continue
            partner = self.partner_for(cid, self.now - since, used)
            if partner is not None:
                try_pair(partner, cid)
        # Two strangers paired a moment ago are paired again if they are all who wait past the fallback.
        late = [cid for cid in self.ordered(self.queue) if self.queue[cid] <= self.now - FALLBACK_MS]
        if len(late) == 2 and len(pairs) < PAIRS_PER_SWEEP:
            x, y = late
            if all(self.live(c) and c not in self.seats for c in late) and self.compatible(
                    x, self.now - self.queue[x], y, self.now - self.queue[y], True):
                try_pair(x, y)

        def handler() -> None:
            told: list[tuple[str, int]] = []
            for peer, room in notify:
                self.tell(peer, room, told=told)
            for waiter, other, room, interests in pairs:
                self.announce(waiter, other, room, interests)
            self.acknowledge(told)

        return handler
