"""Device identities, end to end: the real app behind the local gateway, real WebSocket clients.

Every client here connects from 127.0.0.1, which is exactly the case the identities are for:
many people behind one address (a carrier NAT, a campus, a café) are many devices, and what
follows a person (no-repeat, report blocks, reports, bans) follows the device, never the address.
Each test asserts on what every client received and on what Redis holds afterwards.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any
from urllib.parse import quote

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection

from chalicelib.config import Settings, load_settings
from chalicelib.identity import Identities
from chalicelib.keys import Keys
from tests.gateway.clients import connect, nothing_received, recv_json, send, wait_for
from tests.gateway.gateway_process import PROJECT_DIR, GatewayProcess

KEYS = Keys("rvc")
ICE = load_settings(os.environ).static_ice_servers()
SECRET = "device-identity-test-secret-0123456789abcde"  # 43 characters, fixed for the module
OTHER_SECRET = "some-other-deployments-secret-0123456789ab"
ADDRESS = "127.0.0.1"
QUEUED = {"event": "queued", "status": "queued"}
REPORTED = {"event": "reported"}
BANNED = {"event": "banned", "message": "You were reported by several people and are banned for a while."}
DAY_SECONDS = 86_400

assert len(SECRET) == 43 and len(OTHER_SECRET) >= 32


@pytest.fixture(scope="module")
def gateway(gateway_redis_url: str) -> Iterator[GatewayProcess]:
    # No-repeat stays at its default (300 s): the reload test is about it. Resume grace is off, so
    # a closed socket ends its room at once and its peer is told straight away.
    env = {"IDENTITY_SECRET": SECRET, "RESUME_GRACE_SECONDS": "0", "METRICS_ENABLED": "false"}
    with GatewayProcess(PROJECT_DIR, "--no-schedules", "--no-reload", redis_url=gateway_redis_url, env=env) as gw:
        yield gw


@pytest.fixture
def redis_db(store: Any) -> Iterator[Any]:
    """Database 1, empty at the start; at the end the last $disconnects land before the flush."""
    yield store
    deadline = time.monotonic() + 5
    while store.hlen(KEYS.conns) and time.monotonic() < deadline:
        time.sleep(0.02)


def identities(clock_offset_seconds: float = 0.0, secret: str = SECRET) -> Identities:
    """The app's own issuer with the test secret, its clock shifted into the past or future."""
    return Identities(Settings(identity_secret=secret), clock=lambda: time.time() + clock_offset_seconds)


def device_in(token: str) -> str:
    """The device id a token names (what the server keeps in ``conns[...].dev`` once it verifies)."""
    return token.split(".")[1]


def open_socket(gateway: GatewayProcess, token: str | None = None) -> ClientConnection:
    """A page opening its socket: with ``?id=<token>`` when it holds an identity."""
    url = gateway.ws_url if token is None else f"{gateway.ws_url}?id={quote(token, safe='')}"
    return connect(url)


def matched(event: dict[str, Any], initiator: bool, peer: str) -> str:
    """Check a ``matched`` event against the peer's name and role; return its room."""
    assert isinstance(event.get("resume_token"), str) and len(event["resume_token"]) >= 32
    room = str(event.get("room_code"))
    assert {k: v for k, v in event.items() if k != "resume_token"} == {
        "event": "matched", "room_code": room, "initiator": initiator, "peer": {"name": peer},
        "interests": [], "ice_servers": ICE,
    }
    return room


def gone(room: str) -> dict[str, Any]:
    return {"event": "peer-disconnected", "room_code": room, "message": "Stranger has disconnected"}


def identity_token(ws: ClientConnection) -> str:
    """The next event must be an identity event; return its token."""
    event = recv_json(ws)
    assert event.get("event") == "identity" and set(event) == {"event", "token"}, event
    token = str(event["token"])
    assert identities().verify(token) == device_in(token)  # signed by the server with the secret
    return token


def newcomer_waits(ws: ClientConnection, name: str) -> str:
    """A new device registers with nobody waiting: an identity, then queued. Returns the token."""
    send(ws, {"action": "register", "name": name})
    token = identity_token(ws)
    assert recv_json(ws) == QUEUED
    return token


def newcomer_meets(ws: ClientConnection, name: str, waiting: ClientConnection, waiting_name: str) -> tuple[str, str]:
    """A new device registers while ``waiting`` waits: an identity, then both matched. Returns
    (its token, the room)."""
    send(ws, {"action": "register", "name": name})
    token = identity_token(ws)
    room = matched(recv_json(ws), False, waiting_name)
    assert matched(recv_json(waiting), True, name) == room
    return token, room


