"""The composition root: settings, store and sender, built once per process and shared."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .config import Settings, settings
from .ice import IceServers
from .identity import Identities
from .keys import Keys
from .sender import ManagementApiSender, Sender
from .store import Policy, Store


@dataclass
class Service:
    settings: Settings
    store: Store
    sender: Sender
    ice: IceServers
    identities: Identities

    def endpoint_for(self, api_id: str, stage: str) -> str:
        if self.settings.management_api_url:
            return self.settings.management_api_url
        return f"https://{api_id}.execute-api.{self.settings.aws_region}.amazonaws.com/{stage}"


def policy_from(config: Settings) -> Policy:
    return Policy(
        fallback_ms=int(config.interest_fallback_seconds * 1000),
        repeat_ms=config.repeat_block_seconds * 1000,
        grace_ms=config.resume_grace_seconds * 1000,
        scan=config.match_scan_limit,
        rates={family: (burst, 1000 / per_second) for family, (burst, per_second) in config.rate_limits.items()},
        conn_rate=config.connections_per_ip_per_minute,
        conn_max=config.max_connections_per_ip,
        new_dev_rate=config.new_devices_per_ip_per_minute,
        dev_rate=config.connections_per_device_per_minute,
        dev_max=config.max_connections_per_device,
        address_ban_devices=config.address_ban_devices,
        cooldown_ms=config.abuse_cooldown_seconds * 1000,
        report_threshold=config.report_threshold,
        report_window_ms=config.report_window_seconds * 1000,
        ban_ms=config.ban_seconds * 1000,
        block_ms=config.report_block_seconds * 1000,
        announce_ms=int(config.announce_seconds * 1000),
        notice_ms=int(config.end_notice_seconds * 1000),
        stats_cache_ms=int(config.stats_cache_seconds * 1000),
        view_lease_ms=int(config.room_view_lease_seconds * 1000),
        # A retried copy is sent one timeout (and a short back-off) after the first: keep the
        # first's answer a little longer than two timeouts, and no longer.
        call_ms=int(config.redis_timeout_seconds * 2000) + 1000,
    )


def build(config: Settings, *, client: Any = None, sender: Sender | None = None, clock: Any = None) -> Service:
    """Wire a service; tests and benchmarks pass their own client, sender or clock."""
    if client is None:
        from .redis_client import make_client

        client = make_client(config)
    extra = {"clock": clock} if clock is not None else {}
    store = Store(
        client,
        Keys(config.key_prefix),
        idle_ms=config.idle_timeout_seconds * 1000,
        cap_ms=config.connection_ttl_seconds * 1000,
        dedup_ms=config.dedup_window_seconds * 1000,
        policy=policy_from(config),
        fence_ms=int(config.redis_timeout_seconds * 500),  # half the timeout: a reply has time to arrive
        **extra,
    )
    if sender is None:
        sender = ManagementApiSender(config.aws_region)
    return Service(config, store, sender, IceServers(config), Identities(config))


@lru_cache(maxsize=1)
def default() -> Service:
    """The service a Lambda container uses for all its invocations."""
    config = settings()
    logging.getLogger().setLevel(config.log_level)
    logging.getLogger("chalicelib").setLevel(config.log_level)
    return build(config)
