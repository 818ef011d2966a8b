"""Typed access to the state scripts: one method per state change, one round trip each.

Redis failures surface as :class:`Unavailable`, so handlers answer ``unavailable`` rather than
crash; everything a script can answer becomes a small result type.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import redis

from . import scripts
from .identity import EPHEMERAL_PREFIX, Device
from .keys import Keys

log = logging.getLogger(__name__)

ROOM_CODE_BYTES = 18  # 144 random bits from the OS CSPRNG; never derived from names
TOKEN_BYTES = 24  # resume tokens: 192 bits


class Unavailable(RuntimeError):
    """Redis did not answer; the caller reports ``unavailable`` and changes nothing else.

    ``settled`` is True when the call is known not to have happened (it reached Redis past its
    fence and did nothing); otherwise it may still have run, and whoever it touched learns of
    it through the reconciling paths (replay, sweep)."""

    def __init__(self, message: str, *, settled: bool = False) -> None:
        super().__init__(message)
        self.settled = settled


def new_room_code() -> str:
    return secrets.token_urlsafe(ROOM_CODE_BYTES)


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def now_ms() -> int:
    return int(time.time() * 1000)


def _fresh_room() -> tuple[str, str, str]:
    """A room code and two resume tokens, made in Python (the OS CSPRNG), for a pair a call may form."""
    return new_room_code(), new_token(), new_token()


def as_list(value: Any) -> list[Any]:
    # cjson encodes an empty Lua table as {}, so an empty list may arrive as an object.
    return value if isinstance(value, list) else []


@dataclass(frozen=True)
class Policy:
    """Everything the scripts decide by, sent with each call as ARGV[7]."""

    fallback_ms: int = 10_000
    repeat_ms: int = 300_000
    grace_ms: int = 15_000
    scan: int = 32
    rates: dict[str, tuple[float, float]] = field(default_factory=dict)  # family -> (burst, ms per token)
    conn_rate: int = 600
    conn_max: int = 2000
    new_dev_rate: int = 120  # new devices per address per minute
    dev_rate: int = 30  # connections per device per minute
    dev_max: int = 8  # open connections per device
    address_ban_devices: int = 3
    cooldown_ms: int = 60_000
    report_threshold: int = 3
    report_window_ms: int = 3_600_000
    ban_ms: int = 86_400_000
    block_ms: int = 86_400_000
    call_ms: int = 5_000  # how long a call's answer is kept for a retried copy to replay
    announce_ms: int = 8_000  # by then both members of a new room have joined it, or it ends
    notice_ms: int = 3_000  # by then the peer of an ended room was said to be told, or the sweep tells it

    def to_json(self) -> str:
        """The scripts' ``P``: the same field names as here, so the two read alike."""
        fields = dataclasses.asdict(self)
        fields["rates"] = {name: list(spec) for name, spec in self.rates.items()}
        return json.dumps(fields, separators=(",", ":"))


@dataclass(frozen=True)
class Ended:
    """A room an action ended or put on hold: ``peer`` must be told, unless it is empty."""

    peer: str = ""
    room: str = ""
    held: bool = False


@dataclass(frozen=True)
class Refusal:
    retry_ms: int = 0
    close: bool = False


@dataclass(frozen=True)
class Pair:
    initiator: str
    initiator_name: str
    responder: str
    responder_name: str
    room: str
    initiator_token: str
    responder_token: str
    common: list[str]
    waited_ms: int


@dataclass(frozen=True)
class Result:
    """A script's status word and its details; ``pair`` when the call formed a room."""

    status: str
    details: dict[str, Any] = field(default_factory=dict)
    pair: Pair | None = None

    def get(self, key: str, default: Any = "") -> Any:
        return self.details.get(key, default)

    @property
    def refusal(self) -> Refusal:
        return Refusal(int(self.get("retry_ms", 0)), bool(self.get("close", False)))


