"""A Chalice project for one stage, with the values that exist only at deploy time filled in.

The committed ``.chalice/config.json`` holds every deliberate setting (memory, timeouts, reserved
concurrency, log retention, which policy file each function uses) and nothing tied to an
account: no subnet ids, no cache endpoint, no API id. The deploy copies the app into
``deploy/build/<stage>/`` and writes there the config with those values and the IAM policy files,
so the repository never holds an account's identifiers and a deploy never edits tracked files.
``.chalice/deployed/`` (Chalice's record of what it created) is shared with the repository
through a symlink, so plain ``chalice delete --stage <stage>`` from the repository still works.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import policies
from .stages import FUNCTIONS, ROOT, Stage, api_stage

APP_FILES = ("app.py", "requirements.txt")
APP_DIRS = ("chalicelib", "vendor")


@dataclass(frozen=True)
class StageValues:
    """Deploy-time values for one stage; empty fields are left out of the config."""

    redis_url: str = ""
    redis_cluster: bool | None = None
    auth_secret_arn: str = ""
    turn_secret_arn: str = ""  # coturn's secret in Secrets Manager, for TURN credentials
    identity_secret_arn: str = ""  # the device identities' HMAC key in Secrets Manager, for $connect
    subnet_ids: Sequence[str] = field(default_factory=tuple)
    security_group_ids: Sequence[str] = field(default_factory=tuple)
    websocket_url: str = ""
    # Origins $connect admits (ALLOWED_ORIGINS); only the connect handler reads it.
    allowed_origins: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)  # --env NAME=VALUE

    def environment(self) -> dict[str, str]:
        env: dict[str, str] = {}
        if self.redis_cluster is not None:
            env["REDIS_CLUSTER"] = "true" if self.redis_cluster else "false"
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        if self.auth_secret_arn:
            env["REDIS_AUTH_SECRET_ARN"] = self.auth_secret_arn
        if self.turn_secret_arn:
            env["TURN_SECRET_ARN"] = self.turn_secret_arn
        if self.identity_secret_arn:
            env["IDENTITY_SECRET_ARN"] = self.identity_secret_arn
        if self.websocket_url:
            env["WEBSOCKET_URL"] = self.websocket_url
        env.update(self.extra)
        return env


def policy_files(config: Mapping[str, Any], stage_name: str) -> dict[str, str]:
    """Function name -> the ``iam_policy_file`` the committed config names for it."""
    stage_config = config.get("stages", {}).get(stage_name)
    if stage_config is None:
        raise SystemExit(f"stage {stage_name!r} is not in .chalice/config.json")
    if setting(config, stage_name, "autogen_policy") is not False:
        raise SystemExit(
            f'stage {stage_name!r} must set "autogen_policy": false: Chalice\'s generated policy lets the '
            "functions post to every WebSocket API's connections"
        )
    functions = stage_config.get("lambda_functions", {})
    files: dict[str, str] = {}
    for function in FUNCTIONS:
        name = functions.get(function, {}).get("iam_policy_file")
        if not name:
            raise SystemExit(f"stage {stage_name!r} must name an iam_policy_file for {function!r}")
        files[function] = name
    return files


def setting(config: Mapping[str, Any], stage_name: str, key: str) -> Any:
    """A stage-level setting, falling back to the top level, as Chalice looks it up."""
    return config.get("stages", {}).get(stage_name, {}).get(key, config.get(key))


def stage_config(config: Mapping[str, Any], stage_name: str, values: StageValues) -> dict[str, Any]:
    """The committed config with ``values`` written into the stage."""
    result = copy.deepcopy(dict(config))
    target = result["stages"][stage_name]
    env = dict(target.get("environment_variables", {}))
    env.update(values.environment())
    target["environment_variables"] = env
    if values.allowed_origins:
        connect = target.setdefault("lambda_functions", {}).setdefault("websocket_connect", {})
        connect["environment_variables"] = {
            **connect.get("environment_variables", {}),
            "ALLOWED_ORIGINS": values.allowed_origins,
        }
    if values.subnet_ids or values.security_group_ids:
        target["subnet_ids"] = list(values.subnet_ids)
        target["security_group_ids"] = list(values.security_group_ids)
    return result


def environment(config: Mapping[str, Any], stage_name: str, values: StageValues) -> dict[str, str]:
    """Every variable the stage's functions get, top-level settings first, as Chalice merges them."""
    stage_env = stage_config(config, stage_name, values)["stages"][stage_name]["environment_variables"]
    return {**config.get("environment_variables", {}), **stage_env}


def build(
    dest: Path,
    config: Mapping[str, Any],
    plan: Stage,
    values: StageValues,
    scope: policies.Scope,
    render: policies.Render,
    *,
    root: Path = ROOT,
    share_deployed: bool = True,
    package_cache: Path | None = None,
) -> Path:
    """Write a complete Chalice project for ``plan`` into ``dest`` and return ``dest``.

    ``package_cache`` is shared as ``.chalice/deployments``: Chalice names its zip after the hash of
    requirements.txt and the app's files, so projects of the same code reuse one download.
    """
    dest.mkdir(parents=True, exist_ok=True)
    for name in APP_FILES:
        shutil.copy2(root / name, dest / name)
    for name in APP_DIRS:
        target = dest / name
        if target.exists():
            shutil.rmtree(target)
        if (root / name).is_dir():
            shutil.copytree(root / name, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    chalice_dir = dest / ".chalice"
    chalice_dir.mkdir(exist_ok=True)
    for stale in chalice_dir.glob("policy-*.json"):
        stale.unlink()
    full_config = stage_config(config, plan.name, values)
    (chalice_dir / "config.json").write_text(json.dumps(full_config, indent=2) + "\n")
    for function, filename in policy_files(config, plan.name).items():
        doc = policies.document(function, scope, render)
        (chalice_dir / filename).write_text(json.dumps(doc, indent=2) + "\n")
    if share_deployed:
        _link_dir(chalice_dir / "deployed", root / ".chalice" / "deployed")
    if package_cache is not None:
        _link_dir(chalice_dir / "deployments", package_cache)
    return dest


def _link_dir(link: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() and Path(os.readlink(link)) == target:
        return
    if link.is_symlink() or link.is_file():
        link.unlink()
    elif link.is_dir():
        shutil.rmtree(link)
    link.symlink_to(target, target_is_directory=True)


def scope_for(config: Mapping[str, Any], plan: Stage, values: StageValues, *, may_post: bool) -> policies.Scope:
    return policies.Scope(
        app_name=config["app_name"],
        stage=plan.name,
        api_stage=api_stage(dict(config), plan.name),
        in_vpc=plan.in_vpc,
        may_post=may_post,
        auth_secret=bool(values.auth_secret_arn),
        turn_secret=bool(values.turn_secret_arn),
        identity_secret=bool(values.identity_secret_arn),
    )
