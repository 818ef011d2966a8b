"""The dispatch table: one handler per client action, looked up by the parsed message's ``action``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .matching import leave, next_, register, resume
from .session import ping, report
from .signalling import chat, join, signal, typing

Handler = Callable[[Any, Any], None]

HANDLERS: dict[str, Handler] = {
    "register": register,
    "next": next_,
    "resume": resume,
    "leave": leave,
    "join": join,
    "signal": signal,
    "chat": chat,
    "typing": typing,
    "report": report,
    "ping": ping,
}
