"""The app's Management API sender against a real loopback Management API over HTTP.

What each connection received, what each request looked like on the wire, and how many TCP
connections the server accepted are read at the server (testkit/fake_management_api.py). The
signature is checked against botocore's own SigV4, so what works here is what AWS accepts.
"""

from __future__ import annotations

import datetime
import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.auth
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotocoreCredentials
from botocore.credentials import RefreshableCredentials

from chalicelib import sender as sender_module
from chalicelib.sender import CloseFailed, Credentials, ManagementApiSender, SigV4, encode
from testkit.fake_management_api import RESET, FakeManagementApi, Request

CID = "UjH9bdFUIAMCJqA="  # API Gateway's id format: the '=' travels as %3D
EVENT = {"event": "chat", "room_code": "q2Xk3v0l1RjbYtN5m8sPAg7E", "sender": "zoë", "message": "привет 👋"}
KEYS = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
DAY = 86400.0


class Clock:
    def __init__(self, now: float = 1_796_000_000.0) -> None:  # 2026-11-30, mid-morning UTC
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def api() -> Iterator[FakeManagementApi]:
    with FakeManagementApi() as api:
        yield api


@pytest.fixture
def pauses() -> list[float]:
    return []


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sender(monkeypatch: pytest.MonkeyPatch, pauses: list[float], clock: Clock) -> ManagementApiSender:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return ManagementApiSender("us-east-1", clock=clock, sleep=pauses.append)


def botocore_authorization(request: Request, endpoint: str, credentials: Credentials, region: str = "us-east-1") -> str:
    """The Authorization header botocore's SigV4Auth gives the same request at the same instant."""
    origin = urlsplit(endpoint)
    aws = AWSRequest(method=request.method, url=f"{origin.scheme}://{origin.netloc}{request.path}", data=request.body)
    return sign_like_botocore(aws, request.headers["x-amz-date"], credentials, region)


def sign_like_botocore(aws: AWSRequest, amz_date: str, credentials: Credentials, region: str = "us-east-1") -> str:
    instant = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
    original = botocore.auth.get_current_datetime
    botocore.auth.get_current_datetime = lambda *a, **k: instant  # type: ignore[assignment]
    try:
        creds = BotocoreCredentials(credentials.access_key, credentials.secret_key, credentials.token)
        SigV4Auth(creds, "execute-api", region).add_auth(aws)
    finally:
        botocore.auth.get_current_datetime = original  # type: ignore[assignment]
    return str(aws.headers["Authorization"])


# ---------------------------------------------------------------- what arrives


def test_a_post_arrives_at_the_connection_with_exactly_the_encoded_event(sender, api):
    assert sender.post(api.endpoint, CID, EVENT) is True
    [request] = api.requests_for(CID)
    assert (request.method, request.path) == ("POST", "/api/@connections/UjH9bdFUIAMCJqA%3D")
    assert request.body == encode(EVENT) == '{"event":"chat","room_code":"q2Xk3v0l1RjbYtN5m8sPAg7E",' \
        '"sender":"zoë","message":"привет 👋"}'.encode()
    assert api.received(CID) == [EVENT]


def test_the_path_is_the_one_boto3_sends_to_aws():
    sent: list[str] = []

    def capture(request: Any, **_: Any) -> None:
        sent.append(urlsplit(request.url).path)
        raise ConnectionAbortedError("captured, not sent")

    client = boto3.client("apigatewaymanagementapi", region_name="us-east-1", aws_access_key_id="a",
                          aws_secret_access_key="b", endpoint_url="https://abc.execute-api.us-east-1.amazonaws.com/prod")
    client.meta.events.register("before-send", capture)
    with pytest.raises(Exception, match="captured"):
        client.post_to_connection(ConnectionId="a+b/c=", Data=b"{}")
    endpoint = sender_module.Endpoint("https://abc.execute-api.us-east-1.amazonaws.com/prod")
    assert sent == [f"{endpoint.base}/@connections/a%2Bb%2Fc%3D"]


def test_a_gone_recipient_answers_false_and_is_not_asked_again(sender, api):
    api.gone.add(CID)
    assert sender.post(api.endpoint, CID, EVENT) is False
    assert [r.status for r in api.requests_for(CID)] == [410]
    assert api.received(CID) == []


@pytest.mark.parametrize(("status", "longest_pause"), [(429, 1.0), (500, 0.05), (502, 0.05), (503, 0.05)])
def test_throttling_or_a_server_error_is_retried_once_after_a_short_pause(sender, api, pauses, status, longest_pause):
    api.answer_next(CID, status)
    assert sender.post(api.endpoint, CID, EVENT) is True
    assert [r.status for r in api.requests_for(CID)] == [status, 200]
    assert api.received(CID) == [EVENT]
    assert len(pauses) == 1 and 0 <= pauses[0] <= longest_pause


