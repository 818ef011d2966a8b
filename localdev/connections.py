"""The gateway's record of one open WebSocket: what $disconnect and GET @connections report."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from aiohttp import web

from localdev.events import Peer

# disconnectReason texts. "Connection Closed Normally" (DeleteConnection) and the 1005 text are
# what API Gateway writes; the others are this gateway's wording.
NORMAL = (1000, "Connection Closed Normally")
NO_STATUS = (1005, "Client-side close frame status not set")
GOING_AWAY = (1001, "Going away")
ABNORMAL = (1006, "Connection closed abnormally")
TOO_BIG = (1009, "Message too big")
BINARY = (1003, "Binary frames are not supported")


@dataclass(eq=False)
class Connection:
    id: str
    ws: web.WebSocketResponse
    source_ip: str
    user_agent: str
    connected_at: float = field(default_factory=time.time)  # epoch seconds
    last_active_at: float = field(default_factory=time.time)
    opened: float = field(default_factory=time.monotonic)
    last_client_message: float = field(default_factory=time.monotonic)
    # Once set, the Management API treats the connection as gone (AWS answers 410 from the
    # moment DeleteConnection is accepted, and during $disconnect).
    gone: bool = False
    # Status for the $disconnect event when the gateway, not the client, ends the connection.
    disconnect: tuple[int, str] | None = None
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    order_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def peer(self) -> Peer:
        return Peer(self.id, int(self.connected_at * 1000), self.source_ip)

    def touch_by_client(self) -> None:
        self.last_client_message = time.monotonic()
        self.last_active_at = time.time()

    def idle_deadline(self, idle_s: float, max_s: float) -> float:
        """Monotonic time at which the idle timeout or the connection cap ends this connection."""
        return min(self.last_client_message + idle_s, self.opened + max_s)

    async def send(self, data: bytes) -> bool:
        """Deliver a Management API post; text frame when it is UTF-8, as browsers expect."""
        if self.gone or self.ws.closed:
            return False
        try:
            text: str | None = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        try:
            async with self.send_lock:
                if text is not None:
                    await self.ws.send_str(text)
                else:
                    await self.ws.send_bytes(data)
        except (ConnectionError, RuntimeError):
            return False
        self.last_active_at = time.time()
        return True

    async def close(self, status: tuple[int, str]) -> None:
        """Close from the gateway's side; the first reason given is the one $disconnect reports."""
        self.gone = True
        if self.disconnect is None:
            self.disconnect = status
        code, reason = status
        if not self.ws.closed:
            await self.ws.close(code=code, message=reason.encode("utf-8"))
