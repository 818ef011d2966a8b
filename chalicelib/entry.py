"""Lambda entry logic for each API Gateway route and the schedule.

``app.py`` hands raw event dicts here; the local gateway and the tests call the very same
functions. No client mistake raises: each becomes one ``error`` event.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Sequence
from typing import Any

from . import protocol
from .delivery import Outbox
from .errors import ClientError, error_event
from .handlers import HANDLERS
from .handlers.context import Context
from .metrics import Metrics
from .outcomes import Ended
from .sender import CloseFailed
from .service import Service, default
from .store import Unavailable, now_ms
from .sweep import SweepStats, run

log = logging.getLogger(__name__)

USER_AGENT_MAX = 256


def _header(headers: dict[str, Any] | None, name: str) -> str:
    """A header's value as valid UTF-8 text (lone surrogates replaced), or ''."""
    for key, value in (headers or {}).items():
        if str(key).lower() == name.lower():
            return str(value).encode("utf-8", "replace").decode("utf-8")
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


CONNECT_STATUS = {"ok": 200, "banned": 403, "too_many": 429}


def on_connect(event: dict[str, Any], service: Service | None = None) -> dict[str, Any]:
    """Admit or refuse the connection and record it.

    The device identity comes from ``?id=`` (chalicelib/identity.py); anything but a valid one
    is a new device. 403: banned device or address, or an Origin outside ``ALLOWED_ORIGINS``;
    429: too many new or open connections from the address or the device, or the device was
    closed for abuse a moment ago; 503: state cannot be stored, so no half-made connection.
    """
    service = service or default()
    ctx = event["requestContext"]
    cid = ctx["connectionId"]
    allowed = service.settings.allowed_origins
    if allowed and _header(event.get("headers"), "Origin") not in allowed:
        log.info("$connect %s refused: origin not allowed", cid)
        return {"statusCode": 403}
    presented = str((event.get("queryStringParameters") or {}).get("id") or "")
    try:
        status = service.store.connect(
            cid,
            ip=str((ctx.get("identity") or {}).get("sourceIp", "")),
            user_agent=_header(event.get("headers"), "User-Agent")[:USER_AGENT_MAX],
            connected_at=int(ctx.get("connectedAt") or now_ms()),
            endpoint=_endpoint(service, event),
            device=service.identities.for_connection(cid, presented),
        )
    except Unavailable as exc:
        log.error("$connect %s rejected: %s", cid, exc)
        return {"statusCode": 503}
    except Exception:
        log.exception("$connect %s crashed", cid)
        return {"statusCode": 500}
    if status != "ok":
        log.info("$connect %s refused: %s", cid, status)
        metrics = _metrics(service)
        metrics.count(f"ConnectRefused.{status}")
        metrics.flush()
    return {"statusCode": CONNECT_STATUS[status]}


def _metrics(service: Service) -> Metrics:
    config = service.settings
    return Metrics(config.metrics_namespace, config.service_name, config.metrics_enabled)


def on_message(event: dict[str, Any], service: Service | None = None) -> dict[str, Any]:
    """Parse, validate and dispatch one client frame; answer mistakes with one error event."""
    service = service or default()
    request = event["requestContext"]
    cid = request["connectionId"]
    outbox = Outbox(service, _endpoint(service, event))
    metrics = _metrics(service)
    action = "?"
    try:
        message = protocol.parse(_body(event), service.settings.max_message_bytes)
        action = message.action
        context = Context(service, cid, outbox, str(request.get("messageId") or ""), metrics)
        HANDLERS[action](context, message)
    except CloseFailed:
        # The action was done and answered, but a socket that should be closed is still open
        # (bans, abuse): fail the invocation so it shows in Lambda Errors and its alarm.
        log.exception("%s %s could not close a socket", cid, action)
        metrics.error("close_failed")
        metrics.flush()
        raise
    except ClientError as exc:
        log.info("%s %s refused: %s", cid, action, exc.code)
        metrics.error(exc.code)
        _reply_error(outbox, cid, exc.event(), action)
        if not exc.charged and exc.code != "not_connected":
            exc.close, exc.ended = _penalise(service, cid)
        if exc.close:
            log.warning("%s closed for sustained abuse", cid)
            metrics.count("AbuseClosed")
            if exc.ended is not None:
                try:
                    outbox.tell(exc.ended)
                except Exception:  # its notice stays, and the sweep tells it
                    log.exception("%s: the peer of the room its close ended was not told", cid)
            try:
                outbox.close(cid)
            except CloseFailed:
                log.exception("%s could not be closed for abuse", cid)
                metrics.error("close_failed")
                metrics.flush()
                raise
    except Unavailable as exc:
        log.error("%s %s failed: %s", cid, action, exc)
        metrics.error("unavailable")
        _reply_error(outbox, cid, error_event("unavailable"), action)
    except Exception:
        log.exception("%s %s crashed", cid, action)
        metrics.error("internal")
        _reply_error(outbox, cid, error_event("internal"), action)
    metrics.flush()
    return {"statusCode": 200}


