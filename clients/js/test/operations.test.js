// Every operation against a real server, and subscriptions by key and prefix.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { connect, KvwsError } from "../kvws.js";
import { startServer, Recorder, sleep, until } from "./helpers.js";

let server;
let kv;

before(async () => {
  server = await startServer();
  kv = await connect(server.url);
});

after(async () => {
  kv?.close();
  await server?.stop();
});

test("set, get, delete and list", async () => {
  const stored = await kv.set("ops", "greeting", { text: "hi", n: [1, 2] });
  assert.deepEqual(stored.value, { text: "hi", n: [1, 2] });
  assert.equal(typeof stored.rev, "number");
  assert.ok(stored.rev > 0);

  assert.deepEqual(await kv.get("ops", "greeting"), stored);
  assert.deepEqual(await kv.get("ops", "missing"), { value: null, rev: 0 });

  // Any JSON value, null included, is a value like any other.
  for (const v of [null, 0, -1.5, "text", true, [], { a: { b: null } }]) {
    const r = await kv.set("ops", "any", v);
    assert.deepEqual(r.value, v);
    assert.deepEqual((await kv.get("ops", "any")).value, v);
  }

  assert.equal(await kv.delete("ops", "greeting"), true);
  assert.equal(await kv.delete("ops", "greeting"), false);
  assert.deepEqual(await kv.get("ops", "greeting"), { value: null, rev: 0 });

  for (const k of ["room/1", "room/2", "room/3", "other"]) await kv.set("ops", k, k);
  assert.deepEqual(await kv.list("ops", { prefix: "room/" }), { keys: ["room/1", "room/2", "room/3"], more: false });
  assert.deepEqual(await kv.list("ops", { prefix: "room/", limit: 2 }), { keys: ["room/1", "room/2"], more: true });
  assert.deepEqual(await kv.list("ops", { prefix: "room/", after: "room/2" }), { keys: ["room/3"], more: false });
  assert.deepEqual(await kv.list("ops"), { keys: ["any", "other", "room/1", "room/2", "room/3"], more: false });
  assert.deepEqual(await kv.listAll("ops", "room/"), ["room/1", "room/2", "room/3"]);
});

test("compare-and-set and conditional delete", async () => {
  const created = await kv.set("cas", "k", 1, { ifRev: 0 });
  await assert.rejects(kv.set("cas", "k", 2, { ifRev: 0 }), (e) => {
    assert.ok(e instanceof KvwsError);
    assert.equal(e.code, "conflict");
    assert.equal(e.rev, created.rev);
    return true;
  });
  const updated = await kv.set("cas", "k", 2, { ifRev: created.rev });
  assert.ok(updated.rev > created.rev);
  await assert.rejects(kv.delete("cas", "k", { ifRev: created.rev }), { code: "conflict", rev: updated.rev });
  assert.equal(await kv.delete("cas", "k", { ifRev: updated.rev }), true);
});

test("bad_request is reported with its code and the connection stays usable", async () => {
  await assert.rejects(kv.set("", "k", 1), (e) => e instanceof KvwsError && e.code === "bad_request");
  await assert.rejects(kv.get("ops", ""), { code: "bad_request" });
  await assert.rejects(kv.set("ops", "k", 1, { ttlMs: 0 }), { code: "bad_request" });
  await assert.rejects(kv.list("ops", { limit: -1 }), { code: "bad_request" });
  assert.deepEqual(await kv.get("ops", "missing"), { value: null, rev: 0 });
  // A value JSON cannot carry is refused before it is sent.
  await assert.rejects(kv.set("ops", "k", undefined), TypeError);
});

test("a key subscription: its snapshot, then every change", async () => {
  const before = await kv.set("subk", "k", "first");
  const rec = new Recorder();
  const sub = kv.subscribe("subk", { key: "k" }, rec.fn);
  const ready = await sub.ready;
  assert.deepEqual(ready, { values: [{ key: "k", value: "first", rev: before.rev }], rev: before.rev });
  const second = await kv.set("subk", "k", { n: 2 });
  await kv.set("subk", "other", "not watched");
  await kv.delete("subk", "k");
  await rec.waitFor("the deletion", (e) => e.type === "deleted");
  assert.deepEqual(rec.events.slice(0, 2), [
    { type: "snapshot", id: "subk", key: "k", values: [{ key: "k", value: "first", rev: before.rev }], rev: before.rev },
    { type: "value", id: "subk", key: "k", value: { n: 2 }, rev: second.rev, reason: null },
  ]);
  assert.equal(rec.events[2].type, "deleted");
  assert.equal(rec.events[2].value, null);
  assert.equal(rec.events[2].reason, null);
  assert.equal(rec.events.length, 3);

  // Closed: no more events.
  sub.close();
  await kv.set("subk", "k", "after close");
  await kv.get("subk", "k"); // a round trip after the set's notification would have come
  assert.equal(rec.events.length, 3);

  // A missing key: an empty snapshot.
  const empty = new Recorder();
  const s2 = kv.subscribe("subk", { key: "nothing" }, empty.fn);
  assert.deepEqual(await s2.ready, { values: [], rev: 0 });
  s2.close();
});