def conns(db: Any) -> dict[str, dict[str, Any]]:
    return {cid: json.loads(raw) for cid, raw in db.hgetall(KEYS.conns).items()}


def devices_named(db: Any, name: str) -> list[str]:
    """The device behind every open connection registered under ``name``."""
    return [info["dev"] for info in conns(db).values() if info.get("name") == name]


def device_named(db: Any, name: str) -> str:
    found = devices_named(db, name)
    assert len(found) == 1, f"{name}: {found}"
    return found[0]


def new_devices_counted(db: Any) -> int:
    """New devices the address was charged for, over every per-minute rate key."""
    return sum(int(db.hget(key, f"n|{ADDRESS}") or 0) for key in db.keys(KEYS.iprate(0).rsplit(":", 1)[0] + ":*"))


def pair_key(a: str, b: str) -> str:
    return f"{a}|{b}" if a < b else f"{b}|{a}"


def ends_in(db: Any, key: str, member: str) -> float:
    """Seconds from now until ``member`` of the ZSET ``key`` expires (its score, in ms)."""
    score = db.zscore(key, member)
    assert score is not None, f"{member} not in {key}"
    return float(score) / 1000 - time.time()


def events_until_closed(ws: ClientConnection, timeout: float = 5.0) -> tuple[list[dict[str, Any]], ConnectionClosed]:
    """Everything the socket receives until the server closes it."""
    received: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            received.append(json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic()))))
        except ConnectionClosed as closed:
            return received, closed


# 1. Many people behind one address


def test_sixteen_devices_behind_one_address_all_connect_and_are_paired_with_each_other(
    gateway: GatewayProcess, redis_db: Any
) -> None:
    # The old per-address limit was 10 open connections; an address is now only a flood backstop.
    people = 16
    with ExitStack() as stack:
        sockets = [stack.enter_context(open_socket(gateway)) for _ in range(people)]
        tokens: dict[str, str] = {}
        rooms: set[str] = set()
        for i in range(0, people, 2):
            tokens[f"P{i}"] = newcomer_waits(sockets[i], f"P{i}")
            tokens[f"P{i + 1}"], room = newcomer_meets(sockets[i + 1], f"P{i + 1}", sockets[i], f"P{i}")
            rooms.add(room)
        assert len(rooms) == people // 2
        assert all(nothing_received(ws, within=0.05) for ws in sockets)

        records = conns(redis_db)
        assert len(records) == people
        assert {info["ip"] for info in records.values()} == {ADDRESS}
        assert {info["name"]: info["dev"] for info in records.values()} == {n: device_in(t) for n, t in tokens.items()}
        assert len({info["dev"] for info in records.values()}) == people  # sixteen devices, one address
        assert all("issue" not in info for info in records.values())  # every token was handed over
        assert redis_db.hget(KEYS.ipconns, ADDRESS) == str(people)
        assert new_devices_counted(redis_db) == people
        assert redis_db.hlen(KEYS.rooms) == people // 2 and redis_db.hlen(KEYS.seats) == people
        assert redis_db.zcard(KEYS.queue) == 0


# 2. One person across reloads and Stop/Start


def test_a_reloaded_page_is_the_same_device_and_is_not_paired_again_with_the_stranger_it_just_left(
    gateway: GatewayProcess, redis_db: Any
) -> None:
    with open_socket(gateway) as bob:
        with open_socket(gateway) as alice:
            alice_token = newcomer_waits(alice, "Alice")
            _, room = newcomer_meets(bob, "Bob", alice, "Alice")
            alice_device, bob_device = device_named(redis_db, "Alice"), device_named(redis_db, "Bob")
            assert alice_device == device_in(alice_token)
            assert 290 < ends_in(redis_db, KEYS.recent, pair_key(alice_device, bob_device)) <= 300
        # Alice reloads (or presses Stop, then Start): her socket closes and a new one opens with
        # the identity her page kept.
        assert recv_json(bob) == gone(room)
        wait_for(lambda: redis_db.hlen(KEYS.conns) == 1, what="Alice's old socket to be forgotten")

        with open_socket(gateway, alice_token) as alice_again:
            send(alice_again, {"action": "register", "name": "Alice"})
            assert recv_json(alice_again) == QUEUED  # a known device: no new identity
            assert device_named(redis_db, "Alice") == alice_device
            send(bob, {"action": "next"})
            assert recv_json(bob) == QUEUED  # Alice waits, but Bob just left her: no repeat
            assert nothing_received(alice_again) and nothing_received(bob)
            assert redis_db.zcard(KEYS.queue) == 2 and redis_db.hlen(KEYS.rooms) == 0

            with open_socket(gateway) as carol, open_socket(gateway) as dave:
                newcomer_meets(carol, "Carol", alice_again, "Alice")  # the one waiting longest
                assert nothing_received(bob)
                newcomer_meets(dave, "Dave", bob, "Bob")
                assert redis_db.zcard(KEYS.queue) == 0
                carol_device = device_named(redis_db, "Carol")
                assert ends_in(redis_db, KEYS.recent, pair_key(alice_device, carol_device)) > 290


