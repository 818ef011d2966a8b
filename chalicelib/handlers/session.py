"""ping and report: the keep-alive, and ending a chat with a report against the stranger."""

from __future__ import annotations

from .. import events, protocol
from ..outcomes import Pong, Refused, Reported
from ..sender import CloseFailed
from .context import Context
from .replies import hand_identity, refuse


def ping(ctx: Context, msg: protocol.Ping) -> None:
    match ctx.service.store.ping(ctx.connection_id):
        case Pong(identity=identity):
            hand_identity(ctx, identity)
            ctx.outbox.send(ctx.connection_id, events.pong())
        case Refused() as refused:
            refuse(refused)


def report(ctx: Context, msg: protocol.Report) -> None:
    match ctx.service.store.report(ctx.connection_id, ctx.message_id):
        case Reported() as reported:
            ctx.metrics.count("Reports")
            ctx.outbox.tell(reported.ended)
            failed = _close_banned(ctx, reported) if reported.banned else []
            ctx.outbox.send(ctx.connection_id, events.reported())
            if failed:  # every other socket was closed and the reporter answered: now fail loudly
                raise failed[0]
        case Refused() as refused:
            refuse(refused)


def _close_banned(ctx: Context, reported: Reported) -> list[CloseFailed]:
    """Tell the peers of the rooms the banned sockets were in, then tell each banned socket (a
    browser hides a 403 at $connect) and close it. Returns the closes that failed."""
    ctx.metrics.count("Bans")
    for ended in reported.others:
        ctx.outbox.tell(ended)
    failed: list[CloseFailed] = []
    for sock in reported.closing:
        ctx.outbox.post(sock, events.banned())
        try:
            ctx.outbox.close(sock)
        except CloseFailed as exc:
            failed.append(exc)
    return failed
