"""The Redis client: standalone or cluster, TLS and AUTH from the configuration."""

from __future__ import annotations

from typing import Any

import redis
from redis.cluster import RedisCluster

from .config import Settings


def auth_token(secret_arn: str) -> str:
    """The AUTH token stored in Secrets Manager; read once per process, when the client is made."""
    import boto3  # only deployments with a secret pay for this import

    region = secret_arn.split(":")[3]
    secret = boto3.client("secretsmanager", region_name=region).get_secret_value(SecretId=secret_arn)
    return str(secret["SecretString"])


def make_client(config: Settings) -> Any:
    """A standalone or cluster client from ``REDIS_URL``; ``rediss://`` comes from the URL, the
    password from the URL or, with ``REDIS_AUTH_SECRET_ARN``, from Secrets Manager (so the token
    never sits in the Lambda environment; a password in the URL wins)."""
    options: dict[str, Any] = {
        "socket_timeout": config.redis_timeout_seconds,
        "socket_connect_timeout": config.redis_timeout_seconds,
        "decode_responses": True,
    }
    if config.redis_auth_secret_arn:
        options["password"] = auth_token(config.redis_auth_secret_arn)
    if config.redis_cluster:
        return RedisCluster.from_url(config.redis_url, **options)
    return redis.Redis.from_url(config.redis_url, health_check_interval=30, **options)
