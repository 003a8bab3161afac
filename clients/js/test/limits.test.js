// The limit errors, each reached through the client and reported with its code.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { connect, KvwsError } from "../kvws.js";
import { startServer, Recorder } from "./helpers.js";

let server;
let kv;

before(async () => {
  server = await startServer([
    "--max-value-size",
    "100",
    "--max-subscriptions",
    "2",
    "--max-prefix-snapshot",
    "3",
    "--max-memory",
    "32k",
  ]);
  kv = await connect(server.url);
});

after(async () => {
  kv?.close();
  await server?.stop();
});

test("too_large: a value over --max-value-size", async () => {
  await assert.rejects(kv.set("big", "k", "x".repeat(200)), (e) => e instanceof KvwsError && e.code === "too_large");
  assert.deepEqual(await kv.get("big", "k"), { value: null, rev: 0 });
  await kv.set("big", "k", "x".repeat(50));
});

test("too_many_subscriptions: the subscription fails, its callback hears of it", async () => {
  const a = kv.subscribe("subs", { key: "a" }, () => {});
  const b = kv.subscribe("subs", { key: "b" }, () => {});
  const rec = new Recorder();
  const c = kv.subscribe("subs", { key: "c" }, rec.fn);
  await Promise.all([a.ready, b.ready]);
  await assert.rejects(c.ready, { code: "too_many_subscriptions" });
  assert.equal(c.closed, true);
  assert.equal(rec.events.length, 1);
  assert.equal(rec.events[0].type, "error");
  assert.equal(rec.events[0].error.code, "too_many_subscriptions");
  // Closing one makes room.
  a.close();
  const d = kv.subscribe("subs", { key: "d" }, () => {});
  await d.ready;
  b.close();
  d.close();
});

test("too_many_keys: a prefix snapshot over --max-prefix-snapshot", async () => {
  for (const k of ["p/1", "p/2", "p/3", "p/4"]) await kv.set("many", k, 1);
  const s = kv.subscribe("many", { prefix: "p/" }, () => {});
  await assert.rejects(s.ready, { code: "too_many_keys" });
  // Paging with list still works.
  assert.deepEqual(await kv.listAll("many", "p/"), ["p/1", "p/2", "p/3", "p/4"]);
});

test("store_full: writes refused at --max-memory, nothing changed", async () => {
  let error;
  for (let i = 0; i < 200 && !error; i++) {
    try {
      await kv.set("full", `key-${i}`, "y".repeat(90));
    } catch (e) {
      error = e;
    }
  }
  assert.ok(error instanceof KvwsError, "the store never filled");
  assert.equal(error.code, "store_full");
  // Reads go on; deletes make room again (listing built an index of the
  // namespace, which counts too).
  const keys = await kv.listAll("full");
  assert.ok(keys.length > 0);
  for (const key of keys) await kv.delete("full", key);
  await kv.set("full", keys[0], "z");
});
