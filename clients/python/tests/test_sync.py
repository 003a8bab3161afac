"""The blocking client: the same operations from plain code, subscriptions
read by iterating or through a callback, and resuming after a lost
connection."""

from __future__ import annotations

import asyncio
import threading

import pytest

from kvws import Change, Entry, KvwsError, Page, Resumed, State
from kvws.sync import connect
from kvws_testing import Proxy, Server


def test_operations_and_errors(server: Server) -> None:
    with connect(server.url) as kv:
        stored = kv.set("sync", "k", {"a": 1})
        assert kv.get("sync", "k") == stored
        assert kv.list("sync") == Page(["k"], False)
        assert kv.list_all("sync") == ["k"]
        with pytest.raises(KvwsError) as e:
            kv.set("sync", "k", 2, if_rev=0)
        assert (e.value.code, e.value.rev) == ("conflict", stored.rev)
        assert kv.delete("sync", "k") is True
        assert kv.get("sync", "k") == Entry(None, 0)
    assert kv.state == "closed"
    with pytest.raises(KvwsError) as e:
        kv.get("sync", "k")
    assert e.value.code == "closed"


def test_subscriptions_by_iteration_and_by_callback(server: Server) -> None:
    with connect(server.url) as kv:
        sub = kv.subscribe("sync", prefix="room/")
        first = sub.next(timeout=5)
        assert isinstance(first, State) and first.values == []
        assert sub.wait_ready(5) == first
        got: list[Change] = []
        arrived = threading.Event()

        def on_event(event: object) -> None:
            if isinstance(event, Change):
                got.append(event)
                arrived.set()

        by_callback = kv.subscribe("sync", key="room/a", callback=on_event)
        by_callback.wait_ready(5)
        a = kv.set("sync", "room/a", 1)
        change = sub.next(timeout=5)
        assert change == Change("value", "sync", "room/a", 1, a.rev)
        assert arrived.wait(5) and got == [change]
        with pytest.raises(KvwsError) as e:
            sub.next(timeout=0.05)
        assert e.value.code == "timeout"
        sub.close()
        assert list(sub) == []


def test_a_refused_subscription(server: Server) -> None:
    with connect(server.url) as kv:
        sub = kv.subscribe("", key="k")
        with pytest.raises(KvwsError) as e:
            sub.wait_ready(5)
        assert e.value.code == "bad_request"
        event = sub.next(timeout=5)
        assert event is not None and event.type == "error"
        assert sub.next(timeout=5) is None


def test_resuming_after_a_lost_connection(server: Server) -> None:
    # The proxy lives on an event loop of its own, in a thread.
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    proxy = asyncio.run_coroutine_threadsafe(Proxy.start(server.port), loop).result(5)
    try:
        with connect(server.url) as writer, connect(
            proxy.url, backoff_initial=0.02, backoff_max=0.2
        ) as kv:
            sub = kv.subscribe("sync-resume", key="k")
            sub.wait_ready(5)
            first = writer.set("sync-resume", "k", 1)
            assert sub.next(timeout=5) is not None  # the snapshot
            assert sub.next(timeout=5) == Change("value", "sync-resume", "k", 1, first.rev)
            # Listen before cutting: the close may be seen at once.
            closed = threading.Event()
            kv.on("closed", lambda d: closed.set())
            loop.call_soon_threadsafe(proxy.cut)
            assert closed.wait(5)
            missed = writer.set("sync-resume", "k", 2)
            loop.call_soon_threadsafe(proxy.reopen)
            assert sub.next(timeout=5) == Change("value", "sync-resume", "k", 2, missed.rev, None, True)
            resumed = sub.next(timeout=5)
            assert isinstance(resumed, Resumed) and resumed.since == first.rev
    finally:
        asyncio.run_coroutine_threadsafe(proxy.close(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


def test_connect_failure_raises() -> None:
    dead = Server()
    url = dead.url
    dead.stop()
    with pytest.raises(KvwsError) as e:
        connect(url, connect_timeout=2)
    assert e.value.code == "connect_failed"
