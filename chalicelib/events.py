"""Builders for every event the server sends; each carries an ``event`` field.

Events never contain a connection id or an IP address: the peer is known only by the display
name it chose and its role in the room.
"""

from __future__ import annotations

import time
from typing import Any


def queued(already: bool) -> dict[str, Any]:
    return {"event": "queued", "status": "exists" if already else "queued"}


def matched(room: str, initiator: bool, peer_name: str, ice_servers: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "event": "matched",
        "room_code": room,
        "initiator": initiator,
        "peer": {"name": peer_name},
        "ice_servers": ice_servers,
    }


def verified(room: str, role: str) -> dict[str, Any]:
    return {"event": "verified", "room_code": room, "role": role}


def signal(room: str, sender_name: str, kind: str, data: Any) -> dict[str, Any]:
    return {"event": "signal", "room_code": room, "from": sender_name, "type": kind, "data": data}


def chat(sender_name: str, message: str) -> dict[str, Any]:
    return {"event": "chat", "sender": sender_name, "message": message, "timestamp": time.time()}


def peer_disconnected(room: str) -> dict[str, Any]:
    return {"event": "peer-disconnected", "room_code": room, "message": "Stranger has disconnected"}


def left() -> dict[str, Any]:
    return {"event": "left"}


def pong() -> dict[str, Any]:
    return {"event": "pong"}
