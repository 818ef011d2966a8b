"""Typed access to the state scripts: one method per state change, one round trip each.

Redis failures surface as :class:`Unavailable`, so handlers answer ``unavailable`` rather than
crash; everything else a script can answer becomes a small result type.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import redis

from . import scripts
from .keys import Keys

ROOM_CODE_BYTES = 18  # 144 random bits from the OS CSPRNG; never derived from names


class Unavailable(RuntimeError):
    """Redis did not answer; the caller reports ``unavailable`` and changes nothing else."""


def new_room_code() -> str:
    return secrets.token_urlsafe(ROOM_CODE_BYTES)


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Ended:
    """A room that an action ended: ``peer`` must be told, unless it is empty."""

    peer: str = ""
    room: str = ""


@dataclass(frozen=True)
class Seek:
    status: str  # matched | queued | exists | in_room | not_connected | duplicate
    ended: Ended = field(default_factory=Ended)
    partner: str = ""
    partner_name: str = ""
    own_name: str = ""
    room: str = ""


@dataclass(frozen=True)
class Relay:
    status: str  # ok | duplicate | not_connected | not_in_room | wrong_room | not_joined | wrong_role
    peer: str = ""
    name: str = ""
    room: str = ""


@dataclass(frozen=True)
class Pair:
    initiator: str
    initiator_name: str
    responder: str
    responder_name: str
    room: str


@dataclass(frozen=True)
class SweepResult:
    evicted: int
    ended: list[Ended]
    pairs: list[Pair]
    endpoint: str


class Store:
    """State operations over one Redis client; ``clock`` returns milliseconds and is injectable."""

    def __init__(
        self,
        client: Any,
        keys: Keys,
        *,
        idle_ms: int,
        cap_ms: int,
        scan_limit: int = 32,
        dedup_ms: int = 60_000,
        clock: Any = now_ms,
    ) -> None:
        self.client = client
        self.keys = keys
        self.idle_ms = idle_ms
        self.cap_ms = cap_ms
        self.scan_limit = scan_limit
        self.dedup_ms = dedup_ms
        self.clock = clock
        self._keys = keys.state()
        self._scripts = {name: client.register_script(scripts.source(name)) for name in scripts.SOURCES}
        self._release = client.register_script(scripts.RELEASE_LOCK)

    def _run(self, name: str, *args: Any, now: int | None = None, message_id: str = "") -> Any:
        when = self.clock() if now is None else now
        argv = [when, self.cap_ms, self.idle_ms, self.cap_ms, message_id, self.dedup_ms, *args]
        try:
            return self._scripts[name](keys=self._keys, args=argv)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise Unavailable(f"Redis unreachable during {name}: {exc}") from exc

    def connect(self, cid: str, ip: str, user_agent: str, connected_at: int, endpoint: str) -> None:
        info = json.dumps({"ip": ip, "ua": user_agent, "at": connected_at}, separators=(",", ":"))
        self._run("connect", cid, info, connected_at, endpoint)

    def seek(self, cid: str, mode: str, name: str = "", message_id: str = "") -> Seek:
        room = new_room_code()
        res = self._run("seek", cid, mode, name, room, self.scan_limit, message_id=message_id)
        ended = Ended(res[1], res[2])
        if res[0] == "matched":
            return Seek("matched", ended, res[3], res[4], res[5], room)
        return Seek(res[0], ended)

    def leave(self, cid: str, message_id: str = "") -> tuple[str, Ended]:
        res = self._run("leave", cid, message_id=message_id)
        return res[0], Ended(res[1], res[2])

    def disconnect(self, cid: str) -> Ended:
        res = self._run("disconnect", cid)
        return Ended(res[1], res[2])

    def join(self, cid: str, room: str, message_id: str = "") -> tuple[str, str]:
        res = self._run("join", cid, room, message_id=message_id)
        return res[0], (res[1] if len(res) > 1 else "")

    def relay(self, cid: str, room: str = "", kind: str = "", message_id: str = "") -> Relay:
        res = self._run("relay", cid, room, kind, message_id=message_id)
        if res[0] == "ok":
            return Relay("ok", res[1], res[2], res[3])
        return Relay(res[0])

    def ping(self, cid: str) -> str:
        return str(self._run("ping", cid)[0])

    def sweep(self, now: int, batch: int, pairs: int = 16) -> SweepResult:
        codes = [new_room_code() for _ in range(pairs)]
        evicted, notify, flat, endpoint = self._run("sweep", batch, *codes, now=now)
        ended = [Ended(notify[i], notify[i + 1]) for i in range(0, len(notify), 2)]
        formed = [Pair(*flat[i : i + 5]) for i in range(0, len(flat), 5)]
        return SweepResult(int(evicted), ended, formed, endpoint)

    def acquire_sweep_lock(self, token: str, ttl_ms: int) -> bool:
        try:
            return bool(self.client.set(self.keys.sweep_lock, token, nx=True, px=ttl_ms))
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise Unavailable(f"Redis unreachable taking the sweep lock: {exc}") from exc

    def release_sweep_lock(self, token: str) -> None:
        with contextlib.suppress(redis.ConnectionError, redis.TimeoutError):  # it expires anyway
            self._release(keys=[self.keys.sweep_lock], args=[token])

    def ping_server(self) -> bool:
        try:
            return bool(self.client.ping())
        except (redis.ConnectionError, redis.TimeoutError):
            return False
