"""Configuration comes from the environment and is validated with a clear message."""

from __future__ import annotations

import pytest

from chalicelib.config import ConfigError, load_settings

TURN_SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:randomchat/turn-AbCdEf"


def test_defaults_need_no_environment():
    config = load_settings({})
    assert config.redis_url == "redis://127.0.0.1:6379/0"
    assert config.static_ice_servers() == [{"urls": ["stun:stun.l.google.com:19302"]}]
    assert config.idle_timeout_seconds == 600 and config.connection_ttl_seconds == 7200


def test_rediss_urls_with_a_password_are_accepted():
    config = load_settings({"REDIS_URL": "rediss://:s3cret-token-of-16+@cache.example:6379/0"})
    assert config.redis_url.startswith("rediss://")


def test_empty_ice_servers_are_allowed_and_json_is_parsed():
    assert load_settings({"ICE_SERVERS": "[]"}).static_ice_servers() == []
    assert load_settings({"STUN_URLS": ""}).static_ice_servers() == []
    assert load_settings({"STUN_URLS": "stun:a:3478,stun:b:3478"}).static_ice_servers() == [
        {"urls": ["stun:a:3478", "stun:b:3478"]}
    ]
    turn = '[{"urls": "turn:turn.example:3478", "username": "u", "credential": "c"}]'
    assert load_settings({"ICE_SERVERS": turn}).ice_servers[0]["username"] == "u"


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"REDIS_URL": "http://nope"}, "REDIS_URL: Value error, must start with redis://"),
        ({"ICE_SERVERS": "{not json"}, "ICE_SERVERS is not valid JSON"),
        ({"ICE_SERVERS": '[{"username": "x"}]'}, "ICE_SERVERS"),
        ({"MAX_CHAT_CHARS": "0"}, "MAX_CHAT_CHARS"),
        ({"IDLE_TIMEOUT_SECONDS": "ten"}, "IDLE_TIMEOUT_SECONDS"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"CONNECTION_TTL_SECONDS": "9000"}, "CONNECTION_TTL_SECONDS"),
        ({"MANAGEMENT_API_URL": "ftp://x"}, "MANAGEMENT_API_URL"),
        ({"TURN_URLS": "turn:t.example:3478"}, "TURN_URLS needs TURN_SECRET or TURN_SECRET_ARN"),
        ({"TURN_URLS": "turn:t", "TURN_SECRET": "short"}, "TURN_SECRET"),
        ({"TURN_SECRET": "coturn-static-auth-secret"}, "TURN_SECRET needs TURN_URLS"),
        ({"TURN_SECRET_ARN": TURN_SECRET_ARN}, "TURN_SECRET_ARN needs TURN_URLS"),
        ({"TURN_URLS": "turn:t", "TURN_SECRET_ARN": "coturn-static-auth-secret"},
         "TURN_SECRET_ARN: Value error, must be the ARN of a Secrets Manager secret"),
        ({"TURN_URLS": "turn:t", "TURN_SECRET": "coturn-static-auth-secret", "TURN_SECRET_ARN": TURN_SECRET_ARN},
         "set TURN_SECRET or TURN_SECRET_ARN, not both"),
        ({"RATE_LIMITS": '{"chat": [0, 1]}'}, "RATE_LIMITS"),
        ({"RATE_LIMITS": '{"dance": [1, 1]}'}, "unknown families"),
        ({"RATE_LIMITS": "[1"}, "RATE_LIMITS is not valid JSON"),
        ({"WEBSOCKET_URL": "http://x"}, "WEBSOCKET_URL"),
    ],
)
def test_bad_values_fail_with_a_message_naming_the_variable(env, fragment):
    with pytest.raises(ConfigError) as info:
        load_settings(env)
    assert fragment in str(info.value)


def test_turn_urls_with_a_secret_arn_are_accepted():
    config = load_settings({"TURN_URLS": "turns:turn.example.org:5349", "TURN_SECRET_ARN": TURN_SECRET_ARN})
    assert config.turn_secret_arn == TURN_SECRET_ARN and config.turn_secret is None


def test_lambda_region_wins_over_default_region():
    assert load_settings({"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-east-1"}).aws_region == "eu-west-1"


def test_rate_limits_override_only_the_families_given():
    config = load_settings({"RATE_LIMITS": '{"chat": [3, 0.5]}'})
    assert config.rate_limits["chat"] == (3, 0.5) and config.rate_limits["signal"] == (60, 20)


def test_lists_are_comma_separated():
    config = load_settings({"ALLOWED_ORIGINS": "https://a.example, https://b.example"})
    assert config.allowed_origins == ["https://a.example", "https://b.example"]
