"""TURN set up for a test, and coturn's credential formula computed independently of the app."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from chalicelib.config import load_settings
from chalicelib.service import build
from testkit.harness import FakeClock, Harness, RecordingSender
from testkit.policies import RELAXED

TURN_URLS = ["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349"]
STUN_URL = "stun:stun.example.org:3478"


def turn_harness(redis_env: dict[str, str], clock: FakeClock, **env: str) -> Harness:
    """Handlers with TURN_URLS and one STUN server set; ``env`` supplies the secret and the rest."""
    config = load_settings(
        {
            **redis_env,
            "TURN_URLS": ",".join(TURN_URLS),
            "STUN_URLS": STUN_URL,
            "METRICS_ENABLED": "false",
            **RELAXED,
            **env,
        }
    )
    sender = RecordingSender()
    return Harness(build(config, sender=sender, clock=clock), sender.received, clock)


def expected_credential(secret: str, username: str) -> str:
    """base64(HMAC-SHA1(secret, username)), as coturn's ``use-auth-secret`` checks it."""
    return base64.b64encode(hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()).decode()


def turn_servers(ice_servers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The servers that carry credentials, from a ``matched`` or ``resumed`` event's list."""
    return [server for server in ice_servers if "credential" in server]
