"""register, next, resume and leave: entering and leaving the queue and rooms."""

from __future__ import annotations

from .. import events, protocol
from ..store import Ended
from .context import Context
from .outcomes import hand_identity, refuse, succeeded

DEFAULT_NAME = "Stranger"


def seek_partner(ctx: Context, mode: str, name: str = "", tags: list[str] | None = None) -> None:
    store, outbox, cid = ctx.service.store, ctx.outbox, ctx.connection_id
    result = store.seek(cid, mode, name, tags, ctx.message_id)
    if result.status == "duplicate":
        return
    hand_identity(ctx, result)
    if result.status in {"matched", "queued", "exists"}:
        outbox.tell(Ended(result.get("left_peer"), result.get("left_room")))
        ctx.metrics.count("QueueLength", result.get("queue_length", 0) or 0, unit="Count")
    if result.pair is not None:
        if outbox.announce(result.pair) == "matched" and not result.get("again", False):
            ctx.metrics.count("Matches", 1)
            ctx.metrics.count("WaitTimeAtMatch", result.pair.waited_ms, unit="Milliseconds")
        return
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
    hand_identity(ctx, result)
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