test("a prefix subscription: snapshot in key order, changes, expiry and ephemeral keys", async () => {
  for (const k of ["room/b", "room/a", "room/c", "hall/x"]) await kv.set("subp", k, k.toUpperCase());
  const rec = new Recorder();
  const sub = kv.subscribe("subp", { prefix: "room/" }, rec.fn);
  const ready = await sub.ready;
  assert.deepEqual(
    ready.values.map((v) => [v.key, v.value]),
    [
      ["room/a", "ROOM/A"],
      ["room/b", "ROOM/B"],
      ["room/c", "ROOM/C"],
    ],
  );
  assert.equal(rec.events[0].type, "snapshot");
  assert.equal(rec.events[0].prefix, "room/");

  const changed = await kv.set("subp", "room/a", 1);
  await kv.set("subp", "hall/x", "not watched");
  await kv.set("subp", "room/ttl", "short", { ttlMs: 50 });
  const expired = await rec.waitFor("the expiry", (e) => e.type === "deleted" && e.key === "room/ttl");
  assert.equal(expired.reason, "expired");

  // An ephemeral key goes when its owner's connection closes.
  const owner = await connect(server.url);
  await owner.set("subp", "room/eph", "mine", { ephemeral: true });
  owner.close();
  const gone = await rec.waitFor("the ephemeral key's end", (e) => e.type === "deleted" && e.key === "room/eph");
  assert.equal(gone.reason, "disconnected");

  const keys = rec.of(["value", "deleted"]).map((e) => `${e.type}:${e.key}`);
  assert.deepEqual(keys, ["value:room/a", "value:room/ttl", "deleted:room/ttl", "value:room/eph", "deleted:room/eph"]);
  assert.equal(rec.of(["value"])[0].rev, changed.rev);
  // Revisions only grow.
  const revs = rec.of(["value", "deleted"]).map((e) => e.rev);
  assert.deepEqual([...revs].sort((a, b) => a - b), revs);
  sub.close();
});

test("overlapping subscriptions each get every change once", async () => {
  const all = new Recorder();
  const one = new Recorder();
  const twice = new Recorder();
  const a = kv.subscribe("overlap", { prefix: "" }, all.fn);
  const b = kv.subscribe("overlap", { key: "k" }, one.fn);
  const c = kv.subscribe("overlap", { key: "k" }, twice.fn);
  await Promise.all([a.ready, b.ready, c.ready]);
  await kv.set("overlap", "k", 1);
  await kv.set("overlap", "j", 2);
  // A second prefix subscription while the first is live: its own snapshot.
  const late = new Recorder();
  const d = kv.subscribe("overlap", { prefix: "" }, late.fn);
  const snap = await d.ready;
  assert.deepEqual(snap.values.map((v) => v.key), ["j", "k"]);
  await kv.set("overlap", "k", 3);
  await until("the last change", () => all.of(["value"]).length === 3 && late.of(["value"]).length === 1);
  assert.deepEqual(all.of(["value"]).map((e) => [e.key, e.value]), [["k", 1], ["j", 2], ["k", 3]]);
  assert.deepEqual(one.of(["value"]).map((e) => e.value), [1, 3]);
  assert.deepEqual(twice.of(["value"]).map((e) => e.value), [1, 3]);
  assert.deepEqual(late.of(["value"]).map((e) => e.value), [3]);

  // Closing one of two subscriptions to the same key leaves the other live.
  b.close();
  await kv.set("overlap", "k", 4);
  await until("the change after closing one", () => twice.of(["value"]).length === 3);
  assert.equal(one.of(["value"]).length, 2);
  for (const s of [a, c, d]) s.close();
});

test("connection events, and closing for good", async () => {
  const other = await connect(server.url);
  const seen = [];
  other.on("closed", (d) => seen.push(d));
  assert.equal(other.state, "open");
  const rec = new Recorder();
  const sub = other.subscribe("closing", { key: "k" }, rec.fn);
  await sub.ready;
  other.close();
  assert.equal(other.state, "closed");
  assert.equal(seen.length, 1);
  assert.equal(seen[0].willReconnect, false);
  await assert.rejects(other.get("closing", "k"), { code: "closed" });
  assert.throws(() => other.subscribe("closing", { key: "k" }, () => {}), { code: "closed" });
  assert.equal(sub.closed, true);
});

test("connecting to nothing fails with connect_failed", async () => {
  const dead = await startServer();
  const url = dead.url;
  await dead.stop();
  await assert.rejects(connect(url, { connectTimeoutMs: 2000 }), { code: "connect_failed" });
});

test("a request made while disconnected waits, bounded by requestTimeoutMs", async () => {
  const victim = await startServer();
  const c = await connect(victim.url, { requestTimeoutMs: 300, backoffInitialMs: 5000 });
  await victim.stop();
  await until("the client to notice", () => c.state !== "open");
  const started = Date.now();
  await assert.rejects(c.get("x", "k"), { code: "timeout" });
  assert.ok(Date.now() - started < 2000);
  c.close();
  await sleep(0);
});
