"""End-to-end load through the local gateway: simulated users over real WebSockets.

The gateway runs as its own process (``python -m localdev``), so the load generator (an asyncio
client here) does not share its GIL. Every user connects, registers, is matched, exchanges an
offer, an answer and several ICE candidates, chats, and then either skips (``next``) or leaves
(closes the socket). Each session is driven by its initiator:

    initiator                                   responder
    on matched: offer (carrying the candidates  after the offer: answer (the same), then the
    found in time), then a batch of the late    late candidates, chats
    ones, chats
    when everything from the peer arrived       when everything from the peer arrived: "done"
    (answer, candidates, chats, "done"):
    skip (``next``, at most once) or close      on peer-disconnected: close

That is the page's behaviour (``Plan.client = "page"``). ``"legacy"`` is the page before the
join fold and the batches: both send ``join`` on matched and wait for ``verified``, and every
candidate is a frame of its own, after the description; the cost bench runs both.

so nobody leaves while a message for them or from them is in flight, and every relayed
message must arrive exactly once at the right peer. A user that skipped and is left waiting
alone once everyone else has finished (at most one, by parity) sends ``leave``.

Every relayed payload carries a unique tag; the ledger checks each arrived exactly once at the
peer the sender was matched with, and nowhere else. After everyone left, Redis must hold no
per-user data: only ``{rvc}:msgs`` (the de-duplication window of messageIds) and ``{rvc}:meta``
(the Management API endpoint for the sweep) may remain.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.common import APP_ENV, PROJECT_DIR, Progress, Quiet, summary_ms, task
from chalicelib.keys import CALL_PREFIX
from localdev.children import die_with_parent

OFFER_SDP = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"
# Keys that may outlive every connection, none naming a connection: the messageId de-dup window,
# the Management API endpoint, the last minute's match statistics (room code and wait), and this
# minute's per-address connection counter (it expires with the minute). ``recent`` (no-repeat
# pairs) may hold entries whose period is over; the next sweep tick trims them.
ALLOWED_LEFTOVER = {"msgs", "meta", "matchstats", "statscache", "viewseq"}
# Per-minute counters, and the answers of the last calls, kept a few seconds so a retried copy
# replays them: they are about calls, not people.
ALLOWED_PREFIXES = ("iprate:", CALL_PREFIX)
PER_USER_KEYS = ("alive", "conns", "queue", "seats", "rooms", "tokens", "held", "buckets", "ipconns", "ipsockets",
                 "fresh")


def raise_fd_limit(wanted: int) -> int:
    """Raise the soft open-files limit toward ``wanted`` (child processes inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


class GatewayProcess:
    """``python -m localdev`` on a free port, talking to the given Redis."""

    def __init__(self, redis_url: str, extra_args: list[str] | None = None) -> None:
        self.redis_url = redis_url
        self.extra_args = extra_args or []
        self.log = tempfile.NamedTemporaryFile(prefix="bench-gateway-", suffix=".log", delete=False)  # noqa: SIM115
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def start(self, timeout: float = 30.0) -> GatewayProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOCALDEV_")}
        env.pop("MANAGEMENT_API_URL", None)
        env.update(APP_ENV)
        env.update(REDIS_URL=self.redis_url, PYTHONUNBUFFERED="1")
        command = [sys.executable, "-m", "localdev", "--host", "127.0.0.1", "--port", "0",
                   "--no-reload", "--no-schedules", *self.extra_args]
        self.process = subprocess.Popen(
            command, cwd=PROJECT_DIR, env=env, stdout=self.log, stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(r"WebSocket\s+(ws://\S+)", self.output())
            if found:
                self.url = found.group(1)
                return self
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the gateway did not start:\n{self.output()}")
            time.sleep(0.05)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def close(self) -> None:
        self.stop()
        self.log.close()
        with contextlib.suppress(OSError):
            os.unlink(self.log.name)

    def __enter__(self) -> GatewayProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class Session:
    number: int
    room: str
    peer: str
    initiator: bool
    joined: bool = False  # may signal: at once for the page, after `verified` for the legacy client
    sent: bool = False  # our signals and chats are out
    done_sent: bool = False
    ended: bool = False
    got: Counter[str] = field(default_factory=Counter)  # offer/answer, candidate, chat, done


@dataclass
class Ledger:
    """Every relayed payload: who should get it, and who did."""

    expected: dict[str, str] = field(default_factory=dict)  # tag -> recipient name
    received: Counter[tuple[str, str]] = field(default_factory=Counter)  # (tag, recipient)

    def check(self) -> dict[str, int]:
        delivered_once = lost = duplicated = misdelivered = 0
        for tag, recipient in self.expected.items():
            count = self.received.get((tag, recipient), 0)
            if count == 1:
                delivered_once += 1
            elif count == 0:
                lost += 1
            else:
                duplicated += 1
        for (tag, recipient), _count in self.received.items():
            if self.expected.get(tag) != recipient:
                misdelivered += 1
        return {"relayed": len(self.expected), "delivered_once": delivered_once, "lost": lost,
                "duplicated": duplicated, "misdelivered": misdelivered}


@dataclass
class Plan:
    users: int = 1000
    arrival: str = "burst"  # burst | steady
    rate: float = 10.0  # users per second when steady
    candidates: int = 4  # ICE candidates each side sends
    client: str = "page"  # page: no join, candidates in the description or batched | legacy: see above
    late_candidates: int = 0  # page: of those, found after the description went (one batch with end)
    chats: int = 2  # chat lines each side sends (plus the responder's "done")
    skip_fraction: float = 0.5  # share of initiators who press Next once instead of leaving
    timeout_s: float = 120.0


class Run:
    """Shared state of one load run: the users, the ledger and the counters."""

    def __init__(self, url: str, plan: Plan, progress: Progress, bar: Any) -> None:
        self.url, self.plan, self.progress, self.bar = url, plan, progress, bar
        self.ledger = Ledger()
        self.users: list[User] = []
        self.errors: list[str] = []
        self.sent: Counter[str] = Counter()  # client -> server frames by action
        self.received: Counter[str] = Counter()  # server -> client frames by event
        self.match_ms: list[float] = []  # register sent -> matched received
        self.rematch_ms: list[float] = []  # next sent -> matched received
        self.connect_ms: list[float] = []  # handshake, including $connect
        self.connects = 0
        self.closes = 0
        self.leftover_waiters = 0
        self.early_frames = 0  # relayed frames that arrived before the recipient's `matched`
        self.arrivals_done = False
        self.helpers: list[asyncio.Task[None]] = []

    def error(self, who: str, what: str) -> None:
        self.errors.append(f"{who}: {what}")

    def waiting_alone(self) -> list[User]:
        """Users queued with nobody left to match them: everyone else has finished."""
        if not self.arrivals_done:
            return []
        active = [u for u in self.users if u.started and not u.done]
        if active and all(u.waiting for u in active):
            return active
        return []


class User:
    def __init__(self, run: Run, index: int, helper: bool = False) -> None:
        self.run = run
        self.helper = helper  # not one of the N users: partners a newcomer left alone at the end
        self.name = f"{'h' if helper else 'u'}{index:05d}"
        self.skips_left = 0 if helper else int((index * 0.618033988749895) % 1 < run.plan.skip_fraction)
        self.ws: ClientConnection | None = None
        self.session: Session | None = None
        self.sessions = 0
        self.matched = 0
        self.seek_started = 0.0
        self.seek_kind = "register"
        self.waiting = False  # queued and not matched yet
        # Relayed frames that arrived before our own `matched`: the waiter's `matched` is posted
        # first, so it can join and send its offer before the newcomer's `matched` arrives.
        self.early: list[dict[str, Any]] = []
        self.started = False
        self.done = False
        self.leaving = False  # sent `leave` because nobody is left to match it
        self.helped = False  # a helper was started to partner it

    async def send(self, body: dict[str, Any]) -> None:
        assert self.ws is not None
        self.run.sent[body["action"]] += 1
        await self.ws.send(json.dumps(body, separators=(",", ":")))

    def tag(self, what: str) -> str:
        assert self.session is not None
        tag = f"{self.name}/{self.session.number}/{what}"
        self.run.ledger.expected[tag] = self.session.peer
        return tag

    async def seek(self, kind: str) -> None:
        self.seek_kind, self.seek_started = kind, time.perf_counter()
        await self.send({"action": "register", "name": self.name} if kind == "register" else {"action": "next"})

    async def main(self, start_at: float) -> None:
        await asyncio.sleep(max(0.0, start_at - time.perf_counter()))
        self.started = True
        run = self.run
        began = time.perf_counter()
        try:
            async with connect(run.url, proxy=None, open_timeout=60, close_timeout=10, max_queue=None,
                               ping_interval=None) as ws:
                self.ws = ws
                run.connects += 1
                run.connect_ms.append((time.perf_counter() - began) * 1000)
                await self.seek("register")
                async for raw in ws:
                    await self.on_frame(raw)
                    if self.done:
                        break
            run.closes += 1
            if not self.done:
                run.error(self.name, "the server closed the connection")
        except ConnectionClosed as exc:
            if not self.done:
                run.error(self.name, f"connection closed: {exc}")
        except (OSError, TimeoutError) as exc:
            run.error(self.name, f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # anything else is a bug in this generator or a protocol surprise
            run.error(self.name, f"{type(exc).__name__}: {exc}")
        finally:
            self.done = True
            if not self.helper:
                run.progress.advance(run.bar)

    async def on_frame(self, raw: str | bytes, replay: bool = False) -> None:
        run = self.run
        event = json.loads(raw)
        kind = event.get("event") or "(no event)"
        if not replay:
            run.received[kind] += 1
        s = self.session
        if kind in ("signal", "chat") and not self.ours(event):
            if replay:  # still not ours once matched: a misdelivery
                self.relayed(event, self.tag_of(event))
            else:
                run.early_frames += 1
                self.early.append(event)
            return
        if kind == "queued":
            self.waiting = True
        elif kind == "matched":
            elapsed = (time.perf_counter() - self.seek_started) * 1000
            (run.match_ms if self.seek_kind == "register" else run.rematch_ms).append(elapsed)
            self.waiting = False
            self.matched += 1
            self.sessions += 1
            self.session = Session(self.sessions, event["room_code"], event["peer"]["name"], event["initiator"])
            if run.plan.client == "legacy":
                await self.send({"action": "join", "room_code": event["room_code"]})
            else:
                self.session.joined = True
                await self.progress()  # the initiator offers at once
            early, self.early = self.early, []
            for frame in early:
                await self.on_frame(json.dumps(frame), replay=True)
        elif kind == "verified":
            if s is None or event["room_code"] != s.room:
                run.error(self.name, f"verified for a room that is not ours: {event}")
                return
            s.joined = True
            await self.progress()
        elif kind == "signal":
            if not self.relayed(event, self.tag_of(event)):
                return
            assert s is not None
            data = event["data"]
            if event["type"] in ("offer", "answer"):
                s.got["sdp"] += 1
                s.got["candidate"] += data["sdp"].count("a=candidate:")
            else:
                s.got["candidate"] += len(data["candidates"]) if event["type"] == "candidates" else 1
            await self.progress()
        elif kind == "chat":
            if not self.relayed(event, self.tag_of(event)):
                return
            assert s is not None
            s.got["done" if event["message"].endswith("/done") else "chat"] += 1
            await self.progress()
        elif kind == "peer-disconnected":
            if s is not None and event["room_code"] == s.room and not s.ended:
                s.ended = True
                if s.initiator:
                    run.error(self.name, "the responder left first")
                await self.finish()
        elif kind == "left":
            await self.finish()
        else:
            run.error(self.name, f"unexpected frame {event}")

    def ours(self, event: dict[str, Any]) -> bool:
        """A relayed frame from the peer of our current session (in its room, for signals)."""
        s = self.session
        sender = event.get("from") or event.get("sender")
        return s is not None and not s.ended and sender == s.peer and event.get("room_code") in (None, s.room)

    @staticmethod
    def tag_of(event: dict[str, Any]) -> str:
        if event.get("event") == "chat":
            return str(event.get("message", ""))
        data = event.get("data")
        if not isinstance(data, dict):
            return ""
        if event.get("type") == "candidates":  # a batch has no room for a field of ours but the ufrag
            return str(data["candidates"][0].get("usernameFragment", "")) if data.get("candidates") else ""
        return str(data.get("tag", ""))

    def relayed(self, event: dict[str, Any], tag: str) -> bool:
        """Record a relayed payload; False if it does not belong to our current session."""
        s = self.session
        sender = event.get("from") or event.get("sender")
        self.run.ledger.received[(tag, self.name)] += 1
        if s is None or sender != s.peer or (event.get("room_code") not in (None, s.room)):
            self.run.error(self.name, f"relayed frame from outside our session: {event}")
            return False
        return True

    async def progress(self) -> None:
        """Send what the session allows now; end it when everything has arrived."""
        s = self.session
        p = self.run.plan
        if s is None or not s.joined or s.ended:
            return
        if not s.sent and (s.initiator or s.got["sdp"]):
            s.sent = True
            await self.describe("offer" if s.initiator else "answer")
            for i in range(p.chats):
                await self.send({"action": "chat", "room_code": s.room, "message": self.tag(f"chat{i}")})
        everything = s.got["sdp"] == 1 and s.got["candidate"] == p.candidates and s.got["chat"] == p.chats
        if not (s.sent and everything):
            return
        if not s.initiator and not s.done_sent:
            s.done_sent = True
            await self.send({"action": "chat", "room_code": s.room, "message": self.tag("done")})
        elif s.initiator and s.got["done"] == 1:
            s.ended = True
            if self.skips_left:
                self.skips_left -= 1
                await self.seek("next")
            else:
                await self.finish()

    async def describe(self, kind: str) -> None:
        """Our offer or answer and our candidates, as the plan's client sends them."""
        s, p = self.session, self.run.plan
        assert s is not None
        lines = [f"candidate:{i} 1 udp 2122260223 192.0.2.{i} 5440{i} typ host" for i in range(p.candidates)]
        late = lines if p.client == "legacy" else lines[len(lines) - min(p.late_candidates, len(lines)):]
        sdp = OFFER_SDP + "".join(f"a={line}\r\n" for line in lines[: len(lines) - len(late)])
        await self.send({"action": "signal", "room_code": s.room, "type": kind,
                         "data": {"type": kind, "sdp": sdp, "tag": self.tag(kind)}})
        if p.client == "legacy":
            for i, line in enumerate(late):
                await self.send({"action": "signal", "room_code": s.room, "type": "candidate",
                                 "data": {"candidate": line, "sdpMid": "0", "tag": self.tag(f"candidate{i}")}})
        elif late:
            tag = self.tag("candidates")
            await self.send({"action": "signal", "room_code": s.room, "type": "candidates", "data": {
                "candidates": [{"candidate": line, "sdpMid": "0", "usernameFragment": tag} for line in late],
                "end": True}})

    async def finish(self) -> None:
        self.done = True
        if self.ws is not None:
            await self.ws.close()

    async def leave_alone(self) -> None:
        """Nobody is left to match us: leave the queue (expects ``left``) and close."""
        if self.leaving:
            return
        self.leaving = True
        self.run.leftover_waiters += 1
        await self.send({"action": "leave"})


async def _watch_waiters(run: Run) -> None:
    """Release a user left waiting alone: a skipper leaves; a newcomer gets one extra partner."""
    while True:
        await asyncio.sleep(0.05)
        for user in run.waiting_alone():
            if user.matched:
                await user.leave_alone()
            elif not user.helped:
                user.helped = True
                helper = User(run, len(run.users), helper=True)
                run.users.append(helper)
                run.helpers.append(asyncio.create_task(helper.main(time.perf_counter())))


async def warm_up(url: str) -> None:
    """Two users through one whole session, unmeasured: the gateway's first Management API post
    opens its connection and derives the signing key (a cold start), which the measured run should not pay."""
    plan = Plan(users=2, skip_fraction=0.0, timeout_s=30)
    run, _ = await drive(url, plan, Quiet())
    if run.errors:
        raise RuntimeError(f"warm-up failed: {run.errors[:3]}")


async def drive(url: str, plan: Plan, progress: Progress) -> tuple[Run, float]:
    with task(progress, f"load: {plan.users} users, {plan.arrival}", plan.users) as bar:
        run = Run(url, plan, progress, bar)
        run.users = [User(run, i) for i in range(plan.users)]
        start = time.perf_counter()
        spacing = 0.0 if plan.arrival == "burst" else 1.0 / plan.rate
        tasks = [asyncio.create_task(u.main(start + i * spacing)) for i, u in enumerate(run.users)]
        watcher = asyncio.create_task(_watch_waiters(run))

        async def arrivals() -> None:
            await asyncio.sleep(max(0.0, start + plan.users * spacing - time.perf_counter()))
            run.arrivals_done = True

        arriving = asyncio.create_task(arrivals())
        _done, pending = await asyncio.wait(tasks, timeout=plan.timeout_s)
        if run.helpers:
            _, late = await asyncio.wait(run.helpers, timeout=max(5.0, plan.timeout_s - (time.perf_counter() - start)))
            pending |= late
        elapsed = time.perf_counter() - start
        for t in pending:
            t.cancel()
        if pending:
            run.error("run", f"{len(pending)} users had not finished after {plan.timeout_s:g} s")
            await asyncio.wait(pending, timeout=5)
        watcher.cancel()
        arriving.cancel()
    return run, elapsed


def redis_leftovers(url: str, prefix: str = "rvc", timeout: float = 30.0) -> dict[str, Any]:
    """Wait for the last $disconnects, then report every key left and how many entries it holds."""
    client = redis.Redis.from_url(url, decode_responses=True)
    tag = "{" + prefix + "}"
    deadline = time.monotonic() + timeout
    waited_start = time.monotonic()
    while time.monotonic() < deadline:
        if not any(client.exists(f"{tag}:{k}") for k in PER_USER_KEYS):
            break
        time.sleep(0.05)
    drain_s = time.monotonic() - waited_start
    keys: dict[str, int] = {}
    ttl_s: dict[str, float] = {}
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        size = {"hash": client.hlen, "zset": client.zcard, "set": client.scard, "list": client.llen}.get(
            kind, lambda _k: 1)(key)
        keys[key] = size
        ttl_s[key] = round(client.pttl(key) / 1000, 1)
    now_ms = int(time.time() * 1000)
    live_recent = client.zcount(f"{tag}:recent", now_ms, "+inf") if f"{tag}:recent" in keys else 0
    # In a room's own slot: the frames relayed there (kept for de-duplication) and, once the room
    # ended, its closed view; an open view left behind is a room nobody closed.
    room_tag = "{" + prefix + ":r:"
    closed = {key for key in keys if key.startswith(room_tag) and key.endswith("}:view") and client.hget(key, "closed")}
    client.close()

    def allowed(key: str) -> bool:
        if key.startswith(room_tag):
            return key in closed or ":m:" in key
        name = key.removeprefix(tag + ":")
        return name in ALLOWED_LEFTOVER or name.startswith(ALLOWED_PREFIXES) or (name == "recent" and not live_recent)

    unexpected = {k: v for k, v in keys.items() if not allowed(k)}
    return {"keys": keys, "ttl_s": ttl_s, "unexpected": unexpected, "clean": not unexpected,
            "drain_s": round(drain_s, 3)}


def gateway_errors(log: str) -> list[str]:
    """Handler crashes and gateway failures from the gateway's own log."""
    bad = re.compile(r"\braised:|Traceback|gateway task failed|  error  |  500  |over its .* timeout")
    return [line for line in log.splitlines() if bad.search(line)][:20]


def _stat(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def cpu_seconds(pid: int | None = None, children: bool = False) -> float:
    """User + system CPU time of a process (this one by default), or of its live child processes."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    tick = os.sysconf("SC_CLK_TCK")
    if not children:
        fields = _stat(pid)
        return (int(fields[11]) + int(fields[12])) / tick if fields else float("nan")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields and int(fields[1]) == pid:
                total += (int(fields[11]) + int(fields[12])) / tick
    return total


def listen_overflows() -> int:
    """The kernel's count of connections dropped because an accept queue was full (all sockets)."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return -1
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            return int(table.get("ListenOverflows", -1))
    return -1


def run(redis_url: str, plan: Plan, gateway_args: list[str] | None = None, progress: Progress | None = None,
        profile: Path | None = None, redis_pid: int | None = None) -> dict[str, Any]:
    """One load run against a fresh gateway on ``redis_url`` (flushed first)."""
    progress = progress or Quiet()
    raise_fd_limit(2 * plan.users + 1024)
    admin = redis.Redis.from_url(redis_url)
    admin.flushall()
    admin.close()
    with GatewayProcess(redis_url, gateway_args) as gateway:
        asyncio.run(warm_up(gateway.url))
        spy = _start_profiler(gateway.pid, profile) if profile else None
        def cpu() -> tuple[float, ...]:
            return (cpu_seconds(gateway.pid), cpu_seconds(gateway.pid, children=True), cpu_seconds(),
                    cpu_seconds(redis_pid) if redis_pid else 0.0)

        before, overflows = cpu(), listen_overflows()
        result, elapsed = asyncio.run(drive(gateway.url, plan, progress))
        after, overflows = cpu(), listen_overflows() - overflows
        if spy is not None:
            _stop_profiler(spy)
        leftovers = redis_leftovers(redis_url)
        log_errors = gateway_errors(gateway.output())
    summary = summarize(plan, result, elapsed, leftovers, log_errors)
    summary["cpu_s"] = {name: round(b - a, 2) for name, a, b in zip(
        ("gateway", "gateway_workers", "load_generator", "valkey"), before, after, strict=True)}
    summary["gateway_args"] = gateway_args or []
    summary["listen_overflows"] = overflows  # machine-wide: other programs' sockets count too
    return summary


def summarize(plan: Plan, r: Run, elapsed: float, leftovers: dict[str, Any], log_errors: list[str]) -> dict[str, Any]:
    matched_users = sum(1 for u in r.users if u.matched and not u.helper)
    inbound = sum(r.sent.values())
    outbound = sum(r.received.values())
    invocations = r.connects + inbound + r.connects  # $connect, each message, $disconnect
    matches = r.received["matched"] // 2
    # From register to media flowing: the seeks, join and verified (legacy), and every signal
    # both ways. The rest is the conversation (chat) and its end (leave, left, peer-disconnected).
    setup_in = sum(r.sent[a] for a in ("register", "next", "join", "signal"))
    setup_out = sum(r.received[e] for e in ("queued", "matched", "verified", "signal"))
    ledger = r.ledger.check()
    unclaimed = sum(len(u.early) for u in r.users)
    errors = r.errors + [f"gateway: {line}" for line in log_errors] + [
        f"{unclaimed} relayed frames arrived for no session of the recipient" for _ in [0] if unclaimed] + [
        f"server error event x{r.received['error']}" for _ in [0] if r.received["error"]]
    return {
        "plan": plan.__dict__,
        "elapsed_s": round(elapsed, 3),
        "users": plan.users,
        "matched_users": matched_users,
        "matched_pct": round(100 * matched_users / plan.users, 2) if plan.users else 0,
        "matches": matches,
        "skips": r.sent["next"],
        "leftover_waiters": r.leftover_waiters,
        "early_frames": r.early_frames,
        "unclaimed_early_frames": sum(len(u.early) for u in r.users),
        "helpers": sum(1 for u in r.users if u.helper),
        "match_latency_ms": summary_ms(r.match_ms),
        "rematch_latency_ms": summary_ms(r.rematch_ms),
        "connect_latency_ms": summary_ms(r.connect_ms),
        "client_messages": inbound,
        "server_messages": outbound,
        "invocations": invocations,
        "actions_per_s": round(inbound / elapsed, 1) if elapsed else 0,
        "invocations_per_s": round(invocations / elapsed, 1) if elapsed else 0,
        "server_messages_per_s": round(outbound / elapsed, 1) if elapsed else 0,
        "sent_by_action": dict(r.sent),
        "received_by_event": dict(r.received),
        "ledger": ledger,
        "errors": len(errors),
        "error_samples": errors[:20],
        "redis_after": leftovers,
        "per_match": {
            "client_messages": round(inbound / matches, 3) if matches else None,
            "server_messages": round(outbound / matches, 3) if matches else None,
            "invocations": round(invocations / matches, 3) if matches else None,
            "connections": round(r.connects / matches, 3) if matches else None,
            "setup_client_messages": round(setup_in / matches, 3) if matches else None,
            "setup_server_messages": round(setup_out / matches, 3) if matches else None,
        },
    }


def _start_profiler(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy samples the gateway and its worker processes (threads holding a GIL) during the run."""
    out.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(pid), "--subprocesses", "--gil",
         "--rate", "200",
         "--format", "raw", "--output", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def _stop_profiler(spy: subprocess.Popen[bytes]) -> None:
    spy.send_signal(signal.SIGINT)
    try:
        spy.wait(timeout=30)
    except subprocess.TimeoutExpired:
        spy.kill()