# 3. Forged, expired and replayed identities


def _forgeries() -> dict[str, str]:
    genuine = identities().issue().token
    version, device, issued, signature = genuine.split(".")
    other_device = identities().issue().id
    return {
        "garbled": "not-a-token",
        "signed_with_another_secret": identities(secret=OTHER_SECRET).issue().token,
        "device_id_swapped": f"{version}.{other_device}.{issued}.{signature}",
        "signature_cut": f"{version}.{device}.{issued}.{signature[:-2]}",
        "issued_in_the_future": identities(clock_offset_seconds=DAY_SECONDS).issue().token,
        "oversized": f"{version}.{device}.{issued}.{signature}" + "A" * 200,
    }


FORGERIES = _forgeries()


@pytest.mark.parametrize("presented", FORGERIES.values(), ids=FORGERIES.keys())
def test_a_forged_or_garbled_identity_connects_as_a_new_device_with_a_fresh_token(
    gateway: GatewayProcess, redis_db: Any, presented: str
) -> None:
    with open_socket(gateway, presented) as ws:
        token = newcomer_waits(ws, "Mallory")
        assert token != presented
        presented_device = presented.split(".")[1] if presented.count(".") == 3 else presented
        assert device_named(redis_db, "Mallory") == device_in(token) != presented_device
        assert new_devices_counted(redis_db) == 1


def test_an_expired_identity_connects_as_a_new_device_with_a_fresh_token(
    gateway: GatewayProcess, redis_db: Any
) -> None:
    expired = identities(clock_offset_seconds=-31 * DAY_SECONDS).issue().token  # IDENTITY_TTL_DAYS=30
    with open_socket(gateway, expired) as ws:
        token = newcomer_waits(ws, "Old")
        assert device_in(token) != device_in(expired)
        assert device_named(redis_db, "Old") == device_in(token)


def test_an_identity_past_half_its_lifetime_stays_the_same_device_and_is_re_signed(
    gateway: GatewayProcess, redis_db: Any
) -> None:
    ageing = identities(clock_offset_seconds=-20 * DAY_SECONDS).issue().token
    with open_socket(gateway, ageing) as ws:
        token = newcomer_waits(ws, "Returning")
        assert token != ageing and device_in(token) == device_in(ageing)
        assert device_named(redis_db, "Returning") == device_in(ageing)


def test_a_valid_identity_replayed_on_a_second_socket_is_the_same_device_and_never_meets_itself(
    gateway: GatewayProcess, redis_db: Any
) -> None:
    with open_socket(gateway) as first_tab:
        token = newcomer_waits(first_tab, "Tab")
        with open_socket(gateway, token) as second_tab:
            send(second_tab, {"action": "register", "name": "Tab"})
            assert recv_json(second_tab) == QUEUED  # no identity: the device is known
            assert nothing_received(first_tab) and nothing_received(second_tab)
            assert devices_named(redis_db, "Tab") == [device_in(token)] * 2
            assert redis_db.hget(KEYS.devconns, device_in(token)) == "2"
            assert redis_db.zcard(KEYS.queue) == 2 and redis_db.hlen(KEYS.rooms) == 0

            with open_socket(gateway) as erin, open_socket(gateway) as frank:
                newcomer_meets(erin, "Erin", first_tab, "Tab")
                newcomer_meets(frank, "Frank", second_tab, "Tab")
                assert redis_db.hlen(KEYS.rooms) == 2 and redis_db.zcard(KEYS.queue) == 0


