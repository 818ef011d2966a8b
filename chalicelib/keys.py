"""The Redis key schema: every key name is built here and nowhere else.

All state lives under one hash tag, ``{<prefix>}``, so every key shares one cluster slot and
each Lua script can touch all the keys it needs without ``CROSSSLOT`` errors on ElastiCache
cluster mode. One slot is deliberate: pairing must atomically read the queue and write both
strangers' seats, and a single Valkey shard handles far more operations per second than API
Gateway's default of 500 new connections per second can produce.

==========================  =====  ==============================================================
key                         type   contents
==========================  =====  ==============================================================
``{p}:alive``               ZSET   connection id -> liveness deadline (ms). Past it, the sweep
                                   treats the connection as vanished (idle timeout or 2 h cap).
``{p}:conns``               HASH   connection id -> JSON ``{ip, ua, at, name}``
``{p}:queue``               ZSET   connection id -> time it started waiting (ms); oldest first
``{p}:seats``               HASH   connection id -> JSON ``{room, role, peer, joined}``
``{p}:rooms``               HASH   room code -> JSON ``{initiator, responder, at}``
``{p}:meta``                HASH   ``endpoint``: the Management API URL last seen at ``$connect``,
                                   so the scheduled sweep (which has no WebSocket event) can post
``{p}:msgs``                ZSET   API Gateway messageId -> when processed; a frame delivered
                                   twice acts once. Trimmed to ``DEDUP_WINDOW_SECONDS``
``{p}:lock:sweep``          STR    token of the sweep currently running
==========================  =====  ==============================================================

Shared keys get a TTL of the 2-hour connection cap on every write: no entry can describe a live
connection for longer than that, so a key that nobody wrote for 2 hours holds only the dead.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    prefix: str = "rvc"

    @property
    def tag(self) -> str:
        return "{" + self.prefix + "}"

    @property
    def alive(self) -> str:
        return f"{self.tag}:alive"

    @property
    def conns(self) -> str:
        return f"{self.tag}:conns"

    @property
    def queue(self) -> str:
        return f"{self.tag}:queue"

    @property
    def seats(self) -> str:
        return f"{self.tag}:seats"

    @property
    def rooms(self) -> str:
        return f"{self.tag}:rooms"

    @property
    def meta(self) -> str:
        return f"{self.tag}:meta"

    @property
    def msgs(self) -> str:
        return f"{self.tag}:msgs"

    @property
    def sweep_lock(self) -> str:
        return f"{self.tag}:lock:sweep"

    def state(self) -> list[str]:
        """The KEYS list every state script receives, in the order the scripts expect."""
        return [self.alive, self.conns, self.queue, self.seats, self.rooms, self.meta, self.msgs]
