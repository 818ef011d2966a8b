"""Redis round trips, Redis commands and messages posted per action, from the server's own counters.

The handler micro-benchmark (``bench/handlers.py``) with one call per scenario: round trips and
commands come from ``INFO commandstats`` deltas around each call, messages from a recording
sender. ``make bench`` reports the same counts beside each action's latency.

    python -m bench.roundtrips
"""

from __future__ import annotations

import os

from bench import handlers
from localdev.redis_server import RedisServer


def main() -> None:
    with RedisServer() as server:
        results = handlers.run(server.url, iterations=1, warmup=0, post=False)["actions"]
    width = max(map(len, results)) + 2
    print(f"{'action':<{width}}{'round trips':>12}{'commands':>10}{'messages':>10}")
    for name, row in results.items():
        counts = [row[k]["max"] for k in ("round_trips", "commands", "messages")]
        print(f"{name:<{width}}{counts[0]:>12}{counts[1]:>10}{counts[2]:>10}")
    if os.environ.get("REDIS_URL"):
        print("(REDIS_URL is ignored: the counts come from a private Valkey, which this flushes.)")


if __name__ == "__main__":
    main()
