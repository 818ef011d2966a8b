"""Handler micro-benchmarks: warm, in-process calls of each action's real handler.

Each scenario prepares the state an action needs (untimed), then times one call of the real
Lambda entry logic (``chalicelib.entry.on_connect`` / ``on_message`` / ``on_disconnect``, or the
sweep) against a real local Valkey, with a sender that records instead of posting, so the
figures exclude the network to API Gateway. The prepared state is removed afterwards (untimed),
so every iteration starts from the same state.

Redis round trips and commands come from the server's ``INFO commandstats`` deltas around the
timed call, never from counting in our code: commands a client sends itself (EVALSHA, EVAL,
SCRIPT LOAD, SET, PING, ...) are round trips, everything else ran inside a Lua script.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")  # the sender signs even loopback posts
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")

import redis

from bench.common import APP_ENV, Progress, Quiet, summary_ms, task
from chalicelib import entry, sweep
from chalicelib.config import load_settings
from chalicelib.service import Service, build
from testkit.events import connect_event, disconnect_event, message_event, new_connection_id
from testkit.harness import RecordingSender

# Commands that only a client sends, never a script: each call is one round trip.
# (Our scripts call neither; GET and DEL are left out because the lock-release script calls them.)
CLIENT_ONLY = {"evalsha", "eval", "evalsha_ro", "eval_ro", "script|load", "set", "ping", "hello", "client|setinfo"}
OFFER = {"type": "offer", "sdp": "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"}
CANDIDATE = {"candidate": "candidate:1 1 udp 2122260223 192.0.2.10 54400 typ host", "sdpMid": "0",
             "sdpMLineIndex": 0}


class CountingSender(RecordingSender):
    """The tests' recording sender, plus a running count of posts."""

    def __init__(self) -> None:
        super().__init__()
        self.posted = 0

    def post(self, endpoint: str, connection_id: str, event: dict[str, Any]) -> bool:
        self.posted += 1
        return super().post(endpoint, connection_id, event)

    def last(self, cid: str) -> dict[str, Any]:
        return self.frames[cid][-1]

    def forget(self, *cids: str) -> None:
        for cid in cids:
            self.frames.pop(cid, None)


def command_calls(admin: Any) -> dict[str, int]:
    stats = admin.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


@dataclass
class Scenario:
    name: str
    prepare: Callable[[], Any]  # untimed; returns what act and cleanup need
    act: Callable[[Any], Any]  # timed
    cleanup: Callable[[Any], None]  # untimed


