"""register, next, resume and leave: entering and leaving the queue and rooms."""

from __future__ import annotations

from .. import events, protocol
from ..errors import ClientError
from ..store import Ended, Result
from .context import Context

DEFAULT_NAME = "Stranger"


def refuse(result: Result) -> None:
    """Raise the ClientError a script's refusal stands for."""
    if result.status == "rate_limited":
        refusal = result.refusal
        raise ClientError("rate_limited", close=refusal.close, retry_after_ms=refusal.retry_ms)
    raise ClientError(result.status)


def succeeded(result: Result, expected: str) -> bool:
    """True when the script did what was asked; False for a duplicate delivery (do nothing);
    any other answer is the client's mistake and raises it."""
    if result.status == "duplicate":
        return False
    if result.status != expected:
        refuse(result)
    return True


def seek_partner(ctx: Context, mode: str, name: str = "", tags: list[str] | None = None) -> None:
    store, outbox, cid = ctx.service.store, ctx.outbox, ctx.connection_id
    message_id = ctx.message_id
    while True:
        result, room, token_waiter, token_newcomer = store.seek(cid, mode, name, tags, message_id)
        if result.status == "duplicate":
            return
        if result.status in {"matched", "queued", "exists"}:
            outbox.tell(Ended(result.get("left_peer"), result.get("left_room")))
            ctx.metrics.count("QueueLength", result.get("queue_length", 0) or 0, unit="Count")
        if result.status == "matched":
            delivered = outbox.deliver_pair(
                result.get("partner"), result.get("partner_name"), token_waiter,
                cid, result.get("own_name"), token_newcomer, room, list(result.get("common") or []),
            )
            if delivered:
                ctx.metrics.count("Matches", 1)
                ctx.metrics.count("WaitTimeAtMatch", result.get("waited", 0), unit="Milliseconds")
                return
            # The waiter vanished; its room is gone and we are idle again. Each retry removes
            # one dead waiter, so this ends when the queue holds someone live or no one.
            mode, name, tags, message_id = "register", "", None, ""
            continue
        if result.status in {"queued", "exists"}:
            outbox.send(cid, events.queued(already=result.status == "exists"))
            return
        refuse(result)


def register(ctx: Context, msg: protocol.Register) -> None:
    seek_partner(ctx, "register", msg.name or DEFAULT_NAME, msg.interests)


def next_(ctx: Context, msg: protocol.Next) -> None:
    seek_partner(ctx, "next")


def resume(ctx: Context, msg: protocol.Resume) -> None:
    result, token = ctx.service.store.resume(ctx.connection_id, msg.token, ctx.message_id)
    if not succeeded(result, "resumed"):
        return
    room, initiator = result.get("room"), result.get("role") == "initiator"
    ice = ctx.service.ice.for_connection(ctx.connection_id)
    peer_away = bool(result.get("peer_held"))
    ctx.outbox.send(
        ctx.connection_id, events.resumed(room, initiator, result.get("peer_name"), ice, token, peer_away)
    )
    if not peer_away:
        ctx.outbox.send(result.get("peer"), events.peer_resumed(room))


def leave(ctx: Context, msg: protocol.Leave) -> None:
    result = ctx.service.store.leave(ctx.connection_id, ctx.message_id)
    if not succeeded(result, "left"):
        return
    ctx.outbox.tell(Ended(result.get("peer"), result.get("room")))
    ctx.outbox.send(ctx.connection_id, events.left())

