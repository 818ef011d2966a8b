"""What a state script answered, as one small frozen type per outcome.

``store.py`` decodes each script's reply into these once; handlers, the outbox and the sweep
``match`` on them and never read a reply's fields by name. A refusal is always :class:`Refused`
(its ``code`` is the stable error code the client gets) and a repeated delivery of one API
Gateway frame is always :class:`Duplicate` (do nothing: the first copy answered).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ConnectStatus = Literal["ok", "banned", "too_many"]
# How an announcement ended: both told, or what became of the member left (see Outbox.announce).
Announced = Literal["matched", "queued", "gone", "stale", "not_connected"]


@dataclass(frozen=True)
class Ended:
    """A room an action ended or put on hold: ``peer`` must be told, unless it is empty."""

    peer: str = ""
    room: str = ""
    held: bool = False


@dataclass(frozen=True)
class Pair:
    """A room just formed (or formed again for a member that never heard of it): the initiator
    waited longer and makes the offer."""

    initiator: str
    initiator_name: str
    responder: str
    responder_name: str
    room: str
    initiator_token: str
    responder_token: str
    common: tuple[str, ...]
    waited_ms: int


@dataclass(frozen=True)
class Refused:
    """The script changed nothing but the sender's abuse bucket; ``close`` when that ran dry
    (then the script also ended the sender's room, whose peer ``ended`` must be told)."""

    code: str
    retry_ms: int = 0
    close: bool = False
    ended: Ended | None = None


@dataclass(frozen=True)
class Duplicate:
    """The same client frame, delivered again: its first copy did and answered everything."""


@dataclass(frozen=True)
class Matched:
    """``pair`` formed (``again``: re-announced to a member that never joined it); ``left`` is
    the room a ``next`` ended on the way."""

    pair: Pair
    left: Ended = Ended()
    again: bool = False
    identity: str = ""


@dataclass(frozen=True)
class Queued:
    """Waiting for a partner (``already``: it was, before this call)."""

    queue_length: int
    already: bool = False
    left: Ended = Ended()
    identity: str = ""


@dataclass(frozen=True)
class Told:
    """A room's announcement failed for one member; the other, told already, must hear it ended."""

    ended: Ended


@dataclass(frozen=True)
class Stale:
    """The room had already ended: whoever ended it told whom it had to."""


@dataclass(frozen=True)
class Left:
    ended: Ended


@dataclass(frozen=True)
class Resumed:
    room: str
    initiator: bool
    peer: str
    peer_name: str
    peer_away: bool  # the peer's own socket is gone too, its seat held
    token: str  # the seat's new resume token
    identity: str = ""


@dataclass(frozen=True)
class Verified:
    role: str


@dataclass(frozen=True)
class Relayed:
    """Deliver to ``peer``, the sender's current peer as the server records it."""

    peer: str
    name: str
    room: str


@dataclass(frozen=True)
class Reported:
    """The chat ended (``ended``); when the report banned the peer, ``closing`` are the banned
    sockets to tell and close, and ``others`` the rooms they were in."""

    ended: Ended
    banned: bool = False
    closing: tuple[str, ...] = ()
    others: tuple[Ended, ...] = ()


@dataclass(frozen=True)
class Pong:
    identity: str = ""


@dataclass(frozen=True)
class Swept:
    evicted: int
    ended: tuple[Ended, ...]
    pairs: tuple[Pair, ...]
    next_due: int
    endpoint: str


@dataclass(frozen=True)
class Stats:
    waiting: int
    chatting: int
    online: int
    matches: int  # in the last minute
    waits: tuple[int, ...]  # ms a sample of those matches waited (up to 16 a second)
