"""Offline deploy checks: templates are packaged once per session and shared.

``chalice package`` downloads the Lambda's wheels from PyPI (cached in the generated project's
``.chalice/deployments``), so every stage is packaged once, into a session temp dir.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from deploy import cfn_yaml, flow, infra, policies, workspace
from deploy.stages import INFRA_TEMPLATE, RELAY_TEMPLATE, ROOT, STAGES, load_config
from deploy.workspace import StageValues

# What the infra stack's outputs look like, for building the chalice-deploy project offline.
SAMPLE_ACCOUNT = "123456789012"
SAMPLE_REGION = "eu-west-1"
SAMPLE_API_ID = "a1b2c3d4e5"
SAMPLE_PAGE_ORIGIN = f"https://r3s7a9i1d0.execute-api.{SAMPLE_REGION}.amazonaws.com"
SAMPLE_OUTPUTS = {
    "PrivateSubnetIds": "subnet-0aaaaaaaaaaaaaaaa,subnet-0bbbbbbbbbbbbbbbb",
    "LambdaSecurityGroupId": "sg-0cccccccccccccccc",
    "RedisUrl": "rediss://master.randomchat-prod.abcdef.euw1.cache.amazonaws.com:6379/0",
    "RedisCluster": "false",
    "RedisAuthSecretArn": f"arn:aws:secretsmanager:{SAMPLE_REGION}:{SAMPLE_ACCOUNT}:secret:randomchat-prod-infra/valkey-auth-token-AbCdEf",
    "IdentitySecretArn": f"arn:aws:secretsmanager:{SAMPLE_REGION}:{SAMPLE_ACCOUNT}:secret:randomchat-prod-infra/identity-secret-GhIjKl",
}
SAMPLE_RELAY_OUTPUTS = {
    "TurnUrls": "turn:203.0.113.7:3478?transport=udp,turn:203.0.113.7:3478?transport=tcp",
    "TurnSecretArn": f"arn:aws:secretsmanager:{SAMPLE_REGION}:{SAMPLE_ACCOUNT}:secret:randomchat-prod-relay/turn-secret-AbCdEf",
    "PublicIp": "203.0.113.7",
}
SAMPLE_DEV_REDIS = "rediss://:not-a-real-token-0123456789@redis.example.net:6380/0"


@pytest.fixture(scope="session")
def config() -> dict[str, Any]:
    return load_config()


@pytest.fixture(scope="session")
def infra_template() -> dict[str, Any]:
    return cfn_yaml.load(INFRA_TEMPLATE)


@pytest.fixture(scope="session")
def package_env() -> dict[str, str]:
    return dict(os.environ, AWS_DEFAULT_REGION=SAMPLE_REGION)


@pytest.fixture(scope="session")
def package_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ``.chalice/deployments`` for every project packaged here: the wheels download once."""
    return tmp_path_factory.mktemp("deployments")


@pytest.fixture(scope="session")
def packaged(tmp_path_factory: pytest.TempPathFactory, config: dict[str, Any], package_cache: Path) -> dict[str, Path]:
    """Stage -> the one-template CloudFormation (``python -m deploy package``), packaged once."""
    base = tmp_path_factory.mktemp("cfn")
    return {
        name: flow.package(
            plan, config, base / name, project_dir=base / f"project-{name}", cache=package_cache, log=lambda _: None
        )
        for name, plan in STAGES.items()
    }


@pytest.fixture(scope="session")
def templates(packaged: dict[str, Path]) -> dict[str, dict[str, Any]]:
    return {name: json.loads(path.read_text()) for name, path in packaged.items()}


def deploy_values(stage_name: str) -> StageValues:
    """The values ``python -m deploy deploy`` would feed the stage, from sample infra outputs."""
    if STAGES[stage_name].in_vpc:
        return infra.stage_values(SAMPLE_OUTPUTS)
    return StageValues(redis_url=SAMPLE_DEV_REDIS, redis_cluster=False)


def build_deploy_project(
    dest: Path, config: dict[str, Any], stage_name: str, api_id: str, cache: Path | None = None
) -> Path:
    """The Chalice project ``chalice deploy`` runs on, as the deploy builds it (pass 1 or 2)."""
    plan = STAGES[stage_name]
    values = deploy_values(stage_name)
    if api_id:
        url = f"wss://{api_id}.execute-api.{SAMPLE_REGION}.amazonaws.com/api"
        values = replace(values, websocket_url=url, allowed_origins=SAMPLE_PAGE_ORIGIN)
    scope = workspace.scope_for(config, plan, values, may_post=bool(api_id))
    render = policies.Literal(
        {
            "AWS::Partition": "aws",
            "AWS::Region": SAMPLE_REGION,
            "AWS::AccountId": SAMPLE_ACCOUNT,
            "WebsocketAPI": api_id,
            "AuthTokenSecret": values.auth_secret_arn,
            "IdentitySecret": values.identity_secret_arn,
        }
    )
    return workspace.build(dest, config, plan, values, scope, render, share_deployed=False, package_cache=cache)


@pytest.fixture(scope="session")
def deploy_projects(
    tmp_path_factory: pytest.TempPathFactory, config: dict[str, Any], package_env, package_cache: Path
) -> dict[str, Path]:
    """Stage -> ``chalice package`` output of the chalice-deploy project (pass 2, API id known).

    ``chalice deploy`` reads the very same project; packaging it proves Chalice accepts the
    generated config and policy files, and shows what it would create.
    """
    base = tmp_path_factory.mktemp("deploy")
    out: dict[str, Path] = {}
    for name in STAGES:
        project = build_deploy_project(base / f"project-{name}", config, name, SAMPLE_API_ID, package_cache)
        flow.run_chalice(project, ["package", "--stage", name, str(base / name)], package_env)
        out[name] = base / name / "sam.json"
    return out


def copy_app(dest: Path) -> Path:
    """A minimal copy of the repository the deploy flow can run in (for fake deploys)."""
    for name in ("app.py", "requirements.txt"):
        shutil.copy2(ROOT / name, dest / name)
    shutil.copytree(ROOT / "chalicelib", dest / "chalicelib", ignore=shutil.ignore_patterns("__pycache__"))
    (dest / "infra").mkdir()
    shutil.copy2(INFRA_TEMPLATE, dest / "infra" / "stack.yaml")
    shutil.copy2(RELAY_TEMPLATE, dest / "infra" / "relay.yaml")
    (dest / ".chalice").mkdir()
    shutil.copy2(ROOT / ".chalice" / "config.json", dest / ".chalice" / "config.json")
    return dest
