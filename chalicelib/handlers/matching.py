"""register, next, resume and leave: entering and leaving the queue and rooms."""

from __future__ import annotations

from .. import events, protocol
from ..outcomes import Left, Matched, Queued, Refused, Resumed
from .context import Context
from .replies import hand_identity, refuse

DEFAULT_NAME = "Stranger"


def seek_partner(ctx: Context, mode: str, name: str = "", tags: list[str] | None = None) -> None:
    store, outbox, cid = ctx.service.store, ctx.outbox, ctx.connection_id
    match store.seek(cid, mode, name, tags, ctx.message_id):
        case Matched() as matched:
            hand_identity(ctx, matched.identity)
            outbox.tell(matched.left)
            ctx.metrics.count("QueueLength", 0, unit="Count")
            if outbox.announce(matched.pair) == "matched" and not matched.again:
                ctx.metrics.count("Matches", 1)
                ctx.metrics.count("WaitTimeAtMatch", matched.pair.waited_ms, unit="Milliseconds")
        case Queued() as queued:
            hand_identity(ctx, queued.identity)
            outbox.tell(queued.left)
            ctx.metrics.count("QueueLength", queued.queue_length, unit="Count")
            outbox.send(cid, events.queued(already=queued.already))
        case Refused() as refused:
            refuse(refused)


def register(ctx: Context, msg: protocol.Register) -> None:
    seek_partner(ctx, "register", msg.name or DEFAULT_NAME, msg.interests)


def next_(ctx: Context, msg: protocol.Next) -> None:
    seek_partner(ctx, "next")


def resume(ctx: Context, msg: protocol.Resume) -> None:
    match ctx.service.store.resume(ctx.connection_id, msg.token, ctx.message_id):
        case Resumed() as resumed:
            hand_identity(ctx, resumed.identity)
            ice = ctx.service.ice.for_connection(ctx.connection_id)
            ctx.outbox.send(ctx.connection_id, events.resumed(resumed.room, resumed.initiator, resumed.peer_name, ice,
                                                              resumed.token, resumed.peer_away))
            if not resumed.peer_away:
                ctx.outbox.send(resumed.peer, events.peer_resumed(resumed.room))
        case Refused() as refused:
            refuse(refused)


def leave(ctx: Context, msg: protocol.Leave) -> None:
    match ctx.service.store.leave(ctx.connection_id, ctx.message_id):
        case Left(ended=ended):
            ctx.outbox.tell(ended)
            ctx.outbox.send(ctx.connection_id, events.left())
        case Refused() as refused:
            refuse(refused)
