"""What the client hands to a program: replies and subscription events."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Union

from .errors import KvwsError

#: Any JSON value, as ``json.loads`` returns it.
Json = Any


@dataclass(frozen=True)
class Entry:
    """A value and its revision; ``value`` None and ``rev`` 0 when absent."""

    value: Json
    rev: int


@dataclass(frozen=True)
class Page:
    """One page of ``list``: keys in byte order; ``more`` when others follow."""

    keys: list[str]
    more: bool


@dataclass(frozen=True)
class KeyValue:
    key: str
    value: Json
    rev: int


@dataclass(frozen=True)
class Change:
    """A key was set (``type`` "value") or deleted (``type`` "deleted").

    ``reason`` for a deletion: None (a delete), "expired" (TTL) or
    "disconnected" (an ephemeral key's owner left). ``replayed`` is True for
    the changes replayed after a reconnect.
    """

    type: Literal["value", "deleted"]
    id: str
    key: str
    value: Json
    rev: int
    reason: str | None = None
    replayed: bool = False


@dataclass(frozen=True)
class State:
    """The whole state of a subscription.

    ``type`` "snapshot": its first state; "resync": after a reconnect,
    changes may have been missed, so drop what you hold for the subscription
    and take ``values`` as the truth. ``values`` holds the keys that exist
    (for a key subscription zero or one), in key order.
    """

    type: Literal["snapshot", "resync"]
    id: str
    key: str | None
    prefix: str | None
    values: list[KeyValue]
    rev: int


@dataclass(frozen=True)
class Resumed:
    """After a reconnect: every change after ``since`` was delivered, the
    ``replayed`` ones just before this event."""

    id: str
    key: str | None
    prefix: str | None
    since: int
    rev: int
    replayed: int
    type: Literal["resumed"] = field(default="resumed")


@dataclass(frozen=True)
class Ended:
    """The subscription is over: the server refused it, or its token expired
    with no token function to renew it."""

    id: str
    key: str | None
    prefix: str | None
    error: KvwsError
    type: Literal["error"] = field(default="error")


Event = Union[State, Change, Resumed, Ended]