def _matched(details: dict[str, Any], newcomer: str) -> Pair:
    """The pair a seek or re-match formed: the partner waited and initiates, unless the answer
    re-announces a room in which this connection is the initiator."""
    common, waited = as_list(details.get("common")), int(details.get("waited", 0))
    if details.get("role") == "initiator":
        return Pair(newcomer, details["own_name"], details["partner"], details["partner_name"], details["room"],
                    details["token_own"], details["token_partner"], common, waited)
    return Pair(details["partner"], details["partner_name"], newcomer, details["own_name"], details["room"],
                details["token_partner"], details["token_own"], common, waited)


@dataclass(frozen=True)
class SweepResult:
    evicted: int
    ended: list[Ended]
    pairs: list[Pair]
    next_due: int
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
        dedup_ms: int = 60_000,
        policy: Policy | None = None,
        clock: Any = now_ms,
        fence_ms: int = 0,
        wall: Any = now_ms,
    ) -> None:
        self.client = client
        self.keys = keys
        self.idle_ms = idle_ms
        self.cap_ms = cap_ms
        self.dedup_ms = dedup_ms
        self.policy = policy or Policy()
        self._policy_json = self.policy.to_json()
        self.clock = clock
        self.fence_ms = fence_ms  # 0: no fence (a late call still runs)
        self.wall = wall  # the real clock, which Redis's TIME is compared with (never faked)
        self._scripts = {name: client.register_script(scripts.source(name)) for name in scripts.STATE_SCRIPTS}
        self._release = client.register_script(scripts.RELEASE_LOCK)

    def _run(self, name: str, *args: Any, now: int | None = None, message_id: str = "") -> Result:
        """One script call. Its fence and call id are fixed before the first send, so a copy that
        redis-py sends again after a timeout either replays what the first did or does nothing."""
        when = self.clock() if now is None else now
        started = self.wall()
        fence = started + self.fence_ms if self.fence_ms else 0
        keys = self.keys.script_keys(when, secrets.token_hex(8))
        argv = [when, fence, self.idle_ms, self.cap_ms, message_id, self.dedup_ms, self._policy_json, *args]
        try:
            status, details = self._scripts[name](keys=keys, args=argv)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise Unavailable(f"Redis unreachable during {name}: {exc}") from exc
        if status == "expired":
            if self.wall() - started < self.fence_ms:
                # Answered within the fence yet judged late: Redis's clock is ahead of ours.
                log.error("Redis clock is ahead of this host's by more than %d ms; %s runs unfenced",
                          self.fence_ms, name)
                argv[1] = 0
                status, details = self._scripts[name](keys=self.keys.script_keys(when, secrets.token_hex(8)),
                                                      args=argv)
            else:
                raise Unavailable(f"{name} reached Redis too late and did nothing", settled=True)
        return Result(status, json.loads(details) if details != "{}" else {})

    def connect(self, cid: str, ip: str, user_agent: str, connected_at: int, endpoint: str,
                device: Device | None = None) -> str:
        device = device or Device(EPHEMERAL_PREFIX + cid)
        record: dict[str, Any] = {"ip": ip, "dev": device.id, "ua": user_agent, "at": connected_at}
        if device.token:
            record["issue"] = device.token
        info = json.dumps(record, separators=(",", ":"))
        return self._run("connect", cid, info, connected_at, endpoint, "1" if device.new else "0").status

    def seek(self, cid: str, mode: str, name: str = "", tags: list[str] | None = None, message_id: str = "") -> Result:
        """register/next; a ``matched`` result carries its ``pair``."""
        tags_json = "" if tags is None else json.dumps(tags)
        result = self._run("seek", cid, mode, name, tags_json, *_fresh_room(), message_id=message_id)
        return _with_pair(result, cid)

    def abandon(self, pair: Pair, gone: str, told: bool) -> Result:
        """End ``pair``'s room because ``gone`` could not be told of it; the other member is
        named (``told``) or put back to looking, which may pair it again (``matched``)."""
        other = pair.responder if gone == pair.initiator else pair.initiator
        result = self._run("abandon", pair.room, gone, other, "1" if told else "0", *_fresh_room())
        return _with_pair(result, other)

    def acknowledge(self, told: list[Ended]) -> bool:
        """Say that these peers were told their room ended, so the sweep does not tell them again.

        Best effort: if Redis does not answer, the sweep tells them once more, which the page
        ignores for a room it has left. Returns whether the acknowledgement is known to be stored.
        """
        if not told or not self.policy.notice_ms:  # no notices are kept: nothing to acknowledge
            return True
        try:
            self._run("acknowledge", json.dumps([[ended.peer, ended.room] for ended in told]))
        except Unavailable as exc:
            log.warning("could not acknowledge %d ended-room notices: %s", len(told), exc)
            return False
        return True

    def penalise(self, cid: str) -> Result:
        return self._run("penalise", cid)

    def leave(self, cid: str, message_id: str = "") -> Result:
        return self._run("leave", cid, message_id=message_id)

    def disconnect(self, cid: str, hold: bool = False) -> Ended:
        result = self._run("disconnect", cid, "1" if hold else "0")
        return Ended(result.get("peer"), result.get("room"), result.status == "held")

    def resume(self, cid: str, token: str, message_id: str = "") -> tuple[Result, str]:
        fresh = new_token()
        return self._run("resume", cid, token, fresh, message_id=message_id), fresh

    def join(self, cid: str, room: str, message_id: str = "") -> Result:
        return self._run("join", cid, room, message_id=message_id)

    def relay(self, cid: str, kind: str, room: str = "", message_id: str = "") -> Result:
        return self._run("relay", cid, room, kind, message_id=message_id)

    def report(self, cid: str, reason: str, message_id: str = "") -> Result:
        return self._run("report", cid, reason, message_id=message_id)

    def ping(self, cid: str) -> Result:
        return self._run("ping", cid)

    def sweep(self, now: int, batch: int, pairs: int = 16) -> SweepResult:
        fresh = [{"code": new_room_code(), "a": new_token(), "b": new_token()} for _ in range(pairs)]
        out = self._run("sweep", batch, json.dumps(fresh), now=now).details
        ended = [Ended(item["peer"], item["room"]) for item in as_list(out.get("ended"))]
        formed = [
            Pair(p["a"], p["a_name"], p["b"], p["b_name"], p["room"], p["token_a"], p["token_b"],
                 as_list(p.get("common")), int(p["waited"]))
            for p in as_list(out.get("pairs"))
        ]
        return SweepResult(int(out.get("evicted", 0)), ended, formed, int(out.get("next_due", 0)),
                           out.get("endpoint", ""))

    def stats(self) -> dict[str, Any]:
        details = self._run("stats").details
        details["waits"] = as_list(details.get("waits"))
        return details

    def acquire_sweep_lock(self, token: str, ttl_ms: int) -> bool:
        try:
            return bool(self.client.set(self.keys.sweep_lock, token, nx=True, px=ttl_ms))
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise Unavailable(f"Redis unreachable taking the sweep lock: {exc}") from exc

    def release_sweep_lock(self, token: str) -> None:
        with contextlib.suppress(redis.ConnectionError, redis.TimeoutError):  # it expires anyway
            self._release(keys=[self.keys.sweep_lock], args=[token])

    def load_scripts(self) -> None:
        """Put every script in the server's cache, as a warm container finds them."""
        for script in (*self._scripts.values(), self._release):
            self.client.script_load(script.script)

    def ping_server(self) -> bool:
        try:
            return bool(self.client.ping())
        except (redis.ConnectionError, redis.TimeoutError):
            return False


def _with_pair(result: Result, newcomer: str) -> Result:
    if result.status != "matched":
        return result
    return Result(result.status, result.details, _matched(result.details, newcomer))
