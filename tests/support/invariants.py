"""The state invariants from the design, checked against what Redis really holds."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.keys import Keys

CAP_SECONDS = 7200


def snapshot(client: Any, keys: Keys) -> dict[str, Any]:
    return {
        "alive": dict(client.zrange(keys.alive, 0, -1, withscores=True)),
        "conns": {k: json.loads(v) for k, v in client.hgetall(keys.conns).items()},
        "queue": client.zrange(keys.queue, 0, -1),
        "seats": {k: json.loads(v) for k, v in client.hgetall(keys.seats).items()},
        "rooms": {k: json.loads(v) for k, v in client.hgetall(keys.rooms).items()},
    }


def check(client: Any, keys: Keys) -> dict[str, Any]:
    """Assert every invariant; return the snapshot for further assertions."""
    state = snapshot(client, keys)
    seats, rooms, queue = state["seats"], state["rooms"], state["queue"]
    assert len(queue) == len(set(queue)), f"queue has duplicates: {queue}"
    assert not set(queue) & set(seats), f"queue and rooms share members: {set(queue) & set(seats)}"
    for cid, seat in seats.items():
        peer = seat["peer"]
        assert peer != cid, f"{cid} is matched with itself"
        assert peer in seats, f"{cid}'s peer {peer} has no seat"
        assert seats[peer]["peer"] == cid and seats[peer]["room"] == seat["room"], f"{cid} and {peer} disagree"
        assert {seat["role"], seats[peer]["role"]} == {"initiator", "responder"}
        assert seat["room"] in rooms, f"{cid} sits in missing room {seat['room']}"
    for code, room in rooms.items():
        members = {room["initiator"], room["responder"]}
        assert len(members) == 2, f"room {code} does not have two distinct members"
        for member in members:
            assert seats.get(member, {}).get("room") == code, f"room {code} member {member} is elsewhere"
    for cid in list(queue) + [c for c, seat in seats.items() if not seat.get("held")]:
        assert cid in state["conns"] and cid in state["alive"], f"{cid} is queued or seated but not connected"
    for cid, seat in seats.items():
        if seat.get("held"):  # its socket dropped; the seat waits for a resume
            assert cid not in state["conns"] and cid not in state["alive"], f"held {cid} is still connected"
    # About devices and addresses: as long as the ban, block or report window.
    longer = {keys.bans, keys.blocked, keys.reports, keys.strikes, keys.trim}
    # Every key, not only the known names: the lobby's, and those in each room's own slot.
    everything = (*client.scan_iter(match=f"{keys.tag}:*", count=1000),
                  *client.scan_iter(match=keys.room_tag("*") + ":*", count=1000))
    for key in everything:
        ttl_ms = client.pttl(key)
        assert ttl_ms != -1, f"{key} has no TTL ({ttl_ms})"  # -2 or 0: it expired since the scan saw it
        assert key in longer or ttl_ms <= CAP_SECONDS * 1000, f"{key} has TTL {ttl_ms} ms"
    return state


def seed_waiter(client: Any, keys: Keys, cid: str, since_ms: int, name: str | None = None, at: int = 0) -> None:
    """Put a stranger in the queue directly, as a failed delivery can leave it; TTLs as scripts set them."""
    if name is not None:
        client.hset(keys.conns, cid, json.dumps({"ip": "", "ua": "", "at": at, "name": name}))
        client.expire(keys.conns, CAP_SECONDS)
    client.zadd(keys.queue, {cid: since_ms})
    # Indexed as a waiter with no interests, and due for a look at once, as the scripts do.
    client.zadd(keys.waiting, {f"\0{since_ms:015d}\0{cid}": 0})
    client.zadd(keys.due, {cid: since_ms})
    for key in (keys.queue, keys.waiting, keys.due):
        client.expire(key, CAP_SECONDS)
