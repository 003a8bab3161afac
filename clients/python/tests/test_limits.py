"""The limit errors, each reached through the client and reported with its code."""

from __future__ import annotations

import asyncio
from typing import Iterator

import pytest

import kvws
from kvws import Entry, KvwsError
from kvws_testing import Recorder, Server, run


@pytest.fixture(scope="module")
def limited() -> Iterator[Server]:
    s = Server(
        [
            "--max-value-size", "100",
            "--max-subscriptions", "2",
            "--max-prefix-snapshot", "3",
            "--max-memory", "32k",
        ]
    )
    yield s
    s.stop()


def test_too_large(limited: Server) -> None:
    async def body() -> None:
        async with await kvws.connect(limited.url) as kv:
            with pytest.raises(KvwsError) as e:
                await kv.set("big", "k", "x" * 200)
            assert e.value.code == "too_large"
            assert await kv.get("big", "k") == Entry(None, 0)
            await kv.set("big", "k", "x" * 50)

    run(body())


def test_too_many_subscriptions(limited: Server) -> None:
    async def body() -> None:
        async with await kvws.connect(limited.url) as kv:
            a = kv.subscribe("subs", key="a", callback=lambda e: None)
            b = kv.subscribe("subs", key="b", callback=lambda e: None)
            rec = Recorder()
            c = kv.subscribe("subs", key="c", callback=rec)
            await asyncio.gather(a.ready, b.ready)
            with pytest.raises(KvwsError) as e:
                await c.ready
            assert e.value.code == "too_many_subscriptions"
            assert c.closed
            assert [ev.type for ev in rec.events] == ["error"]
            assert rec.events[0].error.code == "too_many_subscriptions"
            a.close()
            d = kv.subscribe("subs", key="d", callback=lambda e: None)
            await d.ready

    run(body())


def test_too_many_keys(limited: Server) -> None:
    async def body() -> None:
        async with await kvws.connect(limited.url) as kv:
            for k in ["p/1", "p/2", "p/3", "p/4"]:
                await kv.set("many", k, 1)
            s = kv.subscribe("many", prefix="p/", callback=lambda e: None)
            with pytest.raises(KvwsError) as e:
                await s.ready
            assert e.value.code == "too_many_keys"
            assert await kv.list_all("many", "p/") == ["p/1", "p/2", "p/3", "p/4"]

    run(body())


def test_store_full(limited: Server) -> None:
    async def body() -> None:
        async with await kvws.connect(limited.url) as kv:
            error = None
            for i in range(200):
                try:
                    await kv.set("full", f"key-{i}", "y" * 90)
                except KvwsError as e:
                    error = e
                    break
            assert error is not None, "the store never filled"
            assert error.code == "store_full"
            # Reads go on; deletes make room again (listing built an index
            # of the namespace, which counts too).
            keys = await kv.list_all("full")
            assert keys
            for key in keys:
                await kv.delete("full", key)
            await kv.set("full", keys[0], "z")

    run(body())