# 4. and 5. Reports and bans follow the device, not the address


def reported_by_three_devices(
    gateway: GatewayProcess, db: Any, stack: ExitStack, offender: ClientConnection, other_tabs: int = 0
) -> tuple[str, list[ClientConnection]]:
    """Three new devices in turn meet ``offender`` and report it for spam; the third report bans
    it, and its socket (and ``other_tabs`` idle sockets of the same device) is told so and closed.
    Returns its token and the three reporters' sockets."""
    token = newcomer_waits(offender, "Offender")
    offender_device = device_in(token)
    tabs = [stack.enter_context(open_socket(gateway, token)) for _ in range(other_tabs)]
    reporters: list[ClientConnection] = []
    for i in range(3):
        if i:
            send(offender, {"action": "next"})
            assert recv_json(offender) == QUEUED
        reporter = stack.enter_context(open_socket(gateway))
        reporters.append(reporter)
        _, room = newcomer_meets(reporter, f"Reporter{i}", offender, "Offender")
        reporter_device = device_named(db, f"Reporter{i}")
        send(reporter, {"action": "report", "reason": "spam"})
        assert recv_json(reporter) == REPORTED
        assert ends_in(db, KEYS.blocked, pair_key(offender_device, reporter_device)) > DAY_SECONDS - 10
        if i < 2:
            assert recv_json(offender) == gone(room)
            assert set(json.loads(db.hget(KEYS.reports, offender_device))) == {
                device_named(db, f"Reporter{j}") for j in range(i + 1)
            }
            assert db.zscore(KEYS.bans, f"d:{offender_device}") is None
        else:
            received, closed = events_until_closed(offender)
            assert received == [gone(room), BANNED]
            assert closed.rcvd is not None
            for tab in tabs:  # the ban follows the device to every socket it has open
                received, closed = events_until_closed(tab)
                assert received == [BANNED] and closed.rcvd is not None
    return token, reporters


def test_a_device_reported_by_three_devices_is_banned_on_every_socket_and_its_identity_is_refused_on_a_new_one(
    gateway: GatewayProcess, redis_db: Any
) -> None:
    with ExitStack() as stack:
        offender = stack.enter_context(open_socket(gateway))
        token, _ = reported_by_three_devices(gateway, redis_db, stack, offender, other_tabs=1)
        device = device_in(token)
        assert DAY_SECONDS - 10 < ends_in(redis_db, KEYS.bans, f"d:{device}") <= DAY_SECONDS
        assert redis_db.zscore(KEYS.bans, f"a:{ADDRESS}") is None  # one banned device is not an address
        assert redis_db.hget(KEYS.reports, device) is None
        assert set(json.loads(redis_db.hget(KEYS.strikes, ADDRESS))) == {device}
        assert devices_named(redis_db, "Offender") == [] and redis_db.zrangebylex(KEYS.devsockets, f"[{device}\0", f"({device}\1") == []

        with pytest.raises(InvalidStatus) as refused:
            open_socket(gateway, token)  # the same page, trying again
        assert refused.value.response.status_code == 403
        assert devices_named(redis_db, "Offender") == []

        with open_socket(gateway) as newcomer:  # someone else behind the same address
            newcomer_waits(newcomer, "Newcomer")
            assert device_named(redis_db, "Newcomer") != device


def test_a_bystander_behind_the_same_address_as_a_banned_device_keeps_meeting_people(
    gateway: GatewayProcess, redis_db: Any
) -> None:
    with ExitStack() as stack:
        bystander = stack.enter_context(open_socket(gateway))  # connected all along, same address
        offender = stack.enter_context(open_socket(gateway))
        token, reporters = reported_by_three_devices(gateway, redis_db, stack, offender)
        assert nothing_received(bystander)  # the ban closed the offender's sockets only
        assert redis_db.zscore(KEYS.bans, f"a:{ADDRESS}") is None

        send(reporters[2], {"action": "next"})
        assert recv_json(reporters[2]) == QUEUED
        newcomer_meets(bystander, "Bystander", reporters[2], "Reporter2")  # even the last reporter

        latecomer = stack.enter_context(open_socket(gateway))  # arrives after the ban
        newcomer_waits(latecomer, "Latecomer")
        send(reporters[0], {"action": "next"})
        assert matched(recv_json(latecomer), True, "Reporter0") == matched(recv_json(reporters[0]), False, "Latecomer")

        for name in ("Bystander", "Latecomer"):
            assert redis_db.zscore(KEYS.bans, f"d:{device_named(redis_db, name)}") is None
        assert {info["ip"] for info in conns(redis_db).values()} == {ADDRESS}
        assert redis_db.hlen(KEYS.rooms) == 2


