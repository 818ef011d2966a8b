"""Faults as they really happen: a Redis server paused mid-run, and replies lost on the wire.

A paused server (SIGSTOP) keeps every command it was sent and runs them when it wakes, long
after the client gave up: exactly the "timed out, yet it ran" case.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from collections.abc import Iterator

from localdev.redis_server import RedisServer


@contextlib.contextmanager
def paused(server: RedisServer) -> Iterator[None]:
    """SIGSTOP the server for the block; it resumes (SIGCONT) with everything it was sent."""
    os.kill(server.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(server.pid, signal.SIGCONT)


class ReplyDroppingProxy:
    """A loopback TCP proxy to Redis that can swallow every reply on the connections open now.

    Commands still reach the server and run; their answers never come back. redis-py then
    times out, drops that socket and retries on a new one, whose replies pass again.
    """

    def __init__(self, target_port: int, host: str = "127.0.0.1") -> None:
        self.target_port = target_port
        self.host = host
        self.port = 0
        self.swallowed = 0
        self._doomed: set[int] = set()
        self._open: set[int] = set()
        self._count = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.drop_all = False  # swallow every reply, on new connections too

    def drop_replies_on_open_connections(self) -> None:
        self._doomed |= self._open

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, self.host, 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, conn: int | None) -> None:
        try:
            while chunk := await reader.read(65536):
                if conn is not None and (self.drop_all or conn in self._doomed):
                    self.swallowed += 1
                    continue
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.host, self.target_port)
        self._count += 1
        conn = self._count  # not id(writer): ids of closed writers are reused
        self._open.add(conn)
        try:
            await asyncio.gather(self._pipe(reader, up_writer, None), self._pipe(up_reader, writer, conn))
        finally:
            self._open.discard(conn)

    def __enter__(self) -> ReplyDroppingProxy:
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        async def shutdown() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop)
        self._thread.join(5)
