// Driving the connection by hand: authenticating after connecting, raw
// messages sent exactly as written, and reconnecting without waiting out the
// backoff.

import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "../kvws.js";
import { startServer, Proxy, secretFile, mintToken, watchEvents, until } from "./helpers.js";

const fast = { backoffInitialMs: 20, backoffMaxMs: 200 };

/** The platform's WebSocket, recording every frame it sends. */
function tappedWebSocket(sent) {
  return class extends globalThis.WebSocket {
    send(data) {
      sent.push(data);
      super.send(data);
    }
  };
}

/** A socket that opens at once, records what is sent and is answered by the test. */
class ScriptedSocket extends EventTarget {
  static last = null;

  constructor(url) {
    super();
    this.url = url;
    this.sent = [];
    ScriptedSocket.last = this;
    setTimeout(() => this.dispatchEvent(new Event("open")));
  }

  send(text) {
    this.sent.push(text);
  }

  close() {}

  reply(message) {
    this.dispatchEvent(new MessageEvent("message", { data: JSON.stringify(message) }));
  }

  /** The `req` of the last message sent. */
  lastReq() {
    return JSON.parse(this.sent.at(-1)).req;
  }
}

test("sendRaw sends the text as it is and resolves to its reply", async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const sent = [];
  const kv = await connect(server.url, { WebSocket: tappedWebSocket(sent) });
  t.after(() => kv.close());
  const seen = watchEvents(kv);

  // Spacing, number formatting and digits past 2^53 go out byte for byte.
  const text = '{ "type": "set", "id": "raw", "key": "n", "value": 1.50e0, "req": "mine" }';
  const reply = await kv.sendRaw(text);
  assert.equal(sent.at(-1), text);
  assert.equal(reply.type, "value");
  assert.equal(reply.req, "mine");
  assert.equal(reply.value, 1.5);
  assert.equal((await kv.get("raw", "n")).rev, reply.rev);

  // An error reply is what the message got, not an exception.
  const refused = await kv.sendRaw('{"type":"get","id":"","key":"k","req":7}');
  assert.equal(refused.type, "error");
  assert.equal(refused.code, "bad_request");
  assert.equal(refused.req, 7);

  // Without a req there is nothing to wait for.
  assert.equal(await kv.sendRaw('{"type":"set","id":"raw","key":"quiet","value":true}'), null);
  await until("the set without req to land", async () => (await kv.get("raw", "quiet")).value === true);

  // Not JSON at all: sent anyway; the server's error has no req, so it is
  // reported as a connection event.
  assert.equal(await kv.sendRaw("{not json"), null);
  await until("the server's error", () => seen.some((e) => e.name === "error" && e.error.code === "bad_request"));
  assert.equal(kv.state, "open");
  await assert.rejects(kv.sendRaw(42), TypeError);
});

test("raw messages and the client's own requests never share a req", async () => {
  const kv = await connect("ws://scripted/", { WebSocket: ScriptedSocket });
  const ws = ScriptedSocket.last;

  const first = kv.get("a", "k");
  const mine = ws.lastReq();
  await assert.rejects(kv.sendRaw(`{"type":"get","id":"a","key":"k","req":${mine}}`), { code: "req_in_use" });
  const raw = kv.sendRaw(`{"type":"get","id":"a","key":"raw","req":${mine + 1}}`);
  assert.equal(ws.lastReq(), mine + 1);
  const second = kv.get("a", "k2");
  const next = ws.lastReq();
  assert.ok(next > mine + 1, `the client's next req ${next} skips the raw message's`);

  ws.reply({ type: "value", id: "a", key: "k", value: 1, rev: 5, req: mine });
  ws.reply({ type: "error", code: "bad_request", message: "no", req: mine + 1 });
  ws.reply({ type: "value", id: "a", key: "k2", value: 2, rev: 6, req: next });
  assert.deepEqual(await first, { value: 1, rev: 5 });
  assert.deepEqual(await raw, { type: "error", code: "bad_request", message: "no", req: mine + 1 });
  assert.deepEqual(await second, { value: 2, rev: 6 });
  kv.close();
});

test("authenticate after connecting: kept for reconnects, a refused token changes nothing", async (t) => {
  const secret = secretFile();
  const server = await startServer(["--secret-file", secret]);
  const proxy = await Proxy.start(server.port);
  t.after(async () => {
    proxy.close();
    await server.stop();
  });
  const kv = await connect(proxy.url, fast);
  t.after(() => kv.close());
  const seen = watchEvents(kv);
  assert.equal(kv.session, null);
  await assert.rejects(kv.get("app1", "k"), { code: "unauthenticated" });
  await assert.rejects(kv.authenticate("not.a.token"), { code: "invalid_token" });
  assert.equal(kv.session, null);

  const session = await kv.authenticate(await mintToken(secret));
  assert.equal(session.role, "guest");
  assert.deepEqual(session.ids, ["app1"]);
  assert.equal(kv.session, session);
  assert.ok(seen.some((e) => e.name === "authenticated" && e.session === session));
  await kv.set("app1", "k", 1);

  // Reconnecting presents the accepted token again.
  const reconnected = async () => {
    const from = seen.length;
    proxy.cut();
    await until("the client to notice", () => seen.slice(from).some((e) => e.name === "closed"));
    proxy.reopen();
    await until("the reconnection", () => seen.slice(from).some((e) => e.name === "open"));
    return seen.slice(from).find((e) => e.name === "open");
  };
  let open = await reconnected();
  assert.equal(open.session.role, "guest");
  assert.equal((await kv.get("app1", "k")).value, 1);

  // A refused token leaves the accepted one in place.
  await assert.rejects(kv.authenticate("still.not.a.token"), { code: "invalid_token" });
  open = await reconnected();
  assert.equal(open.session.role, "guest");
  assert.equal((await kv.get("app1", "k")).value, 1);
  await assert.rejects(kv.authenticate(42), TypeError);
});

test("reconnect() tries at once instead of waiting out the backoff", async (t) => {
  const server = await startServer();
  const proxy = await Proxy.start(server.port);
  t.after(async () => {
    proxy.close();
    await server.stop();
  });
  // The first retry would come 30 to 60 seconds after the loss.
  const kv = await connect(proxy.url, { backoffInitialMs: 60_000, backoffMaxMs: 60_000 });
  t.after(() => kv.close());
  const seen = watchEvents(kv);
  kv.reconnect(); // connected: nothing to do
  assert.equal(kv.state, "open");
  assert.equal(seen.length, 0);

  proxy.cut();
  await until("the client to notice", () => seen.some((e) => e.name === "closed"));
  assert.equal(kv.state, "reconnecting");
  proxy.reopen();
  kv.reconnect();
  await until("the reconnection", () => seen.some((e) => e.name === "open"), 5_000);
  assert.equal(kv.state, "open");
  assert.equal(seen.filter((e) => e.name === "connecting").length, 1);
  await kv.set("app1", "k", "back");
});
