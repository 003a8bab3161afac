// Subscriptions across lost connections: the missed changes replayed exactly,
// a resync when the server's history no longer reaches back, and a server
// restarted with --data-dir on the same port.

import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "../kvws.js";
import { startServer, Proxy, Recorder, watchEvents, tempDir, until } from "./helpers.js";

const fast = { backoffInitialMs: 20, backoffMaxMs: 200 };

/** The changes a recorder got, as [type, key, value, replayed]. */
function changes(rec, from = 0) {
  return rec.of(["value", "deleted"], from).map((e) => [e.type, e.key, e.value, e.replayed === true]);
}

test("a lost connection: the missed changes are replayed, in order, exactly once", async (t) => {
  const server = await startServer();
  const proxy = await Proxy.start(server.port);
  t.after(async () => {
    proxy.close();
    await server.stop();
  });
  const writer = await connect(server.url);
  const kv = await connect(proxy.url, fast);
  const seen = watchEvents(kv);
  const byPrefix = new Recorder();
  const byKey = new Recorder();
  const other = new Recorder();
  const p = kv.subscribe("app1", { prefix: "room/" }, byPrefix.fn);
  const k = kv.subscribe("app1", { key: "room/a" }, byKey.fn);
  const o = kv.subscribe("app1", { key: "elsewhere" }, other.fn);
  await Promise.all([p.ready, k.ready, o.ready]);
  const first = await writer.set("app1", "room/a", 1);
  await byKey.waitFor("the first change", (e) => e.rev === first.rev);
  await byPrefix.waitFor("the first change", (e) => e.rev === first.rev);

  proxy.cut();
  await until("the client to notice", () => seen.some((e) => e.name === "closed"));
  // A request made while disconnected waits for the reconnection.
  const waiting = kv.get("app1", "room/b");
  const missed = [
    await writer.set("app1", "room/a", 2),
    await writer.set("app1", "room/b", "b"),
    await writer.set("app1", "hall/x", "not watched"),
    await writer.set("app1", "room/a", 3),
  ];
  await writer.delete("app1", "room/b");
  const fromP = byPrefix.events.length;
  const fromK = byKey.events.length;
  proxy.reopen();

  const resumedP = await byPrefix.waitFor("the prefix to resume", (e) => e.type === "resumed");
  const resumedK = await byKey.waitFor("the key to resume", (e) => e.type === "resumed");
  assert.equal(resumedP.since, first.rev);
  assert.equal(resumedP.replayed, 4);
  assert.equal(resumedK.since, first.rev);
  assert.equal(resumedK.replayed, 2);
  assert.deepEqual(changes(byPrefix, fromP), [
    ["value", "room/a", 2, true],
    ["value", "room/b", "b", true],
    ["value", "room/a", 3, true],
    ["deleted", "room/b", null, true],
  ]);
  assert.deepEqual(changes(byKey, fromK), [
    ["value", "room/a", 2, true],
    ["value", "room/a", 3, true],
  ]);
  assert.deepEqual((await waiting).value, null);
  assert.equal(missed.length, 4);

  await until("the resynced event", () => seen.some((e) => e.name === "resynced"));
  const round = seen.find((e) => e.name === "resynced");
  // "elsewhere" never existed: a key subscription knows only its key's
  // revision (0 here), which the history does not reach back to, so it is
  // told to resync, with the key still absent.
  assert.deepEqual([round.resumed, round.resynced, round.failed], [2, 1, 0]);
  assert.deepEqual(
    other.events.map((e) => [e.type, e.values]),
    [
      ["snapshot", []],
      ["resync", []],
    ],
  );

  // Live again, with no duplicates.
  const live = await writer.set("app1", "room/a", 4);
  await byKey.waitFor("a live change", (e) => e.rev === live.rev);
  await byPrefix.waitFor("a live change", (e) => e.rev === live.rev);
  assert.deepEqual(changes(byKey, fromK).length, 3);
  assert.equal(byPrefix.of(["value", "deleted"]).filter((e) => e.rev === live.rev).length, 1);
  // What the connection went through.
  const names = seen.map((e) => e.name).filter((n, i, all) => n !== all[i - 1]);
  assert.deepEqual(names.slice(0, 2), ["closed", "connecting"]);
  assert.deepEqual(names.slice(-2), ["open", "resynced"]);
  writer.close();
  kv.close();
});

