"""ping and report: the keep-alive, and ending a chat with a report against the stranger."""

from __future__ import annotations

from .. import events, protocol
from ..sender import CloseFailed
from ..store import Ended, as_list
from .context import Context
from .outcomes import hand_identity, succeeded


def ping(ctx: Context, msg: protocol.Ping) -> None:
    result = ctx.service.store.ping(ctx.connection_id)
    if succeeded(result, "pong"):
        hand_identity(ctx, result)
        ctx.outbox.send(ctx.connection_id, events.pong())


def report(ctx: Context, msg: protocol.Report) -> None:
    result = ctx.service.store.report(ctx.connection_id, msg.reason, ctx.message_id)
    if not succeeded(result, "reported"):
        return
    ctx.metrics.count("Reports")
    ctx.outbox.tell(Ended(result.get("peer"), result.get("room")))
    if result.get("banned"):
        ctx.metrics.count("Bans")
        for ended in as_list(result.get("ended")):  # rooms the banned address's other sockets were in
            ctx.outbox.tell(Ended(ended["peer"], ended["room"]))
        failed: list[CloseFailed] = []
        for sock in as_list(result.get("closing")):  # say so (browsers hide a 403 at $connect), then close
            ctx.outbox.post(sock, events.banned())
            try:
                ctx.outbox.close(sock)
            except CloseFailed as exc:  # close the others all the same, then fail loudly
                failed.append(exc)
        ctx.outbox.send(ctx.connection_id, events.reported())
        if failed:
            raise failed[0]
        return
    ctx.outbox.send(ctx.connection_id, events.reported())

