"""ICE servers for one connection: the static STUN list plus time-limited TURN credentials.

TURN credentials follow the TURN REST API draft that coturn implements as ``use-auth-secret``:
``username = "<expiry unix time>:<user id>"`` and ``credential = base64(HMAC-SHA1(secret,
username))``. The user id is the connection id, so a credential is bound to one connection and
useless after ``TURN_TTL_SECONDS``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

from .config import Settings


def turn_credential(secret: str, username: str) -> str:
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def ice_servers(config: Settings, connection_id: str, now: float | None = None) -> list[dict[str, Any]]:
    servers = list(config.static_ice_servers())
    if config.turn_urls and config.turn_secret:
        expiry = int(time.time() if now is None else now) + config.turn_ttl_seconds
        username = f"{expiry}:{connection_id}"
        credential = turn_credential(config.turn_secret, username)
        servers.append({"urls": config.turn_urls, "username": username, "credential": credential})
    return servers
