"""Lua scripts: every state change is exactly one of these, so each action is one round trip
(and one more, an acknowledgement, when it ended someone else's room).

Each script is declared once, in ``SCRIPTS``: its name (its body is ``lua/<name>.lua``, shipped
with the package: Chalice packages all of ``chalicelib/``), its own named arguments and the rate
families it charges. Everything the two sides must agree on is generated from here and from
``keys.SCRIPT_KEYS``, never kept by hand in Lua:

* ``local ALIVE = KEYS[1]`` ... : one local per key, in ``SCRIPT_KEYS`` order;
* the shared arguments every call passes first (``SHARED_ARGS``: ``NOW``, ``FENCE``, ``P``...);
* ``local A = {cid = ARGV[8], ...}``: the script's own arguments, by name;
* ``local FAMILY = 'seek'``: the rate family, when the script charges exactly one.

The store passes arguments by name (``Store._run``) and orders them from the same declaration.
The prelude (``lua/prelude.lua``) holds what all scripts share. Scripts never build key names:
every key arrives in KEYS. Each returns ``{status, JSON details}``, which ``store.py`` decodes
into the types of ``outcomes.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ..keys import SCRIPT_KEYS

LUA_DIR = Path(__file__).parent / "lua"


@dataclass(frozen=True)
class Arg:
    """A shared argument: its Lua local and how the Lua side reads the string it arrives as."""

    name: str
    read: str = "tonumber"  # tonumber | cjson.decode | '' (kept as a string)


# The arguments every state script receives first, in this order.
SHARED_ARGS = (
    Arg("NOW"),  # ms; passed in so tests and sweeps control the clock
    Arg("FENCE"),  # Redis wall clock (ms) past which the call does nothing and answers 'expired'; 0: none
    Arg("IDLE"),  # the idle timeout (ms)
    Arg("CAP"),  # the connection cap (ms), also the TTL of every key written
    Arg("MESSAGE_ID", ""),  # API Gateway messageId of the client frame ('' if none)
    Arg("DEDUP_MS"),  # how long a messageId is remembered
    Arg("P", "cjson.decode"),  # the policy: store.Policy under its own field names
)


@dataclass(frozen=True)
class Script:
    """One state script: its name, its own arguments (``A.<name>`` in Lua, all strings) and the
    rate families (``config.DEFAULT_RATES``) its calls charge."""

    name: str
    args: tuple[str, ...] = ()
    families: tuple[str, ...] = ()

    def header(self) -> str:
        fields = [f"  {arg} = ARGV[{i}]," for i, arg in enumerate(self.args, start=len(SHARED_ARGS) + 1)]
        lines = ["local A = {", *fields, "}"] if self.args else []
        if len(self.families) == 1:
            lines.append(f"local FAMILY = '{self.families[0]}'")
        return "\n".join(lines)


SCRIPTS = {
    script.name: script
    for script in (
        # a connection's life
        Script("connect", ("cid", "info", "connected_at", "endpoint", "new_device")),
        Script("disconnect", ("cid", "hold")),
        Script("ping", ("cid",), ("misc",)),
        Script("penalise", ("cid", "code", "retry_ms")),
        # entering and leaving rooms
        Script("seek", ("cid", "mode", "name", "tags", "code", "token_a", "token_b"), ("seek",)),
        Script("abandon", ("room", "gone", "other", "told", "code", "token_a", "token_b")),
        Script("leave", ("cid",), ("misc",)),
        Script("resume", ("cid", "token", "fresh"), ("seek",)),
        # inside a room
        Script("join", ("cid", "room"), ("misc",)),
        Script("relay", ("cid", "room", "kind", "family"), ("signal", "chat", "typing")),
        Script("report", ("cid",), ("misc",)),
        # the safety net, and the read behind GET /stats
        Script("sweep", ("batch", "fresh")),
        Script("acknowledge", ("told",)),
        Script("stats"),
    )
}
STATE_SCRIPTS = tuple(SCRIPTS)

# The KEYS locals every state script starts with, generated from the one key list.
KEY_LOCALS = "\n".join(f"local {name.upper()} = KEYS[{i}]" for i, name in enumerate(SCRIPT_KEYS, start=1))
SHARED_LOCALS = "\n".join(
    f"local {arg.name} = {arg.read}(ARGV[{i}])" if arg.read else f"local {arg.name} = ARGV[{i}]"
    for i, arg in enumerate(SHARED_ARGS, start=1)
)


def lua(name: str) -> str:
    """The text of lua/<name>.lua."""
    return (LUA_DIR / f"{name}.lua").read_text(encoding="utf-8")


@cache
def source(name: str) -> str:
    """The full Lua text of one state script: the generated locals, the prelude, then its body."""
    script = SCRIPTS[name]
    return "\n".join(part for part in (KEY_LOCALS, SHARED_LOCALS, script.header(), lua("prelude"), lua(name)) if part)


@dataclass(frozen=True)
class SlotScript:
    """A script on one room's own slot (``keys.Keys.room_tag``): it needs no prelude, no policy
    and none of the lobby's keys, which is what makes a relay cheap and lets relays spread over
    a cluster. ``keys`` become the Lua locals ``VIEW``, ``FRAME``...; ``args`` are ``A.<name>``."""

    name: str
    keys: tuple[str, ...]
    args: tuple[str, ...]

    @property
    def source(self) -> str:
        keys = [f"local {key.upper()} = KEYS[{i}]" for i, key in enumerate(self.keys, start=1)]
        fields = [f"  {arg} = ARGV[{i}]," for i, arg in enumerate(self.args, start=1)]
        return "\n".join([*keys, "local A = {", *fields, "}", lua(self.name)])


SLOT_SCRIPTS = {
    script.name: script
    for script in (
        SlotScript("room_relay", ("view", "frame"),
                   ("now", "fence", "cid", "kind", "family", "call", "burst", "per_token_ms", "keep_ms")),
        SlotScript("room_view", ("view",), ("view", "ttl")),
    )
}

# Not a state script: it gets only the lock key and its holder's token.
RELEASE_LOCK = lua("release_lock")
