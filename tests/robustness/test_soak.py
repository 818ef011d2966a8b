"""Concurrency soak: many threads hit the real handlers at once for a bounded time.

Short in CI; set ``SOAK_SECONDS`` for a long run (docs/tests.md:
``SOAK_SECONDS=120 .venv/bin/python -m pytest tests/robustness/test_soak.py -s``). Afterwards nobody is
matched with themselves or sits in two rooms, the queue and rooms are disjoint, every room has two
live members, every relayed message reached exactly one stranger who really shared a room with
its sender and names that room, no event leaks an id or address, and nothing about anyone is left
once all are gone.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.support import invariants

SOAK_SECONDS = float(os.environ.get("SOAK_SECONDS", "4"))
THREADS = 16
CONNECTIONS = 48
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def test_concurrent_soak_keeps_every_guarantee(recording_harness, redis_client, keys):
    h = recording_harness
    ips = {}
    pool_lock = threading.Lock()
    live: list[str] = []
    for i in range(CONNECTIONS):
        ip = f"198.51.100.{i % 250}"
        cid = h.connect(ip=ip)
        ips[cid] = ip
        live.append(cid)
    ops = Counter()
    sent_marks: dict[str, str] = {}  # unique payload mark -> sender
    stop_at = time.monotonic() + SOAK_SECONDS

    def rooms_of(cid: str) -> list[str]:
        return [e["room_code"] for e in h.received(cid) if e["event"] == "matched"]

    def announced(cid: str, *, lost: bool = False) -> set[str]:
        """Rooms the server seated ``cid`` in: those it was told of, or with ``lost``, those
        whose `matched` found its socket gone."""
        frames = h.sender.lost[cid] if lost else h.sender.posted(cid)
        return {e["room_code"] for e in frames if e["event"] == "matched"}

    locks: dict[str, threading.Lock] = {cid: threading.Lock() for cid in live}

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        while time.monotonic() < stop_at:
            with pool_lock:
                cid = rng.choice(live)
                lock = locks[cid]
            # A client sends one frame at a time; other clients' frames all overlap.
            with lock:
                if cid in live:
                    act(rng, cid)

    counter = itertools.count()

    def act(rng: random.Random, cid: str) -> None:
        op = rng.choices(
            ["register", "next", "leave", "join", "signal", "chat", "ping", "reconnect"],
            weights=[5, 3, 1, 3, 4, 4, 1, 1],
        )[0]
        mark = f"m{next(counter)}"
        if op in {"register", "next", "leave", "ping"}:
            h.send(cid, {"action": op})
        elif op in {"join", "signal"}:
            rooms = rooms_of(cid)
            room = rooms[-1] if rooms else "none"
            if op == "join":
                h.send(cid, {"action": "join", "room_code": room})
            elif rng.random() < 0.5:  # the page's batch, or one candidate as older pages send
                sent_marks[mark] = cid
                data = {"candidates": [{"candidate": mark, "sdpMid": "0"}], "end": rng.random() < 0.5}
                h.send(cid, {"action": "signal", "room_code": room, "type": "candidates", "data": data})
            else:
                sent_marks[mark] = cid
                h.send(cid, {"action": "signal", "room_code": room, "type": "candidate", "data": {"mark": mark}})
        elif op == "chat":
            rooms = rooms_of(cid)
            sent_marks[mark] = cid
            h.send(cid, {"action": "chat", "room_code": rooms[-1] if rooms else "none", "message": mark})
        else:
            h.sender.gone.add(cid)
            h.disconnect(cid)
            fresh = h.connect(ip=ips[cid])
            ips[fresh] = ips[cid]
            with pool_lock:
                locks[fresh] = threading.Lock()
                live[live.index(cid)] = fresh
        ops[op] += 1

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(worker, range(THREADS)))

    state = invariants.check(redis_client, keys)
    for cid, seat in state["seats"].items():
        assert cid in live and seat["peer"] in live, "a room member is not a live connection"

    everyone = list(ips)
    received_marks: Counter[str] = Counter()
    for cid in everyone:
        for event in h.received(cid):
            text = json.dumps(event)
            assert not any(other in text for other in everyone), f"an event leaks a connection id: {event}"
            assert "198.51.100." not in text, f"an event leaks an address: {event}"
            data = event.get("data") or {}
            batch = data.get("candidates") or [{}]
            mark = event.get("message") if event["event"] == "chat" else data.get("mark") or batch[0].get("candidate")
            if event["event"] in {"chat", "signal"} and mark:
                received_marks[mark] += 1
                sender = sent_marks[mark]
                assert sender != cid, "a message came back to its sender"
                room = event["room_code"]
                assert room in announced(sender), "a message was relayed into a room its sender was not in"
                # A waiter is told of its match first; if its socket is found gone then, the
                # newcomer is never told and looks again. A line the waiter sent in that instant
                # still reaches the newcomer, marked with a room code its page does not know.
                assert room in announced(cid) or room in announced(sender, lost=True), (
                    "a message reached someone outside the room"
                )
    assert all(count == 1 for count in received_marks.values()), "a message was delivered twice"

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(h.disconnect, list(live)))
    final = invariants.check(redis_client, keys)
    assert {k: final[k] for k in ("alive", "conns", "queue", "seats", "rooms")} == {
        "alive": {}, "conns": {}, "queue": [], "seats": {}, "rooms": {}
    }, "state about someone survived everyone leaving"

    total = sum(ops.values())
    report = {"seconds": SOAK_SECONDS, "threads": THREADS, "operations": total, "by_action": dict(ops),
              "relayed_delivered": sum(received_marks.values()), "lost_or_duplicated": 0}
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "soak.json").write_text(json.dumps(report, indent=2))
    print(f"\nsoak: {total} operations in {SOAK_SECONDS:.0f} s on {THREADS} threads: {dict(ops)}")
    assert total > 0
