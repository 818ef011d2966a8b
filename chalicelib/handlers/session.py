"""ping and report: the keep-alive, and ending a chat with a report against the stranger."""

from __future__ import annotations

from .. import events, protocol
from ..store import Ended
from .context import Context
from .matching import succeeded


def ping(ctx: Context, msg: protocol.Ping) -> None:
    if succeeded(ctx.service.store.ping(ctx.connection_id), "pong"):
        ctx.outbox.send(ctx.connection_id, events.pong())


def report(ctx: Context, msg: protocol.Report) -> None:
    result = ctx.service.store.report(ctx.connection_id, msg.reason, ctx.message_id)
    if not succeeded(result, "reported"):
        return
    ctx.metrics.count("Reports")
    peer = result.get("peer")
    ctx.outbox.tell(Ended(peer, result.get("room")))
    if result.get("banned"):
        ctx.metrics.count("Bans")
        if peer:  # its address is banned: say so (browsers hide a 403 at $connect), then close
            ctx.outbox.post(peer, events.banned())
            ctx.outbox.close(peer)
    ctx.outbox.send(ctx.connection_id, events.reported())
