"""Random sequences of every protocol action, through the real handlers and Redis, against a model.

After every step the Redis invariants hold and every connection has received exactly the events
the reference model (``tests/support/model.py``) predicts, in order.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from chalicelib import entry, sweep
from chalicelib.keys import Keys
from chalicelib.service import build
from tests.conftest import RELAXED
from tests.support import invariants
from tests.support.events import connect_event, disconnect_event, message_event, new_connection_id
from tests.support.harness import FakeClock, RecordingSender
from tests.support.model import Conn, Model

MAX_CONNECTIONS = 10
EXAMPLES = int(os.environ.get("MODEL_EXAMPLES", "100"))
STEPS = int(os.environ.get("MODEL_STEPS", "50"))
NAMES = st.sampled_from([None, "alice", "  Bob  ", "x" * 32])
TAGS = st.sampled_from([(), (), ("chess",), ("music",), ("chess", "music")])
TOKEN_CHOICE = st.sampled_from(["held", "held", "live", "garbage"])
ROOM_CHOICE = st.sampled_from(["own", "own", "own", "other", "garbage"])
PAYLOADS = {"offer": {"type": "offer", "sdp": "v=0 o"}, "answer": {"type": "answer", "sdp": "v=0 a"}, "candidate": None}


def normalise(event: dict[str, Any]) -> dict[str, Any]:
    if event["event"] == "error":
        return {"event": "error", "code": event["code"]}
    drop = {
        "peer-disconnected": {"message"}, "peer-reconnecting": {"message"}, "chat": {"timestamp"},
        "matched": {"ice_servers", "resume_token"}, "resumed": {"ice_servers", "resume_token"},
    }.get(event["event"], set())
    return {k: v for k, v in event.items() if k not in drop}


class ProtocolMachine(RuleBasedStateMachine):
    redis_url: str = ""

    def __init__(self) -> None:
        super().__init__()
        self.client = redis.Redis.from_url(self.redis_url, decode_responses=True)
        self.client.flushall()
        self.keys = Keys("rvc")
        self.clock = FakeClock()
        self.sender = RecordingSender()
        from chalicelib.config import load_settings

        # Production matching policies (fallback, no-repeat, resume grace); only the rate and
        # per-address limits are relaxed, since every rule here runs on a frozen clock.
        policies = {**RELAXED, "REPEAT_BLOCK_SECONDS": "300", "RESUME_GRACE_SECONDS": "15"}
        config = load_settings({"REDIS_URL": self.redis_url, "ICE_SERVERS": "[]", **policies})
        self.service = build(config, sender=self.sender, clock=self.clock)
        self.model = Model(now=self.clock())
        self.codes: dict[int, str] = {}  # model room -> real room code, learned on delivery

    def teardown(self) -> None:
        self.client.flushall()
        self.client.close()

    # ---- plumbing ---------------------------------------------------------------------------
    def actors(self) -> list[str]:
        return [c.cid for c in self.model.conns.values() if not c.gone and not c.closed]

    def pick(self, index: int) -> str:
        actors = self.actors()
        return actors[index % len(actors)]

    def room_code(self, room: int | None) -> str:
        return self.codes.get(room, "not-a-room-code-at-all") if room is not None else "not-a-room-code-at-all"

    def choose_room(self, cid: str, choice: str) -> int | None:
        seat = self.model.seats.get(cid)
        own = seat.room if seat else None
        if choice == "own":
            return own
        if choice == "other":
            others = [room for room in self.model.rooms if room != own and room in self.codes]
            return others[0] if others else None
        return None

    def deliver(self, cid: str, body: dict[str, Any]) -> None:
        entry.on_message(message_event(cid, body), self.service)

    # ---- rules ------------------------------------------------------------------------------
    @precondition(lambda self: len(self.model.conns) < MAX_CONNECTIONS)
    @rule()
    def connect(self) -> None:
        cid = new_connection_id()
        ip = f"10.1.0.{len(self.model.conns) + 1}"
        event = connect_event(cid, connected_at=self.clock(), ip=ip)
        assert entry.on_connect(event, self.service) == {"statusCode": 200}
        now = self.clock()
        self.model.conns[cid] = Conn(cid, at=now, deadline=min(now + 7_200_000, now + 600_000), ip=ip)

    @precondition(lambda self: self.actors())
    @rule(who=st.integers(0, 99), name=NAMES, tags=TAGS)
    def register(self, who: int, name: str | None, tags: tuple[str, ...]) -> None:
        cid = self.pick(who)
        body: dict[str, Any] = {"action": "register", "interests": list(tags)}
        if name is not None:
            body["name"] = name
        self.deliver(cid, body)
        self.model.seek(cid, "register", " ".join(name.split()) if name else "Stranger", tags)

    @precondition(lambda self: self.actors())
    @rule(who=st.integers(0, 99))
    def next(self, who: int) -> None:
        cid = self.pick(who)
        self.deliver(cid, {"action": "next"})
        self.model.seek(cid, "next", "", None)

    @precondition(lambda self: self.actors())
    @rule(who=st.integers(0, 99))
    def leave(self, who: int) -> None:
        cid = self.pick(who)
        self.deliver(cid, {"action": "leave"})
        self.model.leave(cid)

    @precondition(lambda self: self.actors())
    @rule(who=st.integers(0, 99))
    def ping(self, who: int) -> None:
        cid = self.pick(who)
        self.deliver(cid, {"action": "ping"})
        self.model.ping(cid)

    @precondition(lambda self: self.actors())
    @rule(who=st.integers(0, 99), choice=ROOM_CHOICE)
    def join(self, who: int, choice: str) -> None:
        cid = self.pick(who)
        room = self.choose_room(cid, choice)
        self.deliver(cid, {"action": "join", "room_code": self.room_code(room)})
        self.model.join(cid, room)

    @precondition(lambda self: self.actors())
    @rule(who=st.integers(0, 99), choice=ROOM_CHOICE, kind=st.sampled_from(["offer", "answer", "candidate"]))
    def signal(self, who: int, choice: str, kind: str) -> None:
        cid = self.pick(who)
        room = self.choose_room(cid, choice)
        body = {"action": "signal", "room_code": self.room_code(room), "type": kind, "data": PAYLOADS[kind]}
        self.deliver(cid, body)
        self.model.relay(cid, kind, room, data=PAYLOADS[kind])

    @precondition(lambda self: self.actors())
    @rule(who=st.integers(0, 99), message=st.sampled_from(["hi", "<img src=x onerror=alert(1)>", "ünï ☃"]))
    def chat(self, who: int, message: str) -> None:
        cid = self.pick(who)
        self.deliver(cid, {"action": "chat", "message": message})
        self.model.relay(cid, "chat", None, message=message)

    @precondition(lambda self: self.actors())
    @rule(who=st.integers(0, 99))
    def typing(self, who: int) -> None:
        cid = self.pick(who)
        self.deliver(cid, {"action": "typing"})
        self.model.relay(cid, "typing", None)

    @precondition(lambda self: self.actors())
    @rule(who=st.integers(0, 99), reason=st.sampled_from(["spam", "other"]))
    def report(self, who: int, reason: str) -> None:
        cid = self.pick(who)
        self.deliver(cid, {"action": "report", "reason": reason})
        self.model.report(cid)

    @precondition(lambda self: self.actors())
    @rule(who=st.integers(0, 99), choice=TOKEN_CHOICE)
    def resume(self, who: int, choice: str) -> None:
        """A new connection (or an existing one) presents a token: a dropped seat's, a live
        seat's (someone else's), or a made-up one."""
        cid = self.pick(who)
        held = [s.token for s in self.model.seats.values() if s.held and s.token]
        live = [s.token for s in self.model.seats.values() if not s.held and s.token]
        pool = {"held": held, "live": live}.get(choice) or ["made-up-token-0000"]
        token = pool[who % len(pool)]
        self.deliver(cid, {"action": "resume", "token": token})
        self.model.resume(cid, token)

    @precondition(lambda self: self.actors())
    @rule(who=st.integers(0, 99))
    def disconnect(self, who: int) -> None:
        cid = self.pick(who)
        self.sender.gone.add(cid)
        entry.on_disconnect(disconnect_event(cid), self.service)
        self.model.disconnect(cid)

    @precondition(lambda self: self.actors())
    @rule(who=st.integers(0, 99))
    def vanish(self, who: int) -> None:
        """The socket dies and $disconnect never comes: posts to it now answer 410."""
        cid = self.pick(who)
        self.sender.gone.add(cid)
        self.model.conns[cid].gone = True

    @precondition(lambda self: len(self.actors()) >= 2)
    @rule(who=st.integers(0, 99), tags=TAGS)
    def two_strangers_look_for_each_other(self, who: int, tags: tuple[str, ...]) -> None:
        """Rooms are where most rules get interesting, so make them often."""
        first, second = who % len(self.actors()), (who + 1) % len(self.actors())
        self.register(first, None, tags)
        self.register(second, None, tags)

    @precondition(lambda self: any(cid in self.model.seats for cid in self.actors()))
    @rule(who=st.integers(0, 99), how=st.sampled_from(["disconnect", "vanish"]))
    def a_stranger_in_a_chat_drops(self, who: int, how: str) -> None:
        seated = [cid for cid in self.actors() if cid in self.model.seats]
        victim = seated[who % len(seated)]
        getattr(self, how)(self.actors().index(victim))

    @precondition(lambda self: len(self.model.conns) < MAX_CONNECTIONS and any(
        cid in self.model.seats and self.model.seats[cid].token for cid in self.actors()))
    @rule(who=st.integers(0, 99), how=st.sampled_from(["disconnect", "vanish"]), wait=st.sampled_from([1, 16]))
    def a_stranger_drops_and_comes_back_on_a_new_connection(self, who: int, how: str, wait: int) -> None:
        seated = [cid for cid in self.actors() if cid in self.model.seats and self.model.seats[cid].token]
        victim = seated[who % len(seated)]
        token = self.model.seats[victim].token
        getattr(self, how)(self.actors().index(victim))
        self.advance_clock(wait)
        self.connect()
        newest = list(self.model.conns)[-1]
        self.deliver(newest, {"action": "resume", "token": token})
        self.model.resume(newest, token)

    @precondition(lambda self: len(self.model.conns) < MAX_CONNECTIONS)
    @rule(who=st.integers(0, 99), choice=TOKEN_CHOICE)
    def a_new_connection_resumes(self, who: int, choice: str) -> None:
        self.connect()
        newest = list(self.model.conns)[-1]
        self.resume(self.actors().index(newest), choice)

    @rule(seconds=st.sampled_from([1, 30, 200, 301, 601, 3600]))
    def advance_clock(self, seconds: int) -> None:
        self.clock.advance(seconds)
        self.model.now = self.clock()

    @precondition(lambda self: self.actors())
    @rule(who=st.integers(0, 99))
    def one_stranger_goes_quiet_then_the_sweep_runs(self, who: int) -> None:
        """Everyone else keeps pinging; the quiet one passes the idle timeout and is swept."""
        seated = [cid for cid in self.actors() if cid in self.model.seats]
        quiet = seated[who % len(seated)] if seated else self.pick(who)
        self.advance_clock(350)
        for cid in self.actors():
            if cid != quiet:
                self.ping(self.actors().index(cid))
        self.advance_clock(300)
        self.run_sweep()

    @rule()
    def run_sweep(self) -> None:
        sweep.run(self.service, clock=self.clock, window_seconds=0)
        self.model.sweep()

    # ---- checks -----------------------------------------------------------------------------
    @invariant()
    def redis_invariants_hold(self) -> None:
        invariants.check(self.client, self.keys)

    @invariant()
    def every_connection_received_exactly_what_the_model_predicts(self) -> None:
        for cid in self.model.conns:
            actual = [normalise(e) for e in self.sender.received(cid)]
            expected = self.model.expected.get(cid, [])
            assert len(actual) == len(expected), f"{cid}: got {actual}, expected {expected}"
            for got, want in zip(actual, expected, strict=True):
                want = dict(want)
                if isinstance(want.get("room_code"), tuple):
                    room = want["room_code"][1]
                    self.codes.setdefault(room, got.get("room_code", ""))
                    want["room_code"] = self.codes[room]
                assert got == want, f"{cid}: got {got}, expected {want}"
        self.learn_tokens()

    def learn_tokens(self) -> None:
        """Seats get the resume token the server really delivered for them."""
        for cid, seat in self.model.seats.items():
            if seat.token or seat.room not in self.codes:
                continue
            for event in reversed(self.sender.received(cid)):
                if event["event"] in {"matched", "resumed"} and event["room_code"] == self.codes[seat.room]:
                    seat.token = event["resume_token"]
                    break

    @invariant()
    def server_and_model_agree_on_who_waits_and_who_talks(self) -> None:
        state = invariants.snapshot(self.client, self.keys)
        assert set(state["queue"]) == set(self.model.queue)
        assert set(self.model.seats) == set(state["seats"])
        assert {cid for cid, s in self.model.seats.items() if s.held} == {c for c, s in state["seats"].items() if s.get("held")}
        assert {cid for cid, c in self.model.conns.items() if c.connected} == set(state["conns"])


@pytest.mark.timeout(600)
def test_random_action_sequences_match_the_reference_model(redis_server):
    ProtocolMachine.redis_url = redis_server.url
    run_state_machine_as_test(
        ProtocolMachine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
