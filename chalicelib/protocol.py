"""Client messages: one pydantic model per action, parsed through one discriminated union.

Models are strict (no "5" for 5) and forbid extra fields, so a client cannot smuggle a
``target``, ``from`` or ``role``: the server decides those.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .errors import ClientError

NAME_MAX = 32
ROOM_CODE_MAX = 64
INTERESTS_MAX = 5
INTEREST_CHARS_MAX = 24
TOKEN_MAX = 64
SEQ_MAX = 2**31 - 1
# A batch of ICE candidates (signal type `candidates`): more than a browser gathers in one short
# window on a many-homed machine, and each line longer than any real candidate attribute.
CANDIDATES_MAX = 32
CANDIDATE_CHARS_MAX = 512
MID_CHARS_MAX = 32
UFRAG_CHARS_MAX = 256
MLINE_INDEX_MAX = 63
REPORT_REASONS = ("spam", "nudity", "harassment", "hate", "underage", "violence", "other")


# Bidirectional overrides and isolates reorder the text around them: "\u202etxt.exe" shows as
# "exe.txt". Plain right-to-left text needs none of them.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# What draws nothing on its own: format characters (zero-width space, joiners), spaces and marks.
INVISIBLE = frozenset({"Cf", "Zs", "Zl", "Zp", "Mn", "Me", "Cc"})


def _unsafe(text: str, allowed: str) -> bool:
    """Control characters and lone surrogates: invisible at best, unencodable at worst."""
    return any(unicodedata.category(ch) in {"Cc", "Cs"} and ch not in allowed for ch in text)


def _label_problem(text: str) -> str | None:
    """Why a short label (a display name, an interest) would show blank or reversed, or None."""
    if _unsafe(text, allowed=""):
        return "must not contain control characters"
    if any(ch in BIDI_CONTROLS for ch in text):
        return "must not contain text-direction controls"
    if all(unicodedata.category(ch) in INVISIBLE for ch in text):
        return "must contain a visible character"
    return None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN, Infinity: Python reads them, browsers do not


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Register(_Message):
    action: Literal["register"]
    name: str | None = None
    interests: list[str] = Field(default_factory=list, max_length=INTERESTS_MAX)

    @field_validator("interests")
    @classmethod
    def _normalise(cls, value: list[str]) -> list[str]:
        tags: list[str] = []
        for raw in value:
            tag = " ".join(raw.split()).lower()
            if not tag:
                continue
            if len(tag) > INTEREST_CHARS_MAX or _label_problem(tag):
                raise ValueError(f"each interest must be 1 to {INTEREST_CHARS_MAX} visible characters")
            if tag not in tags:
                tags.append(tag)
        return tags

    @field_validator("name")
    @classmethod
    def _trim(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = " ".join(value.split())
        problem = _label_problem(value) if value else None
        if problem:
            raise ValueError(f"name {problem}")
        if len(value) > NAME_MAX:
            raise ValueError(f"name must be at most {NAME_MAX} characters")
        return value or None


class Join(_Message):
    action: Literal["join"]
    room_code: str = Field(min_length=1, max_length=ROOM_CODE_MAX)


class IceCandidate(_Message):
    """One candidate as ``RTCIceCandidate.toJSON()`` gives it, and nothing more."""

    candidate: str = Field(max_length=CANDIDATE_CHARS_MAX)
    sdpMid: str | None = Field(default=None, max_length=MID_CHARS_MAX)  # the browser's names, as toJSON() gives them
    sdpMLineIndex: int | None = Field(default=None, ge=0, le=MLINE_INDEX_MAX)
    usernameFragment: str | None = Field(default=None, max_length=UFRAG_CHARS_MAX)

    @field_validator("candidate", "sdpMid", "usernameFragment")
    @classmethod
    def _no_controls(cls, value: str | None) -> str | None:
        if value is not None and _unsafe(value, allowed=""):
            raise ValueError("must not contain control characters")
        return value


class Candidates(_Message):
    """The data of a ``candidates`` signal: the ICE candidates one short gathering window found,
    in the order they were gathered, and ``end`` once gathering is complete (end-of-candidates).
    One frame instead of one per candidate: every frame is a billed message both ways."""

    candidates: list[IceCandidate] = Field(max_length=CANDIDATES_MAX)
    end: bool = False

    @model_validator(mode="after")
    def _says_something(self) -> Candidates:
        if not self.candidates and not self.end:
            raise ValueError("a batch holds at least one candidate or ends gathering")
        return self


class Signal(_Message):
    """``offer``, ``answer``, ``candidates`` (a batch, validated: the server relays it as sent) or
    ``candidate`` (one candidate, from pages loaded before batches; its data is relayed as is)."""

    action: Literal["signal"]
    room_code: str = Field(min_length=1, max_length=ROOM_CODE_MAX)
    type: Literal["offer", "answer", "candidate", "candidates"]
    data: dict[str, Any] | str | None = None

    @field_validator("data")
    @classmethod
    def _batch_shape(cls, value: dict[str, Any] | str | None, info: ValidationInfo) -> dict[str, Any] | str | None:
        if info.data.get("type") == "candidates":
            if not isinstance(value, dict):
                raise ValueError("must be an object {candidates, end}")
            Candidates.model_validate(value)
        return value


class Chat(_Message):
    """``room_code`` keeps a line meant for one stranger from reaching the next, since API
    Gateway does not order one connection's invocations; ``seq`` (the sender's own count) lets
    the receiving page restore the order the lines were typed in."""

    action: Literal["chat"]
    room_code: str = Field(min_length=1, max_length=ROOM_CODE_MAX)
    message: str
    seq: int | None = Field(default=None, ge=0, le=SEQ_MAX)

    @field_validator("message")
    @classmethod
    def _no_controls(cls, value: str) -> str:
        if _unsafe(value, allowed="\n\t"):
            raise ValueError("message must not contain control characters")
        return value


class Next(_Message):
    action: Literal["next"]


class Resume(_Message):
    action: Literal["resume"]
    token: str = Field(min_length=1, max_length=TOKEN_MAX)


class Typing(_Message):
    action: Literal["typing"]
    room_code: str = Field(min_length=1, max_length=ROOM_CODE_MAX)


class Report(_Message):
    action: Literal["report"]
    reason: Literal[REPORT_REASONS]  # type: ignore[valid-type]


class Leave(_Message):
    action: Literal["leave"]


class Ping(_Message):
    action: Literal["ping"]


Message = Annotated[
    Register | Join | Signal | Chat | Next | Leave | Ping | Resume | Typing | Report,
    Field(discriminator="action"),
]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(Message)


def parse(body: str | None, max_bytes: int) -> Any:
    """Turn a raw frame into a message model, or raise the ClientError that describes the fault."""
    if body is None:
        raise ClientError("bad_json")
    if len(body) > max_bytes or len(body.encode("utf-8", "surrogatepass")) > max_bytes:
        raise ClientError("too_large", f"Messages are limited to {max_bytes} bytes.")
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise ClientError("bad_json") from None
    if not isinstance(data, dict):
        raise ClientError("bad_json")
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise _client_error(exc) from None
    except RecursionError:
        raise ClientError("invalid_field", "The message is nested too deeply.") from None


def _client_error(exc: ValidationError) -> ClientError:
    first = exc.errors(include_url=False, include_input=False)[0]
    if first["type"] in {"union_tag_invalid", "union_tag_not_found"}:
        return ClientError("unknown_action")
    where = ".".join(str(part) for part in first["loc"][1:]) or "message"
    if first["type"] == "extra_forbidden":
        return ClientError("invalid_field", f"Unexpected field '{where}'.")
    if first["type"] == "missing":
        return ClientError("invalid_field", f"Missing field '{where}'.")
    reason = first["msg"].removeprefix("Value error, ")
    return ClientError("invalid_field", f"Invalid field '{where}': {reason}.")
