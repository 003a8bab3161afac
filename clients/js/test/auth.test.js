// Authentication: the four error codes, refreshing a token before it expires,
// and recovering from the server's unprompted token_expired notice.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { connect, KvwsError } from "../kvws.js";
import { startServer, secretFile, mintToken, signToken, Recorder, watchEvents, until } from "./helpers.js";

let server;
let secret;
let manager; // a client with a manager token, for writing

before(async () => {
  secret = secretFile();
  server = await startServer(["--secret-file", secret]);
  manager = await connect(server.url, { token: await mintToken(secret, { role: "manager" }) });
});

after(async () => {
  manager?.close();
  await server?.stop();
});

test("unauthenticated: requests without a token", async () => {
  const kv = await connect(server.url);
  await assert.rejects(kv.get("app1", "k"), (e) => e instanceof KvwsError && e.code === "unauthenticated");
  const s = kv.subscribe("app1", { key: "k" }, () => {});
  await assert.rejects(s.ready, { code: "unauthenticated" });
  kv.close();
});

test("invalid_token and token_expired: connect fails with the server's code", async () => {
  await assert.rejects(connect(server.url, { token: "not.a.token" }), { code: "invalid_token" });
  const other = secretFile();
  await assert.rejects(connect(server.url, { token: await mintToken(other) }), { code: "invalid_token" });
  const exp = Math.floor(Date.now() / 1000) - 10;
  const expired = signToken(secret, { role: "guest", ids: ["app1"], access: "readwrite", exp });
  // Signed right: accepted but for its age.
  const fine = await connect(server.url, { token: signToken(secret, { role: "guest", ids: ["app1"], exp: exp + 3600 }) });
  fine.close();
  await assert.rejects(connect(server.url, { token: expired }), { code: "token_expired" });
  // A token function is called for the token.
  let calls = 0;
  const kv = await connect(server.url, {
    token: async () => {
      calls += 1;
      return mintToken(secret);
    },
  });
  assert.equal(calls, 1);
  assert.equal(kv.session.role, "guest");
  assert.deepEqual(kv.session.ids, ["app1"]);
  kv.close();
});

test("forbidden: other ids, and writes with a read-only token", async () => {
  const kv = await connect(server.url, { token: await mintToken(secret, { access: "read" }) });
  await manager.set("app1", "k", "v");
  assert.equal((await kv.get("app1", "k")).value, "v");
  await assert.rejects(kv.set("app1", "k", 1), { code: "forbidden" });
  await assert.rejects(kv.delete("app1", "k"), { code: "forbidden" });
  await assert.rejects(kv.get("app2", "k"), { code: "forbidden" });
  await assert.rejects(kv.subscribe("app2", { prefix: "" }, () => {}).ready, { code: "forbidden" });
  kv.close();
});

test("a token function refreshes the token before it expires", async () => {
  const kv = await connect(server.url, { token: () => mintToken(secret, { ttl: "3s" }) });
  const seen = watchEvents(kv);
  const firstExpiry = kv.session.expires;
  const rec = new Recorder();
  const sub = kv.subscribe("app1", { key: "refresh" }, rec.fn);
  await sub.ready;
  // Past the first token's expiry, with a margin.
  await until(
    "the first token's lifetime to pass",
    () => Date.now() > firstExpiry * 1000 + 500,
    6000,
  );
  const refreshed = seen.filter((e) => e.name === "authenticated");
  assert.ok(refreshed.length >= 1, "the token was never refreshed");
  assert.ok(kv.session.expires > firstExpiry);
  // Still subscribed and allowed, on the same connection.
  const w = await manager.set("app1", "refresh", "after the first expiry");
  await rec.waitFor("the change", (e) => e.type === "value" && e.rev === w.rev);
  assert.deepEqual(await kv.get("app1", "refresh"), { value: "after the first expiry", rev: w.rev });
  assert.deepEqual(
    seen.filter((e) => e.name !== "authenticated"),
    [],
    "no reconnect, no error, no token_expired",
  );
  kv.close();
});

test("the token_expired notice: a fresh token, then the subscriptions resume with since", async () => {
  // Without refreshing ahead, the grant lapses: the server drops the
  // subscriptions and says so. The token function is called then; while it
  // runs, a change is made that the subscription must not miss.
  let calls = 0;
  let notified;
  const notice = new Promise((resolve) => (notified = resolve));
  let release;
  const gate = new Promise((resolve) => (release = resolve));
  const kv = await connect(server.url, {
    refresh: false,
    token: async () => {
      calls += 1;
      if (calls === 2) {
        notified();
        await gate;
      }
      return mintToken(secret, { ttl: calls === 1 ? "2s" : "1h" });
    },
  });
  const seen = watchEvents(kv);
  const rec = new Recorder();
  const sub = kv.subscribe("app1", { prefix: "exp/" }, rec.fn);
  await sub.ready;
  const before = await manager.set("app1", "exp/a", 1);
  await rec.waitFor("the first change", (e) => e.rev === before.rev);

  // A client with a fixed token cannot renew it: its subscription ends
  // with the error.
  const fixed = await connect(server.url, { token: await mintToken(secret, { ttl: "2s" }) });
  fixed.on("error", () => {});
  const fixedRec = new Recorder();
  fixed.subscribe("app1", { prefix: "exp/" }, fixedRec.fn);

  await Promise.race([notice, until("the token_expired notice", () => false, 6000)]);
  const missed = await manager.set("app1", "exp/b", "while expired");
  const waiting = kv.get("app1", "exp/b"); // waits for the fresh token
  release();
  assert.deepEqual(await waiting, { value: "while expired", rev: missed.rev });
  const replayed = await rec.waitFor("the missed change", (e) => e.rev === missed.rev);
  assert.equal(replayed.replayed, true);
  const resumed = await rec.waitFor("the resumption", (e) => e.type === "resumed");
  assert.equal(resumed.since, before.rev);
  await until("the resynced event", () => seen.some((e) => e.name === "resynced"));
  assert.deepEqual(
    seen.filter((e) => e.name === "resynced").map(({ resumed, resynced, failed }) => ({ resumed, resynced, failed })),
    [{ resumed: 1, resynced: 0, failed: 0 }],
  );
  assert.ok(!seen.some((e) => e.name === "closed"), "the connection stayed up");

  const ended = await fixedRec.waitFor("the fixed token's subscription to end", (e) => e.type === "error");
  assert.equal(ended.error.code, "token_expired");
  fixed.close();
  kv.close();
});
