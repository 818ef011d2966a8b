"""Everything the gateway can be told, with AWS's numbers as defaults so local runs match production."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from localdev.events import Api

# API Gateway WebSocket quotas (https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html).
AWS_MAX_MESSAGE_BYTES = 128 * 1024
AWS_IDLE_TIMEOUT_S = 10 * 60
AWS_MAX_CONNECTION_S = 2 * 60 * 60
# Real API ids are 10 lowercase alphanumerics; a fixed one keeps logs and tests stable.
LOCAL_API_ID = "localdev01"


@dataclass(frozen=True)
class Settings:
    app_dir: Path
    host: str = "127.0.0.1"
    port: int = 8000
    chalice_stage: str = "dev"
    api_stage: str | None = None  # None: .chalice/config.json's api_gateway_stage, else "api"
    ws_path: str = "/ws"
    region: str = "us-east-1"
    workers: int = 16
    # Invocations of one connection that may run at once; the rest wait in its own queue, served
    # round-robin with the other connections', so one noisy socket cannot starve the others.
    per_connection: int = 4
    processes: int = 0  # > 0: WebSocket and schedule handlers run in this many worker processes
    quiet: bool = False  # no per-event log lines (errors are still logged)
    serial_per_connection: bool = False
    max_message_bytes: int = AWS_MAX_MESSAGE_BYTES
    idle_timeout_s: float = AWS_IDLE_TIMEOUT_S
    max_connection_s: float = AWS_MAX_CONNECTION_S
    disconnect_loss: float = 0.0  # fraction of $disconnect events dropped, as AWS may drop them
    schedule_interval_s: float | None = None  # None: each schedule's own rate()/cron()
    schedules: bool = True
    reload: bool = True
    reload_poll_s: float = 1.0

    @property
    def client_host(self) -> str:
        """The address clients should use: a wildcard bind is reachable on loopback."""
        if self.host in ("", "0.0.0.0"):
            return "127.0.0.1"
        if self.host == "::":
            return "[::1]"
        return f"[{self.host}]" if ":" in self.host else self.host

    @property
    def origin(self) -> str:
        return f"{self.client_host}:{self.port}"

    def api(self, stage: str) -> Api:
        # domainName is host:port (not *.execute-api.*.amazonaws.com) so code that builds
        # a URL from it reaches this gateway.
        return Api(api_id=LOCAL_API_ID, stage=stage, domain_name=self.origin)

    def management_url(self, stage: str) -> str:
        return f"http://{self.origin}/{stage}"

    def websocket_url(self) -> str:
        return f"ws://{self.origin}{self.ws_path}"
