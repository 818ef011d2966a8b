"""A Redis server paused mid-run, as it really happens (replies lost on the wire: see
``latency_proxy.LatencyProxy``).

A paused server (SIGSTOP) keeps every command it was sent and runs them when it wakes, long
after the client gave up: exactly the "timed out, yet it ran" case.
"""

from __future__ import annotations

import contextlib
import os
import signal
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
