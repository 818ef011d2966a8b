"""register, next and leave: entering and leaving the queue and rooms."""

from __future__ import annotations

from .. import events, protocol
from ..errors import ClientError
from .context import Context

DEFAULT_NAME = "Stranger"


def seek_partner(ctx: Context, mode: str, name: str) -> None:
    store, outbox, cid = ctx.service.store, ctx.outbox, ctx.connection_id
    message_id = ctx.message_id
    while True:
        result = store.seek(cid, mode, name, message_id)
        if result.status == "duplicate":
            return
        outbox.tell(result.ended)
        if result.status == "matched":
            if outbox.deliver_pair(result.partner, result.partner_name, cid, result.own_name, result.room):
                return
            # The waiter vanished; its room is gone and we are idle again. Each retry removes
            # one dead waiter, so this ends when the queue holds someone live or no one.
            mode, name, message_id = "register", "", ""
            continue
        if result.status in {"queued", "exists"}:
            outbox.send(cid, events.queued(already=result.status == "exists"))
            return
        raise ClientError(result.status)


def register(ctx: Context, msg: protocol.Register) -> None:
    seek_partner(ctx, "register", msg.name or DEFAULT_NAME)


def next_(ctx: Context, msg: protocol.Next) -> None:
    seek_partner(ctx, "next", "")


def leave(ctx: Context, msg: protocol.Leave) -> None:
    status, ended = ctx.service.store.leave(ctx.connection_id, ctx.message_id)
    if status == "duplicate":
        return
    if status != "left":
        raise ClientError(status)
    ctx.outbox.tell(ended)
    ctx.outbox.send(ctx.connection_id, events.left())
