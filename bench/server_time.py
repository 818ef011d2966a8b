"""Redis server time per action, the previous design beside this one, against one real Valkey.

    python -m bench.server_time                 # 2,000 and 20,000 connections, 5,000 waiters
    python -m bench.server_time --quick         # small sizes
    python -m bench.server_time --before <rev>  # compare with another revision
    python -m bench.server_time --split         # where one relay's server time goes; the policy's cost

Each design runs in its own interpreter, importing ``chalicelib`` and ``testkit`` from its own
tree (this checkout, or ``git archive <rev>``), against the same Valkey, which is flushed
between designs; the designs alternate per population so that both see the same machine load.
Server time is ``INFO commandstats``: the ``usec`` of EVALSHA (the scripts) over its calls,
around each timed action, so it excludes the network and the handler's own work.

The scenarios are the issue's (docs/decisions/0003-lobby-and-shards.md):

* ``register (matched)``, ``signal``, ``chat`` with half the connections in rooms, half idle;
* ``register behind N waiters``: N waiters each with an interest of its own, then a newcomer
  sharing the interest of the newest of them; whether it is matched, and its time;
* ``sweep pass, N waiters``: one pass with N such waiters, none of them due, then one a fallback
  later, when all of them are due at once;
* ``stats, M matches``: ``GET /stats`` after M matches within the minute.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import PROJECT_DIR, design_tree, run_in_tree

BEFORE_REV = "04c4c93"  # main before the lobby index, the due list and O(1) /stats (issue 15)


def _service(url: str) -> tuple[Any, Any, Any]:
    """A flushed Valkey, and the service (whichever tree's) on it with a recording sender."""
    import os

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    import redis

    from chalicelib.config import load_settings
    from chalicelib.service import build
    from testkit.harness import RecordingSender
    from testkit.policies import RELAXED_NO_METRICS

    admin = redis.Redis.from_url(url, decode_responses=True)
    admin.flushall()
    sender = RecordingSender()
    settings = load_settings({"REDIS_URL": url, "AWS_DEFAULT_REGION": "us-east-1", **RELAXED_NO_METRICS})
    return admin, build(settings, sender=sender), sender


def worker(url: str, connections: int, waiters: int, matches: int, iterations: int) -> dict[str, Any]:
    """Runs inside the design's own interpreter (its tree first on sys.path)."""
    from chalicelib import entry, sweep
    from testkit.events import connect_event, disconnect_event, message_event, new_connection_id

    admin, service, sender = _service(url)
    service.store.load_scripts()

    def connect() -> str:
        cid = new_connection_id()
        entry.on_connect(connect_event(cid), service)
        return cid

    def send(cid: str, body: dict[str, Any]) -> None:
        entry.on_message(message_event(cid, body), service)

    def last(cid: str) -> dict[str, Any]:
        return sender.received(cid)[-1]

    def usec() -> tuple[float, int]:
        stat = admin.info("commandstats").get("cmdstat_evalsha", {})
        return float(stat.get("usec", 0)), int(stat.get("calls", 0))

    def timed(action: Any) -> tuple[float, int]:
        before = usec()
        action()
        after = usec()
        return after[0] - before[0], after[1] - before[1]

    def pair() -> tuple[str, str, str]:
        a, b = connect(), connect()
        send(a, {"action": "register"})
        send(b, {"action": "register"})
        room = last(b)["room_code"]
        send(a, {"action": "join", "room_code": room})
        send(b, {"action": "join", "room_code": room})
        return a, b, room

    out: dict[str, Any] = {}
    # -- a population: half in rooms, half idle --------------------------------------------------
    for _ in range(connections // 4):
        pair()
    for _ in range(connections // 2):
        connect()
    register_us, signal_us, chat_us, connect_us, ping_us, disconnect_us = [], [], [], [], [], []
    for _ in range(iterations):
        made: list[str] = []
        connect_us.append(timed(lambda made=made: made.append(connect()))[0])
        a, b = made[0], connect()
        ping_us.append(timed(lambda a=a: send(a, {"action": "ping"}))[0])
        send(a, {"action": "register"})
        register_us.append(timed(lambda b=b: send(b, {"action": "register"}))[0])
        room = last(b)["room_code"]
        send(a, {"action": "join", "room_code": room})
        send(b, {"action": "join", "room_code": room})
        signal = {"action": "signal", "room_code": room, "type": "candidate",
                  "data": {"candidate": "candidate:1 1 udp 2122260223 192.0.2.10 54400 typ host", "sdpMid": "0",
                           "sdpMLineIndex": 0}}
        signal_us.append(timed(lambda a=a, signal=signal: send(a, signal))[0])
        chat_us.append(timed(lambda b=b, room=room: send(b, {"action": "chat", "room_code": room,
                                                               "message": "hello"}))[0])
        disconnect_us.append(timed(lambda a=a: entry.on_disconnect(disconnect_event(a), service))[0])
        entry.on_disconnect(disconnect_event(b), service)
    out["population"] = {"$connect": _mean(connect_us), "ping": _mean(ping_us),
                         "register (matched)": _mean(register_us), "signal (candidate)": _mean(signal_us),
                         "chat": _mean(chat_us), "$disconnect (in room)": _mean(disconnect_us)}
    # -- a long queue of waiters who share nothing -----------------------------------------------
    admin.flushall()
    service.store.load_scripts()
    for i in range(waiters):
        send(connect(), {"action": "register", "interests": [f"topic-{i}"]})
    newcomer = connect()
    spent, _ = timed(lambda: send(newcomer, {"action": "register", "interests": [f"topic-{waiters - 1}"]}))
    out["behind"] = {"us": spent, "matched": last(newcomer)["event"] == "matched"}
    # One pass of the sweep script, as sweep.run makes them (SWEEP_BATCH, 16 room codes).
    batch, now = service.settings.sweep_batch, service.store.clock()
    spent, calls = timed(lambda: service.store.sweep(now, batch, sweep.PAIRS_PER_PASS))
    out["sweep"] = {"us": spent, "calls": calls}
    # The same queue a fallback later, when every waiter takes anyone: the pass pairs as many as
    # its fresh room codes allow (16), out of all those who fell due at once.
    later = now + int(service.settings.interest_fallback_seconds * 1000) + 1
    spent, calls = timed(lambda: service.store.sweep(later, batch, sweep.PAIRS_PER_PASS))
    out["sweep_due"] = {"us": spent, "calls": calls}
    # -- matches within the minute, then /stats -------------------------------------------------
    admin.flushall()
    service.store.load_scripts()
    for _ in range(matches):
        a, b = connect(), connect()
        send(a, {"action": "register"})
        send(b, {"action": "register"})
    spent, calls = timed(lambda: entry.stats(service))
    out["stats"] = {"us": spent, "calls": calls}
    return out


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _run(tree: Path, url: str, args: argparse.Namespace) -> dict[str, Any]:
    return run_in_tree(tree, "bench.server_time",  # type: ignore[no-any-return]
                       f"worker({url!r}, {args.connections}, {args.waiters}, {args.matches}, {args.iterations})")


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from localdev.redis_server import RedisServer

    results: dict[str, Any] = {"before_rev": args.before, "connections": args.connections, "waiters": args.waiters,
                               "matches": args.matches}
    with tempfile.TemporaryDirectory() as tmp, RedisServer() as server:
        designs = {"before": design_tree(args.before, Path(tmp)), "after": PROJECT_DIR}
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in designs}
        for _ in range(args.rounds):  # alternating, so that both see the same machine load
            for name, tree in designs.items():
                if tree:
                    runs[name].append(_run(tree, server.url, args))
        for name, figures in runs.items():
            results[name] = _least(figures) if figures else None
    return results


def _least(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure's smallest value over the rounds: noise from other work only ever adds time."""
    first = runs[0]
    return {section: {key: (min(run[section][key] for run in runs) if isinstance(value, float) else value)
                      for key, value in figures.items()}
            for section, figures in first.items()}


def table(results: dict[str, Any]) -> str:
    def cell(design: str, section: str, key: str) -> str:
        figures = results.get(design)
        if not figures:
            return "n/a"
        value = figures[section][key]
        return f"{value:.0f} µs" if isinstance(value, float) else str(value)

    rows = [(f"{action}, {results['connections']:,} connections", "population", action)
            for action in ("$connect", "ping", "register (matched)", "signal (candidate)", "chat",
                           "$disconnect (in room)")]
    rows += [
        (f"register behind {results['waiters']:,} waiters: server time", "behind", "us"),
        (f"register behind {results['waiters']:,} waiters: matched?", "behind", "matched"),
        (f"sweep pass, {results['waiters']:,} waiters, none due", "sweep", "us"),
        (f"sweep pass, {results['waiters']:,} waiters, all due at once (16 pairs)", "sweep_due", "us"),
        (f"GET /stats after {results['matches']:,} matches", "stats", "us"),
    ]
    lines = [f"| Redis server time | before ({results['before_rev']}) | after |", "|---|---:|---:|"]
    lines += [f"| {label} | {cell('before', s, k)} | {cell('after', s, k)} |" for label, s, k in rows]
    return "\n".join(lines)


def split(url: str, calls: int = 2000) -> list[tuple[str, float]]:
    """Where one relay's server time goes: ``room_relay.lua`` (a relay's path, decision 0004)
    cut after each Redis command it makes, each variant timed on its own over ``calls`` calls,
    after an empty script with the same keys and arguments: the floor any script pays (this
    design only)."""
    import secrets

    from chalicelib import entry, scripts
    from testkit.events import connect_event, message_event, new_connection_id

    admin, service, sender = _service(url)
    a, b = new_connection_id(), new_connection_id()
    for cid in (a, b):
        entry.on_connect(connect_event(cid), service)
        entry.on_message(message_event(cid, {"action": "register"}), service)
    room = sender.received(b)[-1]["room_code"]
    for cid in (a, b):  # seated and joined: the view answers every relay
        entry.on_message(message_event(cid, {"action": "join", "room_code": room}), service)
    whole = scripts.SLOT_SCRIPTS["room_relay"].source
    answer = "\nreturn {'ok', '{}'}"

    def upto(marker: str) -> str:
        return whole[:whole.index(marker)] + answer

    variants = [
        ("an empty script with the relay's keys and arguments", whole[:whole.index("local now")] + answer),
        ("+ HMGET of the view", upto("local seen")),
        ("+ GET of the frame's record (replay, duplicate)", upto("local fence")),
        ("+ TIME (the fence)", upto("local function record")),
        ("+ HSET of the seat's rate bucket", upto("if wait > 0")),
        ("the whole relay script (+ PSETEX of the frame's record)", whole),
    ]
    store, spec, out = service.store, service.store.policy.rates["chat"], []
    for label, source in variants:
        sha = admin.script_load(source)

        def call(sha: str = sha) -> None:
            frame = secrets.token_hex(8)
            argv = [store.clock(), store.wall() + 60_000, a, "chat", "chat", frame, spec[0], spec[1], 60_000]
            admin.evalsha(sha, 2, store.keys.view(room), store.keys.relayed(room, "c:" + frame), *argv)

        for _ in range(calls // 10):
            call()
        admin.config_resetstat()
        for _ in range(calls):
            call()
        stat = admin.info("commandstats")["cmdstat_evalsha"]
        out.append((label, stat["usec"] / stat["calls"]))
    return out


def policy_cost(url: str, calls: int = 3000, rounds: int = 5) -> list[tuple[str, float]]:
    """What reading the policy costs a lobby script: decoded from the JSON each call used to send,
    or compiled into the script's text (``scripts.Constants``), beside a script with none; the
    three alternate, and each figure is the least of ``rounds`` (this design only)."""
    from chalicelib import scripts

    admin, service, _ = _service(url)
    store = service.store
    keys, policy = store.keys.script_keys(store.clock(), "bench"), store.policy.to_json()
    literal = scripts.Constants(store.idle_ms, store.cap_ms, store.dedup_ms, policy).locals()
    variants = [
        ("the policy decoded from JSON, sent with the call (before)", "local P = cjson.decode(ARGV[4])\nreturn P.scan",
         [1, 2, "", policy]),
        ("the policy compiled into the script's text (now)", f"{literal}\nreturn P.scan", [1, 2, ""]),
        ("no policy at all", "return 32", [1, 2, ""]),
    ]
    shas = [admin.script_load(source) for _, source, _ in variants]
    least = [float("inf")] * len(variants)
    for _ in range(rounds):
        for i, (_, _, args) in enumerate(variants):
            admin.config_resetstat()
            for _ in range(calls):
                admin.evalsha(shas[i], len(keys), *keys, *args)
            least[i] = min(least[i], admin.info("commandstats")["cmdstat_evalsha"]["usec_per_call"])
    return [(label, spent) for (label, _, _), spent in zip(variants, least, strict=True)]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.server_time", description=__doc__.split("\n\n")[0])
    p.add_argument("--before", default=BEFORE_REV, help=f"revision of the previous design (default {BEFORE_REV})")
    p.add_argument("--connections", type=int, nargs="*", default=None,
                   help="connection populations (default 2000 20000)")
    p.add_argument("--waiters", type=int, default=5000)
    p.add_argument("--matches", type=int, default=3000)
    p.add_argument("--iterations", type=int, default=200)
    p.add_argument("--rounds", type=int, default=2, help="runs of each design, alternating (default 2)")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--split", action="store_true",
                   help="only where one relay's server time goes, and what reading the policy costs (this design)")
    args = p.parse_args(argv)
    if args.split:
        from localdev.redis_server import RedisServer

        with RedisServer() as server:
            print("| one `chat`, the relay script cut after each command | server time |\n|---|---:|")
            for label, spent in split(server.url):
                print(f"| {label} | {spent:.0f} µs |")
            print("\n| a lobby script's 31 keys, reading the policy | server time |\n|---|---:|")
            for label, spent in policy_cost(server.url):
                print(f"| {label} | {spent:.0f} µs |")
        return
    populations = args.connections or ([200] if args.quick else [2000, 20000])
    if args.quick:
        args.waiters, args.matches, args.iterations, args.rounds = 300, 100, 20, 1
    for connections in populations:
        args.connections = connections
        print(f"measuring {connections:,} connections, {args.waiters:,} waiters, {args.matches:,} matches...",
              file=sys.stderr, flush=True)
        print(table(measure(args)), flush=True)


if __name__ == "__main__":
    main()
