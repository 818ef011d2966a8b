"""join, signal, chat and typing: everything relayed inside a room. The recipient is always the
sender's current peer as recorded by the server, never a client-supplied target.

A seat's first relay joins it, so the page signals as soon as `matched` arrives; ``join`` stays
for pages loaded before that, which wait for its ``verified``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import events, protocol
from ..errors import ClientError
from ..outcomes import Refused, Relayed, Verified
from .context import Context
from .replies import refuse


def join(ctx: Context, msg: protocol.Join) -> None:
    """The compatibility path: a page from before the fold claims its seat and waits for this."""
    match ctx.service.store.join(ctx.connection_id, msg.room_code, ctx.message_id):
        case Verified(role=role):
            ctx.outbox.send(ctx.connection_id, events.verified(msg.room_code, role))
        case Refused() as refused:
            refuse(refused)


def _relay(ctx: Context, kind: str, room: str, event: Callable[[Relayed], dict[str, Any]]) -> None:
    """Relay to the sender's peer; ``event(relayed)`` builds what the peer receives."""
    match ctx.service.store.relay(ctx.connection_id, kind, room, ctx.message_id):
        case Relayed() as relayed:
            ctx.outbox.send(relayed.peer, event(relayed))
        case Refused() as refused:
            refuse(refused)


def signal(ctx: Context, msg: protocol.Signal) -> None:
    _relay(ctx, msg.type, msg.room_code, lambda to: events.signal(to.room, to.name, msg.type, msg.data))


def chat(ctx: Context, msg: protocol.Chat) -> None:
    limit = ctx.service.settings.max_chat_chars
    if not msg.message.strip():
        raise ClientError("invalid_field", "Chat messages cannot be empty.")
    if len(msg.message) > limit:
        raise ClientError("too_large", f"Chat messages are limited to {limit} characters.")
    _relay(ctx, "chat", msg.room_code, lambda to: events.chat(to.room, to.name, msg.message, msg.seq))


def typing(ctx: Context, msg: protocol.Typing) -> None:
    _relay(ctx, "typing", msg.room_code, lambda to: events.typing(to.room))