test("resync: the history (--history 2) no longer reaches back", async (t) => {
  const server = await startServer(["--history", "2"]);
  const proxy = await Proxy.start(server.port);
  t.after(async () => {
    proxy.close();
    await server.stop();
  });
  const writer = await connect(server.url);
  for (const key of ["room/a", "room/b", "room/c"]) await writer.set("app1", key, `${key} 0`);
  const kv = await connect(proxy.url, fast);
  const seen = watchEvents(kv);
  const byPrefix = new Recorder();
  const byKey = new Recorder();
  const p = kv.subscribe("app1", { prefix: "room/" }, byPrefix.fn);
  const k = kv.subscribe("app1", { key: "room/a" }, byKey.fn);
  await Promise.all([p.ready, k.ready]);

  proxy.cut();
  await until("the client to notice", () => seen.some((e) => e.name === "closed"));
  await writer.set("app1", "room/a", "a 1");
  await writer.delete("app1", "room/b");
  await writer.set("app1", "room/d", "d 1");
  const last = await writer.set("app1", "room/a", "a 2");
  proxy.reopen();

  const resP = await byPrefix.waitFor("the prefix resync", (e) => e.type === "resync");
  const resK = await byKey.waitFor("the key resync", (e) => e.type === "resync");
  // The current state, and nothing else: no replayed changes.
  assert.deepEqual(
    resP.values.map((v) => [v.key, v.value]),
    [
      ["room/a", "a 2"],
      ["room/c", "room/c 0"],
      ["room/d", "d 1"],
    ],
  );
  assert.ok(resP.rev >= last.rev);
  assert.deepEqual(resK.values, [{ key: "room/a", value: "a 2", rev: last.rev }]);
  assert.equal(resK.rev, last.rev);
  assert.equal(byPrefix.of(["value", "deleted", "resumed"]).length, 0);
  assert.equal(byKey.of(["value", "deleted", "resumed"]).length, 0);
  await until("the resynced event", () => seen.some((e) => e.name === "resynced"));
  const round = seen.find((e) => e.name === "resynced");
  assert.deepEqual([round.resumed, round.resynced, round.failed], [0, 2, 0]);

  // Resynced subscriptions are live and resume from their new revision.
  const next = await writer.set("app1", "room/c", "c 1");
  await byPrefix.waitFor("a live change", (e) => e.type === "value" && e.rev === next.rev);
  writer.close();
  kv.close();
});

test("a server restarted with --data-dir on the same port", async (t) => {
  const dir = tempDir();
  const args = ["--data-dir", dir, "--fsync", "always"];
  let server = await startServer(args);
  const port = server.port;
  const proxy = await Proxy.start(port);
  t.after(async () => {
    proxy.close();
    await server.stop();
  });
  let writer = await connect(server.url);
  // One client straight to the server, one through the proxy (so that it
  // stays away until the restarted server has changed).
  const direct = await connect(server.url, fast);
  const directSeen = watchEvents(direct);
  const watched = await connect(proxy.url, fast);
  const directRec = new Recorder();
  const byPrefix = new Recorder();
  const byKey = new Recorder();
  await direct.subscribe("app1", { prefix: "room/" }, directRec.fn).ready;
  await watched.subscribe("app1", { prefix: "room/" }, byPrefix.fn).ready;
  await watched.subscribe("app1", { key: "room/a" }, byKey.fn).ready;
  const a1 = await writer.set("app1", "room/a", 1);
  const b1 = await writer.set("app1", "room/b", 1);
  await byPrefix.waitFor("the changes", (e) => e.rev === b1.rev);
  await byKey.waitFor("the change", (e) => e.rev === a1.rev);
  await directRec.waitFor("the changes", (e) => e.rev === b1.rev);

  proxy.cut();
  writer.close();
  await server.stop();
  await until("the direct client to notice", () => directSeen.some((e) => e.name === "closed"));
  server = await startServer(args, { port });
  assert.equal(server.port, port);
  // The restarted server has the data, with its revisions.
  writer = await connect(server.url);
  assert.deepEqual(await writer.get("app1", "room/b"), { value: 1, rev: b1.rev });

  // The direct client reconnected by itself: nothing changed while it was
  // away, and the history starts at the restored revision, so its prefix
  // resumes with nothing to replay; then it is live.
  await until("the direct client to resume", () => directSeen.some((e) => e.name === "resynced"));
  const directResume = directRec.events.find((e) => e.type === "resumed" || e.type === "resync");
  assert.equal(directResume.type, "resumed");
  assert.equal(directResume.since, b1.rev);
  assert.equal(directResume.replayed, 0);

  // Changes while the proxied client is away.
  const fromP = byPrefix.events.length;
  const fromK = byKey.events.length;
  const a2 = await writer.set("app1", "room/a", 2);
  const b2 = await writer.delete("app1", "room/b");
  assert.equal(b2, true);
  await directRec.waitFor("the direct client to get them", (e) => e.type === "deleted" && e.key === "room/b");
  proxy.reopen();

  // The prefix subscription saw every change before the restart (its since
  // is the restored revision): it gets exactly the two missed changes. The
  // key subscription's since is older than the restored history: resync.
  const resumed = await byPrefix.waitFor("the prefix to resume", (e) => e.type === "resumed" || e.type === "resync");
  assert.equal(resumed.type, "resumed");
  assert.deepEqual(changes(byPrefix, fromP), [
    ["value", "room/a", 2, true],
    ["deleted", "room/b", null, true],
  ]);
  const resync = await byKey.waitFor("the key to resync", (e) => e.type === "resync" || e.type === "resumed");
  assert.equal(resync.type, "resync");
  assert.deepEqual(resync.values, [{ key: "room/a", value: 2, rev: a2.rev }]);
  assert.equal(changes(byKey, fromK).length, 0);

  // Both live.
  const a3 = await writer.set("app1", "room/a", 3);
  await byKey.waitFor("a live change", (e) => e.rev === a3.rev);
  await byPrefix.waitFor("a live change", (e) => e.rev === a3.rev);
  await directRec.waitFor("a live change", (e) => e.rev === a3.rev);
  for (const c of [writer, direct, watched]) c.close();
});