def _penalise(service: Service, cid: str) -> tuple[bool, Ended | None]:
    """A frame refused before any script ran still cost an invocation: charge it to the abuse
    bucket. (True, the room it ended) when the bucket ran dry and the socket should be closed."""
    try:
        refused = service.store.penalise(cid)
    except Unavailable:
        return False, None
    return refused.close, refused.ended


def _reply_error(outbox: Outbox, cid: str, event: dict[str, Any], action: str) -> None:
    """Straight to the sender, no cleanup on 410: the error path must not need Redis. The
    refused action is named when the frame was parsed far enough to know it."""
    if action != "?":
        event = {**event, "action": action}
    outbox.post(cid, event)


def on_disconnect(event: dict[str, Any], service: Service | None = None) -> dict[str, Any]:
    """Delete the connection's state; its seat in a room is held for the resume grace period
    and its peer told. A failure here is left to the sweep."""
    service = service or default()
    cid = event["requestContext"]["connectionId"]
    outbox = Outbox(service, _endpoint(service, event))
    try:
        outbox.tell(service.store.disconnect(cid, hold=True))
    except Unavailable as exc:
        log.error("$disconnect %s not recorded, the sweep will evict it: %s", cid, exc)
    return {"statusCode": 200}


def on_schedule(service: Service | None = None) -> SweepStats:
    """Run the sweep. Every run reports ``SweepFailures`` (0 or 1, namespace RandomChat), which the
    infra stack alarms on; a failed run also raises, so it counts in the function's Lambda Errors."""
    service = service or default()
    metrics = _metrics(service)
    try:
        stats = run(service)
    except Exception as exc:
        log.error("sweep failed: %r", exc)
        metrics.count("SweepFailures")
        metrics.flush()
        raise
    metrics.count("SweepFailures", 0)
    metrics.count("SweepAnnouncementsFailed", stats.failed)
    metrics.flush()
    return stats


def stats(service: Service | None = None) -> tuple[dict[str, Any], int]:
    """People waiting and chatting, matches and median wait over the last minute: one read of
    fixed cost, answered from a cache every container shares (``STATS_CACHE_SECONDS``)."""
    service = service or default()
    try:
        stats = service.store.stats()
    except Unavailable as exc:
        log.error("stats failed: %s", exc)
        return {"error": "unavailable"}, 503
    return {
        "online": stats.online,
        "waiting": stats.waiting,
        "chatting": stats.chatting * 2,
        "chats_in_progress": stats.chatting,
        "matches_last_minute": stats.matches,
        "median_wait_ms": _median(stats.waits),
    }, 200


def _median(values: Sequence[float]) -> float | None:
    # Not statistics.median: importing statistics costs milliseconds on every cold start.
    ordered = sorted(values)
    if not ordered:
        return None
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def health(service: Service | None = None) -> tuple[dict[str, Any], int]:
    service = service or default()
    ok = service.store.ping_server()
    return {"service": service.settings.service_name, "redis": ok}, (200 if ok else 503)


def client_config(service: Service | None = None) -> dict[str, Any]:
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
        # Relays keep no liveness (they are answered in the room's own slot): pings must.
        "ping_interval_seconds": max(5, config.idle_timeout_seconds // 2),
        "interest_fallback_seconds": config.interest_fallback_seconds,
    }