def test_a_post_that_fails_twice_is_logged_and_still_counts_as_delivered(sender, api, caplog):
    api.answer_next(CID, 429, 503)
    with caplog.at_level(logging.ERROR, logger="chalicelib.sender"):
        assert sender.post(api.endpoint, CID, EVENT) is True
    assert [r.status for r in api.requests_for(CID)] == [429, 503]  # one retry, no more
    assert api.received(CID) == []
    assert [r.getMessage() for r in caplog.records] == [f"post_to_connection {CID} failed: HTTP 503 ServiceUnavailable"]


def test_a_refused_post_other_than_gone_is_logged_not_retried_and_not_taken_for_gone(sender, api, caplog):
    api.answer_next(CID, 403)  # IAM does not allow this API's connections
    with caplog.at_level(logging.ERROR, logger="chalicelib.sender"):
        assert sender.post(api.endpoint, CID, EVENT) is True
    assert [r.status for r in api.requests_for(CID)] == [403]
    assert "HTTP 403 ForbiddenException" in caplog.text


def test_a_connection_reset_is_retried_on_a_new_connection(sender, api):
    api.answer_next(CID, RESET)
    assert sender.post(api.endpoint, CID, EVENT) is True
    assert api.received(CID) == [EVENT]  # once
    assert api.connections == 2
    assert sender.post(api.endpoint, CID, EVENT) is True  # the new connection is kept
    assert api.connections == 2


def test_a_connection_the_server_closed_while_idle_is_replaced_without_spending_the_retry(sender, api, pauses):
    assert sender.post(api.endpoint, CID, EVENT)
    api.drop_connections()
    api.answer_next(CID, 503)  # so a retry spent on the dead connection would leave this one undelivered
    assert sender.post(api.endpoint, CID, EVENT)
    assert [r.status for r in api.requests_for(CID)] == [200, 503, 200]
    assert api.received(CID) == [EVENT, EVENT] and api.connections == 2 and len(pauses) == 1


