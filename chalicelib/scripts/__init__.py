"""Lua scripts: every state change is exactly one of these, so each action is one round trip
(and one more, an acknowledgement, when it ended someone else's room).

Contract shared by every state script: KEYS are ``keys.SCRIPT_KEYS`` in that order (the key
schema and what each holds is in ``keys.py``; the Lua locals ``ALIVE = KEYS[1]``... are generated
from that list, ``KEY_LOCALS`` below), and the first seven ARGV are the same for every call::

    ARGV[1] = now (ms), passed in so tests and sweeps control the clock
    ARGV[2] = fence: the wall-clock time (ms, Redis's TIME) past which the call does nothing
              and answers ``expired`` (0: no fence)
    ARGV[3] = idle timeout (ms), ARGV[4] = connection cap (ms), also the TTL of every key written
    ARGV[5] = API Gateway messageId of the client frame ('' if none)
    ARGV[6] = how long (ms) a messageId is remembered
    ARGV[7] = JSON policy (see store.Policy)

The Lua lives in ``lua/``: ``prelude.lua`` (shared) and one file per script, whose
script-specific arguments start at ARGV[8] and are documented at its top. Scripts
never build key names: every key arrives in KEYS and all share one hash tag (one cluster slot).
Each script returns ``{status, JSON details}``; ``store.py`` turns that into types.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from ..keys import SCRIPT_KEYS

LUA_DIR = Path(__file__).parent / "lua"

# Every state script, by name: its body is lua/<name>.lua, run after lua/prelude.lua.
STATE_SCRIPTS = (
    "connect", "disconnect", "ping", "penalise",  # a connection's life
    "seek", "abandon", "leave", "resume",  # entering and leaving rooms
    "join", "relay", "report",  # inside a room
    "sweep", "acknowledge", "stats",  # the safety net, and the read behind GET /stats
)

# The KEYS locals every state script starts with, generated from the one key list.
KEY_LOCALS = "\n".join(f"local {name.upper()} = KEYS[{i}]" for i, name in enumerate(SCRIPT_KEYS, start=1))


def lua(name: str) -> str:
    """The text of lua/<name>.lua (shipped with the package: Chalice packages all of chalicelib/)."""
    return (LUA_DIR / f"{name}.lua").read_text(encoding="utf-8")


@cache
def source(name: str) -> str:
    """The full Lua text of one state script: the KEYS locals, the prelude, then its body."""
    if name not in STATE_SCRIPTS:
        raise KeyError(f"no state script {name!r}")
    return f"{KEY_LOCALS}\n{lua('prelude')}\n{lua(name)}"


# Not a state script: it gets only the lock key and its holder's token.
RELEASE_LOCK = lua("release_lock")
