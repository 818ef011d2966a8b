"""One Redis client per process, created on first use and reused across warm invocations."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import redis
from redis.cluster import RedisCluster

from .config import Settings, settings


def make_client(config: Settings) -> Any:
    """A standalone or cluster client from ``REDIS_URL``; ``rediss://`` and passwords come from the URL."""
    options: dict[str, Any] = {
        "socket_timeout": config.redis_timeout_seconds,
        "socket_connect_timeout": config.redis_timeout_seconds,
        "decode_responses": True,
    }
    if config.redis_cluster:
        return RedisCluster.from_url(config.redis_url, **options)
    return redis.Redis.from_url(config.redis_url, health_check_interval=30, **options)


@lru_cache(maxsize=1)
def client() -> Any:
    return make_client(settings())
