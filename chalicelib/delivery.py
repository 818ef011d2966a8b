"""Sending events for one invocation, and what a ``GoneException`` means for state.

A 410 for a recipient means that recipient's socket is gone. Its state is deleted; a seat in a
room is held for the resume grace period and its peer is told ``peer-reconnecting`` (or
``peer-disconnected`` when there is nothing to hold). The sender of the action is never deleted
on someone else's 410.
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

    def post(self, cid: str, event: dict[str, Any]) -> bool:
        self.sent += 1
        return self.service.sender.post(self.endpoint, cid, event)

    def send(self, cid: str, event: dict[str, Any], *, hold: bool = True) -> bool:
        """Deliver ``event`` to ``cid``; if it is gone, clean it up and tell its peer."""
        if self.post(cid, event):
            return True
        self.tell(self.service.store.disconnect(cid, hold=hold))
        return False

    def tell(self, ended: Ended) -> None:
        """Let the other member of an ended (or held) room know."""
        if ended.peer:
            event = events.peer_reconnecting(ended.room) if ended.held else events.peer_disconnected(ended.room)
            self.send(ended.peer, event)

    def close(self, cid: str) -> None:
        self.service.sender.close(self.endpoint, cid)

    def deliver_pair(
        self, waiter: str, waiter_name: str, waiter_token: str,
        newcomer: str, newcomer_name: str, newcomer_token: str,
        room: str, interests: list[str],
    ) -> bool:
        """Announce a match, the waiter (initiator) first.

        If the waiter is gone, it is deleted silently and False is returned: the newcomer has
        not heard of the room, so the caller simply looks for another partner for it.
        """
        ice = self.service.ice
        to_waiter = events.matched(room, True, newcomer_name, ice.for_connection(waiter), waiter_token, interests)
        if not self.post(waiter, to_waiter):
            self.service.store.disconnect(waiter, hold=False)
            return False
        to_newcomer = events.matched(room, False, waiter_name, ice.for_connection(newcomer), newcomer_token, interests)
        self.send(newcomer, to_newcomer, hold=False)  # it never got its token: nothing to resume
        return True
