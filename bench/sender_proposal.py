"""A proposal for ``chalicelib/sender.py``, measured: post_to_connection without botocore's client.

The handlers' own work is ~0.2 ms; one boto3 ``post_to_connection`` costs ~1 ms of CPU (request
serialization, event hooks, endpoint resolution, SigV4, urllib3). On Lambda, CPU is a share of a
vCPU proportional to memory (1769 MB = one vCPU), so at 256 MB that millisecond becomes ~7 ms
of billed duration per post. ``LeanSender`` signs with botocore's own SigV4 and posts with
urllib3 (both ship with the Lambda runtime), keeping the same contract: False on 410 only.

    python -m bench.sender_proposal       # CPU per post: current sender vs this one

Not used by the app: the lead decides (docs/decisions/0002-leaner-post-to-connection.md).
Caveat: moto intercepts botocore clients, not raw urllib3, so tests that read posts from moto
would use a loopback Management API (tests/support/fake_management_api.py) instead.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import Any
from urllib.parse import quote

os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")

log = logging.getLogger(__name__)
RETRY_STATUSES = {429, 500, 502, 503, 504}


def encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class LeanSender:
    """``post_to_connection`` as one signed urllib3 request; one retry on throttling, 5xx or a
    connection error, like the current client's ``max_attempts: 2``."""

    def __init__(self, region: str, override: str | None = None) -> None:
        self.region = region
        self.override = override
        self._lock = threading.Lock()
        self._ready = False

    def _setup(self) -> None:
        with self._lock:
            if self._ready:
                return
            import botocore.session
            import urllib3
            from botocore.auth import SigV4Auth
            from botocore.awsrequest import AWSRequest

            self._credentials = botocore.session.get_session().get_credentials()
            self._http = urllib3.PoolManager(maxsize=10, retries=False,
                                             timeout=urllib3.Timeout(connect=2.0, read=3.0))
            self._sigv4, self._request = SigV4Auth, AWSRequest
            self._errors = (urllib3.exceptions.HTTPError, OSError)
            self._ready = True

    def post(self, endpoint: str, connection_id: str, event: dict[str, Any]) -> bool:
        if not self._ready:
            self._setup()
        url = f"{endpoint}/@connections/{quote(connection_id, safe='')}"
        body = encode(event)
        for attempt in (1, 2):
            request = self._request(method="POST", url=url, data=body)
            self._sigv4(self._credentials.get_frozen_credentials(), "execute-api", self.region).add_auth(request)
            try:
                response = self._http.request("POST", url, body=body, headers=dict(request.headers.items()))
            except self._errors as exc:
                if attempt == 2:
                    log.error("post_to_connection %s failed: %r", connection_id, exc)
                continue
            if response.status == 410:
                return False
            if response.status < 300:
                return True
            if response.status not in RETRY_STATUSES or attempt == 2:
                log.error("post_to_connection %s failed: HTTP %s", connection_id, response.status)
                return True
        return True


def compare(iterations: int = 500) -> dict[str, dict[str, Any]]:
    from bench.common import summary_ms
    from bench.handlers import loopback_api
    from chalicelib.sender import ManagementApiSender

    event = {"event": "signal", "room_code": "q2Xk3v0l1RjbYtN5m8sPAg7E", "from": "alice", "type": "candidate",
             "data": {"candidate": "candidate:1 1 udp 2122260223 192.0.2.10 54400 typ host", "sdpMid": "0"}}
    out: dict[str, dict[str, Any]] = {}
    with loopback_api() as endpoint:
        senders = {"boto3 (current)": ManagementApiSender("us-east-1"),
                   "lean (proposed)": LeanSender("us-east-1", endpoint)}
        cpu: dict[str, list[float]] = {name: [] for name in senders}
        for i in range(iterations + 20):  # interleaved, so both see the same machine load
            for name, sender in senders.items():
                c0 = time.thread_time_ns()
                ok = sender.post(endpoint, "AbCdEfGhIjKlMnO=", event)
                c1 = time.thread_time_ns()
                assert ok
                if i >= 20:
                    cpu[name].append((c1 - c0) / 1e6)
        for name, sender in senders.items():
            gone = sender.post(endpoint, "GoneGoneGoneGon=", event)
            out[name] = {**summary_ms(cpu[name]), "410_is_false": gone is False}
    return out


if __name__ == "__main__":
    for name, row in compare().items():
        print(f"{name:18} CPU per post p50 {row['p50']:.3f} ms, p99 {row['p99']:.3f} ms; "
              f"410 -> False: {row['410_is_false']}")
