"""ping: the client's keep-alive, which also keeps its connection record from being swept."""

from __future__ import annotations

from .. import events, protocol
from ..errors import ClientError
from .context import Context


def ping(ctx: Context, msg: protocol.Ping) -> None:
    status = ctx.service.store.ping(ctx.connection_id)
    if status != "pong":
        raise ClientError(status)
    ctx.outbox.send(ctx.connection_id, events.pong())
