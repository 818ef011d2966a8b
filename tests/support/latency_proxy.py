"""A TCP proxy on loopback in front of Redis that can slow every chunk of bytes down, or lose
replies on the wire: commands still reach the server and run, their answers never come back."""

from __future__ import annotations

import asyncio
import threading


class LatencyProxy:
    def __init__(self, target_port: int, delay: float = 0.0, host: str = "127.0.0.1") -> None:
        self.target_port = target_port
        self.delay = delay
        self.host = host
        self.port = 0
        self.delayed_chunks = 0
        self.swallowed = 0  # replies lost on purpose
        self.drop_all = False  # lose every reply, on new connections too
        self._doomed: set[int] = set()
        self._open: set[int] = set()
        self._count = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def drop_replies_on_open_connections(self) -> None:
        """Lose every reply on the connections open now. redis-py then times out, drops that
        socket and retries on a new one, whose replies pass."""
        self._doomed |= self._open

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, self.host, 0))
        self.port = server.sockets[0].getsockname()[1]
        self._server = server
        self._ready.set()
        self._loop.run_forever()
        server.close()
        self._loop.run_until_complete(server.wait_closed())

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, replies_of: int = 0) -> None:
        try:
            while chunk := await reader.read(65536):
                if replies_of and (self.drop_all or replies_of in self._doomed):
                    self.swallowed += 1
                    continue
                if self.delay:
                    await asyncio.sleep(self.delay)
                    self.delayed_chunks += 1
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.target_port)
        except OSError:
            writer.close()
            return
        self._count += 1
        conn = self._count  # not id(writer): ids of closed writers are reused
        self._open.add(conn)
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer, replies_of=conn))
        finally:
            self._open.discard(conn)

    def __enter__(self) -> LatencyProxy:
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
