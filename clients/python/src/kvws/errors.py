"""The one exception of the client."""

from __future__ import annotations

from typing import Any, Mapping


class KvwsError(Exception):
    """An error from the server (its ``code``) or from the client itself.

    Server codes: ``bad_request``, ``conflict``, ``too_large``,
    ``too_many_keys``, ``too_many_subscriptions``, ``store_full``,
    ``unauthenticated``, ``invalid_token``, ``token_expired``, ``forbidden``,
    ``storage_failed``, ``unavailable``. The client's own: ``connect_failed``,
    ``connection_lost``, ``timeout``, ``closed``, ``protocol``.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        rev: int | None = None,
        id: str | None = None,
        key: str | None = None,
        ids: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        #: For ``conflict``: the key's current revision.
        self.rev = rev
        self.id = id
        self.key = key
        #: For the ``token_expired`` notice: the ids whose grant expired.
        self.ids = ids

    @classmethod
    def from_reply(cls, m: Mapping[str, Any]) -> KvwsError:
        """The error a server's ``error`` message describes."""
        return cls(
            str(m.get("code", "unknown")),
            str(m.get("message", "the server refused the request")),
            rev=m.get("rev"),
            id=m.get("id"),
            key=m.get("key"),
            ids=m.get("ids"),
        )

    def __repr__(self) -> str:
        extra = f", rev={self.rev}" if self.rev is not None else ""
        return f"KvwsError({self.code!r}, {self.message!r}{extra})"
