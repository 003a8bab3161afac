"""Every operation against a real server, and subscriptions by key and prefix."""

from __future__ import annotations

import asyncio

import pytest

import kvws
from kvws import Change, Entry, KeyValue, KvwsError, Page, State
from kvws_testing import Recorder, Server, run, until


def test_set_get_delete_and_list(server: Server) -> None:
    async def body() -> None:
        async with await kvws.connect(server.url) as kv:
            stored = await kv.set("ops", "greeting", {"text": "hi", "n": [1, 2]})
            assert stored.value == {"text": "hi", "n": [1, 2]}
            assert isinstance(stored.rev, int) and stored.rev > 0
            assert await kv.get("ops", "greeting") == stored
            assert await kv.get("ops", "missing") == Entry(None, 0)

            # Any JSON value, null included; big integers survive exactly.
            for v in [None, 0, -1.5, "text", True, [], {"a": {"b": None}}, 2**70]:
                r = await kv.set("ops", "any", v)
                assert r.value == v
                assert (await kv.get("ops", "any")).value == v

            assert await kv.delete("ops", "greeting") is True
            assert await kv.delete("ops", "greeting") is False
            assert await kv.get("ops", "greeting") == Entry(None, 0)

            for k in ["room/1", "room/2", "room/3", "other"]:
                await kv.set("ops", k, k)
            assert await kv.list("ops", prefix="room/") == Page(["room/1", "room/2", "room/3"], False)
            assert await kv.list("ops", prefix="room/", limit=2) == Page(["room/1", "room/2"], True)
            assert await kv.list("ops", prefix="room/", after="room/2") == Page(["room/3"], False)
            assert (await kv.list("ops")).keys == ["any", "other", "room/1", "room/2", "room/3"]
            assert await kv.list_all("ops", "room/") == ["room/1", "room/2", "room/3"]

    run(body())


def test_compare_and_set_and_conditional_delete(server: Server) -> None:
    async def body() -> None:
        async with await kvws.connect(server.url) as kv:
            created = await kv.set("cas", "k", 1, if_rev=0)
            with pytest.raises(KvwsError) as e:
                await kv.set("cas", "k", 2, if_rev=0)
            assert e.value.code == "conflict"
            assert e.value.rev == created.rev
            updated = await kv.set("cas", "k", 2, if_rev=created.rev)
            assert updated.rev > created.rev
            with pytest.raises(KvwsError) as e:
                await kv.delete("cas", "k", if_rev=created.rev)
            assert (e.value.code, e.value.rev) == ("conflict", updated.rev)
            assert await kv.delete("cas", "k", if_rev=updated.rev) is True

    run(body())


def test_bad_request_and_the_connection_stays_usable(server: Server) -> None:
    async def body() -> None:
        async with await kvws.connect(server.url) as kv:
            for call in (
                kv.set("", "k", 1),
                kv.get("ops", ""),
                kv.set("ops", "k", 1, ttl_ms=0),
                kv.list("ops", limit=-1),
            ):
                with pytest.raises(KvwsError) as e:
                    await call
                assert e.value.code == "bad_request"
            assert await kv.get("ops", "missing") == Entry(None, 0)
            with pytest.raises(TypeError):
                await kv.set("ops", "k", object())

    run(body())


def test_a_key_subscription(server: Server) -> None:
    async def body() -> None:
        async with await kvws.connect(server.url) as kv:
            before = await kv.set("subk", "k", "first")
            rec = Recorder()
            sub = kv.subscribe("subk", key="k", callback=rec)
            ready = await sub.ready
            assert ready == State("snapshot", "subk", "k", None, [KeyValue("k", "first", before.rev)], before.rev)
            second = await kv.set("subk", "k", {"n": 2})
            await kv.set("subk", "other", "not watched")
            await kv.delete("subk", "k")
            await rec.wait_for("the deletion", lambda e: e.type == "deleted")
            assert rec.events[:2] == [
                ready,
                Change("value", "subk", "k", {"n": 2}, second.rev),
            ]
            assert rec.events[2].type == "deleted" and rec.events[2].value is None
            assert rec.events[2].reason is None
            assert len(rec.events) == 3

            sub.close()
            await kv.set("subk", "k", "after close")
            await kv.get("subk", "k")
            assert len(rec.events) == 3

            # A missing key: an empty snapshot. Without a callback: iterate.
            s2 = kv.subscribe("subk", key="nothing")
            assert (await s2.ready).values == []
            first = await s2.next(timeout=5)
            assert first is not None and first.type == "snapshot"
            await kv.set("subk", "nothing", "now something")
            got = await s2.next(timeout=5)
            assert isinstance(got, Change) and got.value == "now something"
            s2.close()
            assert [e async for e in s2] == []

    run(body())


