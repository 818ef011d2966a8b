"""One aligned line per event, so a two-client session can be followed by eye.

    21:14:03.301  L0SM9cOFvHcCIhw=  $default      join          200     12.0 ms
"""

from __future__ import annotations

import logging
import sys
import time

log = logging.getLogger("localdev.events")


def configure_logging(verbose: bool = False, events: bool = True) -> None:
    """Event lines and app logs on stdout like ``chalice local``; botocore's chatter stays quiet.

    ``events=False`` (``--quiet``) drops the per-event lines, which under load cost the gateway
    a few per cent of its CPU; errors still print.
    """
    logging.basicConfig(stream=sys.stdout, level=logging.DEBUG if verbose else logging.INFO, format="%(message)s")
    for noisy in ("botocore", "boto3", "urllib3", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    log.setLevel(logging.NOTSET if events else logging.WARNING)


def _clock() -> str:
    now = time.time()
    return time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}"


def event_line(
    who: str, route: str, action: str | None, status: int | str, latency_ms: float | None, note: str = ""
) -> None:
    """Log one event: who (connection id, "schedule", "rest"), route, action, status, latency."""
    if not log.isEnabledFor(logging.INFO):
        return
    latency = f"{latency_ms:8.1f} ms" if latency_ms is not None else " " * 11
    line = f"{_clock()}  {who:<16}  {route:<12}  {(action or '-'):<12}  {status!s:<5} {latency}"
    log.info(f"{line}  {note}".rstrip())