# Per-device limits and penalties, behind an address shared with everyone else


def test_one_device_may_hold_eight_sockets_while_others_behind_its_address_still_connect(
    gateway: GatewayProcess, redis_db: Any
) -> None:
    with ExitStack() as stack:
        first = stack.enter_context(open_socket(gateway))
        token = newcomer_waits(first, "Tabs")
        device = device_in(token)
        # MAX_CONNECTIONS_PER_DEVICE is 8: the first tab and seven more presenting its identity.
        tabs = [first, *(stack.enter_context(open_socket(gateway, token)) for _ in range(7))]
        assert redis_db.hget(KEYS.devconns, device) == "8"

        with pytest.raises(InvalidStatus) as refused:
            open_socket(gateway, token)
        assert refused.value.response.status_code == 429
        assert redis_db.hget(KEYS.devconns, device) == "8" and redis_db.hlen(KEYS.conns) == 8  # no trace

        other = stack.enter_context(open_socket(gateway))  # another person, same address
        newcomer_meets(other, "Other", first, "Tabs")

        tabs.pop().close()
        wait_for(lambda: redis_db.hget(KEYS.devconns, device) == "7", what="the closed tab to be forgotten")
        stack.enter_context(open_socket(gateway, token))  # a closed tab frees its place
        assert redis_db.hget(KEYS.devconns, device) == "8"


def test_a_device_closed_for_abuse_ends_its_room_at_once_and_cannot_reconnect_for_the_cooldown(
    gateway: GatewayProcess, redis_db: Any
) -> None:
    with ExitStack() as stack:
        peer = stack.enter_context(open_socket(gateway))
        abuser = stack.enter_context(open_socket(gateway))
        newcomer_waits(peer, "Peer")
        token, room = newcomer_meets(abuser, "Abuser", peer, "Peer")
        device = device_in(token)
        closed: ConnectionClosed | None = None
        for _ in range(60):  # the abuse bucket holds 20 refusals and refills one a second
            try:
                abuser.send("not json")
                assert recv_json(abuser)["event"] == "error"
            except ConnectionClosed as exc:
                closed = exc
                break
        assert closed is not None, "the abuser was never closed"
        assert recv_json(peer) == gone(room)  # no seat is held for a socket closed for abuse
        assert redis_db.hlen(KEYS.rooms) == 0 and redis_db.hlen(KEYS.seats) == 0 and redis_db.zcard(KEYS.held) == 0
        assert 50 < ends_in(redis_db, KEYS.cooldown, device) <= 60  # ABUSE_COOLDOWN_SECONDS

        with pytest.raises(InvalidStatus) as refused:
            open_socket(gateway, token)
        assert refused.value.response.status_code == 429

        send(peer, {"action": "next"})
        assert recv_json(peer) == QUEUED
        newcomer = stack.enter_context(open_socket(gateway))  # the address is not cooled down
        newcomer_meets(newcomer, "Newcomer", peer, "Peer")


# The identity a new device is issued must reach its page


def test_a_new_device_whose_first_action_is_a_failed_resume_still_receives_its_identity(
    gateway: GatewayProcess, redis_db: Any
) -> None:
    # A page reloads mid-chat holding an expired identity and its old resume token; the seat's
    # grace is over, so the resume is refused and the page registers instead.
    expired = identities(clock_offset_seconds=-31 * DAY_SECONDS).issue().token
    with open_socket(gateway, expired) as ws:
        send(ws, {"action": "resume", "token": "a-resume-token-whose-seat-is-long-gone-0123456789"})
        received = [recv_json(ws)]
        while received[-1].get("event") == "identity":
            received.append(recv_json(ws))
        assert received[-1]["event"] == "error" and received[-1]["code"] == "invalid_token"
        send(ws, {"action": "register", "name": "Reloaded"})
        received.append(recv_json(ws))
        if received[-1].get("event") == "identity":
            received.append(recv_json(ws))
        assert received[-1] == QUEUED
        issued = [event["token"] for event in received if event.get("event") == "identity"]
        assert len(issued) == 1, f"the page got no identity: {received}"
        assert device_named(redis_db, "Reloaded") == device_in(issued[0])
