"""The scheduled sweep: the safety net behind the real-time paths, and the clock for timeouts.

Once a minute EventBridge starts it; it then keeps working until shortly before the next tick
(``SWEEP_WINDOW_SECONDS``), sleeping until the next thing falls due (an interest fallback or a
resume grace period ending) or, when nothing is due, with exponential back-off. Each pass:

* evicts connections whose liveness deadline passed (idle timeout or 2-hour cap) and tells
  their peers; ends rooms whose resume grace period ran out;
* tells the peer of an ended room that nobody said was told (``END_NOTICE_SECONDS``): the reply
  of the call that ended it may have been lost;
* drops stale queue entries and pairs waiters who are compatible now, which is how someone
  waiting past the interest fallback is matched with anyone even when nobody new arrives.

A Redis lock keeps two sweeps from overlapping. Clock, sleep and monotonic time are parameters
so tests drive time.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from .delivery import Outbox
from .outcomes import Swept
from .service import Service
from .store import now_ms

log = logging.getLogger(__name__)

PAIRS_PER_PASS = 16
MIN_SLEEP_SECONDS = 0.05
MAX_BACKOFF_SECONDS = 8.0


@dataclass
class SweepStats:
    ran: bool = False
    passes: int = 0
    evicted: int = 0
    notified: int = 0
    paired: int = 0
    failed: int = 0  # announcements a failure cut short; a later pass ends what they left


def _apply(service: Service, result: Swept, stats: SweepStats) -> None:
    endpoint = service.settings.management_api_url or result.endpoint
    if not endpoint:
        if result.ended or result.pairs:
            log.warning("sweep has events to send but no Management API endpoint is known")
        return
    outbox = Outbox(service, endpoint, batch=True)
    # One failure (Redis, a post) must not cost the rest of the pass its announcements; what it
    # leaves half done is ended by a later pass (see the `fresh` rooms in the sweep script).
    for ended in result.ended:
        try:
            outbox.tell(ended)
            stats.notified += 1
        except Exception:
            log.exception("sweep could not tell %s that room %s ended", ended.peer, ended.room)
            stats.failed += 1
    for pair in result.pairs:
        try:
            if outbox.announce(pair) == "matched":
                stats.paired += 1
        except Exception:
            log.exception("sweep could not announce room %s", pair.room)
            stats.failed += 1
    # One round trip for the pass's ended rooms; unacknowledged, they are simply told again.
    outbox.acknowledge()


def run(
    service: Service,
    *,
    clock: Callable[[], int] = now_ms,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    window_seconds: float | None = None,
) -> SweepStats:
    """Sweep once, then keep sweeping until ``window_seconds`` have passed."""
    config = service.settings
    window = config.sweep_window_seconds if window_seconds is None else window_seconds
    stats = SweepStats()
    token = secrets.token_hex(16)
    if not service.store.acquire_sweep_lock(token, int((window + 30) * 1000)):
        log.info("another sweep holds the lock; skipping")
        return stats
    stats.ran = True
    try:
        deadline = monotonic() + window
        backoff = 0.25
        while True:
            now = clock()
            result = service.store.sweep(now, config.sweep_batch, PAIRS_PER_PASS)
            stats.passes += 1
            stats.evicted += result.evicted
            _apply(service, result, stats)
            if result.evicted >= config.sweep_batch or len(result.pairs) >= PAIRS_PER_PASS:
                backoff = 0.25
                continue
            delay = backoff
            if result.next_due:
                # Nothing new can fall due sooner than this (fallback and grace are fixed
                # delays after an event), so sleep right up to it.
                delay = max((result.next_due - now) / 1000, MIN_SLEEP_SECONDS)
            if monotonic() + delay >= deadline:
                break
            sleep(delay)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
    finally:
        service.store.release_sweep_lock(token)
    log.info("sweep: %s", stats)
    return stats
