"""Builders for every event the server sends; each carries an ``event`` field.

Events never contain another connection's id or any IP address: the peer is known only by the
display name it chose and its role in the room.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any


def queued(already: bool) -> dict[str, Any]:
    return {"event": "queued", "status": "exists" if already else "queued"}


def matched(
    room: str,
    initiator: bool,
    peer_name: str,
    ice_servers: list[dict[str, Any]],
    resume_token: str,
    interests: Sequence[str],
) -> dict[str, Any]:
    return {
        "event": "matched",
        "room_code": room,
        "initiator": initiator,
        "peer": {"name": peer_name},
        "interests": list(interests),
        "ice_servers": ice_servers,
        "resume_token": resume_token,
    }


def resumed(
    room: str, initiator: bool, peer_name: str, ice_servers: list[dict[str, Any]], resume_token: str, peer_away: bool
) -> dict[str, Any]:
    return {
        "event": "resumed",
        "room_code": room,
        "initiator": initiator,
        "peer": {"name": peer_name},
        "peer_reconnecting": peer_away,
        "ice_servers": ice_servers,
        "resume_token": resume_token,
    }


def verified(room: str, role: str) -> dict[str, Any]:
    return {"event": "verified", "room_code": room, "role": role}


def signal(room: str, sender_name: str, kind: str, data: Any) -> dict[str, Any]:
    return {"event": "signal", "room_code": room, "from": sender_name, "type": kind, "data": data}


def chat(room: str, sender_name: str, message: str, seq: int | None = None) -> dict[str, Any]:
    # room_code lets the page drop a line from a stranger it has left, or hold one that overtook
    # its `matched`, exactly as it does for signals; seq is the sender's own count, by which the
    # page puts lines back in the order they were sent.
    event = {"event": "chat", "room_code": room, "sender": sender_name, "message": message, "timestamp": time.time()}
    if seq is not None:
        event["seq"] = seq
    return event


def typing(room: str) -> dict[str, Any]:
    return {"event": "typing", "room_code": room}


def peer_disconnected(room: str) -> dict[str, Any]:
    return {"event": "peer-disconnected", "room_code": room, "message": "Stranger has disconnected"}


def peer_reconnecting(room: str) -> dict[str, Any]:
    message = "Stranger lost their connection; waiting for them"
    return {"event": "peer-reconnecting", "room_code": room, "message": message}


def peer_resumed(room: str) -> dict[str, Any]:
    return {"event": "peer-resumed", "room_code": room}


def banned() -> dict[str, Any]:
    return {"event": "banned", "message": "You were reported by several people and are banned for a while."}


def identity(token: str) -> dict[str, Any]:
    """The signed device identity the page keeps and presents at its next ``$connect`` (``?id=``)."""
    return {"event": "identity", "token": token}


def reported() -> dict[str, Any]:
    return {"event": "reported"}


def left() -> dict[str, Any]:
    return {"event": "left"}


def pong() -> dict[str, Any]:
    return {"event": "pong"}
