"""The Redis client: standalone or cluster, TLS and AUTH from the configuration."""

from __future__ import annotations

from typing import Any

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from .aws_secrets import secret_string
from .config import Settings


def make_client(config: Settings) -> Any:
    """A standalone or cluster client from ``REDIS_URL``; ``rediss://`` comes from the URL, the
    password from the URL or, with ``REDIS_AUTH_SECRET_ARN``, from Secrets Manager (so the token
    never sits in the Lambda environment; a password in the URL wins). The client is made once
    per process, so the secret is read once too."""
    options: dict[str, Any] = {
        "socket_timeout": config.redis_timeout_seconds,
        "socket_connect_timeout": config.redis_timeout_seconds,
        "decode_responses": True,
        # One retry, soon: enough for a pooled socket the server closed, and short enough that a
        # paused server costs at most two timeouts (redis-py's default is 10 retries, longer
        # than a Lambda's timeout). A retried script call is safe: it replays or does nothing.
        "retry": Retry(ExponentialWithJitterBackoff(base=0.02, cap=0.1), retries=1),
    }
    if config.redis_auth_secret_arn:
        options["password"] = secret_string(config.redis_auth_secret_arn)
    if config.redis_cluster:
        return RedisCluster.from_url(config.redis_url, **options)
    return redis.Redis.from_url(config.redis_url, health_check_interval=30, **options)