class Bench:
    """The real service on a real Valkey, with helpers that put connections in a given state."""

    def __init__(self, url: str) -> None:
        self.sender = CountingSender()
        self.service: Service = build(load_settings({"REDIS_URL": url, **APP_ENV}), sender=self.sender)
        self.admin = redis.Redis.from_url(url, decode_responses=True)

    def warm(self) -> None:
        """What a warm Lambda container has: scripts cached server-side and an open connection."""
        self.admin.flushall()
        store = self.service.store
        store.load_scripts()
        store.ping_server()

    # -- state helpers (untimed) -------------------------------------------------------------
    def connect(self) -> str:
        cid = new_connection_id()
        entry.on_connect(connect_event(cid), self.service)
        return cid

    def send(self, cid: str, body: Any) -> None:
        entry.on_message(message_event(cid, body), self.service)

    def drop(self, *cids: str) -> None:
        for cid in cids:
            entry.on_disconnect(disconnect_event(cid), self.service)
        self.sender.forget(*cids)

    def queued(self, name: str = "waiter") -> str:
        cid = self.connect()
        self.send(cid, {"action": "register", "name": name})
        return cid

    def pair(self, join: bool = True) -> tuple[str, str, str]:
        a = self.queued("alice")
        b = self.connect()
        self.send(b, {"action": "register", "name": "bob"})
        room = self.sender.last(b)["room_code"]
        if join:
            self.send(a, {"action": "join", "room_code": room})
            self.send(b, {"action": "join", "room_code": room})
        return a, b, room

    # -- timed calls -------------------------------------------------------------------------
    def on_message(self, event: dict[str, Any]) -> None:
        entry.on_message(event, self.service)

    def scenarios(self) -> list[Scenario]:
        svc = self.service
        msg = message_event
        # The same store with a resume grace period, for the scenarios that hold a seat.
        held_svc = build(self.service.settings.model_copy(update={"resume_grace_seconds": 15}),
                         client=self.service.store.client, sender=self.sender)

        def register_queued() -> tuple[str, dict[str, Any]]:
            cid = self.connect()
            return cid, msg(cid, {"action": "register", "name": "alice"})

        def register_matched() -> tuple[str, str, dict[str, Any]]:
            a = self.queued("alice")
            b = self.connect()
            return a, b, msg(b, {"action": "register", "name": "bob"})

        def join() -> tuple[str, str, dict[str, Any]]:
            a, b, room = self.pair(join=False)
            return a, b, msg(a, {"action": "join", "room_code": room})

        # signal and chat leave no state behind, so one room serves every iteration, as one
        # call's many ICE candidates do.
        room_state: dict[str, Any] = {}

        def joined_pair() -> tuple[str, str, str]:
            if not room_state:
                room_state["pair"] = self.pair(join=True)
            return room_state["pair"]

        def signal(kind: str, data: Any) -> Callable[[], Any]:
            def prepare() -> tuple[dict[str, Any]]:
                a, _, room = joined_pair()
                return (msg(a, {"action": "signal", "room_code": room, "type": kind, "data": data}),)
            return prepare

        def first_offer() -> tuple[str, str, dict[str, Any]]:
            a, b, room = self.pair(join=False)  # as the page does: its offer is what joins its seat
            return a, b, msg(a, {"action": "signal", "room_code": room, "type": "offer", "data": OFFER})

        def chat() -> tuple[dict[str, Any]]:
            a, _, room = joined_pair()
            return (msg(a, {"action": "chat", "room_code": room, "message": "Hello! Where are you from?"}),)

        def typing() -> tuple[dict[str, Any]]:
            a, _, room = joined_pair()
            return (msg(a, {"action": "typing", "room_code": room}),)

        addresses = iter(range(1, 1 << 24))

        def report() -> tuple[str, str, dict[str, Any]]:
            # Fresh addresses each time: a report blocks the two addresses from meeting again.
            def connect_from() -> str:
                n = next(addresses)
                cid = new_connection_id()
                entry.on_connect(connect_event(cid, ip=f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"), svc)
                return cid

            a, b = connect_from(), connect_from()
            self.send(a, {"action": "register", "name": "alice"})
            self.send(b, {"action": "register", "name": "bob"})
            return a, b, msg(a, {"action": "report", "reason": "spam"})

        def resume() -> tuple[str, str, str, dict[str, Any]]:
            a, b, _ = self.pair()
            token = next(e for e in reversed(self.sender.received(b)) if e["event"] == "matched")["resume_token"]
            entry.on_disconnect(disconnect_event(b), held_svc)  # held: the grace period applies
            b2 = self.connect()
            return a, b, b2, msg(b2, {"action": "resume", "token": token})

        def resume_act(state: Any) -> Any:
            return entry.on_message(state[-1], held_svc)

        def ping() -> tuple[dict[str, Any]]:
            a, _, _ = joined_pair()
            return (msg(a, {"action": "ping"}),)

        def next_rematched() -> tuple[str, str, str, dict[str, Any]]:
            a, b, _ = self.pair()
            c = self.queued("carol")
            return a, b, c, msg(a, {"action": "next"})

        def next_queued() -> tuple[str, str, dict[str, Any]]:
            a, b, _ = self.pair()
            return a, b, msg(a, {"action": "next"})

        def leave() -> tuple[str, str, dict[str, Any]]:
            a, b, _ = self.pair()
            return a, b, msg(a, {"action": "leave"})

        def disconnect_in_room() -> tuple[str, str, dict[str, Any]]:
            a, b, _ = self.pair()
            return b, a, disconnect_event(a)

        def stale() -> tuple[str]:
            cid = new_connection_id()  # connected 3 h ago: past the 2 h cap, so the sweep evicts it
            entry.on_connect(connect_event(cid, connected_at=int(time.time() * 1000) - 3 * 3600 * 1000), svc)
            return (cid,)

        def nothing() -> tuple[()]:
            return ()

        def drop_all(state: Any) -> None:
            self.drop(*[x for x in state if isinstance(x, str)])

        def last_event(state: Any) -> Any:
            return self.on_message(state[-1])

        def connect_act(state: Any) -> Any:
            return entry.on_connect(state[-1], svc)

        def disconnect_act(state: Any) -> Any:
            return entry.on_disconnect(state[-1], svc)

        def sweep_act(state: Any) -> Any:
            return sweep.run(svc, window_seconds=0)

        def connect_prepare() -> tuple[str, dict[str, Any]]:
            cid = new_connection_id()
            return cid, connect_event(cid)

        return [
            Scenario("$connect", connect_prepare, connect_act, drop_all),
            Scenario("register (queued)", register_queued, last_event, drop_all),
            Scenario("register (matched)", register_matched, last_event, drop_all),
            Scenario("join", join, last_event, drop_all),
            Scenario("signal (offer)", signal("offer", OFFER), last_event, drop_all),
            Scenario("signal (candidate)", signal("candidate", CANDIDATE), last_event, drop_all),
            Scenario("signal (a seat's first: joins)", first_offer, last_event, drop_all),
            Scenario("chat", chat, last_event, drop_all),
            Scenario("typing", typing, last_event, drop_all),
            Scenario("ping", ping, last_event, drop_all),
            Scenario("next (rematched)", next_rematched, last_event, drop_all),
            Scenario("next (queued)", next_queued, last_event, drop_all),
            Scenario("leave", leave, last_event, drop_all),
            Scenario("report", report, last_event, drop_all),
            Scenario("resume", resume, resume_act, drop_all),
            Scenario("$disconnect (in room)", disconnect_in_room, disconnect_act, drop_all),
            Scenario("sweep tick (idle)", nothing, sweep_act, drop_all),
            Scenario("sweep tick (evicts 1)", stale, sweep_act, drop_all),
        ]


def measure(bench: Bench, scenario: Scenario, iterations: int, warmup: int, progress: Progress,
            bar: Any) -> dict[str, Any]:
    """Time ``iterations`` calls after ``warmup`` untimed ones; count commands on every call.

    The app's metric lines (EMF, one per invocation, on stdout) are written to /dev/null, as
    Lambda writes them to a pipe: the cost stays in, the terminal stays readable."""
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        return _measure(bench, scenario, iterations, warmup, progress, bar)


def _measure(bench: Bench, scenario: Scenario, iterations: int, warmup: int, progress: Progress,
             bar: Any) -> dict[str, Any]:
    latencies: list[float] = []
    trips: list[int] = []
    commands: list[int] = []
    posted: list[int] = []
    for i in range(warmup + iterations):
        state = scenario.prepare()
        before_posts = bench.sender.posted
        before = command_calls(bench.admin)
        start = time.perf_counter_ns()
        scenario.act(state)
        elapsed = time.perf_counter_ns() - start
        after_posts = bench.sender.posted
        after = command_calls(bench.admin)
        scenario.cleanup(state)
        progress.advance(bar)
        if i < warmup:
            continue
        delta = {k: v - before.get(k, 0) for k, v in after.items() if k != "info"}
        latencies.append(elapsed / 1e6)
        trips.append(sum(v for k, v in delta.items() if k in CLIENT_ONLY))
        commands.append(sum(delta.values()))
        posted.append(after_posts - before_posts)
    return {
        "latency_ms": summary_ms(latencies),
        "round_trips": _counts(trips),
        "commands": _counts(commands),
        "messages": _counts(posted),
    }


def _counts(values: list[int]) -> dict[str, float]:
    """A count that should not vary: its min, max and mean over every timed call."""
    return {"min": min(values), "max": max(values), "mean": round(sum(values) / len(values), 3)}


LOOPBACK_API = r"""
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as API Gateway's endpoint
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        gone = "/@connections/Gone" in self.path
        data = b'{"message":null}' if gone else b"{}"
        self.send_response(410 if gone else 200)
        self.send_header("Content-Type", "application/json")
        if gone:
            self.send_header("x-amzn-ErrorType", "GoneException")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


@contextlib.contextmanager
def loopback_api() -> Iterator[str]:
    """A Management API stand-in in its own process (so it does not share our GIL), keeping
    connections alive like API Gateway's endpoint; yields its endpoint URL. Ids starting with
    ``Gone`` answer 410 GoneException."""
    proc = subprocess.Popen([sys.executable, "-c", LOOPBACK_API], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}/api"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def measure_post(iterations: int, warmup: int, progress: Progress) -> dict[str, Any]:
    """What one ``post_to_connection`` costs the app: its real sender against a loopback
    Management API. Wall time includes the loopback server; CPU time is the calling thread's
    own (request building, SigV4 signing, HTTP), which on Lambda scales with memory size."""
    from chalicelib.sender import ManagementApiSender

    event = {"event": "signal", "room_code": "q2Xk3v0l1RjbYtN5m8sPAg7E", "from": "alice", "type": "candidate",
             "data": CANDIDATE}
    wall: list[float] = []
    cpu: list[float] = []
    with loopback_api() as endpoint, task(progress, "handlers: post_to_connection", warmup + iterations) as bar:
        sender = ManagementApiSender("us-east-1")
        cid = new_connection_id()
        for i in range(warmup + iterations):
            c0, w0 = time.thread_time_ns(), time.perf_counter_ns()
            sender.post(endpoint, cid, event)
            w1, c1 = time.perf_counter_ns(), time.thread_time_ns()
            progress.advance(bar)
            if i >= warmup:
                wall.append((w1 - w0) / 1e6)
                cpu.append((c1 - c0) / 1e6)
    return {"latency_ms": summary_ms(wall), "cpu_ms": summary_ms(cpu)}


def run(url: str, iterations: int = 1000, warmup: int = 50, progress: Progress | None = None,
        post: bool = True) -> dict[str, Any]:
    progress = progress or Quiet()
    bench = Bench(url)
    bench.warm()
    scenarios = bench.scenarios()
    results: dict[str, Any] = {}
    with task(progress, "handler micro-benchmarks", len(scenarios) * (warmup + iterations)) as bar:
        for scenario in scenarios:
            progress.update(bar, description=f"handlers: {scenario.name}")
            results[scenario.name] = measure(bench, scenario, iterations, warmup, progress, bar)
    bench.admin.close()
    out = {"iterations": iterations, "warmup": warmup, "actions": results}
    if post:
        out["post_to_connection"] = measure_post(max(1, iterations // 2), min(warmup, 20), progress)
    return out
