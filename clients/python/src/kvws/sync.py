"""A blocking client for scripts: the asyncio client on an event loop of its
own, in a daemon thread.

Every method blocks until the reply (or the error) comes. Subscription
events are either queued, to be taken with ``sub.next(timeout)`` or by
iterating, or handed to a callback, which then runs in the client's thread
(keep it short; it must not call the blocking client itself).
"""

from __future__ import annotations

import asyncio
import builtins
import queue
import threading
from typing import Any, Callable, Coroutine, Iterator, TypeVar

from . import aio
from .errors import KvwsError
from .events import Entry, Event, Json, Page, State

T = TypeVar("T")

_END = object()


def connect(url: str, **options: Any) -> Client:
    """Connects; takes the options of :func:`kvws.aio.connect`. A token
    function may be a plain function or a coroutine function; it runs in the
    client's thread."""
    return Client(url, **options)


class Client:
    """A blocking kvws client. Use as a context manager, or call ``close()``."""

    def __init__(self, url: str, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="kvws", daemon=True)
        self._thread.start()
        timeout = options.get("connect_timeout", 10.0) + 5
        try:
            self._client: aio.Client = self._call(aio.connect(url, **options), timeout)
        except BaseException:
            self._stop_loop()
            raise

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        if not self._thread.is_alive():
            coro.close()
            raise KvwsError("closed", "kvws: the client is closed")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()

    @property
    def state(self) -> str:
        return self._client.state

    @property
    def session(self) -> dict[str, Any] | None:
        return self._client.session

    def set(
        self,
        id: str,
        key: str,
        value: Json,
        *,
        if_rev: int | None = None,
        ttl_ms: int | None = None,
        ephemeral: bool = False,
    ) -> Entry:
        return self._call(
            self._client.set(id, key, value, if_rev=if_rev, ttl_ms=ttl_ms, ephemeral=ephemeral)
        )

    def get(self, id: str, key: str) -> Entry:
        return self._call(self._client.get(id, key))

    def delete(self, id: str, key: str, *, if_rev: int | None = None) -> bool:
        return self._call(self._client.delete(id, key, if_rev=if_rev))

    def list(
        self,
        id: str,
        *,
        prefix: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> Page:
        return self._call(self._client.list(id, prefix=prefix, after=after, limit=limit))

    def list_all(self, id: str, prefix: str = "") -> builtins.list[str]:
        return self._call(self._client.list_all(id, prefix))

    def subscribe(
        self,
        id: str,
        *,
        key: str | None = None,
        prefix: str | None = None,
        callback: Callable[[Event], None] | None = None,
    ) -> Subscription:
        """Watches a key or a prefix. Without a callback, events are queued
        for ``sub.next()`` and iteration."""
        sub = Subscription(self, callback)

        async def make() -> aio.Subscription:
            return self._client.subscribe(id, key=key, prefix=prefix, callback=sub._receive)

        sub._inner = self._call(make())
        return sub

    def on(self, event: str, listener: aio.Listener) -> Callable[[], None]:
        """Listens to a connection event (the listener runs in the client's thread)."""
        return self._client.on(event, listener)

    def close(self) -> None:
        """Closes the connection for good and stops the client's thread."""
        if not self._thread.is_alive():
            return
        try:
            self._call(self._client.close(), 10)
        finally:
            self._stop_loop()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Subscription:
    """A subscription of the blocking client."""

    def __init__(self, client: Client, callback: Callable[[Event], None] | None) -> None:
        self._client = client
        self._callback = callback
        self._queue: queue.Queue[Any] = queue.Queue()
        self._inner: aio.Subscription | None = None

    def _receive(self, event: Event) -> None:
        if self._callback is not None:
            self._callback(event)
        else:
            self._queue.put(event)
        if event.type == "error":
            self._queue.put(_END)

    @property
    def closed(self) -> bool:
        return self._inner is None or self._inner.closed

    @property
    def last_rev(self) -> int | None:
        return None if self._inner is None else self._inner.last_rev

    def wait_ready(self, timeout: float | None = None) -> State:
        """The first state; raises the server's error if refused."""
        assert self._inner is not None
        inner = self._inner

        async def ready() -> State:
            return await inner.ready

        return self._client._call(ready(), timeout)

    def next(self, timeout: float | None = None) -> Event | None:
        """The next event (without a callback); None once closed. Raises
        ``KvwsError("timeout")`` when none comes within ``timeout``."""
        if self._callback is not None:
            raise TypeError("kvws: this subscription delivers to its callback")
        try:
            event = self._queue.get(timeout=timeout)
        except queue.Empty:
            raise KvwsError("timeout", f"kvws: no event within {timeout} s") from None
        if event is _END:
            self._queue.put(_END)
            return None
        return event  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[Event]:
        while True:
            event = self.next()
            if event is None:
                return
            yield event

    def close(self) -> None:
        inner = self._inner
        if inner is None or inner.closed:
            return
        self._client._loop.call_soon_threadsafe(inner.close)
        self._queue.put(_END)
