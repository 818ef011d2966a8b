"""ICE servers for one connection: the static STUN list plus time-limited TURN credentials.

TURN credentials follow the TURN REST API draft that coturn implements as ``use-auth-secret``:
``username = "<expiry unix time>:<user id>"`` and ``credential = base64(HMAC-SHA1(secret,
username))``. The user id is the connection id, so a credential is bound to one connection and
useless after ``TURN_TTL_SECONDS``.

The shared secret is ``TURN_SECRET`` or, so that it never sits in the Lambda environment, the
value of the Secrets Manager secret ``TURN_SECRET_ARN``, read when the first credential is made
(a cold start that matches nobody never imports boto3) and kept for the life of the process.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from .aws_secrets import secret_string
from .config import TURN_SECRET_MIN_CHARS, Settings

log = logging.getLogger(__name__)

# After a failed read, matches go out with STUN only for this long before Secrets Manager is asked
# again: a broken deployment should not add a failing AWS call to every match.
RETRY_SECONDS = 60.0


def turn_credential(secret: str, username: str) -> str:
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class IceServers:
    """The ICE servers each ``matched`` and ``resumed`` event carries; one per process
    (``Service.ice``), so the secret behind ``TURN_SECRET_ARN`` is read once."""

    def __init__(
        self,
        config: Settings,
        *,
        read_secret: Callable[[str], str] = secret_string,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._read_secret = read_secret
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._secret: str | None = config.turn_secret
        self._failed_at: float | None = None

    def for_connection(self, connection_id: str, now: float | None = None) -> list[dict[str, Any]]:
        """The static servers, plus TURN credentials bound to ``connection_id`` when TURN is set up
        and its secret is usable (otherwise STUN alone: most calls still connect)."""
        servers = list(self.config.static_ice_servers())
        secret = self.shared_secret() if self.config.turn_urls else None
        if secret:
            expiry = int(time.time() if now is None else now) + self.config.turn_ttl_seconds
            username = f"{expiry}:{connection_id}"
            credential = turn_credential(secret, username)
            servers.append({"urls": self.config.turn_urls, "username": username, "credential": credential})
        return servers

    def shared_secret(self) -> str | None:
        """coturn's ``static-auth-secret``, or None while it cannot be had."""
        if self._secret is not None or not self.config.turn_secret_arn:
            return self._secret
        with self._lock:  # handlers may run in threads: one reads, the others wait for its answer
            if self._secret is None and not self._failed_recently():
                self._secret = self._fetch(self.config.turn_secret_arn)
                self._failed_at = None if self._secret else self._monotonic()
            return self._secret

    def _failed_recently(self) -> bool:
        return self._failed_at is not None and self._monotonic() - self._failed_at < RETRY_SECONDS

    def _fetch(self, arn: str) -> str | None:
        """The secret's value, or None (and an error in the log) when it is missing or too short:
        a deployment mistake that must not turn every match into a crash."""
        try:
            value = self._read_secret(arn)
        except Exception as exc:  # denied, missing, unreachable or binary: all leave us without TURN
            log.error("TURN_SECRET_ARN %s could not be read, matches get no TURN server: %r", arn, exc)
            return None
        if len(value) < TURN_SECRET_MIN_CHARS:
            log.error(
                "TURN_SECRET_ARN %s holds fewer than %d characters, matches get no TURN server",
                arn,
                TURN_SECRET_MIN_CHARS,
            )
            return None
        return value
