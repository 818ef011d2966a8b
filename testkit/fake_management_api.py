"""A real HTTP Management API on loopback that answers 410 for connections marked gone.

moto never raises ``GoneException``; this endpoint lets the real boto3 client in the app
receive a genuine HTTP 410 and exercise the cleanup path end to end.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote


class FakeManagementApi:
    def __init__(self, stage: str = "api") -> None:
        self.stage = stage
        self.frames: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.gone: set[str] = set()
        self.posts_to_gone: list[str] = []
        self.closed: list[str] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/{self.stage}"

    def received(self, cid: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.frames[cid])

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                cid = unquote(self.path.rsplit("/@connections/", 1)[-1])
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with api._lock:
                    if cid in api.gone:
                        api.posts_to_gone.append(cid)
                        status, payload = 410, {"message": None}
                    else:
                        api.frames[cid].append(json.loads(body))
                        status, payload = 200, {}
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if status == 410:
                    self.send_header("x-amzn-ErrorType", "GoneException")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_DELETE(self) -> None:
                cid = unquote(self.path.rsplit("/@connections/", 1)[-1])
                with api._lock:
                    api.closed.append(cid)
                    api.gone.add(cid)
                self.send_response(204)
                self.end_headers()

        return Handler

    def __enter__(self) -> FakeManagementApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
