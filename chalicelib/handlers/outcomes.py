"""Turning a script's refusal into the one error event its sender gets."""

from __future__ import annotations

from ..errors import ClientError
from ..store import Result


def refuse(result: Result) -> None:
    """Raise the ClientError a script's refusal stands for. The script has already charged the
    refusal to the connection's abuse bucket, and says whether that bucket ran dry."""
    refusal = result.refusal
    extra = {"retry_after_ms": refusal.retry_ms} if result.status == "rate_limited" else {}
    raise ClientError(result.status, close=refusal.close, charged=True, **extra)


def succeeded(result: Result, expected: str) -> bool:
    """True when the script did what was asked; False for a duplicate delivery (do nothing);
    any other answer is the client's mistake and raises it."""
    if result.status == "duplicate":
        return False
    if result.status != expected:
        refuse(result)
    return True