def test_a_prefix_subscription_with_expiry_and_ephemeral_keys(server: Server) -> None:
    async def body() -> None:
        async with await kvws.connect(server.url) as kv:
            for k in ["room/b", "room/a", "room/c", "hall/x"]:
                await kv.set("subp", k, k.upper())
            rec = Recorder()
            sub = kv.subscribe("subp", prefix="room/", callback=rec)
            ready = await sub.ready
            assert [(v.key, v.value) for v in ready.values] == [
                ("room/a", "ROOM/A"),
                ("room/b", "ROOM/B"),
                ("room/c", "ROOM/C"),
            ]
            assert rec.events[0].type == "snapshot" and rec.events[0].prefix == "room/"

            changed = await kv.set("subp", "room/a", 1)
            await kv.set("subp", "hall/x", "not watched")
            await kv.set("subp", "room/ttl", "short", ttl_ms=50)
            expired = await rec.wait_for(
                "the expiry", lambda e: e.type == "deleted" and e.key == "room/ttl"
            )
            assert expired.reason == "expired"

            owner = await kvws.connect(server.url)
            await owner.set("subp", "room/eph", "mine", ephemeral=True)
            await owner.close()
            gone = await rec.wait_for(
                "the ephemeral key's end", lambda e: e.type == "deleted" and e.key == "room/eph"
            )
            assert gone.reason == "disconnected"

            changes = rec.of("value", "deleted")
            assert [f"{e.type}:{e.key}" for e in changes] == [
                "value:room/a",
                "value:room/ttl",
                "deleted:room/ttl",
                "value:room/eph",
                "deleted:room/eph",
            ]
            assert changes[0].rev == changed.rev
            revs = [e.rev for e in changes]
            assert revs == sorted(revs)

    run(body())


def test_overlapping_subscriptions_each_get_every_change_once(server: Server) -> None:
    async def body() -> None:
        async with await kvws.connect(server.url) as kv:
            everything, one, twice, late = Recorder(), Recorder(), Recorder(), Recorder()
            a = kv.subscribe("overlap", prefix="", callback=everything)
            b = kv.subscribe("overlap", key="k", callback=one)
            c = kv.subscribe("overlap", key="k", callback=twice)
            await asyncio.gather(a.ready, b.ready, c.ready)
            await kv.set("overlap", "k", 1)
            await kv.set("overlap", "j", 2)
            d = kv.subscribe("overlap", prefix="", callback=late)
            assert [v.key for v in (await d.ready).values] == ["j", "k"]
            await kv.set("overlap", "k", 3)
            await until(
                "the last change",
                lambda: len(everything.of("value")) == 3 and len(late.of("value")) == 1,
            )
            assert [(e.key, e.value) for e in everything.of("value")] == [("k", 1), ("j", 2), ("k", 3)]
            assert [e.value for e in one.of("value")] == [1, 3]
            assert [e.value for e in twice.of("value")] == [1, 3]
            assert [e.value for e in late.of("value")] == [3]

            b.close()
            await kv.set("overlap", "k", 4)
            await until("the change after closing one", lambda: len(twice.of("value")) == 3)
            assert len(one.of("value")) == 2

    run(body())


def test_closing_for_good(server: Server) -> None:
    async def body() -> None:
        kv = await kvws.connect(server.url)
        seen: list[dict[str, object]] = []
        kv.on("closed", seen.append)
        assert kv.state == "open"
        sub = kv.subscribe("closing", key="k", callback=lambda e: None)
        await sub.ready
        await kv.close()
        assert kv.state == "closed"
        assert len(seen) == 1 and seen[0]["will_reconnect"] is False
        with pytest.raises(KvwsError) as e:
            await kv.get("closing", "k")
        assert e.value.code == "closed"
        with pytest.raises(KvwsError):
            kv.subscribe("closing", key="k")
        assert sub.closed

    run(body())


def test_connecting_to_nothing_fails() -> None:
    dead = Server()
    url = dead.url
    dead.stop()

    async def body() -> None:
        with pytest.raises(KvwsError) as e:
            await kvws.connect(url, connect_timeout=2)
        assert e.value.code == "connect_failed"

    run(body())


def test_a_request_made_while_disconnected_waits_bounded_by_request_timeout() -> None:
    victim = Server()

    async def body() -> None:
        kv = await kvws.connect(victim.url, request_timeout=0.3, backoff_initial=5)
        await victim.astop()
        await until("the client to notice", lambda: kv.state != "open")
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(KvwsError) as e:
            await kv.get("x", "k")
        assert e.value.code == "timeout"
        assert loop.time() - started < 2
        await kv.close()

    run(body())
