"""Authentication: the four error codes, refreshing a token before it expires,
and recovering from the server's unprompted token_expired notice."""

from __future__ import annotations

import asyncio
import time
from typing import Iterator

import pytest

import kvws
from kvws import KvwsError
from kvws_testing import (
    Recorder,
    Server,
    first,
    mint_token,
    run,
    secret_file,
    sign_token,
    until,
    watch_events,
)


@pytest.fixture(scope="module")
def secret() -> str:
    return secret_file()


@pytest.fixture(scope="module")
def authed(secret: str) -> Iterator[Server]:
    s = Server(["--secret-file", secret])
    yield s
    s.stop()


def test_unauthenticated(authed: Server) -> None:
    async def body() -> None:
        async with await kvws.connect(authed.url) as kv:
            with pytest.raises(KvwsError) as e:
                await kv.get("app1", "k")
            assert e.value.code == "unauthenticated"
            s = kv.subscribe("app1", key="k", callback=lambda e: None)
            with pytest.raises(KvwsError) as e:
                await s.ready
            assert e.value.code == "unauthenticated"

    run(body())


def test_invalid_and_expired_tokens_fail_connect(authed: Server, secret: str) -> None:
    async def body() -> None:
        for bad in ["not.a.token", await mint_token(secret_file())]:
            with pytest.raises(KvwsError) as e:
                await kvws.connect(authed.url, token=bad)
            assert e.value.code == "invalid_token"
        exp = int(time.time()) - 10
        expired = sign_token(secret, {"role": "guest", "ids": ["app1"], "access": "readwrite", "exp": exp})
        with pytest.raises(KvwsError) as e:
            await kvws.connect(authed.url, token=expired)
        assert e.value.code == "token_expired"
        fine = sign_token(secret, {"role": "guest", "ids": ["app1"], "exp": exp + 3600})
        await (await kvws.connect(authed.url, token=fine)).close()

        calls = 0

        async def token() -> str:
            nonlocal calls
            calls += 1
            return await mint_token(secret)

        async with await kvws.connect(authed.url, token=token) as kv:
            assert calls == 1
            assert kv.session is not None
            assert (kv.session["role"], kv.session["ids"]) == ("guest", ["app1"])

    run(body())


def test_forbidden(authed: Server, secret: str) -> None:
    async def body() -> None:
        manager = await kvws.connect(authed.url, token=await mint_token(secret, role="manager"))
        kv = await kvws.connect(authed.url, token=await mint_token(secret, access="read"))
        await manager.set("app1", "k", "v")
        assert (await kv.get("app1", "k")).value == "v"
        for call in (kv.set("app1", "k", 1), kv.delete("app1", "k"), kv.get("app2", "k")):
            with pytest.raises(KvwsError) as e:
                await call
            assert e.value.code == "forbidden"
        with pytest.raises(KvwsError) as e:
            await kv.subscribe("app2", prefix="", callback=lambda e: None).ready
        assert e.value.code == "forbidden"
        await kv.close()
        await manager.close()

    run(body())


def test_a_token_function_refreshes_the_token_before_it_expires(authed: Server, secret: str) -> None:
    async def body() -> None:
        manager = await kvws.connect(authed.url, token=await mint_token(secret, role="manager"))
        kv = await kvws.connect(authed.url, token=lambda: mint_token(secret, ttl="3s"))
        seen = watch_events(kv)
        assert kv.session is not None
        first_expiry = kv.session["expires"]
        rec = Recorder()
        await kv.subscribe("app1", key="refresh", callback=rec).ready
        await until(
            "the first token's lifetime to pass", lambda: time.time() > first_expiry + 0.5, 6
        )
        assert any(e["name"] == "authenticated" for e in seen), "the token was never refreshed"
        assert kv.session["expires"] > first_expiry
        w = await manager.set("app1", "refresh", "after the first expiry")
        await rec.wait_for("the change", lambda e: e.type == "value" and e.rev == w.rev)
        assert (await kv.get("app1", "refresh")).rev == w.rev
        assert [e for e in seen if e["name"] != "authenticated"] == []
        await kv.close()
        await manager.close()

    run(body())


def test_the_token_expired_notice(authed: Server, secret: str) -> None:
    async def body() -> None:
        manager = await kvws.connect(authed.url, token=await mint_token(secret, role="manager"))
        calls = 0
        notified = asyncio.Event()
        gate = asyncio.Event()

        async def token() -> str:
            nonlocal calls
            calls += 1
            if calls == 2:
                notified.set()
                await gate.wait()
            return await mint_token(secret, ttl="2s" if calls == 1 else "1h")

        kv = await kvws.connect(authed.url, refresh=False, token=token)
        seen = watch_events(kv)
        rec = Recorder()
        await kv.subscribe("app1", prefix="exp/", callback=rec).ready
        before = await manager.set("app1", "exp/a", 1)
        await rec.wait_for("the first change", lambda e: e.rev == before.rev)

        # A fixed token cannot be renewed: its subscription ends.
        fixed = await kvws.connect(authed.url, token=await mint_token(secret, ttl="2s"))
        fixed_rec = Recorder()
        fixed.subscribe("app1", prefix="exp/", callback=fixed_rec)

        await first(notified.wait(), until("the notice", lambda: False, 6))
        assert notified.is_set()
        missed = await manager.set("app1", "exp/b", "while expired")
        waiting = asyncio.ensure_future(kv.get("app1", "exp/b"))
        gate.set()
        assert (await waiting).rev == missed.rev
        replayed = await rec.wait_for("the missed change", lambda e: e.rev == missed.rev)
        assert replayed.replayed is True
        resumed = await rec.wait_for("the resumption", lambda e: e.type == "resumed")
        assert resumed.since == before.rev
        await until("the resynced event", lambda: any(e["name"] == "resynced" for e in seen))
        rounds = [(e["resumed"], e["resynced"], e["failed"]) for e in seen if e["name"] == "resynced"]
        assert rounds == [(1, 0, 0)]
        assert not any(e["name"] == "closed" for e in seen)

        ended = await fixed_rec.wait_for("the fixed token's end", lambda e: e.type == "error")
        assert ended.error.code == "token_expired"
        for c in (fixed, kv, manager):
            await c.close()

    run(body())
