"""The one error shape every client mistake and server failure reaches the client in."""

from __future__ import annotations

from typing import Any

# Stable machine codes; clients branch on these, so never rename one.
MESSAGES: dict[str, str] = {
    "bad_json": "The message is not a JSON object.",
    "too_large": "The message is larger than the server accepts.",
    "unknown_action": "The 'action' field is missing or names no known action.",
    "invalid_field": "A field is missing, has the wrong type, or is out of range.",
    "not_connected": "This connection is unknown to the server; reconnect and register again.",
    "in_room": "You are already in a chat; send 'next' or 'leave' first.",
    "not_in_room": "You are not in a chat.",
    "wrong_room": "That room code is not your current room.",
    "wrong_role": "Only the initiator sends 'offer' and only the responder sends 'answer'.",
    "peer_reconnecting": "Your stranger is reconnecting; try again in a moment.",
    "invalid_token": "That resume token is unknown, used, or expired.",
    "rate_limited": "Too many messages; slow down.",
    "banned": "This address was reported by several people and is banned for a while.",
    "unavailable": "The service is temporarily unavailable; try again shortly.",
    "internal": "Something went wrong on our side.",
}


class ClientError(Exception):
    """Raised inside a handler to answer the sender with one error event and change nothing."""

    def __init__(
        self, code: str, message: str | None = None, *, close: bool = False, charged: bool = False,
        ended: Any = None, **extra: Any
    ) -> None:
        super().__init__(code)
        self.code = code
        self.message = message or MESSAGES[code]
        self.close = close  # sustained abuse: close the connection after answering
        self.charged = charged  # a script already drew this refusal from the abuse bucket
        self.ended = ended  # outcomes.Ended: the room a close for abuse ended, whose peer must be told
        self.extra = extra

    def event(self) -> dict[str, Any]:
        return error_event(self.code, self.message, **self.extra)


def error_event(code: str, message: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"event": "error", "code": code, "message": message or MESSAGES[code], **extra}