def test_chunked_and_closing_answers_are_read_whole(sender):
    """API Gateway answers with a Content-Length; an HTTP/1.1 server may also chunk, or close."""
    answers = [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
               b"HTTP/1.1 410 Gone\r\nx-amzn-ErrorType: GoneException:http://internal.amazon.com/\r\n"
               b"Content-Length: 2\r\nConnection: close\r\n\r\n{}",
               b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"]
    accepted: list[int] = []
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        pending = list(answers)
        while pending:
            conn, _ = listener.accept()
            accepted.append(1)
            with conn, conn.makefile("rb") as reader:
                while pending:
                    length = 0
                    while (line := reader.readline()) not in (b"\r\n", b""):
                        if line.lower().startswith(b"content-length:"):
                            length = int(line.split(b":")[1])
                    if not line:
                        break
                    reader.read(length)
                    answer = pending.pop(0)
                    conn.sendall(answer)
                    if b"Connection: close" in answer:
                        break

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    endpoint = f"http://127.0.0.1:{listener.getsockname()[1]}/api"
    assert sender.post(endpoint, CID, EVENT) is True
    assert sender.post(endpoint, CID, EVENT) is False  # the error type's ":..." suffix is not part of it
    sender.close(endpoint, CID)
    server.join(5)
    listener.close()
    assert len(accepted) == 2  # the chunked answer kept the connection; the closing one did not


def test_an_unreachable_endpoint_is_logged_and_the_post_counts_as_delivered(sender, caplog):
    with FakeManagementApi() as api:
        endpoint = api.endpoint  # a port that nobody listens on once this closes
    with caplog.at_level(logging.ERROR, logger="chalicelib.sender"):
        assert sender.post(endpoint, CID, EVENT) is True
    assert "ConnectionRefusedError" in caplog.text


# ---------------------------------------------------------------- closing


def test_closing_a_socket_deletes_it_and_later_posts_find_it_gone(sender, api):
    sender.close(api.endpoint, CID)
    assert api.closed == [CID]
    assert sender.post(api.endpoint, CID, EVENT) is False


def test_closing_a_socket_that_is_already_gone_is_not_an_error(sender, api):
    api.gone.add(CID)
    sender.close(api.endpoint, CID)
    assert [(r.method, r.status) for r in api.requests_for(CID)] == [("DELETE", 410)]


def test_a_denied_close_raises_instead_of_passing_for_closed(sender, api):
    api.answer_next(CID, 403)  # IAM allows POST but not DELETE
    with pytest.raises(CloseFailed, match="ForbiddenException"):
        sender.close(api.endpoint, CID)
    assert api.closed == [] and len(api.requests_for(CID)) == 1


def test_a_throttled_close_is_retried_once_and_raises_if_it_stays_throttled(sender, api):
    api.answer_next(CID, 429)
    sender.close(api.endpoint, CID)
    assert api.closed == [CID]
    other = "AbCdEfGhIjKlMnO="
    api.answer_next(other, 429, 429)
    with pytest.raises(CloseFailed, match="429"):
        sender.close(api.endpoint, other)
    assert len(api.requests_for(other)) == 2


# ---------------------------------------------------------------- one connection, one key a day


def test_posts_to_one_endpoint_share_one_kept_alive_connection(sender, api):
    for i in range(20):
        assert sender.post(api.endpoint, f"conn{i}=", EVENT)
    sender.close(api.endpoint, "conn0=")
    assert api.connections == 1
    assert len(api.requests) == 21


def test_threads_posting_at_once_each_deliver_every_event_in_order_over_a_pool_of_connections(sender, api):
    def run(n: int) -> None:
        for i in range(25):
            sender.post(api.endpoint, f"thread{n}=", {"event": "chat", "n": i})

    threads = [threading.Thread(target=run, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(api.received(f"thread{n}=") == [{"event": "chat", "n": i} for i in range(25)] for n in range(8))
    assert 1 <= api.connections <= 8


def test_the_signing_key_is_derived_once_a_day_not_once_a_post(sender, api, clock, monkeypatch):
    derived: list[tuple[str, str, str]] = []
    real = sender_module.signing_key

    def counting(secret: str, date: str, region: str, service: str) -> bytes:
        derived.append((date, region, service))
        return real(secret, date, region, service)

    monkeypatch.setattr(sender_module, "signing_key", counting)
    for _ in range(10):
        sender.post(api.endpoint, CID, EVENT)
        clock.now += 60
    clock.now += DAY
    sender.post(api.endpoint, CID, EVENT)
    sender.close(api.endpoint, CID)
    assert derived == [("20261130", "us-east-1", "execute-api"), ("20261201", "us-east-1", "execute-api")]
    assert len(api.received(CID)) == 11
    creds = Credentials(KEYS["AWS_ACCESS_KEY_ID"], KEYS["AWS_SECRET_ACCESS_KEY"])
    assert all(r.headers["authorization"] == botocore_authorization(r, api.endpoint, creds) for r in api.requests)


# ---------------------------------------------------------------- the signature is botocore's


@pytest.mark.parametrize("token", [None, "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+token=="])
@pytest.mark.parametrize("cid", [CID, "a+b/c=", "-_~.x"])
def test_every_request_carries_the_authorization_botocore_computes(sender, api, monkeypatch, token, cid):
    if token:
        monkeypatch.setenv("AWS_SESSION_TOKEN", token)
    sender.post(api.endpoint, cid, EVENT)
    sender.close(api.endpoint, cid)
    creds = Credentials(KEYS["AWS_ACCESS_KEY_ID"], KEYS["AWS_SECRET_ACCESS_KEY"], token)
    requests = api.requests_for(cid)
    assert [r.method for r in requests] == ["POST", "DELETE"]
    for request in requests:
        assert request.headers.get("x-amz-security-token") == token
        assert request.headers["authorization"] == botocore_authorization(request, api.endpoint, creds)


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-3"])
def test_the_signature_for_an_aws_endpoint_is_botocores(region):
    host = f"abcdef1234.execute-api.{region}.amazonaws.com"
    path = "/prod/@connections/UjH9bdFUIAMCJqA%3D"
    creds = Credentials("ASIAEXAMPLE", "secret/with+signs", "a-session-token")
    signer = SigV4(region, clock=Clock())
    body = encode(EVENT)
    ours = signer.headers("POST", host, path, body, creds)
    theirs = AWSRequest(method="POST", url=f"https://{host}{path}", data=body)
    assert ours["Authorization"] == sign_like_botocore(theirs, ours["X-Amz-Date"], creds, region)
    assert "SignedHeaders=host;x-amz-date;x-amz-security-token," in ours["Authorization"]
    assert f"/{region}/execute-api/aws4_request" in ours["Authorization"]


def test_refreshable_credentials_from_botocore_are_renewed_between_posts(api, monkeypatch):
    for name in (*KEYS, "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    issued: list[str] = []

    def refresh() -> dict[str, str]:  # as an assumed role's provider: keys that expire soon
        issued.append(f"ASIA{len(issued)}")
        expiry = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=5)
        return {"access_key": issued[-1], "secret_key": f"secret{len(issued)}", "token": f"token{len(issued)}",
                "expiry_time": expiry.isoformat()}

    class Session:
        def get_credentials(self) -> RefreshableCredentials:
            return RefreshableCredentials.create_from_metadata(refresh(), refresh, "assume-role")

    monkeypatch.setattr("botocore.session.get_session", lambda: Session())
    sender = ManagementApiSender("us-east-1")
    assert sender.post(api.endpoint, CID, EVENT) and sender.post(api.endpoint, CID, EVENT)
    first, second = api.requests_for(CID)
    assert len(issued) >= 3  # within 10 minutes of expiry botocore refreshes before each use
    for request in (first, second):
        access = request.headers["authorization"].split("Credential=")[1].split("/")[0]
        n = int(access.removeprefix("ASIA")) + 1
        creds = Credentials(access, f"secret{n}", f"token{n}")
        assert request.headers["x-amz-security-token"] == f"token{n}"
        assert request.headers["authorization"] == botocore_authorization(request, api.endpoint, creds)
    assert first.headers["authorization"].split("/")[0] != second.headers["authorization"].split("/")[0]
