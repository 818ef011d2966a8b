"""The AUTH token comes from Secrets Manager at cold start, never from the environment."""

from __future__ import annotations

import boto3
import pytest
import redis

from chalicelib.config import ConfigError, load_settings
from chalicelib.redis_client import make_client
from localdev.redis_server import RedisServer

TOKEN = "a-long-auth-token-of-thirty-two-c"


@pytest.fixture
def protected_server():
    with RedisServer(extra_args=["--requirepass", TOKEN]) as server:
        yield server


def test_the_client_authenticates_with_the_token_from_the_secret(protected_server, aws):
    arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
        Name="randomchat/redis-auth", SecretString=TOKEN
    )["ARN"]
    config = load_settings({"REDIS_URL": protected_server.url, "REDIS_AUTH_SECRET_ARN": arn})
    assert make_client(config).ping() is True


def test_without_the_token_the_server_refuses(protected_server):
    with pytest.raises(redis.AuthenticationError):
        make_client(load_settings({"REDIS_URL": protected_server.url})).ping()


def test_a_malformed_secret_arn_is_a_configuration_error():
    with pytest.raises(ConfigError) as info:
        load_settings({"REDIS_AUTH_SECRET_ARN": "redis-password"})
    assert "REDIS_AUTH_SECRET_ARN" in str(info.value)
