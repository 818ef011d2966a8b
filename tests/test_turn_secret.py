"""The TURN secret comes from Secrets Manager (TURN_SECRET_ARN), read when first needed, never
from the environment; a broken secret costs TURN, not the match."""

from __future__ import annotations

import logging
import threading
import time

import boto3
import pytest

from chalicelib.config import load_settings
from chalicelib.ice import RETRY_SECONDS, IceServers
from tests.support.turn import STUN_URL, TURN_URLS, expected_credential, turn_harness, turn_servers

SECRET = "coturn-secret-kept-in-secrets-manager"
SHORT = "s3cr3t"
MISSING_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:randomchat/no-such-turn-secret-AbCdEf"
SAMPLE_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:randomchat/turn-AbCdEf"


@pytest.fixture
def secretsmanager(aws):
    return boto3.client("secretsmanager", region_name="us-east-1")


def stored(secretsmanager, value: str) -> str:
    """Put ``value`` in a new secret and return its ARN."""
    return secretsmanager.create_secret(Name="randomchat/turn", SecretString=value)["ARN"]


def assert_signed_with(secret: str, harness, *cids: str) -> None:
    for cid in cids:
        (turn,) = turn_servers(harness.received(cid)[-1]["ice_servers"])
        assert turn["urls"] == TURN_URLS and turn["username"].endswith(f":{cid}")
        assert turn["credential"] == expected_credential(secret, turn["username"])


def test_matched_carries_turn_credentials_signed_with_the_secret_from_secrets_manager(
    redis_env, redis_client, clock, secretsmanager
):
    h = turn_harness(redis_env, clock, TURN_SECRET_ARN=stored(secretsmanager, SECRET))
    a, b, _ = h.pair(join=False)
    assert_signed_with(SECRET, h, a, b)


def test_the_secret_is_read_at_the_first_match_and_kept_for_the_life_of_the_process(
    redis_env, redis_client, clock, secretsmanager
):
    arn = stored(secretsmanager, "the-value-when-the-process-started")
    h = turn_harness(redis_env, clock, TURN_SECRET_ARN=arn)
    secretsmanager.put_secret_value(SecretId=arn, SecretString=SECRET)  # nobody matched yet: not read
    a, b, _ = h.pair(join=False)
    secretsmanager.put_secret_value(SecretId=arn, SecretString="a-value-put-after-the-first-match")
    c, d, _ = h.pair(join=False)
    assert_signed_with(SECRET, h, a, b, c, d)


@pytest.mark.parametrize(
    ("make_arn", "logged"),
    [
        (lambda sm: stored(sm, SHORT), "fewer than 16 characters"),
        (lambda sm: MISSING_ARN, "could not be read"),
    ],
    ids=["too-short", "missing"],
)
def test_a_broken_secret_is_logged_with_its_arn_and_strangers_are_still_matched_with_stun_only(
    redis_env, redis_client, clock, secretsmanager, caplog, make_arn, logged
):
    arn = make_arn(secretsmanager)
    h = turn_harness(redis_env, clock, TURN_SECRET_ARN=arn)
    with caplog.at_level(logging.ERROR, logger="chalicelib.ice"):
        a, b, _ = h.pair(join=False)
    for cid in (a, b):
        matched = h.received(cid)[-1]
        assert matched["event"] == "matched" and matched["ice_servers"] == [{"urls": [STUN_URL]}]
    assert arn in caplog.text and logged in caplog.text
    assert SHORT not in caplog.text, "the secret's value is never logged"


def test_a_failed_read_is_retried_a_minute_later_not_on_every_match():
    arn = SAMPLE_ARN
    values, reads, now = [SHORT, SECRET], [], [0.0]

    def read(secret_arn: str) -> str:
        reads.append(secret_arn)
        return values[len(reads) - 1]

    config = load_settings({"TURN_URLS": ",".join(TURN_URLS), "TURN_SECRET_ARN": arn})
    ice = IceServers(config, read_secret=read, monotonic=lambda: now[0])
    assert turn_servers(ice.for_connection("a")) == []
    now[0] = RETRY_SECONDS - 1
    assert turn_servers(ice.for_connection("b")) == []
    assert reads == [arn]
    now[0] = RETRY_SECONDS + 1
    (turn,) = turn_servers(ice.for_connection("c"))
    assert turn["credential"] == expected_credential(SECRET, turn["username"])
    ice.for_connection("d")
    assert reads == [arn, arn]


def test_simultaneous_first_matches_in_threads_read_the_secret_once():
    reads: list[str] = []

    def slow_read(secret_arn: str) -> str:
        reads.append(secret_arn)
        time.sleep(0.05)  # long enough for every thread to arrive while the read is in flight
        return SECRET

    config = load_settings({"TURN_URLS": ",".join(TURN_URLS), "TURN_SECRET_ARN": SAMPLE_ARN})
    ice = IceServers(config, read_secret=slow_read)
    start, results = threading.Barrier(8), {}

    def match(cid: str) -> None:
        start.wait()
        results[cid] = ice.for_connection(cid)

    threads = [threading.Thread(target=match, args=(f"conn-{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert reads == [SAMPLE_ARN]
    for servers in results.values():
        (turn,) = turn_servers(servers)
        assert turn["credential"] == expected_credential(SECRET, turn["username"])
