"""Share the gateway's workers fairly between connections, so one noisy socket cannot starve the rest.

In AWS every invocation gets a Lambda instance of its own (up to the account's concurrency), so
one client's burst of 2,000 frames costs that client money but delays nobody else. Locally the
workers are few, and with one FIFO queue in front of them a burst from one socket put every other
user's ``ping`` behind all of its frames: 5-11 s of stall. So invocations wait here, before they
reach the pool, in one queue per *lane* (a connection id; a schedule's rule), and the slots that
free up are handed out round-robin between the lanes that have work waiting. A lane may also hold
at most ``per_lane`` slots at once, so a burst keeps most workers free for everyone else, and an
invocation of an idle lane starts as soon as a slot is free, whatever the burst left queued.

``per_lane`` is at least 2 on purpose: two frames of one connection still run at the same time,
because API Gateway does not order one connection's invocations and the app must meet those races
locally. Within one lane invocations *start* in arrival order; they may finish in any order.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


@dataclass(eq=False)
class _Lane:
    """One lane's invocations: those waiting for a slot, in arrival order, and how many run."""

    waiting: deque[asyncio.Future[None]] = field(default_factory=deque)
    running: int = 0


class FairScheduler:
    """``capacity`` slots shared round-robin between lanes, at most ``per_lane`` of them per lane.

    Single-threaded: every method runs on the event loop, so no lock is needed.
    """

    def __init__(self, capacity: int, per_lane: int) -> None:
        if capacity < 1 or per_lane < 1:
            raise ValueError("capacity and per_lane must be at least 1")
        self.capacity = capacity
        self.per_lane = per_lane
        self._free = capacity
        self._lanes: dict[Hashable, _Lane] = {}
        # Lanes that have an invocation waiting and room under per_lane, in turn order. A lane
        # goes to the back each time it is served, so a newcomer waits for one turn of each
        # other busy lane at most, never for a burst's whole queue.
        self._ready: OrderedDict[Hashable, None] = OrderedDict()

    @property
    def free(self) -> int:
        """Slots not held by any invocation (for tests and debugging)."""
        return self._free

    def waiting(self, lane: Hashable) -> int:
        """How many of ``lane``'s invocations are waiting for a slot."""
        state = self._lanes.get(lane)
        return len(state.waiting) if state else 0

    def running(self, lane: Hashable) -> int:
        """How many of ``lane``'s invocations hold a slot."""
        state = self._lanes.get(lane)
        return state.running if state else 0

    @asynccontextmanager
    async def slot(self, lane: Hashable) -> AsyncIterator[None]:
        """Hold one slot for ``lane`` while the body runs; wait for a fair turn to get it."""
        await self._acquire(lane)
        try:
            yield
        finally:
            self._release(lane)

    async def _acquire(self, lane: Hashable) -> None:
        state = self._lanes.setdefault(lane, _Lane())
        # Every method leaves no slot free while a lane is ready (_grant sees to it), so a free
        # slot means nobody else is waiting for one: take it now, without a turn.
        if self._free > 0 and state.running < self.per_lane and not state.waiting:
            self._take(state)
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        state.waiting.append(waiter)
        self._update_ready(lane, state)
        self._grant()
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release(lane)  # granted, then cancelled before it ran: give the slot back
            elif waiter in state.waiting:  # else _grant has already dropped it
                state.waiting.remove(waiter)
                self._update_ready(lane, state)
                self._forget_if_idle(lane, state)
            raise

    def _take(self, state: _Lane) -> None:
        self._free -= 1
        state.running += 1

    def _release(self, lane: Hashable) -> None:
        state = self._lanes[lane]
        state.running -= 1
        self._free += 1
        self._update_ready(lane, state)
        self._forget_if_idle(lane, state)
        self._grant()

    def _grant(self) -> None:
        """Hand free slots to ready lanes, one per lane per turn."""
        while self._free > 0 and self._ready:
            lane = next(iter(self._ready))
            state = self._lanes[lane]
            waiter = state.waiting.popleft()
            if waiter.done():
                # Cancelled, and its task has not yet run its except block: no slot for it, and
                # the lane keeps its place in the turn order for its next waiter, if any.
                self._update_ready(lane, state)
                self._forget_if_idle(lane, state)
                continue
            self._take(state)
            waiter.set_result(None)
            del self._ready[lane]
            self._update_ready(lane, state)  # back of the queue, if it still has work and room

    def _update_ready(self, lane: Hashable, state: _Lane) -> None:
        """Keep ``lane`` in the turn order exactly while it has a waiter and room under per_lane."""
        if state.waiting and state.running < self.per_lane:
            if lane not in self._ready:
                self._ready[lane] = None
        else:
            self._ready.pop(lane, None)

    def _forget_if_idle(self, lane: Hashable, state: _Lane) -> None:
        if not state.waiting and state.running == 0:
            self._lanes.pop(lane, None)
