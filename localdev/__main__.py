"""``python -m localdev`` (``make dev``): the whole platform on one port, with an embedded Redis
and, with ``--turn auto`` (which ``make dev`` passes), a coturn relay when coturn is installed.

Every option can also be set in the environment as ``LOCALDEV_<OPTION>`` (``LOCALDEV_PORT=9000``);
the command line wins. ``REDIS_URL`` in the environment skips the embedded server.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import dataclasses
import logging
import os
import secrets
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from localdev.app_loader import LoadError
from localdev.eventlog import configure_logging
from localdev.redis_server import RedisServer
from localdev.server import Gateway, bind
from localdev.settings import AWS_IDLE_TIMEOUT_S, AWS_MAX_CONNECTION_S, AWS_MAX_MESSAGE_BYTES, Settings
from localdev.turn import TurnServer, find_coturn, new_secret

log = logging.getLogger("localdev")
_PROJECT_DIR = Path(__file__).resolve().parent.parent
# boto3 signs every request, even to loopback, so it needs some credentials and a region.
_PR_SET_PDEATHSIG = 1
_AWS_DEFAULTS = {"AWS_ACCESS_KEY_ID": "localdev", "AWS_SECRET_ACCESS_KEY": "localdev"}
# Any of these in the environment means the developer brought a relay of their own.
_TURN_VARIABLES = ("TURN_URLS", "TURN_SECRET", "TURN_SECRET_ARN")


@dataclasses.dataclass(frozen=True)
class TurnChoice:
    """What ``--turn`` asked for, kept beside Settings because only this module starts coturn."""

    mode: str = "off"  # "auto": start coturn when it is installed; "off": never
    binary: str | None = None
    port: int = 0


def _env(name: str, default: Any, kind: Callable[[str], Any] = str) -> Any:
    raw = os.environ.get(f"LOCALDEV_{name.upper().replace('-', '_')}")
    return default if raw is None or raw == "" else kind(raw)


def _flag(text: str) -> bool:
    return text.lower() in ("1", "true", "yes", "on")


def parse_args(argv: list[str] | None = None) -> tuple[Settings, TurnChoice]:
    p = argparse.ArgumentParser(
        prog="python -m localdev",
        description="Local API Gateway for the Chalice app: WebSockets, Management API, REST and schedules.",
    )
    p.add_argument("--host", default=_env("host", "127.0.0.1"), help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=_env("port", 8000, int), help="port; 0 picks a free one (default 8000)")
    p.add_argument("--app-dir", type=Path, default=_env("app_dir", _PROJECT_DIR, Path),
                   help="directory holding app.py and .chalice/ (default: the project)")
    p.add_argument("--stage", default=_env("stage", "dev"), help="Chalice stage for .chalice/config.json (default dev)")
    p.add_argument("--api-stage", default=_env("api_stage", None),
                   help="API Gateway stage in the Management API path (default: config's api_gateway_stage, else api)")
    p.add_argument("--ws-path", default=_env("ws_path", "/ws"), help="WebSocket path (default /ws)")
    p.add_argument("--region", default=_env("region", os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"))
    p.add_argument("--workers", type=int, default=_env("workers", 16, int),
                   help="concurrent handler invocations, like concurrent Lambdas (default 16)")
    p.add_argument("--processes", type=int, default=_env("processes", 0, int),
                   help="run WebSocket and schedule handlers in N worker processes, each importing the app "
                        "once, like N warm Lambda containers (default 0: threads in this process)")
    p.add_argument("--per-connection", type=int, default=_env("per_connection", 4, int),
                   help="invocations of one connection that may run at once; the rest wait in its own queue, "
                        "served round-robin with other connections' (default 4)")
    p.add_argument("--serial", action="store_true", default=_env("serial", False, _flag),
                   help="run one connection's messages one at a time (AWS does not; default off)")
    p.add_argument("--max-message-bytes", type=int, default=_env("max_message_bytes", AWS_MAX_MESSAGE_BYTES, int),
                   help="largest message; bigger ones close the socket with 1009 (default 131072)")
    p.add_argument("--idle-timeout", type=float, default=_env("idle_timeout", AWS_IDLE_TIMEOUT_S, float),
                   help="seconds without a client message before closing with 1001 (default 600)")
    p.add_argument("--max-connection-seconds", type=float,
                   default=_env("max_connection_seconds", AWS_MAX_CONNECTION_S, float),
                   help="hard cap on a connection's life, closed with 1001 (default 7200)")
    p.add_argument("--disconnect-loss", type=float, default=_env("disconnect_loss", 0.0, float),
                   help="fraction (0-1) of $disconnect events to drop, as AWS may (default 0)")
    p.add_argument("--schedule-interval", type=float, default=_env("schedule_interval", None, float),
                   help="run every schedule each SECONDS instead of on its rate()/cron()")
    p.add_argument("--no-schedules", action="store_true", default=_env("no_schedules", False, _flag),
                   help="never run @app.schedule functions")
    p.add_argument("--no-reload", action="store_true", default=_env("no_reload", False, _flag),
                   help="do not re-import the app when app.py or chalicelib/ change")
    p.add_argument("-q", "--quiet", action="store_true", default=_env("quiet", False, _flag),
                   help="no per-event log lines; errors and the app's own logs still print")
    p.add_argument("--turn", choices=("auto", "off"), default=_env("turn", "off"),
                   help="auto: run coturn beside the gateway when it is installed, with a per-run secret "
                        "shared with the app (make dev passes auto; default off)")
    p.add_argument("--turnserver", default=_env("turnserver", None),
                   help="coturn's turnserver binary, if not on PATH (implies --turn auto)")
    p.add_argument("--turn-port", type=int, default=_env("turn_port", 0, int),
                   help="coturn's UDP and TCP port (default 0: a free one)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    a = p.parse_args(argv)
    if a.processes < 0:
        p.error("--processes must be 0 or more")
    if a.workers < 1:
        p.error("--workers must be 1 or more")
    if a.per_connection < 1:
        p.error("--per-connection must be 1 or more")
    configure_logging(a.verbose, events=not a.quiet)
    turn = TurnChoice(mode="auto" if a.turnserver else a.turn, binary=a.turnserver, port=a.turn_port)
    return Settings(
        app_dir=a.app_dir.resolve(), host=a.host, port=a.port, chalice_stage=a.stage, api_stage=a.api_stage,
        ws_path="/" + a.ws_path.lstrip("/"), region=a.region, workers=a.workers, processes=a.processes,
        per_connection=a.per_connection, serial_per_connection=a.serial,
        max_message_bytes=a.max_message_bytes, idle_timeout_s=a.idle_timeout,
        max_connection_s=a.max_connection_seconds, disconnect_loss=a.disconnect_loss,
        schedule_interval_s=a.schedule_interval, schedules=not a.no_schedules, reload=not a.no_reload, quiet=a.quiet,
    ), turn


_generated_identity_secret = False  # set when this run made IDENTITY_SECRET itself


def _identity_line() -> str:
    if os.environ.get("IDENTITY_SECRET_ARN"):
        return "signed with the secret in IDENTITY_SECRET_ARN"
    if not os.environ.get("IDENTITY_SECRET"):
        return "off (IDENTITY_SECRET is empty): each connection is its own device"
    if _generated_identity_secret:
        return "signed with a secret made for this run (set IDENTITY_SECRET to keep them across runs)"
    return "signed with IDENTITY_SECRET from the environment"


def _banner(gw: Gateway, redis_url: str, embedded: bool, turn_line: str) -> str:
    s, app = gw.settings, gw.loaded
    rest = f"http://{s.origin}/" + ("" if app.has_rest_routes else "   (the app has no REST routes yet)")
    schedules = ", ".join(f"{x.function.handler_string} {x.expression}" for x in app.schedules) or "none"
    if app.schedules and s.schedule_interval_s is not None:
        schedules += f"  -> every {s.schedule_interval_s:g} s (--schedule-interval)"
    functions = {f.name: f for f in [*app.websocket.values(), *(x.function for x in app.schedules)]}
    prefix = f"{app.app_name}-{s.chalice_stage}-"
    limits = ", ".join(f"{f.name.removeprefix(prefix)} {f.timeout_s} s {f.memory_mb} MB" for f in functions.values())
    lines = [
        f"Local API Gateway for Chalice app {app.app_name!r} (stage {s.chalice_stage}, API stage {app.api_stage})",
        f"  WebSocket       {s.websocket_url()}",
        f"  Page and REST   {rest}",
        f"  Management API  {s.management_url(app.api_stage)}/@connections/{{connectionId}}",
        f"  Redis           {redis_url}" + ("  (embedded Valkey, discarded on exit)" if embedded else ""),
        f"  TURN relay      {turn_line}",
        f"  Identities      {_identity_line()}",
        f"  Schedules       {schedules}",
        # Each function's own limits from .chalice/config.json: a run past its timeout is reported.
        f"  Lambda limits   {limits or 'none'}",
        "Next: open the page in two browser windows, or talk to the socket from a terminal:",
        f"  {sys.executable} -m websockets {s.websocket_url()}",
        '  then type {"action": "ping"}.  Edits to app.py and chalicelib/ reload the app.  Ctrl-C stops everything.',
    ]
    if app.unsupported:
        lines.append("Not run locally (no local event source): " + ", ".join(app.unsupported))
    return "\n".join(lines)


async def serve(
    settings: Settings, sock: Any, redis_url: str, embedded: bool, turn_env: dict[str, str], turn_line: str
) -> int:
    def environment(stage: str) -> dict[str, str]:
        return {
            "REDIS_URL": redis_url,
            "MANAGEMENT_API_URL": settings.management_url(stage),
            "WEBSOCKET_URL": settings.websocket_url(),
            **turn_env,
        }

    gw = Gateway(settings, environment)
    try:
        await gw.start(sock)
    except LoadError as exc:
        log.error("Cannot start: %s", exc)
        return 1
    print(_banner(gw, redis_url, embedded, turn_line), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.remove_signal_handler(sig)  # a second Ctrl-C interrupts a slow shutdown
    print("\nStopping: closing WebSockets (1001 Going away) and running $disconnect...", flush=True)
    await gw.stop()
    return 0


def _stop_when_make_dies() -> None:
    """Under ``make dev``, exit when make does, even if only make got the signal (an IDE's stop
    button, ``timeout make dev``); an orphaned gateway would keep the port and Valkey alive.
    Not done for other parents, so ``nohup python -m localdev &`` keeps running."""
    parent = os.getppid()
    try:
        name = Path(f"/proc/{parent}/comm").read_text().strip()
        if name in ("make", "gmake"):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
            if os.getppid() != parent:  # make died before prctl took effect
                os.kill(os.getpid(), signal.SIGTERM)
    except OSError:
        pass  # not Linux


def start_turn(choice: TurnChoice, host: str) -> tuple[TurnServer | None, dict[str, str], str]:
    """coturn for this run, the app settings that point at it, and the banner's line about it.

    A missing coturn is one line, never a failure: most local calls connect without a relay.
    """
    if choice.mode == "off":
        return None, {}, "off (make dev, or --turn auto, runs coturn when it is installed)"
    brought = [name for name in _TURN_VARIABLES if os.environ.get(name)]
    if brought:
        return None, {}, f"yours ({', '.join(brought)} from the environment); no local coturn started"
    if find_coturn(choice.binary) is None:
        return None, {}, ("none: coturn is not installed (apt-get install coturn); "
                          "calls that need a relay will show 'video link failed'")
    secret = new_secret()
    try:
        turn = TurnServer([secret], host=host, port=choice.port or None, binary=choice.binary, own_session=True)
        turn.start()
    except (OSError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None, {}, f"none: coturn did not start ({first})"
    env = {"TURN_URLS": ",".join(turn.urls), "TURN_SECRET": secret}
    return turn, env, f"{turn.urls[0]}  (coturn, --use-auth-secret, a secret made for this run)"


def main(argv: list[str] | None = None) -> int:
    settings, turn_choice = parse_args(argv)
    _stop_when_make_dies()
    try:
        sock = bind(settings.host, settings.port)
    except OSError as exc:
        print(f"Cannot listen on {settings.host}:{settings.port}: {exc.strerror}. "
              "Is another `make dev` running? Use --port or LOCALDEV_PORT.", file=sys.stderr)
        return 1
    settings = dataclasses.replace(settings, port=sock.getsockname()[1])
    for name, value in {**_AWS_DEFAULTS, "AWS_DEFAULT_REGION": settings.region, "AWS_REGION": settings.region}.items():
        os.environ.setdefault(name, value)
    # Device identities are signed with a secret made for this run (chalicelib/identity.py),
    # unless one is given (IDENTITY_SECRET= turns them off); a browser's identity from an
    # earlier run is then a new device.
    if "IDENTITY_SECRET" not in os.environ and not os.environ.get("IDENTITY_SECRET_ARN"):
        os.environ["IDENTITY_SECRET"] = secrets.token_urlsafe(32)
        global _generated_identity_secret
        _generated_identity_secret = True
    redis: RedisServer | None = None
    turn: TurnServer | None = None
    redis_url = os.environ.get("REDIS_URL", "")
    try:
        if not redis_url:
            redis = RedisServer(own_session=True).start()
            redis_url = redis.url
        # coturn relays between browsers on this machine, so it listens where they reach the page.
        turn, turn_env, turn_line = start_turn(turn_choice, settings.client_host.strip("[]"))
        return asyncio.run(serve(settings, sock, redis_url, redis is not None, turn_env, turn_line))
    except KeyboardInterrupt:
        return 130
    finally:
        if turn is not None:
            turn.stop()
        if redis is not None:
            redis.stop()
        sock.close()


if __name__ == "__main__":
    sys.exit(main())
