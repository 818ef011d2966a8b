"""What every action handler receives: who is asking, and how to answer."""

from __future__ import annotations

from dataclasses import dataclass

from ..delivery import Outbox
from ..service import Service


@dataclass
class Context:
    service: Service
    connection_id: str
    outbox: Outbox
    message_id: str = ""
