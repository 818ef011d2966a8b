"""join, signal, chat and typing: everything relayed inside a room. The recipient is always the
sender's current peer as recorded by the server, never a client-supplied target."""

from __future__ import annotations

from .. import events, protocol
from ..errors import ClientError
from ..store import Result
from .context import Context
from .outcomes import succeeded


def join(ctx: Context, msg: protocol.Join) -> None:
    result = ctx.service.store.join(ctx.connection_id, msg.room_code, ctx.message_id)
    if not succeeded(result, "verified"):
        return
    ctx.outbox.send(ctx.connection_id, events.verified(msg.room_code, result.get("role")))


def _relay(ctx: Context, kind: str, room: str) -> Result | None:
    result = ctx.service.store.relay(ctx.connection_id, kind, room, ctx.message_id)
    return result if succeeded(result, "ok") else None


def signal(ctx: Context, msg: protocol.Signal) -> None:
    result = _relay(ctx, msg.type, msg.room_code)
    if result is not None:
        ctx.outbox.send(result.get("peer"), events.signal(result.get("room"), result.get("name"), msg.type, msg.data))


def chat(ctx: Context, msg: protocol.Chat) -> None:
    limit = ctx.service.settings.max_chat_chars
    if not msg.message.strip():
        raise ClientError("invalid_field", "Chat messages cannot be empty.")
    if len(msg.message) > limit:
        raise ClientError("too_large", f"Chat messages are limited to {limit} characters.")
    result = _relay(ctx, "chat", msg.room_code)
    if result is not None:
        ctx.outbox.send(result.get("peer"), events.chat(result.get("room"), result.get("name"), msg.message, msg.seq))


def typing(ctx: Context, msg: protocol.Typing) -> None:
    result = _relay(ctx, "typing", msg.room_code)
    if result is not None:
        ctx.outbox.send(result.get("peer"), events.typing(result.get("room")))
