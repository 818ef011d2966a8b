"""Lua scripts: every state change is exactly one of these, so each action is one round trip.

Contract shared by every state script (see ``keys.Keys.state``)::

    KEYS[1]  {p}:alive    ZSET  connection -> liveness deadline (ms)
    KEYS[2]  {p}:conns    HASH  connection -> JSON {ip, ua, at, name, tags}
    KEYS[3]  {p}:queue    ZSET  connection -> waiting since (ms)
    KEYS[4]  {p}:seats    HASH  connection -> JSON {room, role, peer, joined, token[, held, name, ip]}
    KEYS[5]  {p}:rooms    HASH  room code  -> JSON {initiator, responder, at}
    KEYS[6]  {p}:meta     HASH  endpoint -> Management API URL for the sweep
    KEYS[7]  {p}:msgs     ZSET  messageId -> when processed (de-duplication)
    KEYS[8]  {p}:recent   ZSET  "a|b" connection pair -> end of its no-repeat period (ms)
    KEYS[9]  {p}:blocked  ZSET  "ip|ip" pair -> end of the block a report imposed (ms)
    KEYS[10] {p}:tokens   HASH  resume token -> connection that owns the seat
    KEYS[11] {p}:held     ZSET  dropped connection -> end of its seat's grace period (ms)
    KEYS[12] {p}:buckets  HASH  "connection:family" -> "tokens:last refill (ms)"
    KEYS[13] {p}:reports  HASH  reported ip -> JSON {reporter ip: when}
    KEYS[14] {p}:bans     ZSET  ip -> end of ban (ms)
    KEYS[15] {p}:ipconns  HASH  ip -> open connections
    KEYS[16] {p}:iprate:<minute>  HASH  ip -> connections opened this minute
    KEYS[17] {p}:matches  ZSET  "room:waited ms" -> when matched (last minute only, for /stats)
    ARGV[1] = now (ms), passed in so tests and sweeps control the clock
    ARGV[2] = TTL (ms) for every key a script writes: the 2-hour connection cap
    ARGV[3] = idle timeout (ms), ARGV[4] = connection cap (ms)
    ARGV[5] = API Gateway messageId of the client frame ('' if none)
    ARGV[6] = how long (ms) a messageId is remembered
    ARGV[7] = JSON policy: fallback, repeat, grace, rates, limits (see store.Policy)

Script-specific arguments start at ARGV[8] and are documented at the top of each body. Scripts
never build key names: every key arrives in KEYS and all share one hash tag (one cluster slot).
Each script returns ``{status, JSON details}``; ``store.py`` turns that into types.
"""

from __future__ import annotations

from . import connection, matching, prelude, relay, sweep

SOURCES: dict[str, str] = {
    "connect": connection.CONNECT,
    "disconnect": connection.DISCONNECT,
    "ping": connection.PING,
    "penalise": connection.PENALISE,
    "seek": matching.SEEK,
    "abandon": matching.ABANDON,
    "leave": matching.LEAVE,
    "resume": matching.RESUME,
    "join": relay.JOIN,
    "relay": relay.RELAY,
    "report": relay.REPORT,
    "sweep": sweep.SWEEP,
    "stats": sweep.STATS,
}

RELEASE_LOCK = r"""
-- KEYS[1] = lock key, ARGV[1] = token of the holder. Deletes the lock only if we still hold it.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def source(name: str) -> str:
    """The full Lua text of one script: the shared prelude followed by its body."""
    return prelude.PRELUDE + SOURCES[name]
