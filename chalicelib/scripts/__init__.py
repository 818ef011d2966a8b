"""Lua scripts: every state change is exactly one of these, so each action is one round trip
(and one more, an acknowledgement, when it ended someone else's room).

Each script is declared once, in ``SCRIPTS``: its name (its body is ``lua/<name>.lua``, shipped
with the package: Chalice packages all of ``chalicelib/``), its own named arguments and the rate
families it charges. Everything the two sides must agree on is generated from here and from
``keys.SCRIPT_KEYS``, never kept by hand in Lua:

* ``local ALIVE = KEYS[1]`` ... : one local per key, in ``SCRIPT_KEYS`` order;
* the shared arguments every call passes first (``SHARED_ARGS``: ``NOW``, ``FENCE``, ``MESSAGE_ID``);
* what a store's calls all share (``Constants``: ``IDLE``, ``CAP``, ``DEDUP_MS`` and the policy
  ``P``), written into the script's text as Lua literals, so that no call sends or decodes it;
* ``local A = {cid = ARGV[4], ...}``: the script's own arguments, by name, after the shared ones;
* ``local FAMILY = 'seek'``: the rate family, when the script charges exactly one.

The store passes arguments by name (``Store._run``) and orders them from the same declaration.
A store with another policy has other scripts (other SHA1s), so two configurations, say two
versions during a deploy, never run each other's.
The prelude (``lua/prelude.lua``) holds what all scripts share. Scripts never build key names:
every key arrives in KEYS. Each returns ``{status, JSON details}``, which ``store.py`` decodes
into the types of ``outcomes.py``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ..keys import SCRIPT_KEYS

LUA_DIR = Path(__file__).parent / "lua"


@dataclass(frozen=True)
class Arg:
    """A shared argument: its Lua local and how the Lua side reads the string it arrives as."""

    name: str
    read: str = "tonumber"  # tonumber | '' (kept as a string)


# The arguments every state script receives first, in this order.
SHARED_ARGS = (
    Arg("NOW"),  # ms; passed in so tests and sweeps control the clock
    Arg("FENCE"),  # Redis wall clock (ms) past which the call does nothing and answers 'expired'; 0: none
    Arg("MESSAGE_ID", ""),  # API Gateway messageId of the client frame ('' if none)
)


@dataclass(frozen=True)
class Constants:
    """What every call of one store's scripts shares. It is compiled into the scripts' text, not
    sent: decoding the policy from JSON cost each call 16 µs of server time, the literal 6 µs
    (``python -m bench.server_time --split``)."""

    idle_ms: int  # IDLE: the idle timeout
    cap_ms: int  # CAP: the connection cap, also the TTL of every key written
    dedup_ms: int  # DEDUP_MS: how long a messageId is remembered
    policy_json: str  # P: store.Policy under its own field names (Policy.to_json)

    def locals(self) -> str:
        policy = lua_literal(json.loads(self.policy_json))
        return "\n".join([f"local IDLE = {self.idle_ms}", f"local CAP = {self.cap_ms}",
                          f"local DEDUP_MS = {self.dedup_ms}", f"local P = {policy}"])


def lua_literal(value: Any, indent: str = "") -> str:
    """A JSON value as the Lua table constructor that cjson.decode would have built (a table's
    fields one a line, so that the generated text stays readable and lint-clean)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"{value} has no Lua literal")
        return repr(value)
    if isinstance(value, str):  # bytes outside a safe set as Lua 5.1's three-digit escapes
        return '"' + "".join(chr(b) if chr(b) in SAFE else f"\\{b:03d}" for b in value.encode("utf-8")) + '"'
    if isinstance(value, list):
        return "{" + ", ".join(lua_literal(item) for item in value) + "}"
    if isinstance(value, dict):
        if not value:
            return "{}"
        inner = indent + "  "
        fields = [f"{inner}{_lua_key(key)} = {lua_literal(item, inner)}," for key, item in value.items()]
        return "{\n" + "\n".join(fields) + f"\n{indent}}}"
    raise TypeError(f"{type(value).__name__} has no Lua literal")


def _lua_key(key: str) -> str:
    return key if IDENTIFIER.fullmatch(key) and key not in LUA_KEYWORDS else f"[{lua_literal(key)}]"


IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
LUA_KEYWORDS = frozenset(("and", "break", "do", "else", "elseif", "end", "false", "for", "function", "if", "in",
                          "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while"))
SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-.:/")


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
def source(name: str, constants: Constants) -> str:
    """The full Lua text of one state script: the generated locals, the prelude, then its body."""
    script = SCRIPTS[name]
    parts = (KEY_LOCALS, SHARED_LOCALS, constants.locals(), script.header(), lua("prelude"), lua(name))
    return "\n".join(part for part in parts if part)


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
