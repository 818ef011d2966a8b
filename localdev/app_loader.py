"""Import the Chalice app the way Lambda would and find its entry points.

Lambda knows a function only by its handler string (``app.connect``: module ``app``,
attribute ``connect``), so that is how handlers are resolved here too, not by reaching into
Chalice's registries for the Python function: a handler Lambda could not import fails here.
Loading is repeatable: every module under the project directory is dropped from
``sys.modules`` first, which is how source changes are picked up without a restart.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chalice.app import Chalice, ScheduledEventConfig
from chalice.config import Config
from chalice.constants import DEFAULT_APIGATEWAY_STAGE_NAME, DEFAULT_LAMBDA_MEMORY_SIZE, DEFAULT_LAMBDA_TIMEOUT
from chalice.deploy.validate import validate_feature_flags
from chalice.local import LambdaContext, LocalChalice, LocalGateway

from localdev.events import LOCAL_ACCOUNT_ID

log = logging.getLogger("localdev")

LambdaHandler = Callable[[dict[str, Any], Any], Any]
# Chalice's own names for the three WebSocket Lambda functions (chalice/deploy/appgraph.py): every
# route other than $connect and $disconnect shares the one "websocket_message" function. These are
# also the keys of stages.<stage>.lambda_functions in .chalice/config.json.
_WS_FUNCTION_NAMES = {"$connect": "websocket_connect", "$disconnect": "websocket_disconnect"}


class LoadError(RuntimeError):
    """The app cannot be imported or one of its handler strings does not resolve."""


@dataclass(frozen=True)
class Function:
    """One Lambda function: its handler string resolved to the callable Lambda would invoke."""

    name: str  # deployed function name, "<app>-<stage>-<name>"
    handler_string: str
    entry_point: LambdaHandler
    timeout_s: int
    memory_mb: int
    region: str

    def context(self) -> LambdaContext:
        """A fresh context per invocation, as Lambda gives each request its own request id."""
        ctx = LambdaContext(self.name, self.memory_mb, max_runtime_ms=self.timeout_s * 1000)
        ctx.invoked_function_arn = f"arn:aws:lambda:{self.region}:{LOCAL_ACCOUNT_ID}:function:{self.name}"
        return ctx


@dataclass(frozen=True)
class Schedule:
    function: Function
    expression: str  # "rate(1 minute)", "cron(0 12 * * ? *)"
    rule_name: str


@dataclass(frozen=True)
class LoadedApp:
    app: Chalice
    app_name: str
    api_stage: str
    websocket: dict[str, Function]  # route key -> function
    schedules: list[Schedule]
    rest: LocalGateway
    has_rest_routes: bool
    unsupported: list[str] = field(default_factory=list)


def function_limits(config: Config, function_name: str) -> tuple[int, int]:
    """The (timeout in s, memory in MB) that ``chalice deploy`` gives the function ``function_name``.

    Chalice scopes its config to each function before reading these two values
    (``Config.scope`` in chalice/deploy/appgraph.py), so the lookup order is Chalice's own:
    ``stages.<stage>.lambda_functions.<name>``, then ``stages.<stage>``, then the top-level
    ``lambda_functions.<name>``, then the top level, then Chalice's defaults (60 s, 128 MB). Reading
    the unscoped config instead loses the per-function values: the sweep, given 60 s because it
    runs for ~50 s on purpose, was reported every minute as over the stage's 10 s.
    ``function_name`` is Chalice's name for it: ``websocket_connect``, ``websocket_message``,
    ``websocket_disconnect``, ``api_handler``, or a schedule's Python function name.
    """
    scoped = config.scope(config.chalice_stage, function_name)
    timeout = scoped.lambda_timeout
    memory = scoped.lambda_memory_size
    return (
        int(DEFAULT_LAMBDA_TIMEOUT if timeout is None else timeout),
        int(DEFAULT_LAMBDA_MEMORY_SIZE if memory is None else memory),
    )


def _read_config(app_dir: Path) -> dict[str, Any]:
    path = app_dir / ".chalice" / "config.json"
    if not path.exists():
        return {}
    try:
        return dict(json.loads(path.read_text()))
    except ValueError as exc:
        raise LoadError(f"{path} is not valid JSON: {exc}") from exc


def _purge_project_modules(app_dir: Path) -> None:
    """Forget every module imported from the project (app, chalicelib, ...) but not the venv."""
    root = str(app_dir.resolve()) + os.sep
    skip = (str((app_dir / ".venv").resolve()) + os.sep, str((app_dir / "localdev").resolve()) + os.sep)
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if not path:
            continue
        real = os.path.realpath(path)
        if real.startswith(root) and not real.startswith(skip) and "site-packages" not in real:
            del sys.modules[name]


def _resolve(handler_string: str) -> LambdaHandler:
    module_name, _, attribute = handler_string.rpartition(".")
    try:
        module = sys.modules.get(module_name) or importlib.import_module(module_name)
        entry_point = getattr(module, attribute)
    except (ImportError, AttributeError) as exc:
        raise LoadError(f"Lambda could not resolve handler {handler_string!r}: {exc}") from exc
    if not callable(entry_point):
        raise LoadError(f"Handler {handler_string!r} is not callable")
    return entry_point  # type: ignore[no-any-return]


def _make_request_local(app: Chalice) -> None:
    """Give each worker thread its own ``app.current_request``, exactly as ``chalice local`` does.

    Without this, concurrent REST requests in the worker pool would overwrite each other's request.
    """
    if not isinstance(app, LocalChalice):
        app.__class__ = type(f"Local{type(app).__name__}", (LocalChalice, type(app)), {})


def _point_chalice_sender_here(app: Chalice, management_url: str) -> None:
    """Make ``app.websocket_api.send()`` reach this gateway instead of execute-api.amazonaws.com.

    Chalice builds its endpoint once, from the apiId, unless one is already set.
    """
    api = getattr(app, "websocket_api", None)
    if api is not None and getattr(api, "_endpoint", None) is None:
        api._endpoint = management_url


def load_app(
    app_dir: Path,
    chalice_stage: str,
    api_stage: str | None,
    region: str,
    environment: Callable[[str], dict[str, str]],
) -> LoadedApp:
    """Import ``app.py`` from ``app_dir`` afresh.

    ``environment(api_stage)`` returns the variables the gateway owns (REDIS_URL,
    MANAGEMENT_API_URL, ...); they are applied after the config's environment_variables so a
    deployed value in .chalice/config.json never points local runs at production.
    """
    disk = _read_config(app_dir)
    config = Config(
        chalice_stage=chalice_stage,
        config_from_disk=disk,
        default_params={
            "project_dir": str(app_dir),
            "api_gateway_stage": DEFAULT_APIGATEWAY_STAGE_NAME,
            "autogen_policy": True,
        },
        user_provided_params={"api_gateway_stage": api_stage} if api_stage else {},
    )
    stage = config.api_gateway_stage
    os.environ.update(config.environment_variables)
    os.environ.update(environment(stage))

    _purge_project_modules(app_dir)
    if str(app_dir) in sys.path:
        sys.path.remove(str(app_dir))
    sys.path.insert(0, str(app_dir))
    importlib.invalidate_caches()
    try:
        module = importlib.import_module("app")
        app = module.app
    except Exception as exc:
        raise LoadError(f"Unable to import app.py from {app_dir}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(app, Chalice):
        raise LoadError(f"app.app in {app_dir} is a {type(app).__name__}, not a Chalice app")
    try:
        validate_feature_flags(app)  # as chalice deploy would: WEBSOCKETS needs its opt-in
    except Exception as exc:
        raise LoadError(str(exc)) from exc
    _make_request_local(app)
    _point_chalice_sender_here(app, environment(stage)["MANAGEMENT_API_URL"])
    config = Config(
        chalice_stage=chalice_stage,
        config_from_disk=disk,
        default_params={"project_dir": str(app_dir), "api_gateway_stage": stage, "app_name": app.app_name},
        user_provided_params={"chalice_app": app},
    )
    app_name = config.app_name or app.app_name

    def function(name: str, handler_string: str) -> Function:
        timeout_s, memory_mb = function_limits(config, name)
        return Function(
            name=f"{app_name}-{chalice_stage}-{name}",
            handler_string=handler_string,
            entry_point=_resolve(handler_string),
            timeout_s=timeout_s,
            memory_mb=memory_mb,
            region=region,
        )

    websocket = {
        route: function(_WS_FUNCTION_NAMES.get(route, "websocket_message"), handler.handler_string)
        for route, handler in app.websocket_handlers.items()
    }
    schedules: list[Schedule] = []
    unsupported: list[str] = []
    for source in app.event_sources:
        if isinstance(source, ScheduledEventConfig):
            expr = source.schedule_expression
            text = expr if isinstance(expr, str) else expr.to_string()
            fn = function(source.name, source.handler_string)
            schedules.append(Schedule(fn, text, fn.name + "-event"))
        else:
            unsupported.append(f"{type(source).__name__} {source.name}")
    unsupported += [f"lambda_function {f.name}" for f in app.pure_lambda_functions]
    return LoadedApp(
        app=app,
        app_name=app_name,
        api_stage=stage,
        websocket=websocket,
        schedules=schedules,
        rest=LocalGateway(app, config),
        has_rest_routes=bool(app.routes),
        unsupported=unsupported,
    )
