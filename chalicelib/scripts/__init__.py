"""Lua scripts: every state change is exactly one of these, so each action is one round trip
(and one more, an acknowledgement, when it ended someone else's room).

Contract shared by every state script: KEYS are ``keys.SCRIPT_KEYS`` in that order (the key
schema and what each holds is in ``keys.py``; the Lua locals ``ALIVE = KEYS[1]``... are generated
from that list by ``prelude``), and the first seven ARGV are the same for every call::

    ARGV[1] = now (ms), passed in so tests and sweeps control the clock
    ARGV[2] = fence: the wall-clock time (ms, Redis's TIME) past which the call does nothing
              and answers ``expired`` (0: no fence)
    ARGV[3] = idle timeout (ms), ARGV[4] = connection cap (ms), also the TTL of every key written
    ARGV[5] = API Gateway messageId of the client frame ('' if none)
    ARGV[6] = how long (ms) a messageId is remembered
    ARGV[7] = JSON policy (see store.Policy)

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
    "acknowledge": sweep.ACKNOWLEDGE,
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
