"""Redis round trips, Redis commands and messages posted per action, from the server's own counters.

Round trips and commands come from ``INFO commandstats`` deltas around each action: commands a
client sends itself (EVALSHA, EVAL, SCRIPT LOAD, SET, PING) are round trips; everything else
ran inside a Lua script. Messages are counted by a sender that records instead of posting.

    python -m bench.roundtrips
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

import redis

from chalicelib import entry, sweep
from chalicelib.config import load_settings
from chalicelib.service import Service, build
from localdev.redis_server import RedisServer
from tests.support.events import connect_event, disconnect_event, message_event, new_connection_id
from tests.support.harness import RecordingSender

TOP_LEVEL = {"evalsha", "eval", "script|load", "set", "ping"}


def _stats(client: Any) -> dict[str, int]:
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


class Meter:
    def __init__(self, service: Service, sender: RecordingSender, admin: Any) -> None:
        self.service, self.sender, self.admin = service, sender, admin

    def connect(self) -> str:
        cid = new_connection_id()
        entry.on_connect(connect_event(cid), self.service)
        return cid

    def send(self, cid: str, body: dict[str, Any]) -> None:
        entry.on_message(message_event(cid, body), self.service)

    def measure(self, action: Callable[[], Any]) -> dict[str, int]:
        posted = sum(len(v) for v in self.sender.frames.values())
        before = _stats(self.admin)
        action()
        after = _stats(self.admin)
        delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
        delta["info"] = 0
        trips = sum(v for k, v in delta.items() if k in TOP_LEVEL)
        if os.environ.get("BENCH_DEBUG"):
            print({k: v for k, v in delta.items() if v})
        return {
            "round_trips": trips,
            "commands": sum(delta.values()),
            "messages": sum(len(v) for v in self.sender.frames.values()) - posted,
        }


def run(url: str) -> dict[str, dict[str, int]]:
    sender = RecordingSender()
    service = build(load_settings({"REDIS_URL": url}), sender=sender)
    admin = redis.Redis.from_url(url, decode_responses=True)
    admin.flushall()
    m = Meter(service, sender, admin)
    # A warm Lambda has every script cached server-side: load them so EVALSHA never misses.
    for script in (*service.store._scripts.values(), service.store._release):
        admin.script_load(script.script)
    service.store.ping_server()  # open the pooled connection (HELLO, CLIENT SETINFO) as a warm container has
    results: dict[str, dict[str, int]] = {}
    results["$connect"] = m.measure(lambda: m.connect())
    a, b = m.connect(), m.connect()
    results["register (queued)"] = m.measure(lambda: m.send(a, {"action": "register", "name": "a"}))
    results["register (exists)"] = m.measure(lambda: m.send(a, {"action": "register", "name": "a"}))
    results["register (matched)"] = m.measure(lambda: m.send(b, {"action": "register", "name": "b"}))
    room = sender.frames[b][-1]["room_code"]
    results["join"] = m.measure(lambda: m.send(a, {"action": "join", "room_code": room}))
    m.send(b, {"action": "join", "room_code": room})
    results["signal (offer)"] = m.measure(
        lambda: m.send(a, {"action": "signal", "room_code": room, "type": "offer", "data": {"sdp": "v=0"}})
    )
    results["signal (candidate)"] = m.measure(
        lambda: m.send(b, {"action": "signal", "room_code": room, "type": "candidate", "data": {"candidate": "c"}})
    )
    results["chat"] = m.measure(lambda: m.send(a, {"action": "chat", "message": "hello"}))
    results["ping"] = m.measure(lambda: m.send(a, {"action": "ping"}))
    c = m.connect()
    m.send(c, {"action": "register"})
    results["next (rematched)"] = m.measure(lambda: m.send(a, {"action": "next"}))
    results["next (queued)"] = m.measure(lambda: m.send(b, {"action": "next"}))
    results["leave"] = m.measure(lambda: m.send(b, {"action": "leave"}))
    results["$disconnect (in room)"] = m.measure(
        lambda: entry.on_disconnect(disconnect_event(a), service)
    )
    results["sweep tick"] = m.measure(lambda: sweep.run(service, window_seconds=0))
    results["error (bad json)"] = m.measure(lambda: m.send(c, "nope"))  # type: ignore[arg-type]
    return results


def main() -> None:
    url = os.environ.get("REDIS_URL")
    if url:
        results = run(url)
    else:
        with RedisServer() as server:
            results = run(server.url)
    width = max(map(len, results)) + 2
    print(f"{'action':<{width}}{'round trips':>12}{'commands':>10}{'messages':>10}")
    for name, row in results.items():
        print(f"{name:<{width}}{row['round_trips']:>12}{row['commands']:>10}{row['messages']:>10}")


if __name__ == "__main__":
    main()
