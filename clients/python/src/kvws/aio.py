"""The asyncio client.

How it works, in short:

- One WebSocket at a time. Every request carries an increasing ``req``; its
  reply (or error) carries the same ``req`` and settles the request.
- Notifications (``value``/``deleted`` without ``req``) are routed to every
  local subscription whose id and key or prefix match. Each subscription
  remembers the largest revision it has delivered and never delivers a
  change twice.
- A subscription whose ``subscribe`` is in flight buffers what matches it.
  Its reply tells what the buffered messages were: a replay of missed
  changes (delivered in revision order, then a ``Resumed`` event) or a
  snapshot (for a prefix, the ``value`` messages right before the reply,
  which the server sends as one unbroken block; delivered as one ``State``).
- When the connection is lost the client reconnects with exponential backoff
  and jitter, authenticates again (calling the token function if it is one),
  resubscribes every subscription with ``since`` = the last revision it saw,
  then sends the requests that waited.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import inspect
import json
import logging
import random
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Literal, Optional, Union

import websockets
from websockets.asyncio.client import ClientConnection

from .errors import KvwsError
from .events import Change, Ended, Entry, Event, Json, KeyValue, Page, Resumed, State

log = logging.getLogger("kvws")

#: A token, or a function (plain or async) that returns a fresh one.
TokenSource = Union[str, Callable[[], Union[str, Awaitable[str]]]]

#: Listener of a connection event: gets a dict of details.
Listener = Callable[[dict[str, Any]], None]

_REFUSED = ("invalid_token", "token_expired", "forbidden")


@dataclass
class _Pending:
    msg: dict[str, Any]
    on_reply: Callable[[dict[str, Any], list[dict[str, Any]]], None]
    on_error: Callable[[KvwsError], None]
    req: int | None = None


async def connect(
    url: str,
    *,
    token: TokenSource | None = None,
    connect_timeout: float = 10.0,
    request_timeout: float | None = 30.0,
    backoff_initial: float = 0.1,
    backoff_max: float = 5.0,
    refresh: bool = True,
    refresh_margin: float = 60.0,
    websocket_options: dict[str, Any] | None = None,
) -> Client:
    """Connects (and authenticates); raises :class:`KvwsError` if that first
    attempt fails. Afterwards the client reconnects by itself."""
    client = Client(
        url,
        token=token,
        connect_timeout=connect_timeout,
        request_timeout=request_timeout,
        backoff_initial=backoff_initial,
        backoff_max=backoff_max,
        refresh=refresh,
        refresh_margin=refresh_margin,
        websocket_options=websocket_options,
    )
    await client._start()
    return client


class Client:
    """A connection to a kvws server that survives disconnections.

    Make one with :func:`connect`. Times are in seconds.
    """

    def __init__(
        self,
        url: str,
        *,
        token: TokenSource | None = None,
        connect_timeout: float = 10.0,
        request_timeout: float | None = 30.0,
        backoff_initial: float = 0.1,
        backoff_max: float = 5.0,
        refresh: bool = True,
        refresh_margin: float = 60.0,
        websocket_options: dict[str, Any] | None = None,
    ) -> None:
        self.url = url
        self._token = token
        self._connect_timeout = connect_timeout
        self._request_timeout = request_timeout
        self._backoff_initial = backoff_initial
        self._backoff_max = max(backoff_max, backoff_initial)
        self._refresh_enabled = refresh
        self._refresh_margin = refresh_margin
        self._ws_options: dict[str, Any] = {"max_size": 64 * 1024 * 1024}
        self._ws_options.update(websocket_options or {})
        self._ws: ClientConnection | None = None
        self._out: asyncio.Queue[str] | None = None
        self._state = "connecting"
        self._connecting = False
        self._next_req = 1
        self._inflight: dict[int, _Pending] = {}
        self._waiting: list[_Pending] = []
        self._subs: list[Subscription] = []
        self._since_reply: list[dict[str, Any]] | None = None
        self._collecting = 0
        self._listeners: dict[str, list[Listener]] = {}
        self._failures = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reconnect_task: asyncio.Task[None] | None = None
        self._refresh_timer: asyncio.TimerHandle | None = None
        self._expires: int | None = None
        self._session: dict[str, Any] | None = None
        self._round: dict[str, Any] | None = None

    # ---- state and events ----------------------------------------------

    @property
    def state(self) -> str:
        """"connecting", "authenticating", "open", "reconnecting" or "closed"."""
        return self._state

    @property
    def session(self) -> dict[str, Any] | None:
        """The last ``authenticated`` reply (role, ids, access, expires), or None."""
        return self._session

    def on(self, event: str, listener: Listener) -> Callable[[], None]:
        """Listens to a connection event ("connecting", "open", "closed",
        "resynced", "authenticated", "error"); returns a function that stops."""
        self._listeners.setdefault(event, []).append(listener)
        return lambda: self.off(event, listener)

    def off(self, event: str, listener: Listener) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.get(event, []).remove(listener)

    def _emit(self, event: str, **detail: Any) -> None:
        listeners = list(self._listeners.get(event, []))
        if not listeners:
            if event == "error" and detail.get("thrown"):
                log.error("kvws: a callback raised", exc_info=detail["error"])
            elif event == "error":
                log.debug("kvws: %s", detail["error"])
            return
        for fn in listeners:
            try:
                fn(detail)
            except Exception as e:  # noqa: BLE001 - a listener's bug must not stop the client
                if event != "error":
                    self._emit("error", error=e, thrown=True)
                else:
                    log.error("kvws: an error listener raised", exc_info=e)

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ---- requests -------------------------------------------------------

    async def set(
        self,
        id: str,
        key: str,
        value: Json,
        *,
        if_rev: int | None = None,
        ttl_ms: int | None = None,
        ephemeral: bool = False,
    ) -> Entry:
        """Stores ``value`` (any JSON value); returns the stored value and its
        new revision. ``if_rev``: only if the key's revision is this (0: only
        if absent), else a ``conflict`` error."""
        msg: dict[str, Any] = {"type": "set", "id": id, "key": key, "value": value}
        json.dumps(value)  # a value JSON cannot carry fails here, not on the wire
        if if_rev is not None:
            msg["if_rev"] = if_rev
        if ttl_ms is not None:
            msg["ttl_ms"] = ttl_ms
        if ephemeral:
            msg["ephemeral"] = True
        m = await self._request(msg)
        return Entry(m.get("value"), m["rev"])

    async def get(self, id: str, key: str) -> Entry:
        """The value and revision of a key; ``Entry(None, 0)`` when absent."""
        m = await self._request({"type": "get", "id": id, "key": key})
        return Entry(m.get("value"), m["rev"])

    async def delete(self, id: str, key: str, *, if_rev: int | None = None) -> bool:
        """Deletes a key; True if it existed."""
        msg: dict[str, Any] = {"type": "delete", "id": id, "key": key}
        if if_rev is not None:
            msg["if_rev"] = if_rev
        m = await self._request(msg)
        return bool(m["rev"] > 0)

    async def list(
        self,
        id: str,
        *,
        prefix: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> Page:
        """One page of keys in byte order."""
        msg: dict[str, Any] = {"type": "list", "id": id}
        for name, v in (("prefix", prefix), ("after", after), ("limit", limit)):
            if v is not None:
                msg[name] = v
        m = await self._request(msg)
        return Page(list(m["keys"]), bool(m["more"]))

    async def list_all(self, id: str, prefix: str = "") -> builtins.list[str]:
        """Every key under ``prefix``, paging with ``list``."""
        keys: builtins.list[str] = []
        after: str | None = None
        while True:
            page = await self.list(id, prefix=prefix, after=after, limit=1000)
            keys.extend(page.keys)
            if not page.more or not page.keys:
                return keys
            after = page.keys[-1]

    def subscribe(
        self,
        id: str,
        *,
        key: str | None = None,
        prefix: str | None = None,
        callback: Callable[[Event], None] | None = None,
    ) -> Subscription:
        """Watches a key or every key under a prefix.

        ``callback`` is called with every event, in order, in the event
        loop; without one, the events are queued for ``async for event in
        sub`` (or ``await sub.next()``).
        """
        if self._state == "closed":
            raise KvwsError("closed", "kvws: the client is closed")
        if (key is None) == (prefix is None):
            raise TypeError("kvws: subscribe to a key or a prefix (one of them)")
        sub = Subscription(self, id, key, prefix, callback)
        self._subs.append(sub)
        if self._state == "open":
            self._send_subscribe(sub)
        return sub

    async def close(self) -> None:
        """Closes the connection for good; waiting requests fail with ``closed``."""
        if self._state == "closed":
            return
        ws = self._ws
        self._shutdown(KvwsError("closed", "kvws: the client was closed"))
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 2)
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _shutdown(self, error: KvwsError) -> None:
        was_open = self._ws is not None
        self._state = "closed"
        if self._reconnect_task is not None and self._reconnect_task is not asyncio.current_task():
            self._reconnect_task.cancel()
        if self._ws is not None:
            self._drop_socket(self._ws, error)
        waiting, self._waiting = self._waiting, []
        for p in waiting:
            p.on_error(error)
        subs, self._subs = self._subs, []
        for sub in subs:
            sub._end(None if error.code == "closed" else error)
        self._emit(
            "closed",
            code=1000 if was_open else None,
            reason=error.message,
            will_reconnect=False,
            error=error,
        )

    async def _request(self, msg: dict[str, Any]) -> dict[str, Any]:
        if self._state == "closed":
            raise KvwsError("closed", "kvws: the client is closed")
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

        def reply(m: dict[str, Any], _block: builtins.list[dict[str, Any]]) -> None:
            if not fut.done():
                fut.set_result(m)

        def error(e: KvwsError) -> None:
            if not fut.done():
                fut.set_exception(e)

        p = _Pending(msg, reply, error)
        if self._state == "open":
            self._transmit(p)
        else:
            self._waiting.append(p)
        try:
            if self._request_timeout:
                return await asyncio.wait_for(fut, self._request_timeout)
            return await fut
        except (TimeoutError, asyncio.TimeoutError):
            raise KvwsError(
                "timeout", f"kvws: no reply to {msg['type']} within {self._request_timeout} s"
            ) from None
        finally:
            if not fut.done() or fut.cancelled():
                self._forget(p)

    def _forget(self, p: _Pending) -> None:
        with contextlib.suppress(ValueError):
            self._waiting.remove(p)
        if p.req is not None:
            self._inflight.pop(p.req, None)

    def _transmit(self, p: _Pending) -> None:
        """Sends a request on the current connection (in order, through its writer)."""
        assert self._out is not None
        p.req = self._next_req
        self._next_req += 1
        self._inflight[p.req] = p
        self._out.put_nowait(json.dumps({**p.msg, "req": p.req}, separators=(",", ":")))

    def _flush_waiting(self) -> None:
        waiting, self._waiting = self._waiting, []
        for p in waiting:
            self._transmit(p)

    # ---- connecting -------------------------------------------------------

    async def _start(self) -> None:
        try:
            await self._connect_once(False)
        except BaseException as e:
            if self._state != "closed":
                err = e if isinstance(e, KvwsError) else KvwsError("connect_failed", str(e))
                self._shutdown(err)
            raise

    async def _token_text(self) -> str:
        t = self._token
        if callable(t):
            r = t()
            if inspect.isawaitable(r):
                r = await r
            return str(r)
        return str(t)

    async def _open_socket(self) -> ClientConnection:
        try:
            return await asyncio.wait_for(
                websockets.connect(self.url, open_timeout=None, **self._ws_options),
                self._connect_timeout,
            )
        except (TimeoutError, asyncio.TimeoutError):
            raise KvwsError(
                "timeout", f"kvws: connecting to {self.url} took over {self._connect_timeout} s"
            ) from None
        except (OSError, websockets.exceptions.WebSocketException) as e:
            raise KvwsError("connect_failed", f"kvws: cannot connect to {self.url}: {e}") from e

    async def _connect_once(self, reconnect: bool) -> None:
        """Opens a socket, authenticates, resubscribes and sends what waited."""
        self._state = "reconnecting" if reconnect else "connecting"
        self._emit("connecting", attempt=self._failures + 1, reconnect=reconnect)
        self._connecting = True
        session = None
        try:
            ws = await self._open_socket()
            if self._state == "closed":
                await ws.close()
                raise KvwsError("closed", "kvws: the client was closed")
            self._attach(ws)
            if self._token is not None:
                self._state = "authenticating"
                try:
                    session = await asyncio.wait_for(self._authenticate(), self._connect_timeout)
                except (TimeoutError, asyncio.TimeoutError):
                    raise KvwsError(
                        "timeout", f"kvws: authenticating took over {self._connect_timeout} s"
                    ) from None
        except BaseException as e:
            if self._ws is not None:
                err = e if isinstance(e, KvwsError) else KvwsError("connection_lost", str(e))
                self._drop_socket(self._ws, err)
            raise
        finally:
            self._connecting = False
        self._failures = 0
        self._state = "open"
        self._emit("open", reconnect=reconnect, session=session)
        subs = list(self._subs)
        if reconnect:
            self._start_round(subs)
        for sub in subs:
            self._send_subscribe(sub)
        self._flush_waiting()

    def _attach(self, ws: ClientConnection) -> None:
        self._ws = ws
        out: asyncio.Queue[str] = asyncio.Queue()
        self._out = out
        self._spawn(self._reader(ws))
        self._spawn(self._writer(ws, out))

    async def _writer(self, ws: ClientConnection, out: asyncio.Queue[str]) -> None:
        with contextlib.suppress(websockets.exceptions.ConnectionClosed):
            while True:
                await ws.send(await out.get())

    async def _reader(self, ws: ClientConnection) -> None:
        try:
            async for data in ws:
                text = data if isinstance(data, str) else data.decode("utf-8", "replace")
                self._on_message(text)
        except websockets.exceptions.ConnectionClosed:
            pass
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - any failure ends this connection
            log.debug("kvws: reading failed: %r", e)
        self._on_close(ws)

    async def _authenticate(self) -> dict[str, Any]:
        """Presents a token (fetched anew if the option is a function)."""
        token = await self._token_text()
        if self._ws is None:
            raise KvwsError("connection_lost", "kvws: the connection was lost")
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

        def reply(m: dict[str, Any], _block: builtins.list[dict[str, Any]]) -> None:
            if not fut.done():
                fut.set_result(m)

        def error(e: KvwsError) -> None:
            if not fut.done():
                fut.set_exception(e)

        self._transmit(_Pending({"type": "auth", "token": token}, reply, error))
        reply_msg = await fut
        self._session = reply_msg
        self._emit("authenticated", session=reply_msg)
        self._schedule_refresh(reply_msg.get("expires"))
        return reply_msg

    def _schedule_refresh(self, expires: Any) -> None:
        """Refreshes the token a margin before it expires (token functions only)."""
        if self._refresh_timer is not None:
            self._refresh_timer.cancel()
            self._refresh_timer = None
        self._expires = expires if isinstance(expires, int) else None
        if not callable(self._token) or not self._refresh_enabled or self._expires is None:
            return
        left = self._expires - time.time()
        margin = min(self._refresh_margin, left / 4)
        delay = max(0.0, left - margin)
        loop = asyncio.get_running_loop()
        self._refresh_timer = loop.call_later(delay, lambda: self._spawn(self._refresh()))

    async def _refresh(self) -> None:
        if self._state != "open":
            return  # a reconnect authenticates anyway
        try:
            await self._authenticate()
        except KvwsError as e:
            if self._state == "closed":
                return
            self._emit("error", error=e)
            left = (self._expires or 0) - time.time()
            if left > 0:
                loop = asyncio.get_running_loop()
                self._refresh_timer = loop.call_later(
                    min(1.0, left / 2), lambda: self._spawn(self._refresh())
                )

    def _on_close(self, ws: ClientConnection) -> None:
        if ws is not self._ws:
            return
        code = ws.close_code
        reason = ws.close_reason or ""
        lost = KvwsError(
            "connection_lost",
            f"kvws: the connection was lost (close {code}{': ' + reason if reason else ''})",
        )
        self._drop_socket(ws, lost)
        if self._state == "closed" or self._connecting:
            return  # while connecting, the attempt itself fails and is retried
        self._state = "reconnecting"
        self._emit("closed", code=code, reason=reason, will_reconnect=True, error=lost)
        self._reconnect_task = self._spawn(self._reconnect_loop())

    def _drop_socket(self, ws: ClientConnection, error: KvwsError) -> None:
        """Forgets a socket: requests in flight on it fail, subscriptions wait to be resent."""
        if ws is self._ws:
            self._ws = None
            self._out = None
        self._spawn(self._close_quietly(ws))
        if self._refresh_timer is not None:
            self._refresh_timer.cancel()
            self._refresh_timer = None
        inflight = list(self._inflight.values())
        self._inflight.clear()
        self._since_reply = None
        self._collecting = 0
        self._round = None
        for sub in self._subs:
            sub._lost()
        lost = error if error.code == "closed" else KvwsError("connection_lost", error.message)
        for p in inflight:
            p.on_error(lost)

    @staticmethod
    async def _close_quietly(ws: ClientConnection) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(), 2)

    async def _reconnect_loop(self) -> None:
        while self._state != "closed":
            base = min(self._backoff_max, self._backoff_initial * 2 ** min(self._failures, 30))
            # Equal jitter: half fixed, half random, so that clients that lost
            # the same server do not all come back at the same instant.
            await asyncio.sleep(base / 2 + random.random() * base / 2)
            try:
                await self._connect_once(True)
                return
            except KvwsError as e:
                if self._state == "closed":
                    return
                self._failures += 1
                if e.code in _REFUSED and not callable(self._token):
                    self._shutdown(e)  # the same token would be refused forever
                    return
                self._emit("error", error=e)
            except Exception as e:  # noqa: BLE001 - e.g. a token function that raised
                if self._state == "closed":
                    return
                self._failures += 1
                self._emit("error", error=e)

    # ---- subscriptions ----------------------------------------------------

    def _send_subscribe(self, sub: Subscription) -> None:
        msg: dict[str, Any] = {"type": "subscribe", "id": sub.id}
        if sub.key is not None:
            msg["key"] = sub.key
        else:
            msg["prefix"] = sub.prefix
        if sub.last_rev is not None:
            msg["since"] = sub.last_rev
        sub._pending(sub.last_rev)
        is_prefix = sub.prefix is not None
        if is_prefix:
            self._collecting += 1
            if self._since_reply is None:
                self._since_reply = []
        ws = self._ws

        def done() -> None:
            if is_prefix and ws is self._ws:
                self._collecting -= 1
                if self._collecting == 0:
                    self._since_reply = None

        def reply(m: dict[str, Any], block: builtins.list[dict[str, Any]]) -> None:
            done()
            if sub in self._subs:
                self._round_done(sub, sub._settle(m, block))

        def error(e: KvwsError) -> None:
            done()
            if e.code in ("connection_lost", "closed"):
                return  # resubscribed on reconnect
            if sub in self._subs:
                self._subs.remove(sub)
            sub._end(e)
            self._round_done(sub, "failed")

        self._transmit(_Pending(msg, reply, error))

    def _start_round(self, subs: builtins.list[Subscription]) -> None:
        self._round = {"waiting": set(map(id, subs)), "resumed": 0, "resynced": 0, "failed": 0}
        if not subs:
            self._finish_round()

    def _round_done(self, sub: Subscription, outcome: str) -> None:
        r = self._round
        if r is None or id(sub) not in r["waiting"]:
            return
        r["waiting"].discard(id(sub))
        if outcome == "resumed":
            r["resumed"] += 1
        elif outcome == "failed":
            r["failed"] += 1
        elif outcome != "closed":
            r["resynced"] += 1
        if not r["waiting"]:
            self._finish_round()

    def _finish_round(self) -> None:
        r = self._round
        self._round = None
        if r is not None:
            self._emit("resynced", resumed=r["resumed"], resynced=r["resynced"], failed=r["failed"])

    def _unsubscribe(self, sub: Subscription) -> None:
        if sub not in self._subs:
            return
        self._subs.remove(sub)
        same = any(
            s.id == sub.id and s.key == sub.key and s.prefix == sub.prefix for s in self._subs
        )
        self._round_done(sub, "closed")
        # Nothing to undo on the server if it was not subscribed on this connection.
        if same or sub._state == "waiting" or self._out is None:
            return
        msg: dict[str, Any] = {"type": "unsubscribe", "id": sub.id}
        if sub.key is not None:
            msg["key"] = sub.key
        else:
            msg["prefix"] = sub.prefix
        self._out.put_nowait(json.dumps(msg))  # no req: no reply

    async def _on_token_expired(self, m: dict[str, Any]) -> None:
        """The server dropped the subscriptions of ``ids``: authenticate again and resubscribe."""
        ids = m.get("ids") or ["*"]
        hit = [s for s in self._subs if "*" in ids or s.id in ids]
        error = KvwsError.from_reply(m)
        if not callable(self._token):
            for sub in hit:
                self._subs.remove(sub)
                sub._end(error)
            self._emit("error", error=error)
            return
        for sub in hit:
            sub._lost()
        if self._state != "open":
            return
        ws = self._ws
        self._state = "authenticating"
        try:
            await self._authenticate()
        except Exception as e:  # noqa: BLE001 - start over on a fresh connection
            if ws is not self._ws or self._state == "closed":
                return
            if ws is not None:
                self._emit("error", error=e)
                await ws.close(4000, "re-authentication failed")
            return
        if ws is not self._ws or self._state == "closed":
            return
        self._state = "open"
        # The dropped subscriptions, and any made meanwhile.
        resend = [s for s in self._subs if s._state == "waiting"]
        self._start_round(resend)
        for sub in resend:
            self._send_subscribe(sub)
        self._flush_waiting()

    # ---- incoming -------------------------------------------------------

    def _on_message(self, text: str) -> None:
        try:
            m = json.loads(text)
        except ValueError:
            self._emit("error", error=KvwsError("protocol", "kvws: the server sent invalid JSON"))
            return
        if not isinstance(m, dict):
            return
        if "req" in m:
            p = self._inflight.pop(m["req"], None) if isinstance(m["req"], int) else None
            if p is not None:
                if m.get("type") == "error":
                    p.on_error(KvwsError.from_reply(m))
                else:
                    p.on_reply(m, self._since_reply or [])
            # Whatever arrived before this reply belongs to earlier requests.
            if self._since_reply is not None and self._collecting > 0:
                self._since_reply = []
            return
        kind = m.get("type")
        if kind in ("value", "deleted"):
            if self._since_reply is not None:
                self._since_reply.append(m)
            for sub in list(self._subs):
                sub._notify(m)
        elif kind == "error" and m.get("code") == "token_expired":
            self._spawn(self._on_token_expired(m))
        elif kind == "error":
            self._emit("error", error=KvwsError.from_reply(m))


class Subscription:
    """A subscription to a key or a prefix; made by :meth:`Client.subscribe`."""

    def __init__(
        self,
        client: Client,
        id: str,
        key: str | None,
        prefix: str | None,
        callback: Callable[[Event], None] | None,
    ) -> None:
        self.id = id
        self.key = key
        self.prefix = prefix
        #: The largest revision delivered: ``since`` on the next resubscription.
        self.last_rev: int | None = None
        self.closed = False
        self._client = client
        self._callback = callback
        self._queue: Optional[asyncio.Queue[Event | None]] = (
            None if callback is not None else asyncio.Queue()
        )
        self._state = "waiting"  # waiting (not subscribed on this connection) | pending | live
        self._since: int | None = None
        self._buffer: list[dict[str, Any]] = []
        self.ready: asyncio.Future[State] = asyncio.get_running_loop().create_future()
        """Resolves to the first :class:`State`; raises the server's error if refused."""
        # Reported to the callback too: never an "exception was never retrieved".
        self.ready.add_done_callback(lambda f: f.cancelled() or f.exception())

    def close(self) -> None:
        """Ends the subscription (unsubscribing on the server)."""
        if self.closed:
            return
        self.closed = True
        self._client._unsubscribe(self)
        if not self.ready.done():
            self.ready.set_exception(KvwsError("closed", "kvws: the subscription was closed"))
        if self._queue is not None:
            self._queue.put_nowait(None)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        event = await self.next()
        if event is None:
            raise StopAsyncIteration
        return event

    async def next(self, timeout: float | None = None) -> Event | None:
        """The next event (without a callback); None once closed."""
        if self._queue is None:
            raise TypeError("kvws: this subscription delivers to its callback")
        if self.closed and self._queue.empty():
            return None
        if timeout is None:
            return await self._queue.get()
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except (TimeoutError, asyncio.TimeoutError):
            raise KvwsError("timeout", f"kvws: no event within {timeout} s") from None

    def _matches(self, m: dict[str, Any]) -> bool:
        if m.get("id") != self.id:
            return False
        key = m.get("key")
        if not isinstance(key, str):
            return False
        return key == self.key if self.key is not None else key.startswith(self.prefix or "")

    def _deliver(self, event: Event) -> None:
        if self.closed:
            return
        if self._queue is not None:
            self._queue.put_nowait(event)
            return
        assert self._callback is not None
        try:
            self._callback(event)
        except Exception as e:  # noqa: BLE001 - reported, not fatal
            self._client._emit("error", error=e, thrown=True)

    @staticmethod
    def _change(m: dict[str, Any], replayed: bool) -> Change:
        kind: Literal["value", "deleted"] = "value" if m["type"] == "value" else "deleted"
        return Change(
            type=kind,
            id=m["id"],
            key=m["key"],
            value=m.get("value") if kind == "value" else None,
            rev=m["rev"],
            reason=m.get("reason"),
            replayed=replayed,
        )

    def _pending(self, since: int | None) -> None:
        self._state = "pending"
        self._since = since
        self._buffer = []

    def _lost(self) -> None:
        self._state = "waiting"
        self._buffer = []

    def _notify(self, m: dict[str, Any]) -> None:
        if not self._matches(m):
            return
        if self._state == "pending":
            self._buffer.append(m)
        elif self._state == "live" and m["rev"] > (self.last_rev or 0):
            self.last_rev = m["rev"]
            self._deliver(self._change(m, False))

    def _settle(self, reply: dict[str, Any], block: list[dict[str, Any]]) -> str:
        """Handles the reply to a subscribe; returns "snapshot", "resync" or "resumed"."""
        since = self._since
        if reply.get("type") == "value" or reply.get("resync") or since is None:
            # A fresh state: for a key the reply itself, for a prefix the
            # unbroken run of matching `value` messages just before the
            # reply, keys in increasing order.
            if reply.get("type") == "value":
                values = (
                    [KeyValue(reply["key"], reply.get("value"), reply["rev"])]
                    if reply["rev"] > 0
                    else []
                )
            else:
                i = len(block)
                while (
                    i > 0
                    and block[i - 1].get("type") == "value"
                    and self._matches(block[i - 1])
                    and (i == len(block) or block[i - 1]["key"] < block[i]["key"])
                ):
                    i -= 1
                values = [KeyValue(m["key"], m.get("value"), m["rev"]) for m in block[i:]]
            self.last_rev = reply["rev"]
            kind = "snapshot" if since is None else "resync"
            self._state = "live"
            self._buffer = []
            state = State(kind, self.id, self.key, self.prefix, values, reply["rev"])  # type: ignore[arg-type]
            if not self.ready.done():
                self.ready.set_result(state)
            self._deliver(state)
            return kind
        # A replay: every change after `since`, in order. Some may have come
        # before the replay, through another subscription of this
        # connection; each revision is delivered once.
        seen: set[int] = set()
        missed = []
        for m in sorted(self._buffer, key=lambda m: m["rev"]):
            if m["rev"] > since and m["rev"] not in seen:
                seen.add(m["rev"])
                missed.append(m)
        self._state = "live"
        self._buffer = []
        for m in missed:
            if m["rev"] <= (self.last_rev or 0):
                continue
            self.last_rev = m["rev"]
            self._deliver(self._change(m, True))
        self.last_rev = max(self.last_rev or 0, reply["rev"])
        self._deliver(Resumed(self.id, self.key, self.prefix, since, reply["rev"], len(missed)))
        return "resumed"

    def _end(self, error: KvwsError | None) -> None:
        """The subscription is over: refused (error) or closed with the client."""
        if self.closed:
            return
        if not self.ready.done():
            self.ready.set_exception(error or KvwsError("closed", "kvws: the client was closed"))
        if error is not None:
            self._deliver(Ended(self.id, self.key, self.prefix, error))
        self.closed = True
        if self._queue is not None:
            self._queue.put_nowait(None)
