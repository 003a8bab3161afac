"""Subscriptions across lost connections: the missed changes replayed exactly,
a resync when the server's history no longer reaches back, and a server
restarted with --data-dir on the same port."""

from __future__ import annotations

import asyncio
import tempfile
from typing import Any

import kvws
from kvws_testing import Proxy, Recorder, Server, run, until, watch_events

FAST: dict[str, Any] = {"backoff_initial": 0.02, "backoff_max": 0.2}


def changes(rec: Recorder, start: int = 0) -> list[tuple[str, str, Any, bool]]:
    return [(e.type, e.key, e.value, e.replayed) for e in rec.of("value", "deleted", start=start)]


def test_a_lost_connection_replays_the_missed_changes_exactly() -> None:
    server = Server()

    async def body() -> None:
        proxy = await Proxy.start(server.port)
        writer = await kvws.connect(server.url)
        kv = await kvws.connect(proxy.url, **FAST)
        seen = watch_events(kv)
        by_prefix, by_key, other = Recorder(), Recorder(), Recorder()
        p = kv.subscribe("app1", prefix="room/", callback=by_prefix)
        k = kv.subscribe("app1", key="room/a", callback=by_key)
        o = kv.subscribe("app1", key="elsewhere", callback=other)
        await asyncio.gather(p.ready, k.ready, o.ready)
        first = await writer.set("app1", "room/a", 1)
        await by_key.wait_for("the first change", lambda e: e.rev == first.rev)
        await by_prefix.wait_for("the first change", lambda e: e.rev == first.rev)

        proxy.cut()
        await until("the client to notice", lambda: any(e["name"] == "closed" for e in seen))
        waiting = asyncio.ensure_future(kv.get("app1", "room/b"))  # waits for the reconnection
        await writer.set("app1", "room/a", 2)
        await writer.set("app1", "room/b", "b")
        await writer.set("app1", "hall/x", "not watched")
        await writer.set("app1", "room/a", 3)
        await writer.delete("app1", "room/b")
        from_p, from_k = len(by_prefix.events), len(by_key.events)
        proxy.reopen()

        resumed_p = await by_prefix.wait_for("the prefix to resume", lambda e: e.type == "resumed")
        resumed_k = await by_key.wait_for("the key to resume", lambda e: e.type == "resumed")
        assert (resumed_p.since, resumed_p.replayed) == (first.rev, 4)
        assert (resumed_k.since, resumed_k.replayed) == (first.rev, 2)
        assert changes(by_prefix, from_p) == [
            ("value", "room/a", 2, True),
            ("value", "room/b", "b", True),
            ("value", "room/a", 3, True),
            ("deleted", "room/b", None, True),
        ]
        assert changes(by_key, from_k) == [("value", "room/a", 2, True), ("value", "room/a", 3, True)]
        assert (await waiting).value is None

        await until("the resynced event", lambda: any(e["name"] == "resynced" for e in seen))
        r = next(e for e in seen if e["name"] == "resynced")
        # "elsewhere" never existed: a key subscription knows only its key's
        # revision (0), older than the history, so it is told to resync.
        assert (r["resumed"], r["resynced"], r["failed"]) == (2, 1, 0)
        assert [(e.type, e.values) for e in other.events] == [("snapshot", []), ("resync", [])]

        live = await writer.set("app1", "room/a", 4)
        await by_key.wait_for("a live change", lambda e: e.rev == live.rev)
        await by_prefix.wait_for("a live change", lambda e: e.rev == live.rev)
        assert len(changes(by_key, from_k)) == 3
        assert len([e for e in by_prefix.of("value") if e.rev == live.rev]) == 1
        names = [e["name"] for e in seen]
        assert names[:2] == ["closed", "connecting"]
        assert names[-2:] == ["open", "resynced"]
        for c in (writer, kv):
            await c.close()
        await proxy.close()

    try:
        run(body())
    finally:
        server.stop()


