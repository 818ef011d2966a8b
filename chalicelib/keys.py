"""The Redis key schema: every key name is built here and nowhere else.

Each script touches the keys of one hash slot, so none fails with ``CROSSSLOT`` on ElastiCache
cluster mode. The lobby and every connection's life live under one tag, ``{<prefix>}``: pairing
must atomically read the queue and write both strangers' seats. What a relay needs (signal,
chat, typing: most of the traffic) lives under its room's own tag, ``{<prefix>:r:<room>}``, so
relays spread over a cluster's shards (docs/decisions/0004-room-slots.md).

=============================  =====  ===========================================================
key                            type   contents
=============================  =====  ===========================================================
``{p}:alive``                  ZSET   connection -> liveness deadline (ms); past it the sweep
                                      treats the connection as vanished (idle timeout, 2 h cap)
``{p}:conns``                  HASH   connection -> JSON ``{ip, dev, ua, at, name, tags[, issue]}``
                                      (``dev``: its device identity; ``issue``: a signed identity
                                      to hand the page on its first register, resume or ping)
``{p}:queue``                  ZSET   connection -> time it started waiting (ms); oldest first
``{p}:waiting``                ZSET   the queue by interest, all scores 0, in lexical order:
                                      ``tag\0<start>\0connection`` per interest, or
                                      ``\0<start>\0connection`` for a waiter with none
``{p}:due``                    ZSET   waiter -> when the sweep looks for a partner for it (its
                                      interest fallback, or at once when put back in the queue)
``{p}:seats``                  HASH   connection -> JSON ``{room, role, peer, joined, token}``,
                                      plus ``held, name, ip, dev`` while its socket is gone
``{p}:rooms``                  HASH   room code -> JSON ``{initiator, responder, at}``
``{p}:meta``                   HASH   ``endpoint``: Management API URL last seen at ``$connect``,
                                      so the scheduled sweep (which has no event) can post
``{p}:msgs``                   ZSET   API Gateway messageId -> when processed (de-duplication)
``{p}:recent``                 ZSET   ``a|b`` device pair -> end of its no-repeat period
``{p}:blocked``                ZSET   ``a|b`` device pair -> end of the block a report imposed
``{p}:tokens``                 HASH   resume token -> connection whose seat it resumes
``{p}:held``                   ZSET   dropped connection -> end of its seat's grace period
``{p}:buckets``                HASH   ``device:family`` -> rate-limit bucket
``{p}:reports``                HASH   reported device -> JSON ``{reporter device: when}``
``{p}:bans``                   ZSET   ``d:device`` or ``a:address`` -> end of its ban
``{p}:strikes``                HASH   address -> JSON ``{banned device: end of its ban}``; enough
                                      of them ban the address
``{p}:devconns``               HASH   device -> open connections
``{p}:devsockets``             ZSET   ``device\0<connected at>\0connection``, scores 0: a device's open
                                      connections are one lexical range (a ban closes them all)
``{p}:cooldown``               ZSET   device closed for abuse -> when it may connect again
``{p}:trim``                   ZSET   ``r:device`` (reports), ``s:address`` (strikes), ``b:device``
                                      (buckets of a device with no socket) -> when the sweep
                                      deletes that entry, its window being over
``{p}:ipconns``                HASH   IP -> open connections
``{p}:iprate:<minute>``        HASH   IP (``d|device``, ``n|IP``) -> connections opened (by that
                                      device; new devices from that IP) in that minute
``{p}:matchstats``             HASH   second mod 64 -> ``<second> <matches> <waited ms>...`` (a
                                      sample of up to 16 waits), for /stats
``{p}:statscache``             STR    the last /stats answer, for a few seconds
``{p}:ipsockets``              ZSET   ``IP\0<connected at>\0connection``, the same for an address (a ban closes
                                      them all)
``{p}:fresh``                  ZSET   room -> when it must have been joined by both; a room
                                      whose announcement was lost is ended by the sweep then
``{p}:ended``                  ZSET   connection -> when the sweep tells it that its room ended,
                                      unless the handler that ended it said it told it first
``{p}:endedroom``              HASH   connection -> that room (only its latest matters)
``{p}:viewseq``                STR    the version of the last room view sent to a room's slot
``{p}:call:<id>``              STR    one script call's answer, for seconds: a retried
                                      copy of the call replays it instead of acting twice
``{p}:lock:sweep``             STR    token of the sweep currently running
``{p:r:<room>}:view``          HASH   what a relay needs of a room, copied from the seats above
                                      by every change to them: ``v`` (its version), ``lease``
                                      (trusted until then, ms), per role (``i``, ``r``): the
                                      member, ``ia``/``ra`` active, ``ij``/``rj`` joined,
                                      ``in``/``rn`` name, and ``b:<role>:<family>`` its rate
                                      buckets; or ``v, closed`` once the room ended
``{p:r:<room>}:m:<id>``        STR    a relayed frame by messageId (or call id): the call that
                                      relayed it and its answer, for de-duplication and replay
=============================  =====  ===========================================================

Keys describing connections get the 2-hour connection cap as TTL on every write, so a key that
nobody wrote for 2 hours holds only the dead. Keys about IPs (reports, bans, report blocks)
live as long as the window, ban or block they describe.
"""

from __future__ import annotations

from dataclasses import dataclass

STATE_KEYS = (
    "alive", "conns", "queue", "seats", "rooms", "meta", "msgs", "recent", "blocked", "tokens",
    "held", "buckets", "reports", "bans", "ipconns", "ipsockets", "fresh", "ended", "endedroom",
    "strikes", "devconns", "devsockets", "cooldown", "trim", "waiting", "due", "matchstats", "statscache",
    "viewseq",
)
# The KEYS every state script receives, in order; the Lua locals (ALIVE = KEYS[1], ...) are
# generated from this one list (scripts.KEY_LOCALS), so the two cannot drift apart.
SCRIPT_KEYS = (*STATE_KEYS, "iprate", "call")
CALL_PREFIX = "call:"


@dataclass(frozen=True)
class Keys:
    prefix: str = "rvc"

    @property
    def tag(self) -> str:
        return "{" + self.prefix + "}"

    def __getattr__(self, name: str) -> str:
        if name in STATE_KEYS:
            return f"{self.tag}:{name}"
        raise AttributeError(name)

    @property
    def sweep_lock(self) -> str:
        return f"{self.tag}:lock:sweep"

    def iprate(self, now_ms: int) -> str:
        return f"{self.tag}:iprate:{now_ms // 60_000}"

    def call(self, call_id: str) -> str:
        """One script call's remembered answer, so that a retried copy replays it."""
        return f"{self.tag}:{CALL_PREFIX}{call_id}"

    def room_tag(self, room: str) -> str:
        """The hash tag of one room's slot: its relays touch nothing else."""
        return "{" + self.prefix + ":r:" + room + "}"

    def view(self, room: str) -> str:
        return f"{self.room_tag(room)}:view"

    def relayed(self, room: str, frame: str) -> str:
        """A frame relayed in ``room``, by messageId or call id."""
        return f"{self.room_tag(room)}:m:{frame}"

    def state(self, now_ms: int = 0) -> list[str]:
        """Every long-lived state key (not the per-call answers)."""
        return [*(f"{self.tag}:{name}" for name in STATE_KEYS), self.iprate(now_ms)]

    def script_keys(self, now_ms: int, call_id: str) -> list[str]:
        """The KEYS list of one script call, in ``SCRIPT_KEYS`` order."""
        return [*self.state(now_ms), self.call(call_id)]
