"""A real HTTP Management API on loopback: what the app's sender posts, over the wire.

The app's sender speaks HTTP itself (chalicelib/sender.py), so this is where tests read what
each connection received. It keeps connections alive (HTTP/1.1), as API Gateway's endpoint does,
counts the TCP connections it accepted, records every request as it arrived (method, path,
headers, body: enough to check a signature), answers 410 GoneException for connections marked
gone or closed, and can be told how to answer a connection's next requests (a status, or a
connection reset) to rehearse throttling, 5xx, a denied DELETE and a dropped connection.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
from collections import defaultdict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

RESET = "reset"  # an answer: close the connection with a TCP reset instead of answering
ERROR_TYPES = {403: "ForbiddenException", 410: "GoneException", 413: "PayloadTooLargeException",
               429: "LimitExceededException", 500: "InternalServerError", 502: "BadGateway",
               503: "ServiceUnavailable"}


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # as sent, still percent-encoded
    connection_id: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    status: int  # what it was answered; 0 for a reset


class FakeManagementApi:
    def __init__(self, stage: str = "api") -> None:
        self.stage = stage
        self.frames: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.gone: set[str] = set()
        self.posts_to_gone: list[str] = []
        self.closed: list[str] = []
        self.requests: list[Request] = []
        self.connections = 0  # TCP connections accepted
        self._sockets: list[socket.socket] = []
        self._answers: dict[str, list[int | str]] = defaultdict(list)
        self._lock = threading.Lock()
        self._server = _CountingServer(("127.0.0.1", 0), self._handler(), self)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/{self.stage}"

    def received(self, cid: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.frames[cid])

    def answer_next(self, cid: str, *answers: int | str) -> None:
        """Answer the next requests for ``cid`` with these statuses (or :data:`RESET`), in order;
        a POST answered other than 2xx delivers nothing."""
        with self._lock:
            self._answers[cid].extend(answers)

    def drop_connections(self) -> None:
        """Close every connection from this side, as a server does to idle kept-alive ones."""
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):  # already closed
                sock.shutdown(socket.SHUT_RDWR)

    def requests_for(self, cid: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.connection_id == cid]

    def _answer(self, method: str, cid: str, body: bytes) -> int | str:
        with self._lock:
            scripted = self._answers[cid].pop(0) if self._answers[cid] else None
            if scripted == RESET or (isinstance(scripted, int) and scripted >= 300):
                return scripted
            if cid in self.gone:
                if method == "POST":
                    self.posts_to_gone.append(cid)
                return 410
            if method == "POST":
                self.frames[cid].append(json.loads(body))
                return 200
            if method == "DELETE":
                self.closed.append(cid)
                self.gone.add(cid)
                return 204
            return 405

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as API Gateway's endpoint
            disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed ACK

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                cid = unquote(self.path.rsplit("/@connections/", 1)[-1])
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                answer = api._answer(self.command, cid, body)
                headers = {name.lower(): value for name, value in self.headers.items()}
                with api._lock:
                    api.requests.append(Request(self.command, self.path, cid, headers, body,
                                                answer if isinstance(answer, int) else 0))
                if answer == RESET:
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                    self.connection.close()
                    return
                assert isinstance(answer, int)
                data = b"" if answer == 204 else json.dumps({} if answer < 300 else {"message": None}).encode()
                self.send_response(answer)
                self.send_header("Content-Type", "application/json")
                if answer in ERROR_TYPES:
                    self.send_header("x-amzn-ErrorType", ERROR_TYPES[answer])
                if answer != 204:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = do_DELETE = do_GET = _serve

        return Handler

    def __enter__(self) -> FakeManagementApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class _CountingServer(ThreadingHTTPServer):
    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], api: FakeManagementApi) -> None:
        super().__init__(address, handler)
        self.api = api

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.api._lock:
            self.api.connections += 1
            self.api._sockets.append(request)
        super().process_request(request, client_address)
