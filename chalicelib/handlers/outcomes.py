"""Turning a script's refusal into the one error event its sender gets."""

from __future__ import annotations

from .. import events
from ..errors import ClientError
from ..store import Ended, Result
from .context import Context


def refuse(result: Result) -> None:
    """Raise the ClientError a script's refusal stands for. The script has already charged the
    refusal to the device's abuse bucket, and says whether that bucket ran dry (then it has
    also ended the connection's room, whose peer must be told)."""
    refusal = result.refusal
    extra = {"retry_after_ms": refusal.retry_ms} if result.status == "rate_limited" else {}
    ended = Ended(result.get("ended_peer"), result.get("ended_room")) if refusal.close else None
    raise ClientError(result.status, close=refusal.close, charged=True, ended=ended, **extra)


def hand_identity(ctx: Context, result: Result) -> None:
    """A new device's signed identity rides on the first answer that can carry it."""
    token = result.get("identity")
    if token:
        ctx.outbox.send(ctx.connection_id, events.identity(token))


def succeeded(result: Result, expected: str) -> bool:
    """True when the script did what was asked; False for a duplicate delivery (do nothing);
    any other answer is the client's mistake and raises it."""
    if result.status == "duplicate":
        return False
    if result.status != expected:
        refuse(result)
    return True
