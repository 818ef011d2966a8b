"""Lambda entry logic for each API Gateway route and the schedule.

``app.py`` hands raw event dicts here; the local gateway and the tests call the very same
functions. No client mistake raises: each becomes one ``error`` event.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

from . import protocol
from .delivery import Outbox
from .errors import ClientError, error_event
from .handlers import HANDLERS
from .handlers.context import Context
from .service import Service, default
from .store import Unavailable, now_ms
from .sweep import SweepStats, run

log = logging.getLogger(__name__)

USER_AGENT_MAX = 256


def _header(headers: dict[str, Any] | None, name: str) -> str:
    for key, value in (headers or {}).items():
        if key.lower() == name.lower():
            return str(value)
    return ""


def _endpoint(service: Service, event: dict[str, Any]) -> str:
    ctx = event["requestContext"]
    return service.endpoint_for(ctx.get("apiId", ""), ctx.get("stage", ""))


def _body(event: dict[str, Any]) -> str | None:
    body = event.get("body")
    if body is None or not event.get("isBase64Encoded"):
        return body
    try:
        return base64.b64decode(body, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def on_connect(event: dict[str, Any], service: Service | None = None) -> dict[str, Any]:
    """Record the connection; 503 rejects the handshake when state cannot be stored."""
    service = service or default()
    ctx = event["requestContext"]
    cid = ctx["connectionId"]
    try:
        service.store.connect(
            cid,
            ip=str((ctx.get("identity") or {}).get("sourceIp", "")),
            user_agent=_header(event.get("headers"), "User-Agent")[:USER_AGENT_MAX],
            connected_at=int(ctx.get("connectedAt") or now_ms()),
            endpoint=_endpoint(service, event),
        )
    except Unavailable as exc:
        log.error("$connect %s rejected: %s", cid, exc)
        return {"statusCode": 503}
    return {"statusCode": 200}


def on_message(event: dict[str, Any], service: Service | None = None) -> dict[str, Any]:
    """Parse, validate and dispatch one client frame; answer mistakes with one error event."""
    service = service or default()
    request = event["requestContext"]
    cid = request["connectionId"]
    outbox = Outbox(service, _endpoint(service, event))
    action = "?"
    try:
        message = protocol.parse(_body(event), service.settings.max_message_bytes)
        action = message.action
        context = Context(service, cid, outbox, str(request.get("messageId") or ""))
        HANDLERS[action](context, message)
    except ClientError as exc:
        log.info("%s %s refused: %s", cid, action, exc.code)
        _reply_error(service, outbox, cid, error_event(exc.code, exc.message))
    except Unavailable as exc:
        log.error("%s %s failed: %s", cid, action, exc)
        _reply_error(service, outbox, cid, error_event("unavailable"))
    except Exception:
        log.exception("%s %s crashed", cid, action)
        _reply_error(service, outbox, cid, error_event("internal"))
    return {"statusCode": 200}


def _reply_error(service: Service, outbox: Outbox, cid: str, event: dict[str, Any]) -> None:
    # Straight to the sender, no cleanup on 410: the error path must not need Redis.
    outbox.sent += 1
    service.sender.post(outbox.endpoint, cid, event)


def on_disconnect(event: dict[str, Any], service: Service | None = None) -> dict[str, Any]:
    """Delete the connection's state and tell its peer; a failure here is left to the sweep."""
    service = service or default()
    cid = event["requestContext"]["connectionId"]
    outbox = Outbox(service, _endpoint(service, event))
    try:
        outbox.tell(service.store.disconnect(cid))
    except Unavailable as exc:
        log.error("$disconnect %s not recorded, the sweep will evict it: %s", cid, exc)
    return {"statusCode": 200}


def on_schedule(service: Service | None = None) -> SweepStats:
    service = service or default()
    try:
        return run(service)
    except Unavailable as exc:
        log.error("sweep skipped: %s", exc)
        return SweepStats()


def health(service: Service | None = None) -> tuple[dict[str, Any], int]:
    service = service or default()
    ok = service.store.ping_server()
    return {"service": service.settings.service_name, "redis": ok}, (200 if ok else 503)


def client_config(request: dict[str, Any], service: Service | None = None) -> dict[str, Any]:
    """What the web page needs to start: where the WebSocket API is, and the protocol limits.

    ``WEBSOCKET_URL`` is set at deploy time, since the REST and WebSocket APIs have different
    hosts on AWS; without it the page connects to ``/ws`` on its own host (the local gateway).
    """
    service = service or default()
    config = service.settings
    return {
        "websocket_url": config.websocket_url,
        "websocket_path": "/ws",
        "max_chat_chars": config.max_chat_chars,
        "ping_interval_seconds": max(30, config.idle_timeout_seconds // 2),
    }
