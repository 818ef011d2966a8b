"""Posting events back to clients through the API Gateway Management API.

The caller passes the endpoint (``Service.endpoint_for``: from the event, as in Lambda, unless
``MANAGEMENT_API_URL`` overrides it for the local gateway). A post is one SigV4-signed HTTP
request on a kept-alive connection, not a boto3 call: botocore's client spent ~0.7-1.3 ms of
CPU per post (serialization, event hooks, endpoint rules, a signature from scratch), 3-4 times
the handler it served (docs/decisions/0002-leaner-post-to-connection.md). Only the standard
library is imported, and only on the first post, so cold starts stay short; botocore is loaded
only where the credentials are not in the environment (never on Lambda).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

log = logging.getLogger(__name__)

# botocore's names for what this module sends; tests/deploy reads them to know which AWS calls
# the code makes, and checks them against the requests its scenarios put on the wire.
AWS_SERVICE = "apigatewaymanagementapi"
METHODS = {"PostToConnection": "POST", "DeleteConnection": "DELETE"}
SIGNING_NAME = "execute-api"
CONNECT_TIMEOUT_S = 2.0
READ_TIMEOUT_S = 3.0
IDLE_PER_ENDPOINT = 64  # one container's threads (the local gateway's workers) share the pool
THROTTLED = 429
# botocore's standard retry mode pauses rand(0, 1) s before retrying a throttle and
# rand(0, 50) ms before retrying anything else; so does this sender.
THROTTLE_PAUSE_S = 1.0
ERROR_PAUSE_S = 0.05


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


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    token: str | None = None


def credential_source() -> Callable[[], Credentials]:
    """Where each request's credentials come from, in botocore's order of precedence.

    Lambda puts the role's keys in the environment for the container's whole life, so they are
    read from there once (as botocore's own environment provider does) without importing
    botocore. Anywhere else (a profile, SSO, an instance role) botocore's chain resolves them;
    its refreshable credentials are asked on every request, so they renew before they expire.
    """
    env = os.environ
    if not env.get("AWS_PROFILE") and env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        token = env.get("AWS_SESSION_TOKEN") or None
        static = Credentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], token)
        return lambda: static
    import botocore.session

    found = botocore.session.get_session().get_credentials()
    if found is None:
        raise RuntimeError("no AWS credentials: the Management API needs signed requests")

    def frozen() -> Credentials:
        c = found.get_frozen_credentials()
        return Credentials(c.access_key, c.secret_key, c.token)

    return frozen


def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    """SigV4's derived key: four HMACs, the same for every request of one day."""
    key = hmac.digest(("AWS4" + secret_key).encode(), date.encode(), "sha256")
    for part in (region, service, "aws4_request"):
        key = hmac.digest(key, part.encode(), "sha256")
    return key


_SHA256 = hashlib.sha256()  # copied, not constructed: OpenSSL 3 looks the digest up on every construction


def _sha256_hex(data: bytes) -> str:
    h = _SHA256.copy()
    h.update(data)
    return h.hexdigest()


class _Hmac:
    """HMAC-SHA256 under one key with its padded key blocks hashed once (RFC 2104's precomputation)."""

    def __init__(self, key: bytes) -> None:
        block = key.ljust(64, b"\0")
        self._inner, self._outer = _SHA256.copy(), _SHA256.copy()
        self._inner.update(bytes(b ^ 0x36 for b in block))
        self._outer.update(bytes(b ^ 0x5C for b in block))

    def hexdigest(self, message: bytes) -> str:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


class SigV4:
    """AWS Signature Version 4 for one region and service, with the day's signing key cached.

    Signs exactly what botocore's ``SigV4Auth`` signs for the same request (tests/test_management
    _sender.py compares them): the headers ``host``, ``x-amz-date`` and, with temporary
    credentials, ``x-amz-security-token``, and the path encoded once more, as every service but S3
    expects.
    """

    def __init__(self, region: str, service: str = SIGNING_NAME, clock: Callable[[], float] = time.time) -> None:
        self.region = region
        self.service = service
        self.clock = clock
        self._key: tuple[str, str, _Hmac] | None = None  # (secret key, date, keyed HMAC), swapped whole
        self._second: tuple[int, str] = (-1, "")  # (epoch second, its X-Amz-Date)

    def headers(self, method: str, host: str, path: str, body: bytes, credentials: Credentials) -> dict[str, str]:
        """The headers that authenticate this request: X-Amz-Date, the token, Authorization."""
        second, amz_date = self._second
        now = int(self.clock())
        if now != second:
            amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
            self._second = (now, amz_date)
        date = amz_date[:8]
        cached = self._key
        if cached is None or cached[0] != credentials.secret_key or cached[1] != date:
            key = _Hmac(signing_key(credentials.secret_key, date, self.region, self.service))
            self._key = cached = (credentials.secret_key, date, key)
        out = {"X-Amz-Date": amz_date}
        canonical_headers = f"host:{host}\nx-amz-date:{amz_date}\n"
        signed = "host;x-amz-date"
        if credentials.token:
            out["X-Amz-Security-Token"] = credentials.token
            canonical_headers += f"x-amz-security-token:{credentials.token}\n"
            signed += ";x-amz-security-token"
        canonical = "\n".join((method, canonical_path(path), "", canonical_headers, signed, _sha256_hex(body)))
        scope = f"{date}/{self.region}/{self.service}/aws4_request"
        to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{_sha256_hex(canonical.encode())}"
        out["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
                                f"SignedHeaders={signed}, Signature={cached[2].hexdigest(to_sign.encode())}")
        return out


@lru_cache(maxsize=4096)
def connection_path(base: str, connection_id: str) -> str:
    """The request path; a connection is posted to several times, so it is built once."""
    return f"{base}/@connections/{quote(connection_id, safe='')}"


@lru_cache(maxsize=4096)
def canonical_path(path: str) -> str:
    """The path as SigV4 signs it for every service but S3: percent-encoded once more."""
    return quote(path, safe="/~")


class ProtocolError(ConnectionError):
    """The server's answer was not HTTP/1.1 as this sender reads it: the connection is dropped."""


class Connection:
    """One kept-alive HTTP/1.1 connection. http.client parses every response's headers with the
    email package and sends headers and body in two writes; on a loopback endpoint that cost
    ~0.2 ms of CPU per post more than this."""

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self._file = sock.makefile("rb")

    def exchange(self, request: bytes) -> tuple[int, str, bool]:
        """Send one whole request, read its whole response: (status, x-amzn-ErrorType, keep)."""
        self.sock.sendall(request)  # one write: no delayed-ACK stall between headers and body
        while True:
            line = self._file.readline(65537)
            if not line:
                raise ProtocolError("the connection closed before an answer")
            parts = line.split(None, 2)
            if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
                raise ProtocolError(f"not an HTTP status line: {line[:80]!r}")
            status, keep = int(parts[1]), parts[0] == b"HTTP/1.1"
            headers: dict[bytes, bytes] = {}
            while (line := self._file.readline(65537)) not in (b"\r\n", b"\n"):
                if not line:
                    raise ProtocolError("the connection closed in the headers")
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            if status >= 200:
                break  # 1xx is interim: the real answer follows
        connection = headers.get(b"connection", b"").lower()
        keep = (keep and connection != b"close") or connection == b"keep-alive"
        if status in (204, 304):
            pass
        elif b"chunked" in headers.get(b"transfer-encoding", b"").lower():
            self._read_chunked()
        elif b"content-length" in headers:
            self._read_exactly(int(headers[b"content-length"]))
        else:
            self._file.read()  # delimited by the close
            keep = False
        return status, headers.get(b"x-amzn-errortype", b"").decode("latin-1").split(":", 1)[0], keep

    def _read_exactly(self, n: int) -> None:
        if n and len(self._file.read(n)) != n:
            raise ProtocolError("the connection closed in the body")

    def _read_chunked(self) -> None:
        while True:
            size = int(self._file.readline(65537).split(b";", 1)[0], 16)
            if size == 0:
                while self._file.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return
            self._read_exactly(size + 2)  # the chunk and its CRLF

    def dropped(self) -> bool:
        """An idle kept-alive socket with something to read has been closed by the server (EOF)."""
        import select

        poller = select.poll()  # not select(): the local gateway's descriptors pass 1024
        poller.register(self.sock, select.POLLIN)
        return bool(poller.poll(0))

    def close(self) -> None:
        self._file.close()
        self.sock.close()


class Endpoint:
    """One Management API endpoint and its idle kept-alive connections, shared by threads."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) endpoint: {url!r}")
        self.https = parts.scheme == "https"
        self.hostname = parts.hostname
        self.port = parts.port or (443 if self.https else 80)
        # As botocore signs it: the port only when it is not the scheme's default.
        self.host = self.hostname if parts.port in (None, 443 if self.https else 80) else f"{self.hostname}:{self.port}"
        self.base = parts.path.rstrip("/")
        self._idle: list[Connection] = []
        self._lock = threading.Lock()
        self._tls: Any = None

    def send(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, str]:
        """One request and its whole response: (status, the x-amzn-ErrorType if any).
        Raises OSError (ConnectionError, TimeoutError, ssl.SSLError) when the connection fails."""
        lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        request = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n{lines}"
                   f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1") + body
        conn = self._acquire()
        try:
            status, error, keep = conn.exchange(request)
        except ValueError as exc:  # a malformed length or chunk size: the stream is lost
            conn.close()
            raise ProtocolError(repr(exc)) from exc
        except BaseException:
            conn.close()
            raise
        if keep:
            self._release(conn)
        else:
            conn.close()
        return status, error

    def _acquire(self) -> Connection:
        with self._lock:
            while self._idle:
                conn = self._idle.pop()
                if not conn.dropped():
                    return conn
                conn.close()  # the server closed it while idle: not worth a retry
        return self._connect()

    def _release(self, conn: Connection) -> None:
        with self._lock:
            if len(self._idle) < IDLE_PER_ENDPOINT:
                self._idle.append(conn)
                return
        conn.close()

    def _connect(self) -> Connection:
        import socket

        sock = socket.create_connection((self.hostname, self.port), timeout=CONNECT_TIMEOUT_S)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.https:
                if self._tls is None:
                    import ssl

                    self._tls = ssl.create_default_context(cafile=os.environ.get("AWS_CA_BUNDLE") or None)
                sock = self._tls.wrap_socket(sock, server_hostname=self.hostname)  # under the connect timeout
            sock.settimeout(READ_TIMEOUT_S)
        except BaseException:
            sock.close()
            raise
        return Connection(sock)


class ManagementApiSender:
    """post_to_connection and delete_connection as signed requests on persistent connections.

    The contract is the boto3 client's it replaced: a post is False only on 410 GoneException,
    True otherwise (errors are logged, not raised, because one undeliverable event must not fail
    the action); one retry on throttling, a 5xx or a connection error, after botocore's pause;
    connect timeout 2 s, read timeout 3 s, because a user is waiting on the other end.
    """

    def __init__(self, region: str, *, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.region = region
        self.signer = SigV4(region, clock=clock)
        self.sleep = sleep
        self._endpoints: dict[str, Endpoint] = {}
        self._credentials: Callable[[], Credentials] | None = None
        self._lock = threading.Lock()

    def post(self, endpoint: str, connection_id: str, event: dict[str, Any]) -> bool:
        try:
            status, error = self._call("PostToConnection", endpoint, connection_id, encode(event))
        except Exception as exc:
            log.error("post_to_connection %s failed: %r", connection_id, exc)
            return True
        if status == 410:
            return False
        if status >= 300:
            log.error("post_to_connection %s failed: HTTP %s %s", connection_id, status, error)
        return True

    def close(self, endpoint: str, connection_id: str) -> None:
        try:
            status, error = self._call("DeleteConnection", endpoint, connection_id, b"")
        except Exception as exc:
            raise CloseFailed(f"delete_connection {connection_id} failed: {exc!r}") from exc
        # A banned or abusive socket that stays open must not pass for closed: a 403 here is a
        # deployment fault (IAM grants POST but not DELETE) that has to be seen. 410: already closed.
        if status != 410 and not 200 <= status < 300:
            raise CloseFailed(f"delete_connection {connection_id} failed: HTTP {status} {error}")

    def _call(self, operation: str, endpoint: str, connection_id: str, body: bytes) -> tuple[int, str]:
        target, credentials = self._endpoint(endpoint), self._credential_source()()
        method = METHODS[operation]
        path = connection_path(target.base, connection_id)
        headers = self.signer.headers(method, target.host, path, body, credentials)
        if body:
            headers["Content-Type"] = "application/json"
        try:
            status, error = target.send(method, path, headers, body)
        except OSError as exc:
            log.warning("%s %s: %r, retrying", operation, connection_id, exc)
            self.sleep(random.random() * ERROR_PAUSE_S)
        else:
            if status != THROTTLED and status < 500:
                return status, error
            log.warning("%s %s: HTTP %s %s, retrying", operation, connection_id, status, error)
            self.sleep(random.random() * (THROTTLE_PAUSE_S if status == THROTTLED else ERROR_PAUSE_S))
        return target.send(method, path, headers, body)  # the same signature: valid for 5 minutes

    def _endpoint(self, url: str) -> Endpoint:
        target = self._endpoints.get(url)
        if target is None:
            with self._lock:
                target = self._endpoints.setdefault(url, Endpoint(url))
        return target

    def _credential_source(self) -> Callable[[], Credentials]:
        if self._credentials is None:
            with self._lock:
                if self._credentials is None:
                    self._credentials = credential_source()
        return self._credentials
