"""Run Lambda entry points in a pool of threads, as concurrent Lambda instances would run.

A pool (not the event loop, not one thread) is the point: two messages from two clients, or
two from one client, run at the same time, so the races the app meets in production show
up on a laptop. Handlers are synchronous and block on Redis and on the Management API,
which this same process serves, so they must never run on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from localdev.app_loader import Function

log = logging.getLogger("localdev")


@dataclass(frozen=True)
class Outcome:
    """What the invocation returned, or the error Lambda would have reported."""

    result: Any
    error: str | None
    latency_ms: float
    request_id: str

    @property
    def status_code(self) -> int:
        """The proxy result's statusCode; a crashed handler counts as 500, no statusCode as 200."""
        if self.error is not None:
            return 500
        if isinstance(self.result, dict):
            try:
                return int(self.result.get("statusCode", 200))
            except (TypeError, ValueError):
                return 500
        return 200

    @property
    def status(self) -> int | str:
        return "error" if self.error is not None else self.status_code


class Invoker:
    def __init__(self, workers: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lambda")

    def _call(self, function: Function, event: dict[str, Any]) -> tuple[Any, str | None, str]:
        context = function.context()
        try:
            return function.entry_point(event, context), None, context.aws_request_id
        except Exception as exc:
            # Lambda writes the stack trace to the function's log; so do we.
            log.error("%s (%s) raised:\n%s", function.name, function.handler_string, traceback.format_exc())
            return None, f"{type(exc).__name__}: {exc}", context.aws_request_id

    async def invoke(self, function: Function, event: dict[str, Any]) -> Outcome:
        start = time.perf_counter()
        loop = asyncio.get_running_loop()
        result, error, request_id = await loop.run_in_executor(self._pool, self._call, function, event)
        latency_ms = (time.perf_counter() - start) * 1000
        if latency_ms > function.timeout_s * 1000:
            log.warning(
                "%s took %.0f ms, over its %d s timeout: Lambda would have killed it",
                function.name, latency_ms, function.timeout_s,
            )
        return Outcome(result, error, latency_ms, request_id)

    async def run(self, fn: Any, *args: Any) -> Any:
        """Run any blocking call (a REST request through chalice.local) in the same pool."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
