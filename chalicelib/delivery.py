"""Sending events for one invocation, and what a ``GoneException`` means for state.

A 410 for a recipient means that recipient's socket is gone. Its state is deleted; a seat in a
room is held for the resume grace period and its peer is told ``peer-reconnecting`` (or
``peer-disconnected`` when there is nothing to hold). The sender of the action is never deleted
on someone else's 410.

A peer told that its room ended is acknowledged to Redis once the post went through: until then
the script that ended the room keeps a notice, which the sweep delivers if nobody said it was
told (the reply naming the peer may have been lost, or the post failed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import events
from .outcomes import Announced, Ended, Matched, Pair, Queued, Stale, Told
from .service import Service


@dataclass
class Outbox:
    service: Service
    endpoint: str
    # Peers told their room ended, not yet acknowledged: the sweep acknowledges a whole pass at
    # once (batch=True); an action's handler does so as soon as it has told them.
    batch: bool = False
    told: list[Ended] = field(default_factory=list)

    def post(self, cid: str, event: dict[str, Any]) -> bool:
        return self.service.sender.post(self.endpoint, cid, event)

    def send(self, cid: str, event: dict[str, Any], *, hold: bool = True) -> bool:
        """Deliver ``event`` to ``cid``; if it is gone, clean it up and tell its peer."""
        if self.post(cid, event):
            return True
        self.tell(self.service.store.disconnect(cid, hold=hold))
        return False

    def tell(self, ended: Ended) -> None:
        """Let the other member of an ended (or held) room know."""
        if not ended.peer:
            return
        if ended.held:
            self.send(ended.peer, events.peer_reconnecting(ended.room))
            return
        if self.send(ended.peer, events.peer_disconnected(ended.room)):
            self.told.append(ended)
            if not self.batch:
                self.acknowledge()

    def acknowledge(self) -> None:
        """Tell Redis which peers heard their room end, so that the sweep does not tell them again."""
        told, self.told = self.told, []
        self.service.store.acknowledge(told)

    def close(self, cid: str) -> None:
        self.service.sender.close(self.endpoint, cid)

    def announce(self, pair: Pair) -> Announced:
        """Tell both members of a new room, the initiator (who waited) first.

        When a member is gone its room ends at once, held seat or not (it never received its
        token, so there is nothing to resume): a member already told hears
        ``peer-disconnected``; one not yet told goes back to looking, which may pair it again,
        and is announced in turn. The one re-match routine for handlers and the sweep alike.
        """
        ice, store = self.service.ice, self.service.store
        while True:
            to_initiator = events.matched(pair.room, True, pair.responder_name, ice.for_connection(pair.initiator),
                                          pair.initiator_token, pair.common)
            if not self.post(pair.initiator, to_initiator):
                match store.abandon(pair, gone=pair.initiator, told=False):
                    case Matched(pair=again):
                        pair = again
                        continue
                    case Queued():
                        self.send(pair.responder, events.queued(already=False))
                        return "queued"
                    case Stale():
                        return "stale"
                    case _:
                        return "not_connected"
            to_responder = events.matched(pair.room, False, pair.initiator_name, ice.for_connection(pair.responder),
                                          pair.responder_token, pair.common)
            if not self.post(pair.responder, to_responder):
                match store.abandon(pair, gone=pair.responder, told=True):
                    case Told(ended=ended):
                        self.tell(ended)
                return "gone"
            return "matched"
