"""The gateway: one aiohttp server, one port, four faces of API Gateway.

    ws://HOST:PORT/ws                       WebSocket API ($connect, messages, $disconnect)
    http://HOST:PORT/{stage}/@connections/  Management API (POST, GET, DELETE)
    http://HOST:PORT/anything-else          REST API (through chalice.local)
    (no URL)                                EventBridge schedules

It binds its socket before importing the app, so MANAGEMENT_API_URL is known (and the port
is surely ours) when the app's module-level code reads it.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Coroutine
from typing import Any

from aiohttp import web

from localdev.app_loader import LoadedApp, load_app
from localdev.connections import GOING_AWAY, Connection
from localdev.events import Api
from localdev.invoker import AppSpec, Invoker
from localdev.management import PATH as MANAGEMENT_PATH
from localdev.management import serve_management
from localdev.reloader import SourceWatcher
from localdev.rest import serve_rest
from localdev.schedules import run_schedule
from localdev.settings import Settings
from localdev.websocket import serve_websocket

log = logging.getLogger("localdev")
_REST_MAX_BODY = 10 * 1024 * 1024  # API Gateway's REST payload quota
# A burst of clients connecting at once must not overflow the accept queue (the kernel caps it
# at net.core.somaxconn); with 128, a 1000-client burst had connections waiting for SYN retries.
LISTEN_BACKLOG = 4096


class Gateway:
    def __init__(self, settings: Settings, environment: Callable[[str], dict[str, str]]) -> None:
        self.settings = settings
        self._environment = environment
        self.invoker = Invoker(settings.workers, settings.processes, settings.per_connection)
        self.connections: dict[str, Connection] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._schedule_tasks: list[asyncio.Task[Any]] = []
        self._watch_task: asyncio.Task[Any] | None = None
        self._runner: web.AppRunner | None = None
        self.loaded: LoadedApp

    @property
    def api(self) -> Api:
        return self.settings.api(self.loaded.api_stage)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run in the background, but keep a reference so shutdown can wait for it."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("gateway task failed", exc_info=task.exception())

    def load(self) -> LoadedApp:
        s = self.settings
        return load_app(s.app_dir, s.chalice_stage, s.api_stage, s.region, self._environment)

    def _spec(self) -> AppSpec:
        s = self.settings
        return AppSpec(str(s.app_dir), s.chalice_stage, s.api_stage, s.region,
                       self._environment(self.loaded.api_stage), logging.getLogger().level <= logging.DEBUG)

    async def start(self, sock: socket.socket) -> None:
        """Serve on an already bound socket; the app must load, or this raises LoadError."""
        self.loaded = await asyncio.to_thread(self.load)
        await self.invoker.start_processes(self._spec())
        app = web.Application(client_max_size=_REST_MAX_BODY)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0)
        await self._runner.setup()
        await web.SockSite(self._runner, sock, backlog=LISTEN_BACKLOG).start()
        self._start_schedules()
        if self.settings.reload:
            self._watch_task = asyncio.get_running_loop().create_task(self._watch())

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        if request.path == self.settings.ws_path:
            return await serve_websocket(self, request)
        match = MANAGEMENT_PATH.match(request.path)
        if match:
            return await serve_management(self, request, match["stage"], match["id"])
        return await serve_rest(self, request)

    def _start_schedules(self) -> None:
        for task in self._schedule_tasks:
            task.cancel()
        self._schedule_tasks = []
        if not self.settings.schedules:
            return
        loop = asyncio.get_running_loop()
        for schedule in self.loaded.schedules:
            self._schedule_tasks.append(loop.create_task(run_schedule(self, schedule)))

    async def _watch(self) -> None:
        watcher = SourceWatcher(self.settings.app_dir)
        while True:
            await asyncio.sleep(self.settings.reload_poll_s)
            changed = watcher.changes()
            if changed:
                await self.reload(changed)

    async def reload(self, changed: list[str]) -> None:
        """Swap in a fresh import; on failure keep serving the previous one, like a failed deploy."""
        try:
            loaded = await asyncio.to_thread(self.load)
        except Exception as exc:  # any import error: keep the old version serving
            log.error("Reload after %s changed failed; still serving the previous version:\n%s",
                      ", ".join(changed), exc)
            return
        self.loaded = loaded
        await self.invoker.start_processes(self._spec())
        self._start_schedules()
        log.info("Reloaded the app (%s changed); %d WebSocket(s) stay connected.",
                 ", ".join(changed), len(self.connections))

    async def stop(self, grace_s: float = 5.0) -> None:
        """Close every socket with 1001 (firing $disconnect), let handlers finish, then stop."""
        for task in [*self._schedule_tasks, *([self._watch_task] if self._watch_task else [])]:
            task.cancel()
        closing = [asyncio.create_task(conn.close(GOING_AWAY)) for conn in list(self.connections.values())]
        if closing:
            await asyncio.wait(closing, timeout=grace_s)
        for _ in range(50):  # the read loops exit and queue their $disconnect invocations
            if not self.connections:
                break
            await asyncio.sleep(0.02)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=grace_s)
        if self._runner is not None:
            await self._runner.cleanup()
        self.invoker.shutdown()


def bind(host: str, port: int) -> socket.socket:
    """Bind and listen now, so a busy port fails before anything else starts."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    sock.listen(LISTEN_BACKLOG)
    sock.setblocking(False)
    return sock
