"""Settings read once from the environment and validated, so a bad deploy fails loudly at start.

Every limit and timeout is an environment variable with a documented default
(docs/configuration.md, which tests/test_docs.py checks against these fields). Nothing else in
the package reads ``os.environ``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

DEFAULT_STUN_URLS = ["stun:stun.l.google.com:19302"]
TURN_SECRET_MIN_CHARS = 16  # shorter shared secrets make TURN credentials guessable
IDENTITY_SECRET_MIN_CHARS = 32  # the HMAC key behind device identities: 256 bits as text
DEFAULT_RATES: dict[str, tuple[float, float]] = {
    # family: (burst, sustained per second). Signalling bursts for ICE candidates; chat and
    # register/next/resume ("seek") are stricter; "abuse" drains on every refusal and closes
    # the connection when empty.
    "signal": (60, 20),
    "chat": (5, 1),
    "typing": (10, 2),
    "seek": (5, 0.5),
    "misc": (20, 5),
    "abuse": (20, 1),
}


class ConfigError(RuntimeError):
    """The environment describes an impossible configuration; the message says which variable."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_cluster: bool = False
    redis_auth_secret_arn: str | None = None
    redis_timeout_seconds: float = Field(default=2.0, gt=0, le=30)
    key_prefix: str = Field(default="rvc", pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    management_api_url: str | None = None
    websocket_url: str | None = None
    log_level: str = "INFO"
    ice_servers: list[dict[str, Any]] | None = None
    stun_urls: list[str] = Field(default_factory=lambda: list(DEFAULT_STUN_URLS))
    turn_urls: list[str] = Field(default_factory=list)
    turn_secret: str | None = Field(default=None, min_length=TURN_SECRET_MIN_CHARS)
    turn_secret_arn: str | None = None
    turn_ttl_seconds: int = Field(default=3600, ge=60, le=86_400)
    max_message_bytes: int = Field(default=32_768, ge=1024, le=131_072)
    max_chat_chars: int = Field(default=1000, ge=1, le=10_000)
    idle_timeout_seconds: int = Field(default=600, ge=10, le=7200)
    connection_ttl_seconds: int = Field(default=7200, ge=60, le=7200)
    dedup_window_seconds: int = Field(default=60, ge=1, le=3600)
    match_scan_limit: int = Field(default=32, ge=1, le=1000)
    interest_fallback_seconds: float = Field(default=10, ge=0, le=3600)
    repeat_block_seconds: int = Field(default=300, ge=0, le=7200)
    resume_grace_seconds: int = Field(default=15, ge=0, le=600)
    # Both members of a new room relay something at once (the offer, the answer); a room in which
    # one of them has not this long after it formed lost an announcement, and the sweep ends it
    # (0: never).
    announce_seconds: float = Field(default=8, ge=0, le=600)
    # The peer of a room that ended is told at once by the handler, which then says so; a peer
    # nobody said was told this long after (the reply naming it was lost) is told by the sweep.
    end_notice_seconds: float = Field(default=3, ge=0, le=600)
    rate_limits: dict[str, tuple[float, float]] = Field(default_factory=lambda: dict(DEFAULT_RATES))
    # An address may be a carrier NAT with thousands of phones behind it: its limits are only a
    # backstop against floods. The per-device limits are what catch one abuser.
    max_connections_per_ip: int = Field(default=2000, ge=1, le=100_000)
    connections_per_ip_per_minute: int = Field(default=600, ge=1, le=100_000)
    new_devices_per_ip_per_minute: int = Field(default=120, ge=1, le=100_000)
    max_connections_per_device: int = Field(default=8, ge=1, le=1000)
    connections_per_device_per_minute: int = Field(default=30, ge=1, le=100_000)
    # Device identities (chalicelib/identity.py): the HMAC secret, or the ARN of a Secrets
    # Manager secret holding it; secrets that still verify after a rotation; their lifetime.
    identity_secret: str | None = Field(default=None, min_length=IDENTITY_SECRET_MIN_CHARS)
    identity_secret_arn: str | None = None
    identity_previous_secrets: list[str] = Field(default_factory=list)
    identity_ttl_days: int = Field(default=30, ge=1, le=400)
    # An address is banned only once this many distinct devices from it were banned.
    address_ban_devices: int = Field(default=3, ge=1, le=1000)
    # A device closed for abuse cannot open a socket again for this long.
    abuse_cooldown_seconds: int = Field(default=60, ge=0, le=86_400)
    allowed_origins: list[str] = Field(default_factory=list)
    report_threshold: int = Field(default=3, ge=1, le=1000)
    report_window_seconds: int = Field(default=3600, ge=60, le=30 * 86_400)
    ban_seconds: int = Field(default=86_400, ge=60, le=365 * 86_400)
    report_block_seconds: int = Field(default=86_400, ge=60, le=365 * 86_400)
    metrics_enabled: bool = True
    metrics_namespace: str = "RandomChat"
    # GET /stats is computed at most once this often, for every container (0: every call).
    stats_cache_seconds: float = Field(default=2, ge=0, le=60)
    # A relay trusts its room's copy of the seats this long before it asks the lobby again:
    # the bound on how long a copy a crashed handler left stale can be believed (0: never).
    room_view_lease_seconds: float = Field(default=30, ge=0, le=600)
    sweep_batch: int = Field(default=500, ge=1, le=10_000)
    sweep_window_seconds: float = Field(default=50.0, ge=0, le=55)
    service_name: str = "randomchat"
    aws_region: str = "us-east-1"

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if urlparse(value).scheme not in {"redis", "rediss", "unix"}:
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("redis_auth_secret_arn", "turn_secret_arn", "identity_secret_arn")
    @classmethod
    def _secret_arn(cls, value: str | None) -> str | None:
        if value and not (value.startswith("arn:") and ":secretsmanager:" in value):
            raise ValueError("must be the ARN of a Secrets Manager secret")
        return value or None

    @field_validator("identity_secret", mode="before")
    @classmethod
    def _no_identities(cls, value: str | None) -> str | None:
        return value or None  # IDENTITY_SECRET= (empty): no lasting device identities

    @field_validator("management_api_url")
    @classmethod
    def _http_scheme(cls, value: str | None) -> str | None:
        if value and urlparse(value).scheme not in {"http", "https"}:
            raise ValueError("must be an http:// or https:// URL including the stage")
        return value or None

    @field_validator("websocket_url")
    @classmethod
    def _ws_scheme(cls, value: str | None) -> str | None:
        if value and urlparse(value).scheme not in {"ws", "wss"}:
            raise ValueError("must be a ws:// or wss:// URL")
        return value or None

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return value

    @field_validator("ice_servers")
    @classmethod
    def _ice(cls, value: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        for server in value or []:
            if "urls" not in server:
                raise ValueError("every ICE server needs 'urls'")
        return value

    @field_validator("rate_limits")
    @classmethod
    def _rates(cls, value: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        merged = {**DEFAULT_RATES, **value}
        unknown = set(merged) - set(DEFAULT_RATES)
        if unknown:
            raise ValueError(f"unknown families {sorted(unknown)}; known: {sorted(DEFAULT_RATES)}")
        for family, (burst, per_second) in merged.items():
            if burst < 1 or per_second <= 0:
                raise ValueError(f"{family} needs burst >= 1 and a positive rate")
        return merged

    @model_validator(mode="after")
    def _turn_pairs(self) -> Settings:
        """Credentials are useless without TURN URLs, and two secrets would be ambiguous."""
        if self.turn_secret and self.turn_secret_arn:
            raise ValueError("set TURN_SECRET or TURN_SECRET_ARN, not both")
        secret_var = "TURN_SECRET_ARN" if self.turn_secret_arn else "TURN_SECRET" if self.turn_secret else None
        if self.turn_urls and not secret_var:
            raise ValueError("TURN_URLS needs TURN_SECRET or TURN_SECRET_ARN")
        if secret_var and not self.turn_urls:
            raise ValueError(f"{secret_var} needs TURN_URLS")
        if self.identity_secret and self.identity_secret_arn:
            raise ValueError("set IDENTITY_SECRET or IDENTITY_SECRET_ARN, not both")
        return self

    def static_ice_servers(self) -> list[dict[str, Any]]:
        """ICE_SERVERS when given, else the STUN URLs; TURN credentials are added per connection."""
        if self.ice_servers is not None:
            return self.ice_servers
        return [{"urls": self.stun_urls}] if self.stun_urls else []


_FIELDS = {name.upper(): name for name in Settings.model_fields}
JSON_FIELDS: dict[str, Any] = {"ice_servers": [], "rate_limits": {}}
LIST_FIELDS = {"stun_urls", "turn_urls", "allowed_origins", "identity_previous_secrets"}


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings from ``environ`` (default ``os.environ``); unknown variables are ignored."""
    env = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    # Lambda sets AWS_REGION; local tools usually set only AWS_DEFAULT_REGION.
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region:
        raw["aws_region"] = region
    for var, field in _FIELDS.items():
        if var not in env or field == "aws_region":
            continue
        value: Any = env[var]
        if field in JSON_FIELDS:
            try:
                value = json.loads(value) if value.strip() else JSON_FIELDS[field]
            except ValueError as exc:
                raise ConfigError(f"{var} is not valid JSON: {exc}") from None
        elif field in LIST_FIELDS:
            value = [item.strip() for item in value.split(",") if item.strip()]
        raw[field] = value
    try:
        return Settings(**raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{str(err['loc'][0]).upper() if err['loc'] else 'settings'}: {err['msg']}"
            for err in exc.errors(include_url=False)
        )
        raise ConfigError(f"Invalid configuration: {problems}") from None


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process-wide settings, read on first use (a Lambda container reads them once)."""
    return load_settings()
