"""How the script time spreads over a real 3-primary Valkey cluster, the previous design beside this one.

    python -m bench.cluster_spread              # 300 rooms
    python -m bench.cluster_spread --quick      # 20 rooms
    python -m bench.cluster_spread --before <rev>

Both designs run through the real handlers and redis-py's cluster client against the same local
cluster (``localdev.redis_cluster``), flushed between them, each in its own interpreter with its
own tree first on ``sys.path`` (as ``bench.server_time`` does). Rooms are formed first, as the
page forms them (register, offer, answer), untimed. Then, measured, the traffic of those calls:
per room, a late batch of candidates from each side, chat lines and typing frames both ways, and
each connection's keep-alive pings at the page's rate (one per 20 relays here, far more than
the page's one per five minutes). The figure is each primary's share of ``EVALSHA`` server time
(``INFO commandstats``), and the server time per relay over the cluster; then the same for the
whole life of a call, from ``$connect`` to ``leave``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import PROJECT_DIR, design_tree, run_in_tree

BEFORE_REV = "593b6b6"  # main before relays moved to the room's own slot (issue 15, decision 0004)
CHATS, TYPING, PING_EVERY = 6, 6, 20


def worker(seed_url: str, node_urls: list[str], rooms: int) -> dict[str, Any]:
    """Runs inside the design's own interpreter (its tree first on sys.path)."""
    import os

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    import redis

    from chalicelib import entry
    from chalicelib.config import load_settings
    from chalicelib.service import build
    from testkit.events import connect_event, message_event, new_connection_id
    from testkit.harness import RecordingSender
    from testkit.policies import RELAXED_NO_METRICS

    nodes = [redis.Redis.from_url(url, decode_responses=True) for url in node_urls]
    for node in nodes:
        node.flushall()
    sender = RecordingSender()
    settings = load_settings({"REDIS_URL": seed_url, "REDIS_CLUSTER": "true", "AWS_DEFAULT_REGION": "us-east-1",
                              **RELAXED_NO_METRICS})
    service = build(settings, sender=sender)
    service.store.load_scripts()

    def send(cid: str, body: dict[str, Any]) -> None:
        entry.on_message(message_event(cid, body), service)

    def connect() -> str:
        cid = new_connection_id()
        entry.on_connect(connect_event(cid), service)
        return cid

    def reset() -> None:
        for node in nodes:
            node.config_resetstat()

    def spent() -> list[tuple[float, int]]:
        stats = [node.info("commandstats").get("cmdstat_evalsha", {}) for node in nodes]
        return [(float(s.get("usec", 0)), int(s.get("calls", 0))) for s in stats]

    candidates = {"candidates": [{"candidate": "candidate:1 1 udp 2122260223 192.0.2.10 54400 typ host",
                                  "sdpMid": "0", "sdpMLineIndex": 0}], "end": True}

    def form() -> tuple[str, str, str]:
        a, b = connect(), connect()
        send(a, {"action": "register"})
        send(b, {"action": "register"})
        matched = sender.received(b)[-1]
        room, b_offers = matched["room_code"], matched["initiator"]
        offerer, answerer = (b, a) if b_offers else (a, b)
        send(offerer, {"action": "signal", "room_code": room, "type": "offer", "data": {"type": "offer", "sdp": "v=0"}})
        send(answerer, {"action": "signal", "room_code": room, "type": "answer",
                        "data": {"type": "answer", "sdp": "v=0"}})
        return a, b, room

    def talk(a: str, b: str, room: str) -> int:
        relays = 0
        frames = [(a, {"action": "signal", "room_code": room, "type": "candidates", "data": candidates}),
                  (b, {"action": "signal", "room_code": room, "type": "candidates", "data": candidates})]
        for i in range(CHATS):
            frames.append((a if i % 2 else b, {"action": "chat", "room_code": room, "message": f"line {i}"}))
        for i in range(TYPING):
            frames.append((b if i % 2 else a, {"action": "typing", "room_code": room}))
        for cid, body in frames:
            send(cid, body)
            relays += 1
            if relays % PING_EVERY == 0:
                send(cid, {"action": "ping"})
        return relays

    def shares(totals: list[tuple[float, int]], relays: int) -> dict[str, Any]:
        usec = sum(t[0] for t in totals)
        return {"shares": sorted((round(100 * t[0] / usec, 1) if usec else 0.0 for t in totals), reverse=True),
                "calls": [t[1] for t in totals], "us_per_relay": round(usec / max(relays, 1), 1)}

    out: dict[str, Any] = {}
    formed = [form() for _ in range(rooms)]
    reset()
    relays = sum(talk(*room) for room in formed)
    out["relays"] = shares(spent(), relays)
    # The whole life of a call: connect, register, offer, answer, the talk above, leave.
    for node in nodes:
        node.flushall()
    service.store.load_scripts()
    reset()
    relays = 0
    for _ in range(rooms):
        a, b, room = form()
        relays += talk(a, b, room) + 2
        send(a, {"action": "leave"})
        send(b, {"action": "leave"})
    out["lifecycle"] = shares(spent(), relays)
    return out


def _run(tree: Path, seed: str, nodes: list[str], rooms: int) -> dict[str, Any]:
    return run_in_tree(tree, "bench.cluster_spread", f"worker({seed!r}, {nodes!r}, {rooms})")  # type: ignore[no-any-return]


def measure(before: str, rooms: int) -> dict[str, Any]:
    from localdev.redis_cluster import LocalCluster

    results: dict[str, Any] = {"before_rev": before, "rooms": rooms}
    with tempfile.TemporaryDirectory() as tmp, LocalCluster() as cluster:
        nodes = [node.url for node in cluster.nodes]
        designs = {"before": design_tree(before, Path(tmp)), "after": PROJECT_DIR}
        for name, tree in designs.items():
            results[name] = _run(tree, cluster.url, nodes, rooms) if tree else None
    return results


def table(results: dict[str, Any]) -> str:
    def cell(design: str, phase: str, what: str) -> str:
        figures = results.get(design)
        if not figures:
            return "n/a"
        value = figures[phase][what]
        return " / ".join(f"{share:.0f} %" for share in value) if what == "shares" else f"{value:.0f} µs"

    head = f"| {results['rooms']} rooms on 3 primaries | before ({results['before_rev']}) | after |"
    lines = [head, "|---|---:|---:|"]
    for phase, label in (("relays", "relay traffic"), ("lifecycle", "whole calls, $connect to leave")):
        lines.append(f"| {label}: each primary's share of script time | {cell('before', phase, 'shares')} | "
                     f"{cell('after', phase, 'shares')} |")
        lines.append(f"| {label}: script time per relay, all primaries | {cell('before', phase, 'us_per_relay')} | "
                     f"{cell('after', phase, 'us_per_relay')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.cluster_spread", description=__doc__.split("\n\n")[0])
    p.add_argument("--before", default=BEFORE_REV, help=f"revision of the previous design (default {BEFORE_REV})")
    p.add_argument("--rooms", type=int, default=300)
    p.add_argument("--quick", action="store_true", help="20 rooms")
    args = p.parse_args(argv)
    rooms = 20 if args.quick else args.rooms
    print(f"measuring {rooms} rooms on a local 3-primary cluster, both designs...", file=sys.stderr, flush=True)
    print(table(measure(args.before, rooms)), flush=True)


if __name__ == "__main__":
    main()
