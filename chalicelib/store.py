"""Typed access to the state scripts: one method per state change, one round trip each.

Redis failures surface as :class:`Unavailable`, so handlers answer ``unavailable`` rather than
crash. Each script's reply is decoded here, once, into the types of ``outcomes.py``.
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
from .outcomes import (
    ConnectStatus,
    Duplicate,
    Ended,
    Left,
    Matched,
    Pair,
    Pong,
    Queued,
    Refused,
    Relayed,
    Reported,
    Resumed,
    Stale,
    Stats,
    Swept,
    Told,
    Verified,
)

log = logging.getLogger(__name__)

# The rate family of each kind of relayed frame.
RELAY_FAMILIES = {"offer": "signal", "answer": "signal", "candidates": "signal", "candidate": "signal",
                  "chat": "chat", "typing": "typing"}
# A seat's first relay, as the page signals: the lobby joins the seat and sends the room's view,
# so asking the room's slot first would only cost a round trip to hear `miss`.
JOINING_KINDS = frozenset({"offer", "answer"})
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


def _fresh_room() -> dict[str, str]:
    """A room code and two resume tokens, made in Python (the OS CSPRNG), for a pair a call may form."""
    return {"code": new_room_code(), "token_a": new_token(), "token_b": new_token()}


def as_list(value: Any) -> list[Any]:
    # cjson encodes an empty Lua table as {}, so an empty list may arrive as an object.
    return value if isinstance(value, list) else []


@dataclass(frozen=True)
class Policy:
    """Everything the scripts decide by: ``P`` in Lua, compiled into their text (``scripts.Constants``)."""

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
    stats_cache_ms: int = 2_000  # GET /stats answers from one shared computation this long
    view_lease_ms: int = 30_000  # a room's slot trusts its copy of the seats this long

    def to_json(self) -> str:
        """The scripts' ``P``: the same field names as here, so the two read alike."""
        fields = dataclasses.asdict(self)
        fields["rates"] = {name: list(spec) for name, spec in self.rates.items()}
        return json.dumps(fields, separators=(",", ":"))


def _refusal(status: str, details: dict[str, Any]) -> Refused:
    close = bool(details.get("close", False))
    ended = Ended(details.get("ended_peer", ""), details.get("ended_room", "")) if close else None
    return Refused(status, int(details.get("retry_ms", 0)), close, ended)


def _refused(status: str, details: dict[str, Any]) -> Refused | Duplicate:
    """Every answer that is not the script's success: a duplicate delivery, or a refusal."""
    return Duplicate() if status == "duplicate" else _refusal(status, details)


def _pair(details: dict[str, Any], newcomer: str) -> Pair:
    """The pair a seek or re-match formed: the partner waited and initiates, unless the answer
    re-announces a room in which this connection is the initiator."""
    common, waited = tuple(as_list(details.get("common"))), int(details.get("waited", 0))
    if details.get("role") == "initiator":
        return Pair(newcomer, details["own_name"], details["partner"], details["partner_name"], details["room"],
                    details["token_own"], details["token_partner"], common, waited)
    return Pair(details["partner"], details["partner_name"], newcomer, details["own_name"], details["room"],
                details["token_partner"], details["token_own"], common, waited)


