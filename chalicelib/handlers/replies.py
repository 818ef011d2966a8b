"""What a handler does with the answers every action shares: a refusal, and an identity."""

from __future__ import annotations

from typing import NoReturn

from .. import events
from ..errors import ClientError
from ..outcomes import Refused
from .context import Context


def refuse(refused: Refused) -> NoReturn:
    """Raise the ClientError a script's refusal stands for. The script has already charged the
    refusal to the device's abuse bucket, and says whether that bucket ran dry (then it has
    also ended the connection's room, whose peer must be told)."""
    extra = {"retry_after_ms": refused.retry_ms} if refused.code == "rate_limited" else {}
    raise ClientError(refused.code, close=refused.close, charged=True, ended=refused.ended, **extra)


def hand_identity(ctx: Context, identity: str) -> None:
    """A new device's signed identity rides on the first answer that can carry it."""
    if identity:
        ctx.outbox.send(ctx.connection_id, events.identity(identity))
