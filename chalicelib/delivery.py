"""Sending events for one invocation, and what a ``GoneException`` means for state.

A 410 for a recipient means that recipient left without (or before) its ``$disconnect``:
its state is deleted and its peer, if it had one, is told. The sender of the action is never
deleted on someone else's 410.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import events
from .service import Service
from .store import Ended


@dataclass
class Outbox:
    service: Service
    endpoint: str
    sent: int = 0

    def send(self, cid: str, event: dict[str, Any]) -> bool:
        """Deliver ``event`` to ``cid``; if it is gone, clean it up and tell its peer."""
        self.sent += 1
        if self.service.sender.post(self.endpoint, cid, event):
            return True
        self.tell(self.service.store.disconnect(cid))
        return False

    def tell(self, ended: Ended) -> None:
        """Let the surviving member of an ended room know its stranger is gone."""
        if ended.peer:
            self.send(ended.peer, events.peer_disconnected(ended.room))

    def deliver_pair(self, waiter: str, waiter_name: str, newcomer: str, newcomer_name: str, room: str) -> bool:
        """Announce a match, the waiter (initiator) first.

        If the waiter is gone, it is deleted silently and False is returned: the newcomer has
        not heard of the room, so the caller simply looks for another partner for it.
        """
        ice = self.service.settings.ice_servers
        self.sent += 1
        if not self.service.sender.post(self.endpoint, waiter, events.matched(room, True, newcomer_name, ice)):
            self.service.store.disconnect(waiter)
            return False
        self.send(newcomer, events.matched(room, False, waiter_name, ice))
        return True