def _seeking(status: str, details: dict[str, Any], newcomer: str) -> Matched | Queued | None:
    """The answers of a call that looks for a partner, or None for any other."""
    left = Ended(details.get("left_peer", ""), details.get("left_room", ""))
    identity = details.get("identity") or ""
    if status == "matched":
        return Matched(_pair(details, newcomer), left, bool(details.get("again", False)), identity)
    if status in {"queued", "exists"}:
        return Queued(int(details.get("queue_length", 0)), status == "exists", left, identity)
    return None


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
        self.constants = scripts.Constants(idle_ms, cap_ms, dedup_ms, self.policy.to_json())
        self.clock = clock
        self.fence_ms = fence_ms  # 0: no fence (a late call still runs)
        self.wall = wall  # the real clock, which Redis's TIME is compared with (never faked)
        self._scripts = {name: client.register_script(scripts.source(name, self.constants))
                         for name in scripts.STATE_SCRIPTS}
        self._slot_scripts = {name: client.register_script(slot.source) for name, slot in scripts.SLOT_SCRIPTS.items()}
        self._release = client.register_script(scripts.RELEASE_LOCK)

    def _run(self, script: str, /, *, now: int | None = None, message_id: str = "", **args: Any) -> tuple[str, Any]:
        """One script call, its arguments by name (``scripts.SCRIPTS``). Its fence and call id
        are fixed before the first send, so a copy that redis-py sends again after a timeout
        either replays what the first did or does nothing."""
        declared = scripts.SCRIPTS[script].args
        if set(args) != set(declared):
            raise TypeError(f"{script} takes {declared}, not {tuple(args)}")
        when = self.clock() if now is None else now
        started = self.wall()
        shared = {"NOW": when, "FENCE": started + self.fence_ms if self.fence_ms else 0, "MESSAGE_ID": message_id}
        argv = [*(shared[arg.name] for arg in scripts.SHARED_ARGS), *(args[arg] for arg in declared)]
        keys = self.keys.script_keys(when, secrets.token_hex(8))
        try:
            status, details = self._scripts[script](keys=keys, args=argv)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise Unavailable(f"Redis unreachable during {script}: {exc}") from exc
        if status == "expired":
            if self.wall() - started < self.fence_ms:
                # Answered within the fence yet judged late: Redis's clock is ahead of ours.
                log.error("Redis clock is ahead of this host's by more than %d ms; %s runs unfenced",
                          self.fence_ms, script)
                argv[1] = 0
                status, details = self._scripts[script](keys=self.keys.script_keys(when, secrets.token_hex(8)),
                                                      args=argv)
            else:
                raise Unavailable(f"{script} reached Redis too late and did nothing", settled=True)
        decoded = json.loads(details) if details != "{}" else {}
        if isinstance(decoded, dict) and "_views" in decoded:
            self._apply_views(as_list(decoded.pop("_views")))
        return status, decoded

    def _apply_views(self, views: list[dict[str, Any]]) -> None:
        """Send each room whose seats changed its new view, on the room's own slot. The change
        itself has happened: a view that is not applied leaves the room's slot unsure of nothing
        but what it answers until the old view's lease ends (then relays ask the lobby again)."""
        for view in views:
            try:
                self._slot_scripts["room_view"](keys=[self.keys.view(view["room"])],
                                                args=[json.dumps(view, separators=(",", ":")), self.cap_ms])
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                log.warning("room %s: its new view was not applied (%s); it is trusted until its lease ends",
                            view["room"], exc)

    def _relay_in_room(self, cid: str, kind: str, room: str, message_id: str) -> Relayed | Refused | Duplicate | None:
        """The fast path of a relay, on the room's own slot; None when only the lobby can say."""
        family = RELAY_FAMILIES.get(kind)
        spec = self.policy.rates.get(family or "")
        if not room or spec is None or kind in JOINING_KINDS:
            return None
        call, started = secrets.token_hex(8), self.wall()
        fence = started + self.fence_ms if self.fence_ms else 0
        keep = self.dedup_ms if message_id else self.policy.call_ms
        argv = [self.clock(), fence, cid, kind, family, call, spec[0], spec[1], keep]
        try:
            reply = self._slot_scripts["room_relay"](
                keys=[self.keys.view(room), self.keys.relayed(room, message_id or "c:" + call)], args=argv)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise Unavailable(f"Redis unreachable during a relay: {exc}") from exc
        status = reply[0]
        details = json.loads(reply[1]) if len(reply) > 1 else {}
        if status == "ok":
            return Relayed(details["peer"], details["name"], room)
        if status == "duplicate":
            return Duplicate()
        if status == "limited":
            return self.penalise(cid, "rate_limited", int(details["retry_ms"]))
        if status == "expired" and self.wall() - started >= self.fence_ms:
            raise Unavailable("a relay reached Redis too late and did nothing", settled=True)
        return None  # miss (or judged late by a clock that is ahead: the lobby's path copes)

    def connect(self, cid: str, ip: str, user_agent: str, connected_at: int, endpoint: str,
                device: Device | None = None) -> ConnectStatus:
        device = device or Device(EPHEMERAL_PREFIX + cid)
        record: dict[str, Any] = {"ip": ip, "dev": device.id, "ua": user_agent, "at": connected_at}
        if device.token:
            record["issue"] = device.token
        info = json.dumps(record, separators=(",", ":"))
        status, _ = self._run("connect", cid=cid, info=info, connected_at=connected_at, endpoint=endpoint,
                              new_device="1" if device.new else "0")
        return status  # type: ignore[no-any-return]

    def seek(self, cid: str, mode: str, name: str = "", tags: list[str] | None = None,
             message_id: str = "") -> Matched | Queued | Refused | Duplicate:
        """register and next."""
        tags_json = "" if tags is None else json.dumps(tags)
        status, details = self._run("seek", cid=cid, mode=mode, name=name, tags=tags_json, message_id=message_id,
                                    **_fresh_room())
        return _seeking(status, details, cid) or _refused(status, details)

    def abandon(self, pair: Pair, gone: str, told: bool) -> Told | Matched | Queued | Stale | Refused:
        """End ``pair``'s room because ``gone`` could not be told of it; the other member is
        named (``told``) or put back to looking, which may pair it again."""
        other = pair.responder if gone == pair.initiator else pair.initiator
        status, details = self._run("abandon", room=pair.room, gone=gone, other=other, told="1" if told else "0",
                                    **_fresh_room())
        if status == "told":
            return Told(Ended(details["peer"], details["room"]))
        if status == "stale":
            return Stale()
        return _seeking(status, details, other) or Refused(status)

    def acknowledge(self, told: list[Ended]) -> bool:
        """Say that these peers were told their room ended, so the sweep does not tell them again.

        Best effort: if Redis does not answer, the sweep tells them once more, which the page
        ignores for a room it has left. Returns whether the acknowledgement is known to be stored.
        """
        if not told or not self.policy.notice_ms:  # no notices are kept: nothing to acknowledge
            return True
        try:
            self._run("acknowledge", told=json.dumps([[ended.peer, ended.room] for ended in told]))
        except Unavailable as exc:
            log.warning("could not acknowledge %d ended-room notices: %s", len(told), exc)
            return False
        return True

    def penalise(self, cid: str, code: str = "penalised", retry_ms: int = 0) -> Refused:
        """Charge a frame refused before any script ran (or by a room's slot) to the abuse bucket."""
        return _refusal(*self._run("penalise", cid=cid, code=code, retry_ms=retry_ms))

    def leave(self, cid: str, message_id: str = "") -> Left | Refused | Duplicate:
        status, details = self._run("leave", cid=cid, message_id=message_id)
        if status == "left":
            return Left(Ended(details["peer"], details["room"]))
        return _refused(status, details)

    def disconnect(self, cid: str, hold: bool = False) -> Ended:
        status, details = self._run("disconnect", cid=cid, hold="1" if hold else "0")
        return Ended(details["peer"], details["room"], status == "held")

    def resume(self, cid: str, token: str, message_id: str = "") -> Resumed | Refused | Duplicate:
        fresh = new_token()
        status, details = self._run("resume", cid=cid, token=token, fresh=fresh, message_id=message_id)
        if status == "resumed":
            return Resumed(details["room"], details["role"] == "initiator", details["peer"], details["peer_name"],
                           bool(details["peer_held"]), fresh, details.get("identity") or "")
        return _refused(status, details)

    def join(self, cid: str, room: str, message_id: str = "") -> Verified | Refused | Duplicate:
        status, details = self._run("join", cid=cid, room=room, message_id=message_id)
        return Verified(details["role"]) if status == "verified" else _refused(status, details)

    def relay(self, cid: str, kind: str, room: str = "", message_id: str = "") -> Relayed | Refused | Duplicate:
        """signal, chat and typing: the room's own slot answers when its view can, else the lobby."""
        fast = self._relay_in_room(cid, kind, room, message_id)
        if fast is not None:
            return fast
        status, details = self._run("relay", cid=cid, room=room, kind=kind, family=RELAY_FAMILIES[kind],
                                    message_id=message_id)
        if status == "ok":
            return Relayed(details["peer"], details["name"], details["room"])
        return _refused(status, details)

    def report(self, cid: str, message_id: str = "") -> Reported | Refused | Duplicate:
        status, details = self._run("report", cid=cid, message_id=message_id)
        if status != "reported":
            return _refused(status, details)
        others = tuple(Ended(item["peer"], item["room"]) for item in as_list(details.get("ended")))
        return Reported(Ended(details["peer"], details["room"]), bool(details["banned"]),
                        tuple(as_list(details.get("closing"))), others)

    def ping(self, cid: str) -> Pong | Refused | Duplicate:
        status, details = self._run("ping", cid=cid)
        return Pong(details.get("identity") or "") if status == "pong" else _refused(status, details)

    def sweep(self, now: int, batch: int, pairs: int = 16) -> Swept:
        spare = [{"code": new_room_code(), "a": new_token(), "b": new_token()} for _ in range(pairs)]
        _, out = self._run("sweep", batch=batch, fresh=json.dumps(spare), now=now)
        ended = tuple(Ended(item["peer"], item["room"]) for item in as_list(out.get("ended")))
        formed = tuple(
            Pair(p["a"], p["a_name"], p["b"], p["b_name"], p["room"], p["token_a"], p["token_b"],
                 tuple(as_list(p.get("common"))), int(p["waited"]))
            for p in as_list(out.get("pairs"))
        )
        return Swept(int(out.get("evicted", 0)), ended, formed, int(out.get("next_due", 0)), out.get("endpoint", ""))

    def stats(self) -> Stats:
        _, out = self._run("stats")
        return Stats(int(out["waiting"]), int(out["chatting"]), int(out["online"]), int(out["matches"]),
                     tuple(int(wait) for wait in as_list(out.get("waits"))))

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
        for script in (*self._scripts.values(), *self._slot_scripts.values(), self._release):
            self.client.script_load(script.script)

    def ping_server(self) -> bool:
        try:
            return bool(self.client.ping())
        except (redis.ConnectionError, redis.TimeoutError):
            return False

