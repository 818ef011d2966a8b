"""Anonymous device identities: who is behind a socket, across sockets, without knowing who they are.

Policies that must follow a person (no-repeat, report blocks, bans, rate limits) cannot follow an
address, which thousands of people may share behind a carrier NAT, nor a socket, which a reload
or Stop/Start replaces. So each browser holds an identity the server issued: a random device id
and when it was issued, signed with an HMAC, and nothing else (no name, no address, no time of
use). The page presents it in the ``$connect`` URL (``?id=``), which API Gateway passes through as
a query string parameter; the server trusts only what its own signature covers.

A missing, expired, forged or unreadable identity is a new device: a fresh one is issued and
delivered on the connection's first ``register``, ``resume`` or ``ping``, and the address's
budget of new devices per minute pays for it. Rotation: the current secret signs, and any of
``IDENTITY_PREVIOUS_SECRETS`` still verifies, so identities issued before a rotation keep working
until they are re-issued. Revocation: a ban on the device id (``{p}:bans``) refuses it everywhere.

Without a secret (tests and tools that do not care) there are no persistent identities: each
connection is its own device, named after its connection id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass

from .aws_secrets import secret_string
from .config import IDENTITY_SECRET_MIN_CHARS, Settings

log = logging.getLogger(__name__)

VERSION = "d1"
DEVICE_BYTES = 16  # 128 random bits
SIGNATURE_BYTES = 16  # HMAC-SHA256 truncated to 128 bits
TOKEN_MAX_CHARS = 128
EPHEMERAL_PREFIX = "c:"  # a device that is just one connection (no secret configured)
# After a failed read of IDENTITY_SECRET_ARN, connections are their own devices for this long
# before Secrets Manager is asked again: a broken deployment must not add a failing AWS call to
# every $connect, nor stay without identities until its containers are replaced.
RETRY_SECONDS = 60.0


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _sign(secret: str, payload: str) -> str:
    return _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()[:SIGNATURE_BYTES])


@dataclass(frozen=True)
class Device:
    """Who a connection is: ``id`` for every policy; ``token`` to hand the page when it needs a
    new one (else ''); ``new`` when the device was never seen (it pays the newcomer's limits)."""

    id: str
    token: str = ""
    new: bool = False


class Identities:
    """Issues and verifies identities with the configured secrets; one per process."""

    def __init__(self, config: Settings, *, read_secret: Callable[[str], str] = secret_string,
                 clock: Callable[[], float] | None = None) -> None:
        import time

        self._config = config
        self._read_secret = read_secret
        self._clock = clock or time.time
        self._lock = threading.Lock()
        self._secret: str | None = config.identity_secret
        self._loaded = config.identity_secret is not None or not config.identity_secret_arn
        self._retry_at = 0.0

    @property
    def enabled(self) -> bool:
        return self._current() is not None

    def _current(self) -> str | None:
        if not self._loaded and self._clock() >= self._retry_at:
            with self._lock:
                if not self._loaded and self._clock() >= self._retry_at:
                    self._secret = self._load()
                    self._loaded = self._secret is not None
                    self._retry_at = self._clock() + RETRY_SECONDS
        return self._secret

    def _load(self) -> str | None:
        arn = self._config.identity_secret_arn or ""
        try:
            value = self._read_secret(arn)
        except Exception:
            log.exception("could not read the identity secret %s; connections get no lasting identity", arn)
            return None
        if len(value) < IDENTITY_SECRET_MIN_CHARS:
            log.error("the identity secret %s is shorter than %d characters; not used", arn, IDENTITY_SECRET_MIN_CHARS)
            return None
        return value

    def issue(self) -> Device:
        secret = self._current()
        if secret is None:
            raise RuntimeError("no identity secret configured")
        device = _b64(secrets.token_bytes(DEVICE_BYTES))
        return Device(device, self._token(secret, device), new=True)

    def _token(self, secret: str, device: str) -> str:
        payload = f"{VERSION}.{device}.{int(self._clock())}"
        return f"{payload}.{_sign(secret, payload)}"

    def verify(self, token: str) -> str | None:
        """The device id of a valid, unexpired token signed by a current or previous secret."""
        secret = self._current()
        if secret is None or not token or len(token) > TOKEN_MAX_CHARS:
            return None
        parts = token.split(".")
        if len(parts) != 4 or parts[0] != VERSION or not parts[2].isdigit():
            return None
        payload, signature = ".".join(parts[:3]), parts[3]
        if not any(hmac.compare_digest(_sign(key, payload), signature)
                   for key in (secret, *self._config.identity_previous_secrets)):
            return None
        age = self._clock() - int(parts[2])
        if age < -60 or age > self._config.identity_ttl_days * 86_400:
            return None
        return parts[1]

    def for_connection(self, cid: str, presented: str) -> Device:
        """Who a new connection is. A valid identity is kept (re-signed, so with the current
        secret and a new lifetime, once half its lifetime has passed); anything else is a new
        device."""
        secret = self._current()
        if secret is None:
            return Device(EPHEMERAL_PREFIX + cid)
        device = self.verify(presented)
        if device is None:
            return self.issue()
        version, _, issued, signature = presented.split(".")
        old = self._clock() - int(issued) > self._config.identity_ttl_days * 43_200
        if old or not hmac.compare_digest(_sign(secret, f"{version}.{device}.{issued}"), signature):
            return Device(device, self._token(secret, device))  # half-way through, or a previous secret's
        return Device(device)
