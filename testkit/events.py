"""API Gateway WebSocket events built from the recorded samples in ``testkit/events/``.

Each builder copies a recorded event and changes only what a test cares about, so every event
the handlers see has the real shape.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import itertools
import json
import os
import secrets
import time
from functools import cache
from pathlib import Path
from typing import Any

EVENTS_DIR = Path(__file__).resolve().parent / "events"


@cache
def _recorded(name: str) -> dict[str, Any]:
    return json.loads((EVENTS_DIR / f"{name}.json").read_text())


def sample(name: str) -> dict[str, Any]:
    return copy.deepcopy(_recorded(name))


def _gateway_id(raw: bytes) -> str:
    """11 bytes as API Gateway writes an id: 16 URL-safe base64 characters ending in '='."""
    return base64.b64encode(raw).decode().replace("/", "_").replace("+", "-")


def new_connection_id() -> str:
    """An id in API Gateway's format: 16 base64 characters ending in '='."""
    return _gateway_id(os.urandom(11))


class Ids:
    """Deterministic ids in API Gateway's format, for tests that must replay exactly.

    The nth connection id is a hash of n, so the same run always makes the same ids, but
    their sort order (which breaks ties in a Redis sorted set) is not their creation order.
    Message ids are a plain count, so no two frames share one and none is taken for a
    redelivery.
    """

    def __init__(self, namespace: str = "") -> None:
        self.namespace = namespace
        self._connections = itertools.count()
        self._messages = itertools.count()

    def connection_id(self) -> str:
        n = next(self._connections)
        return _gateway_id(hashlib.blake2b(f"{self.namespace}:{n}".encode(), digest_size=11).digest())

    def message_id(self) -> str:
        return _gateway_id(next(self._messages).to_bytes(11, "big"))


def _stamp(event: dict[str, Any], cid: str) -> dict[str, Any]:
    ctx = event["requestContext"]
    ctx["connectionId"] = cid
    ctx["requestId"] = ctx["extendedRequestId"] = base64.b64encode(os.urandom(11)).decode()
    ctx["requestTimeEpoch"] = int(time.time() * 1000)
    return event


def connect_event(
    cid: str,
    *,
    ip: str = "203.0.113.10",
    user_agent: str | None = None,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    connected_at: int | None = None,
) -> dict[str, Any]:
    event = _stamp(sample("connect"), cid)
    ctx = event["requestContext"]
    ctx["identity"]["sourceIp"] = ip
    ctx["connectedAt"] = connected_at if connected_at is not None else int(time.time() * 1000)
    if user_agent is not None:
        event["headers"]["User-Agent"] = user_agent
        event["multiValueHeaders"]["User-Agent"] = [user_agent]
    if query is not None:
        event["queryStringParameters"] = query or None
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} or None
    for key, value in (headers or {}).items():
        event["headers"][key] = value
        event["multiValueHeaders"][key] = [value]
    return event


def message_event(
    cid: str, body: Any, *, base64_encoded: bool = False, message_id: str | None = None
) -> dict[str, Any]:
    event = _stamp(sample("message"), cid)
    event["requestContext"]["messageId"] = message_id if message_id is not None else secrets.token_urlsafe(11)
    text = body if isinstance(body, str) or body is None else json.dumps(body)
    if base64_encoded and text is not None:
        text = base64.b64encode(text.encode()).decode()
    event["body"] = text
    event["isBase64Encoded"] = base64_encoded
    return event


def disconnect_event(cid: str, status: int = 1001) -> dict[str, Any]:
    event = _stamp(sample("disconnect"), cid)
    event["requestContext"]["disconnectStatusCode"] = status
    return event


def management_endpoint(event: dict[str, Any] | None = None, region: str = "us-east-1") -> str:
    ctx = (event or sample("message"))["requestContext"]
    return f"https://{ctx['apiId']}.execute-api.{region}.amazonaws.com/{ctx['stage']}"
