"""The policy and the timeouts are compiled into the scripts' text (scripts.Constants): Lua must
read them exactly as cjson.decode read the JSON each call used to carry, and a store with
another policy must run other scripts."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
import redis

from chalicelib import scripts
from chalicelib.keys import Keys
from chalicelib.store import Policy, Store

AWKWARD = {"end": 'a "quoted" \\ line\nwith é', "nested": {"in": [1, 2.5, 1e-06, 1000000000.0, True, False]},
           "empty": {}, "0digit": "x"}


@pytest.mark.parametrize("value", [Policy(rates={"chat": (20.0, 50.0)}).to_json(), json.dumps(AWKWARD)])
def test_a_compiled_value_reads_in_lua_as_the_json_it_came_from(redis_client: Any, value: str) -> None:
    compiled = redis_client.eval(f"return cjson.encode({scripts.lua_literal(json.loads(value))})", 0)
    decoded = redis_client.eval("return cjson.encode(cjson.decode(ARGV[1]))", 0, value)
    assert json.loads(compiled) == json.loads(decoded)


def test_a_value_without_a_lua_literal_is_refused() -> None:
    with pytest.raises(ValueError):
        scripts.lua_literal(float("inf"))
    with pytest.raises(TypeError):
        scripts.lua_literal(None)


def test_each_policy_has_its_own_scripts_and_the_same_policy_the_same() -> None:
    def shas(policy: Policy, idle_ms: int = 600_000) -> set[str]:
        constants = scripts.Constants(idle_ms, 7_200_000, 60_000, policy.to_json())
        return {hashlib.sha1(scripts.source(name, constants).encode()).hexdigest() for name in scripts.STATE_SCRIPTS}

    same = shas(Policy())
    assert shas(Policy()) == same and len(same) == len(scripts.STATE_SCRIPTS)
    assert shas(Policy(fallback_ms=5_000)).isdisjoint(same)
    assert shas(Policy(), idle_ms=300_000).isdisjoint(same)


class RecordingRedis(redis.Redis):
    """A real client that keeps the arguments of every script call."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[Any, ...]] = []

    def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> Any:  # type: ignore[override]
        self.calls.append(keys_and_args[numkeys:])
        return super().evalsha(sha, numkeys, *keys_and_args)


def test_no_call_sends_the_policy(redis_server: Any) -> None:
    """A call carries only NOW, FENCE, MESSAGE_ID and the script's own arguments."""
    client = RecordingRedis.from_url(redis_server.url, decode_responses=True)
    store = Store(client, Keys(), idle_ms=600_000, cap_ms=7_200_000)
    assert store.ping("nobody") is not None
    args = client.calls[-1]  # the first may have met NOSCRIPT, and been sent again
    assert len(args) == len(scripts.SHARED_ARGS) + len(scripts.SCRIPTS["ping"].args)
    assert not any("fallback_ms" in str(arg) for arg in args)
