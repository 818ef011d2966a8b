"""Posting events back to clients through the API Gateway Management API.

The caller passes the endpoint (``Service.endpoint_for``: from the event, as in Lambda, unless
``MANAGEMENT_API_URL`` overrides it for the local gateway).
boto3 is imported on the first post, not at import time, to keep cold starts short.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any, Protocol

log = logging.getLogger(__name__)


class CloseFailed(RuntimeError):
    """A socket could not be closed (a denied DELETE, throttling): it is still open."""


class Sender(Protocol):
    def post(self, endpoint: str, connection_id: str, event: dict[str, Any]) -> bool:
        """Deliver ``event``; False means the recipient is gone (HTTP 410), True otherwise."""
        ...

    def close(self, endpoint: str, connection_id: str) -> None:
        """Close the socket; API Gateway then fires ``$disconnect``. Raises :class:`CloseFailed`
        when the socket may still be open."""
        ...


def encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class ManagementApiSender:
    """One boto3 client per endpoint, shared by threads; retries are few and timeouts short
    because a user is waiting on the other end."""

    def __init__(self, region: str) -> None:
        self.region = region
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _client(self, endpoint: str) -> Any:
        client = self._clients.get(endpoint)
        if client is None:
            with self._lock:
                client = self._clients.get(endpoint)
                if client is None:
                    import boto3
                    from botocore.config import Config

                    client = boto3.client(
                        "apigatewaymanagementapi",
                        endpoint_url=endpoint,
                        region_name=self.region,
                        config=Config(
                            connect_timeout=2,
                            read_timeout=3,
                            retries={"max_attempts": 2, "mode": "standard"},
                            max_pool_connections=64,  # one container's threads (local gateway) share it
                        ),
                    )
                    self._clients[endpoint] = client
        return client

    def post(self, endpoint: str, connection_id: str, event: dict[str, Any]) -> bool:
        client = self._client(endpoint)
        try:
            client.post_to_connection(ConnectionId=connection_id, Data=encode(event))
        except client.exceptions.GoneException:
            return False
        except Exception as exc:
            log.error("post_to_connection %s failed: %r", connection_id, exc)
        return True

    def close(self, endpoint: str, connection_id: str) -> None:
        client = self._client(endpoint)
        try:
            client.delete_connection(ConnectionId=connection_id)
        except client.exceptions.GoneException:
            return  # already closed: what we wanted
        except Exception as exc:
            # A banned or abusive socket that stays open must not pass for closed: an AccessDenied
            # here is a deployment fault (IAM grants POST but not DELETE) that has to be seen.
            raise CloseFailed(f"delete_connection {connection_id} failed: {exc!r}") from exc
