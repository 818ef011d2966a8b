"""Many threads invoke the real handlers at once against the real server; the invariants hold.

Redis runs each Lua script atomically, so correctness does not depend on timing; this test
throws enough overlapping register/next/leave/disconnect traffic at the handlers to show it.
"""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

from tests.support import invariants

USERS = 80
STEPS = 12
THREADS = 16


def test_concurrent_register_next_leave_disconnect_keep_every_invariant(recording_harness, redis_client, keys):
    h = recording_harness
    cids = [h.connect() for _ in range(USERS)]
    departed: set[str] = set()

    def chaos(index: int) -> None:
        rng = random.Random(index)
        cid = cids[index]
        for _ in range(STEPS):
            op = rng.choice(["register", "register", "next", "next", "leave", "chat", "ping"])
            rooms = [e["room_code"] for e in h.received(cid) if e["event"] in {"matched", "resumed"}]
            room = rooms[-1] if rooms else "none"
            body = {"action": "chat", "room_code": room, "message": "hi"} if op == "chat" else {"action": op}
            h.send(cid, body)
        if rng.random() < 0.25:
            h.disconnect(cid)
            departed.add(cid)

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(chaos, range(USERS)))
    invariants.check(redis_client, keys)

    # Everyone still here asks for a stranger at once, as their pages would after the chaos.
    live = [cid for cid in cids if cid not in departed]
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(lambda cid: h.send(cid, {"action": "register"}), live))

    state = invariants.check(redis_client, keys)
    seated, queued = set(state["seats"]), set(state["queue"])
    assert len(queued) <= 1, "two live strangers were left waiting side by side"
    assert seated | queued == set(live), "a registered live connection is neither matched nor queued"
    assert not departed & (seated | queued | set(state["conns"]))
    for cid, seat in state["seats"].items():
        received = h.received(cid)
        matched_rooms = {e["room_code"] for e in received if e["event"] == "matched"}
        ended_rooms = {e["room_code"] for e in received if e["event"] == "peer-disconnected"}
        assert seat["room"] in matched_rooms, f"{cid} sits in a room it never heard of"
        assert seat["room"] not in ended_rooms, f"{cid} was told its current room ended"
    for cid in cids:
        for event in h.received(cid):
            assert event["event"] != "error" or event["code"] in {"not_in_room", "wrong_room", "in_room", "not_connected"}, event


def test_everything_is_gone_from_redis_once_everyone_disconnects_concurrently(recording_harness, redis_client, keys):
    h = recording_harness
    cids = [h.connect() for _ in range(40)]
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(lambda c: h.send(c, {"action": "register"}), cids))
        list(pool.map(h.disconnect, cids))
    state = invariants.check(redis_client, keys)
    assert state == {"alive": {}, "conns": {}, "queue": [], "seats": {}, "rooms": {}}


def test_disconnect_racing_an_in_flight_register_leaves_no_ghost(recording_harness, redis_client, keys):
    h = recording_harness
    for _ in range(30):
        cid = h.connect()
        with ThreadPoolExecutor(2) as pool:
            pool.submit(h.send, cid, {"action": "register"})
            pool.submit(h.disconnect, cid)
        state = invariants.check(redis_client, keys)
        assert cid not in state["queue"] and cid not in state["seats"] and cid not in state["conns"]
