"""What every action handler receives: who is asking, how to answer, and what to measure."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..delivery import Outbox
from ..metrics import Metrics
from ..service import Service


@dataclass
class Context:
    service: Service
    connection_id: str
    outbox: Outbox
    message_id: str = ""
    metrics: Metrics = field(default_factory=lambda: Metrics("RandomChat", "randomchat", enabled=False))
