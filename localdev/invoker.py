"""Run Lambda entry points in a pool of threads, as concurrent Lambda instances would run.

A pool (not the event loop, not one thread) is the point: two messages from two clients, or
two from one client, run at the same time, so the races the app meets in production show
up on a laptop. Handlers are synchronous and block on Redis and on the Management API,
which this same process serves, so they must never run on the event loop.

With ``processes`` > 0 (``--processes N``) WebSocket and schedule handlers run instead in N
worker processes, each importing the app once at start, like N warm Lambda containers that
each handle one invocation at a time. They do not share module globals with each other or
with the gateway, and their CPU work (the app, redis-py, boto3's post_to_connection) no longer
competes for the gateway's GIL: under load the gateway then spends its one core on sockets.
REST requests always run in the thread pool (``chalice.local`` serves them in-process).

Invocations do not go straight into the pool's FIFO queue: they first wait for a fair turn in a
``FairScheduler`` (localdev/fairness.py), one queue per connection served round-robin, with at
most ``per_connection`` of one connection's invocations running at once. Otherwise one socket's
burst of 2,000 frames queued ahead of every other user's ``ping`` for seconds, where in AWS each
invocation gets a Lambda of its own and nobody else waits.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import signal
import time
import traceback
from collections.abc import Callable, Hashable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localdev.app_loader import Function, load_app
from localdev.children import die_with_parent
from localdev.eventlog import configure_logging
from localdev.fairness import FairScheduler

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


def _call(function: Function, event: dict[str, Any]) -> tuple[Any, str | None, str, float]:
    """Run one invocation; also returns how long it ran (ms), not counting any wait for a worker."""
    context = function.context()
    start = time.perf_counter()
    try:
        result, error = function.entry_point(event, context), None
    except Exception as exc:
        # Lambda writes the stack trace to the function's log; so do we.
        log.error("%s (%s) raised:\n%s", function.name, function.handler_string, traceback.format_exc())
        result, error = None, f"{type(exc).__name__}: {exc}"
    return result, error, context.aws_request_id, (time.perf_counter() - start) * 1000


@dataclass(frozen=True)
class AppSpec:
    """What a worker process needs to import the app exactly as the gateway did."""

    app_dir: str
    chalice_stage: str
    api_stage: str | None
    region: str
    environment: dict[str, str]
    verbose: bool = False


# A worker process's functions by handler string, loaded once by _start_worker.
_functions: dict[str, Function] = {}


def _start_worker(spec: AppSpec) -> None:
    # Ctrl-C reaches the whole process group; the gateway, not its workers, decides when to stop
    # (it still runs $disconnect handlers here while shutting down). Die with the gateway.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent()
    configure_logging(spec.verbose)
    loaded = load_app(Path(spec.app_dir), spec.chalice_stage, spec.api_stage, spec.region,
                      lambda _stage: spec.environment)
    for function in [*loaded.websocket.values(), *(s.function for s in loaded.schedules)]:
        _functions[function.handler_string] = function


def _call_in_worker(handler_string: str, event: dict[str, Any]) -> tuple[Any, str | None, str, float]:
    return _call(_functions[handler_string], event)


def _ready() -> bool:
    return bool(_functions)


class Invoker:
    """Runs Lambda entry points on ``workers`` threads (or ``processes`` processes), fairly per lane.

    A lane is whose invocation it is: the connection id for WebSocket events, the rule for a
    schedule. At most ``per_connection`` invocations of one lane hold a worker at once, and free
    workers go round-robin to the lanes with invocations waiting.
    """

    def __init__(self, workers: int, processes: int = 0, per_connection: int = 4) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lambda")
        self.processes = processes
        self._process_pool: ProcessPoolExecutor | None = None
        # As many slots as there are workers to run them (each process runs one invocation at a
        # time), so an invocation that gets a slot starts at once and the only queue is the fair one.
        self.scheduler = FairScheduler(processes or workers, per_connection)

    async def start_processes(self, spec: AppSpec) -> None:
        """(Re)start the worker processes and wait until each has imported the app.

        Spawned, not forked: the gateway has threads and an event loop a fork would copy.
        """
        if not self.processes:
            return
        old, self._process_pool = self._process_pool, ProcessPoolExecutor(
            max_workers=self.processes, mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker, initargs=(spec,),
        )
        loop = asyncio.get_running_loop()
        # One task per worker: each submit starts another process while none is idle yet.
        await asyncio.gather(*(loop.run_in_executor(self._process_pool, _ready) for _ in range(self.processes)))
        if old is not None:
            old.shutdown(wait=False)  # invocations still running there finish

    def _target(self, function: Function) -> tuple[Executor, Callable[..., Any], Any]:
        if self._process_pool is not None:
            return self._process_pool, _call_in_worker, function.handler_string
        return self._pool, _call, function

    async def invoke(self, function: Function, event: dict[str, Any], lane: Hashable | None = None) -> Outcome:
        """Run one invocation when ``lane`` (a connection id, a schedule) gets its turn.

        ``lane=None`` is a lane of its own, which only ever waits for a free worker.
        """
        start = time.perf_counter()
        loop = asyncio.get_running_loop()
        async with self.scheduler.slot(object() if lane is None else lane):
            pool, call, target = self._target(function)  # after the wait: a reload may have swapped the pool
            result, error, request_id, ran_ms = await loop.run_in_executor(pool, call, target, event)
        latency_ms = (time.perf_counter() - start) * 1000
        # Only the run counts against the timeout: under load an invocation may first wait for its
        # turn and a free worker, a queue that AWS, which starts another Lambda instead, does not have.
        if ran_ms > function.timeout_s * 1000:
            log.warning(
                "%s ran %.0f ms, over its %d s timeout: Lambda would have killed it",
                function.name, ran_ms, function.timeout_s,
            )
        return Outcome(result, error, latency_ms, request_id)

    async def run(self, fn: Any, *args: Any) -> Any:
        """Run any blocking call (a REST request through chalice.local) in the same pool."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._process_pool is not None:
            self._process_pool.shutdown(wait=True, cancel_futures=True)