def test_resync_when_the_history_no_longer_reaches_back() -> None:
    server = Server(["--history", "2"])

    async def body() -> None:
        proxy = await Proxy.start(server.port)
        writer = await kvws.connect(server.url)
        for key in ["room/a", "room/b", "room/c"]:
            await writer.set("app1", key, f"{key} 0")
        kv = await kvws.connect(proxy.url, **FAST)
        seen = watch_events(kv)
        by_prefix, by_key = Recorder(), Recorder()
        p = kv.subscribe("app1", prefix="room/", callback=by_prefix)
        k = kv.subscribe("app1", key="room/a", callback=by_key)
        await asyncio.gather(p.ready, k.ready)

        proxy.cut()
        await until("the client to notice", lambda: any(e["name"] == "closed" for e in seen))
        await writer.set("app1", "room/a", "a 1")
        await writer.delete("app1", "room/b")
        await writer.set("app1", "room/d", "d 1")
        last = await writer.set("app1", "room/a", "a 2")
        proxy.reopen()

        res_p = await by_prefix.wait_for("the prefix resync", lambda e: e.type == "resync")
        res_k = await by_key.wait_for("the key resync", lambda e: e.type == "resync")
        assert [(v.key, v.value) for v in res_p.values] == [
            ("room/a", "a 2"),
            ("room/c", "room/c 0"),
            ("room/d", "d 1"),
        ]
        assert res_p.rev >= last.rev
        assert [(v.key, v.value, v.rev) for v in res_k.values] == [("room/a", "a 2", last.rev)]
        assert by_prefix.of("value", "deleted", "resumed") == []
        assert by_key.of("value", "deleted", "resumed") == []
        await until("the resynced event", lambda: any(e["name"] == "resynced" for e in seen))
        r = next(e for e in seen if e["name"] == "resynced")
        assert (r["resumed"], r["resynced"], r["failed"]) == (0, 2, 0)

        nxt = await writer.set("app1", "room/c", "c 1")
        await by_prefix.wait_for("a live change", lambda e: e.type == "value" and e.rev == nxt.rev)
        for c in (writer, kv):
            await c.close()
        await proxy.close()

    try:
        run(body())
    finally:
        server.stop()


def test_a_server_restarted_with_data_dir_on_the_same_port() -> None:
    args = ["--data-dir", tempfile.mkdtemp(prefix="kvws-py-data-"), "--fsync", "always"]
    servers = [Server(args)]
    port = servers[0].port

    async def body() -> None:
        proxy = await Proxy.start(port)
        writer = await kvws.connect(servers[0].url)
        direct = await kvws.connect(servers[0].url, **FAST)
        direct_seen = watch_events(direct)
        watched = await kvws.connect(proxy.url, **FAST)
        direct_rec, by_prefix, by_key = Recorder(), Recorder(), Recorder()
        await direct.subscribe("app1", prefix="room/", callback=direct_rec).ready
        await watched.subscribe("app1", prefix="room/", callback=by_prefix).ready
        await watched.subscribe("app1", key="room/a", callback=by_key).ready
        a1 = await writer.set("app1", "room/a", 1)
        b1 = await writer.set("app1", "room/b", 1)
        await by_prefix.wait_for("the changes", lambda e: e.rev == b1.rev)
        await by_key.wait_for("the change", lambda e: e.rev == a1.rev)
        await direct_rec.wait_for("the changes", lambda e: e.rev == b1.rev)

        proxy.cut()
        await writer.close()
        await servers[0].astop()
        await until("the direct client to notice", lambda: any(e["name"] == "closed" for e in direct_seen))
        servers.append(await asyncio.to_thread(Server, args, port))
        assert servers[1].port == port
        writer = await kvws.connect(servers[1].url)
        assert await writer.get("app1", "room/b") == kvws.Entry(1, b1.rev)

        # The direct client reconnected by itself. Nothing changed while it
        # was away and the history starts at the restored revision, so its
        # prefix resumes with nothing to replay.
        await until("the direct client to resume", lambda: any(e["name"] == "resynced" for e in direct_seen))
        how = next(e for e in direct_rec.events if e.type in ("resumed", "resync"))
        assert (how.type, how.since, how.replayed) == ("resumed", b1.rev, 0)

        from_p, from_k = len(by_prefix.events), len(by_key.events)
        a2 = await writer.set("app1", "room/a", 2)
        assert await writer.delete("app1", "room/b") is True
        await direct_rec.wait_for("the deletion", lambda e: e.type == "deleted" and e.key == "room/b")
        proxy.reopen()

        # The prefix saw everything before the restart: exactly the two
        # missed changes. The key's since is older than the restored
        # history: resync.
        resumed = await by_prefix.wait_for("the prefix", lambda e: e.type in ("resumed", "resync"))
        assert resumed.type == "resumed"
        assert changes(by_prefix, from_p) == [("value", "room/a", 2, True), ("deleted", "room/b", None, True)]
        resync = await by_key.wait_for("the key", lambda e: e.type in ("resumed", "resync"))
        assert resync.type == "resync"
        assert [(v.key, v.value, v.rev) for v in resync.values] == [("room/a", 2, a2.rev)]
        assert changes(by_key, from_k) == []

        a3 = await writer.set("app1", "room/a", 3)
        for rec in (by_key, by_prefix, direct_rec):
            await rec.wait_for("a live change", lambda e: e.rev == a3.rev)
        for c in (writer, direct, watched):
            await c.close()
        await proxy.close()

    try:
        run(body())
    finally:
        for s in servers:
            s.stop()
