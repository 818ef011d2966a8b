"""join, signal and chat: everything relayed inside a room. The recipient is always the
sender's current peer as recorded by the server, never a client-supplied target."""

from __future__ import annotations

from .. import events, protocol
from ..errors import ClientError
from .context import Context


def join(ctx: Context, msg: protocol.Join) -> None:
    status, role = ctx.service.store.join(ctx.connection_id, msg.room_code, ctx.message_id)
    if status == "duplicate":
        return
    if status != "verified":
        raise ClientError(status)
    ctx.outbox.send(ctx.connection_id, events.verified(msg.room_code, role))


def signal(ctx: Context, msg: protocol.Signal) -> None:
    relay = ctx.service.store.relay(ctx.connection_id, msg.room_code, msg.type, ctx.message_id)
    if relay.status == "duplicate":
        return
    if relay.status != "ok":
        raise ClientError(relay.status)
    ctx.outbox.send(relay.peer, events.signal(relay.room, relay.name, msg.type, msg.data))


def chat(ctx: Context, msg: protocol.Chat) -> None:
    limit = ctx.service.settings.max_chat_chars
    if not msg.message.strip():
        raise ClientError("invalid_field", "Chat messages cannot be empty.")
    if len(msg.message) > limit:
        raise ClientError("too_large", f"Chat messages are limited to {limit} characters.")

    relay = ctx.service.store.relay(ctx.connection_id, message_id=ctx.message_id)
    if relay.status == "duplicate":
        return
    if relay.status != "ok":
        raise ClientError(relay.status)
    ctx.outbox.send(relay.peer, events.chat(relay.name, msg.message))
