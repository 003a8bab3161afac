// kvws: the JavaScript client for the kvws key-value store (browsers and
// Node 20+). One ES module, no dependencies. See README.md beside it for the
// API and ../../PROTOCOL.md for the wire protocol it speaks.
//
// How it works, in short:
// - One WebSocket at a time. Every request carries an increasing `req`; its
//   reply (or error) carries the same `req` and settles the request's promise.
// - Notifications (`value`/`deleted` without `req`) are routed to every local
//   subscription whose id and key or prefix match. Each subscription remembers
//   the largest revision it has delivered and never delivers a change twice.
// - A subscription whose `subscribe` is in flight buffers what matches it. Its
//   reply tells what the buffered messages were: a replay of missed changes
//   (delivered in revision order, then a `resumed` event) or a snapshot (for a
//   prefix, the `value` messages right before the reply, which the server sends
//   as one unbroken block; delivered as one `snapshot` or `resync` event).
// - When the connection is lost the client reconnects with exponential backoff
//   and jitter, authenticates again (calling the token function if it is one),
//   resubscribes every subscription with `since` = the last revision it saw,
//   then sends the requests that waited.

// The longest delay setTimeout takes as given (2^31 - 1 ms).
const MAX_TIMER_MS = 2 ** 31 - 1;

const DEFAULTS = {
  connectTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  backoffInitialMs: 100,
  backoffMaxMs: 5_000,
  refreshMarginMs: 60_000,
  refresh: true,
};

/** An error from the server (its `code`) or from the client itself. */
export class KvwsError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {object} [details] fields of the server's error message (`rev`, `id`, `key`, `ids`)
   */
  constructor(code, message, details = {}) {
    super(message);
    this.name = "KvwsError";
    this.code = code;
    for (const field of ["id", "key", "rev", "ids"]) {
      if (details[field] !== undefined) this[field] = details[field];
    }
  }
}

function serverError(m) {
  return new KvwsError(m.code ?? "unknown", m.message ?? "the server refused the request", m);
}

/** Compares two strings in UTF-8 byte order (the server's key order). */
function byteOrder(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i);
    const y = b.codePointAt(i);
    if (x !== y) return x < y ? -1 : 1;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

/** Connects to a kvws server; resolves once connected (and authenticated). */
export async function connect(url, options = {}) {
  const client = new Client(url, options);
  await client._start();
  return client;
}

export class Client {
  constructor(url, options = {}) {
    const WS = options.WebSocket ?? globalThis.WebSocket;
    if (typeof WS !== "function") {
      throw new TypeError(
        "kvws: no WebSocket class; use Node 22+, run Node 20 with --experimental-websocket, " +
          "or pass one as options.WebSocket (e.g. the ws package's)",
      );
    }
    this.url = url;
    this._WS = WS;
    this._opts = { ...DEFAULTS, ...options };
    this._token = options.token;
    this._ws = null;
    this._state = "connecting"; // connecting | authenticating | open | reconnecting | closed
    this._nextReq = 1;
    this._inflight = new Map(); // req -> { resolve, reject, timer, internal }
    this._waiting = []; // requests made while not open
    this._subs = new Set();
    this._sinceReply = null; // notifications since the last reply, while a prefix subscribe is in flight
    this._collecting = 0;
    this._listeners = new Map();
    this._failures = 0;
    this._reconnectTimer = null;
    this._refreshTimer = null;
    this._expires = null;
    this._resyncRound = null;
  }

  /** "connecting" | "authenticating" | "open" | "reconnecting" | "closed". */
  get state() {
    return this._state;
  }

  /** The `authenticated` reply of the last successful auth, or null. */
  get session() {
    return this._session ?? null;
  }

  // ---- events ---------------------------------------------------------

  /** Listens to a connection event; returns a function that stops listening. */
  on(event, fn) {
    if (!this._listeners.has(event)) this._listeners.set(event, new Set());
    this._listeners.get(event).add(fn);
    return () => this.off(event, fn);
  }

  off(event, fn) {
    this._listeners.get(event)?.delete(fn);
  }

  _emit(event, detail) {
    const fns = this._listeners.get(event);
    if (!fns || fns.size === 0) {
      // An exception in the program's own code is never swallowed silently.
      if (event === "error" && detail.thrown) console.error("kvws: a callback threw", detail.error);
      return;
    }
    for (const fn of [...fns]) {
      try {
        fn(detail);
      } catch (error) {
        if (event !== "error") this._emit("error", { error, thrown: true });
        else console.error("kvws: an error listener threw", error);
      }
    }
  }

  // ---- requests -------------------------------------------------------

  /** Stores `value` (any JSON value); resolves to `{ value, rev }`. */
  async set(id, key, value, options = {}) {
    if (JSON.stringify(value) === undefined) throw new TypeError("kvws: the value is not representable as JSON");
    const msg = { type: "set", id, key, value };
    if (options.ifRev !== undefined) msg.if_rev = options.ifRev;
    if (options.ttlMs !== undefined) msg.ttl_ms = options.ttlMs;
    if (options.ephemeral) msg.ephemeral = true;
    const m = await this._request(msg);
    return { value: m.value, rev: m.rev };
  }

  /** Resolves to `{ value, rev }`; `{ value: null, rev: 0 }` when absent. */
  async get(id, key) {
    const m = await this._request({ type: "get", id, key });
    return { value: m.value, rev: m.rev };
  }

  /** Deletes a key; resolves to true if it existed. */
  async delete(id, key, options = {}) {
    const msg = { type: "delete", id, key };
    if (options.ifRev !== undefined) msg.if_rev = options.ifRev;
    const m = await this._request(msg);
    return m.rev > 0;
  }

  /** One page of keys: resolves to `{ keys, more }`. */
  async list(id, options = {}) {
    const msg = { type: "list", id };
    if (options.prefix !== undefined) msg.prefix = options.prefix;
    if (options.after !== undefined) msg.after = options.after;
    if (options.limit !== undefined) msg.limit = options.limit;
    const m = await this._request(msg);
    return { keys: m.keys, more: m.more };
  }

  /** Every key under `prefix`, paging with `list`. */
  async listAll(id, prefix = "") {
    const all = [];
    let after;
    for (;;) {
      const page = await this.list(id, { prefix, after, limit: 1000 });
      all.push(...page.keys);
      if (!page.more || page.keys.length === 0) return all;
      after = page.keys[page.keys.length - 1];
    }
  }

  /**
   * Sends `text` exactly as given: a message written by hand, for tools
   * that speak the protocol directly. If `text` is a JSON object with a
   * `req` (a string or a number), resolves to the server's reply with that
   * `req`, an `error` reply included; otherwise resolves to null once sent.
   * Waits for the connection while reconnecting, like any request. The
   * client does not act on what the message does: a subscribe, unsubscribe
   * or auth sent this way changes the connection without the client knowing.
   */
  sendRaw(text) {
    if (typeof text !== "string") return Promise.reject(new TypeError("kvws: sendRaw takes a string"));
    let req;
    try {
      const m = JSON.parse(text);
      if (m !== null && typeof m === "object" && (typeof m.req === "string" || typeof m.req === "number")) req = m.req;
    } catch {
      // Not JSON: sent as it is; the server says what it thinks of it.
    }
    return this._request({ type: "raw message" }, { text, req });
  }

  /**
   * Authenticates on this connection with `token` (a string, or a function
   * as for the `token` option), waiting for the connection while
   * reconnecting like any request. Once the server accepts it, it is the
   * token the client presents on every reconnect (and refreshes, if a
   * function). Resolves to the session; rejects with the server's error,
   * and then the client keeps the token it had.
   */
  async authenticate(token) {
    if (typeof token !== "string" && typeof token !== "function") {
      throw new TypeError("kvws: authenticate takes a token or a function returning one");
    }
    const text = typeof token === "function" ? await token() : token;
    const reply = await this._request({ type: "auth", token: text });
    this._token = token;
    this._session = reply;
    this._emit("authenticated", { session: reply });
    this._scheduleRefresh(reply.expires);
    return reply;
  }

  /**
   * While the client waits to reconnect, tries at once (and the backoff
   * starts over); otherwise does nothing.
   */
  reconnect() {
    if (this._state !== "reconnecting" || this._connecting) return;
    clearTimeout(this._reconnectTimer);
    this._failures = 0;
    this._reconnect();
  }

  /**
   * Watches a key (`{ key }`) or every key under a prefix (`{ prefix }`).
   * `callback` gets every event of the subscription (see README.md).
   */
  subscribe(id, topic, callback) {
    if (this._state === "closed") throw new KvwsError("closed", "kvws: the client is closed");
    const sub = new Subscription(this, id, topic, callback);
    this._subs.add(sub);
    if (this._state === "open") this._sendSubscribe(sub);
    return sub;
  }

  /** Closes the connection for good; waiting requests fail with code "closed". */
  close() {
    if (this._state === "closed") return;
    this._shutdown(new KvwsError("closed", "kvws: the client was closed"));
  }

  _shutdown(error) {
    const wasOpen = this._ws !== null;
    this._state = "closed";
    clearTimeout(this._reconnectTimer);
    if (this._ws) this._dropSocket(this._ws, error);
    for (const w of this._waiting.splice(0)) {
      clearTimeout(w.timer);
      w.reject(error);
    }
    for (const sub of this._subs) sub._end(error.code === "closed" ? null : error);
    this._subs.clear();
    this._emit("closed", { code: wasOpen ? 1000 : null, reason: error.message, willReconnect: false, error });
  }

  /**
   * Sends a request when the connection is open (after waiting for it while
   * reconnecting); resolves to the reply message. `raw` ({ text, req }) is
   * a message to send as it is instead of `msg` with a `req` of ours.
   */
  _request(msg, raw = null) {
    if (this._state === "closed") {
      return Promise.reject(new KvwsError("closed", "kvws: the client is closed"));
    }
    return new Promise((resolve, reject) => {
      const entry = { msg, raw, resolve, reject, timer: null };
      const ms = this._opts.requestTimeoutMs;
      if (ms > 0 && ms <= MAX_TIMER_MS) {
        entry.timer = setTimeout(() => {
          this._waiting = this._waiting.filter((w) => w !== entry);
          if (entry.req !== undefined) this._inflight.delete(entry.req);
          reject(new KvwsError("timeout", `kvws: no reply to ${msg.type} within ${ms} ms`));
        }, ms);
      }
      if (this._state === "open") this._transmit(entry);
      else this._waiting.push(entry);
    });
  }

  /** Sends a request on the current socket and registers its reply handler. */
  _transmit(entry) {
    let req;
    let text;
    if (entry.raw) {
      ({ text, req } = entry.raw);
      if (req !== undefined && this._inflight.has(req)) {
        clearTimeout(entry.timer);
        entry.reject(new KvwsError("req_in_use", `kvws: req ${JSON.stringify(req)} belongs to a request in flight`));
        return;
      }
    } else {
      // Skip any req that a raw message in flight uses.
      do req = this._nextReq++;
      while (this._inflight.has(req));
      text = JSON.stringify({ ...entry.msg, req });
    }
    entry.req = req;
    if (req !== undefined) this._inflight.set(req, entry);
    try {
      this._ws.send(text);
    } catch (e) {
      this._inflight.delete(req);
      clearTimeout(entry.timer);
      entry.reject(new KvwsError("connection_lost", `kvws: could not send: ${e?.message ?? e}`));
      return;
    }
    if (req === undefined) {
      // A raw message without a req: nothing to wait for.
      clearTimeout(entry.timer);
      entry.resolve(null);
    }
  }

  /**
   * A request of the client's own (auth, subscribe), with no timeout of its
   * own. `resolve` and `reject` are called synchronously, as the reply is
   * read; `resolve` also gets the notifications that came since the
   * previous reply.
   */
  _internal(msg, resolve, reject) {
    this._transmit({ msg, resolve, reject, timer: null, internal: true });
  }

  _flushWaiting() {
    for (const entry of this._waiting.splice(0)) this._transmit(entry);
  }

  // ---- connecting -------------------------------------------------------

  async _start() {
    try {
      await this._connectOnce(false);
    } catch (error) {
      if (this._state !== "closed") this._shutdown(error);
      throw error;
    }
  }

  async _tokenText() {
    const t = this._token;
    return typeof t === "function" ? await t() : t;
  }

  /** Opens a socket, authenticates, resubscribes and sends what waited. */
  async _connectOnce(reconnect) {
    this._state = reconnect ? "reconnecting" : "connecting";
    this._emit("connecting", { attempt: this._failures + 1, reconnect });
    this._connecting = true;
    let session = null;
    try {
      const ws = await this._openSocket();
      if (this._state === "closed") {
        ws.close(1000);
        throw new KvwsError("closed", "kvws: the client was closed");
      }
      this._ws = ws;
      this._attach(ws);
      if (this._token !== undefined && this._token !== null) {
        this._state = "authenticating";
        session = await this._withTimeout(this._authenticate(), "authenticating");
      }
    } catch (error) {
      if (this._ws) this._dropSocket(this._ws, error);
      throw error;
    } finally {
      this._connecting = false;
    }
    this._failures = 0;
    this._state = "open";
    this._emit("open", { reconnect, session });
    const subs = [...this._subs];
    if (reconnect) this._startResyncRound(subs);
    for (const sub of subs) this._sendSubscribe(sub);
    this._flushWaiting();
  }

  _withTimeout(promise, what) {
    const ms = this._opts.connectTimeoutMs;
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new KvwsError("timeout", `kvws: ${what} took over ${ms} ms`)), ms);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }

  _openSocket() {
    return new Promise((resolve, reject) => {
      let ws;
      try {
        ws = new this._WS(this.url);
      } catch (e) {
        reject(new KvwsError("connect_failed", `kvws: cannot connect to ${this.url}: ${e?.message ?? e}`));
        return;
      }
      const done = (error) => {
        clearTimeout(timer);
        ws.removeEventListener("open", onOpen);
        ws.removeEventListener("close", onClose);
        ws.removeEventListener("error", onError);
        if (error) {
          try {
            ws.close();
          } catch {
            // never opened
          }
          reject(error);
        } else resolve(ws);
      };
      const onOpen = () => done(null);
      const onClose = (ev) =>
        done(new KvwsError("connect_failed", `kvws: cannot connect to ${this.url} (close ${ev?.code ?? "?"})`));
      const onError = () => done(new KvwsError("connect_failed", `kvws: cannot connect to ${this.url}`));
      const timer = setTimeout(
        () => done(new KvwsError("timeout", `kvws: connecting to ${this.url} took over ${this._opts.connectTimeoutMs} ms`)),
        this._opts.connectTimeoutMs,
      );
      ws.addEventListener("open", onOpen);
      ws.addEventListener("close", onClose);
      ws.addEventListener("error", onError);
    });
  }

  _attach(ws) {
    ws._kvwsMessage = (ev) => this._onMessage(ev.data);
    ws._kvwsClose = (ev) => this._onClose(ws, ev);
    ws._kvwsError = () => {}; // a close event follows
    ws.addEventListener("message", ws._kvwsMessage);
    ws.addEventListener("close", ws._kvwsClose);
    ws.addEventListener("error", ws._kvwsError);
  }

  _detach(ws) {
    ws.removeEventListener("message", ws._kvwsMessage);
    ws.removeEventListener("close", ws._kvwsClose);
    ws.removeEventListener("error", ws._kvwsError);
  }

  /** Presents a token (fetched anew if the option is a function). */
  async _authenticate() {
    const token = await this._tokenText();
    if (this._ws === null) throw new KvwsError("connection_lost", "kvws: the connection was lost");
    const reply = await new Promise((resolve, reject) => this._internal({ type: "auth", token }, resolve, reject));
    this._session = reply;
    this._emit("authenticated", { session: reply });
    this._scheduleRefresh(reply.expires);
    return reply;
  }

  /** Refreshes the token a margin before it expires (token functions only). */
  _scheduleRefresh(expires) {
    clearTimeout(this._refreshTimer);
    this._expires = expires;
    if (typeof this._token !== "function" || !this._opts.refresh || typeof expires !== "number") return;
    const left = expires * 1000 - Date.now();
    const margin = Math.min(this._opts.refreshMarginMs, left / 4);
    const delay = Math.max(0, left - margin);
    if (delay > MAX_TIMER_MS) {
      // Timers overflow past ~24.8 days (and would fire at once): look again later.
      this._refreshTimer = setTimeout(() => this._scheduleRefresh(expires), MAX_TIMER_MS);
      return;
    }
    this._refreshTimer = setTimeout(() => this._refresh(), delay);
  }

  async _refresh() {
    if (this._state !== "open") return; // a reconnect authenticates anyway
    try {
      await this._authenticate();
    } catch (error) {
      if (this._state === "closed") return;
      this._emit("error", { error });
      // Try again shortly, while the old token still holds.
      const left = this._expires * 1000 - Date.now();
      if (left > 0) this._refreshTimer = setTimeout(() => this._refresh(), Math.min(1000, left / 2));
    }
  }

  _onClose(ws, ev) {
    if (ws !== this._ws) return;
    const lost = new KvwsError(
      "connection_lost",
      `kvws: the connection was lost (close ${ev?.code ?? "?"}${ev?.reason ? `: ${ev.reason}` : ""})`,
    );
    this._dropSocket(ws, lost);
    // While connecting, the attempt itself fails and schedules the retry.
    if (this._state === "closed" || this._connecting) return;
    this._state = "reconnecting";
    this._emit("closed", { code: ev?.code ?? null, reason: ev?.reason ?? "", willReconnect: true, error: lost });
    this._scheduleReconnect();
  }

  /** Forgets a socket: requests in flight on it fail with `error`, subscriptions wait to be resent. */
  _dropSocket(ws, error) {
    this._detach(ws);
    if (ws === this._ws) this._ws = null;
    try {
      ws.close(1000);
    } catch {
      // already closed
    }
    clearTimeout(this._refreshTimer);
    const inflight = [...this._inflight.values()];
    this._inflight.clear();
    this._sinceReply = null;
    this._collecting = 0;
    this._resyncRound = null;
    for (const sub of this._subs) sub._lost();
    const lost = error.code === "closed" ? error : new KvwsError("connection_lost", error.message);
    for (const p of inflight) {
      clearTimeout(p.timer);
      p.reject(lost);
    }
  }

  _scheduleReconnect() {
    if (this._state === "closed") return;
    const { backoffInitialMs: min, backoffMaxMs: max } = this._opts;
    const base = Math.min(max, min * 2 ** Math.min(this._failures, 30));
    // Equal jitter: half fixed, half random, so clients that lost the same
    // server do not all come back at the same instant.
    const delay = base / 2 + Math.random() * (base / 2);
    this._state = "reconnecting";
    this._reconnectTimer = setTimeout(() => this._reconnect(), delay);
  }

  async _reconnect() {
    try {
      await this._connectOnce(true);
    } catch (error) {
      if (this._state === "closed") return;
      this._failures += 1;
      const refused = ["invalid_token", "token_expired", "forbidden"].includes(error.code);
      if (refused && typeof this._token !== "function") {
        // The same token will be refused again: give up.
        this._shutdown(error);
        return;
      }
      this._emit("error", { error });
      this._scheduleReconnect();
    }
  }

  // ---- subscriptions ----------------------------------------------------

  _sendSubscribe(sub) {
    const msg = { type: "subscribe", id: sub.id };
    if (sub.key !== undefined) msg.key = sub.key;
    else msg.prefix = sub.prefix;
    const since = sub.lastRev;
    if (since !== null) msg.since = since;
    sub._pending(since);
    if (sub.prefix !== undefined) {
      this._collecting += 1;
      if (this._sinceReply === null) this._sinceReply = [];
    }
    const ws = this._ws;
    const done = () => {
      if (sub.prefix !== undefined && ws === this._ws) {
        this._collecting -= 1;
        if (this._collecting === 0) this._sinceReply = null;
      }
    };
    this._internal(
      msg,
      (reply, block) => {
        done();
        if (!this._subs.has(sub)) return; // closed meanwhile
        this._resyncDone(sub, sub._settle(reply, block));
      },
      (error) => {
        done();
        if (error.code === "connection_lost" || error.code === "closed") return; // resubscribed on reconnect
        this._subs.delete(sub);
        sub._end(error);
        this._resyncDone(sub, "failed");
      },
    );
  }

  _startResyncRound(subs) {
    this._resyncRound = { waiting: new Set(subs), resumed: 0, resynced: 0, failed: 0 };
    if (subs.length === 0) this._finishResyncRound();
  }

  _resyncDone(sub, outcome) {
    const round = this._resyncRound;
    if (!round || !round.waiting.delete(sub)) return;
    if (outcome === "resumed") round.resumed += 1;
    else if (outcome === "failed") round.failed += 1;
    else if (outcome !== "closed") round.resynced += 1;
    if (round.waiting.size === 0) this._finishResyncRound();
  }

  _finishResyncRound() {
    const { resumed, resynced, failed } = this._resyncRound;
    this._resyncRound = null;
    this._emit("resynced", { resumed, resynced, failed });
  }

  _unsubscribe(sub) {
    if (!this._subs.delete(sub)) return;
    const same = [...this._subs].some((s) => s.id === sub.id && s.key === sub.key && s.prefix === sub.prefix);
    this._resyncDone(sub, "closed");
    // Nothing to undo on the server if it was not subscribed on this connection.
    if (same || sub._state === "waiting" || !this._ws) return;
    const msg = { type: "unsubscribe", id: sub.id };
    if (sub.key !== undefined) msg.key = sub.key;
    else msg.prefix = sub.prefix;
    this._ws.send(JSON.stringify(msg)); // no req: no reply
  }

  /** The server dropped the subscriptions of `ids`: authenticate again and resubscribe. */
  async _onTokenExpired(m) {
    const ids = m.ids ?? ["*"];
    const hit = [...this._subs].filter((s) => ids.includes("*") || ids.includes(s.id));
    const error = serverError(m);
    if (typeof this._token !== "function") {
      for (const sub of hit) {
        this._subs.delete(sub);
        sub._end(error);
      }
      this._emit("error", { error });
      return;
    }
    for (const sub of hit) sub._lost();
    if (this._state !== "open") return;
    const ws = this._ws;
    this._state = "authenticating";
    try {
      await this._authenticate();
    } catch (e) {
      if (ws !== this._ws || this._state === "closed") return;
      this._emit("error", { error: e });
      // Start over on a fresh connection: it retries with backoff.
      ws.close(4000, "re-authentication failed");
      return;
    }
    if (ws !== this._ws || this._state === "closed") return;
    this._state = "open";
    // The dropped subscriptions, and any made meanwhile.
    const resend = [...this._subs].filter((s) => s._state === "waiting");
    this._startResyncRound(resend);
    for (const sub of resend) this._sendSubscribe(sub);
    this._flushWaiting();
  }

  // ---- incoming -------------------------------------------------------

  _onMessage(data) {
    let m;
    try {
      m = JSON.parse(typeof data === "string" ? data : new TextDecoder().decode(data));
    } catch {
      this._emit("error", { error: new KvwsError("protocol", "kvws: the server sent a message that is not JSON") });
      return;
    }
    if (m.req !== undefined) {
      const p = this._inflight.get(m.req);
      if (p) {
        this._inflight.delete(m.req);
        clearTimeout(p.timer);
        if (m.type === "error" && !p.raw) p.reject(serverError(m));
        else p.resolve(m, this._sinceReply ?? []);
      }
      // Whatever arrived before this reply belongs to earlier requests.
      if (this._sinceReply !== null && this._collecting > 0) this._sinceReply = [];
      return;
    }
    if (m.type === "value" || m.type === "deleted") {
      if (this._sinceReply !== null) this._sinceReply.push(m);
      for (const sub of this._subs) sub._notify(m);
      return;
    }
    if (m.type === "error" && m.code === "token_expired") {
      this._onTokenExpired(m);
      return;
    }
    if (m.type === "error") this._emit("error", { error: serverError(m) });
  }
}

export class Subscription {
  constructor(client, id, topic, callback) {
    if (typeof callback !== "function") throw new TypeError("kvws: subscribe needs a callback");
    if (topic?.key !== undefined) this.key = topic.key;
    else if (topic?.prefix !== undefined) this.prefix = topic.prefix;
    else throw new TypeError("kvws: subscribe to { key } or { prefix }");
    this.id = id;
    this._client = client;
    this._callback = callback;
    this.lastRev = null; // the largest revision delivered; `since` on resubscribing
    this.closed = false;
    this._state = "waiting"; // waiting (not subscribed on this connection) | pending | live
    this._since = null;
    this._buffer = [];
    this.ready = new Promise((resolve, reject) => {
      this._resolveReady = resolve;
      this._rejectReady = reject;
    });
    this.ready.catch(() => {}); // reported to the callback too; not an unhandled rejection
  }

  /** Ends the subscription (unsubscribing on the server). */
  close() {
    if (this.closed) return;
    this.closed = true;
    this._client._unsubscribe(this);
    this._rejectReady(new KvwsError("closed", "kvws: the subscription was closed"));
  }

  _matches(m) {
    if (m.id !== this.id) return false;
    return this.key !== undefined ? m.key === this.key : m.key.startsWith(this.prefix);
  }

  _deliver(event) {
    if (this.closed) return;
    try {
      this._callback(event);
    } catch (error) {
      this._client._emit("error", { error, thrown: true });
    }
  }

  _change(m, replayed) {
    const event = {
      type: m.type,
      id: m.id,
      key: m.key,
      value: m.type === "value" ? m.value : null,
      rev: m.rev,
      reason: m.reason ?? null,
    };
    if (replayed) event.replayed = true;
    return event;
  }

  _pending(since) {
    this._state = "pending";
    this._since = since;
    this._buffer = [];
  }

  _lost() {
    this._state = "waiting";
    this._buffer = [];
  }

  _notify(m) {
    if (!this._matches(m)) return;
    if (this._state === "pending") {
      this._buffer.push(m);
    } else if (this._state === "live" && m.rev > this.lastRev) {
      this.lastRev = m.rev;
      this._deliver(this._change(m, false));
    }
  }

  /** Handles the reply to a subscribe; returns "snapshot", "resync" or "resumed". */
  _settle(reply, block) {
    const since = this._since;
    const topic = this.key !== undefined ? { key: this.key } : { prefix: this.prefix };
    let outcome;
    if (reply.type === "value" || reply.resync || since === null) {
      // A fresh state: for a key the reply itself, for a prefix the
      // unbroken run of matching `value` messages just before the reply,
      // keys in increasing order.
      let values;
      if (reply.type === "value") {
        values = reply.rev > 0 ? [{ key: reply.key, value: reply.value, rev: reply.rev }] : [];
      } else {
        let i = block.length;
        while (
          i > 0 &&
          block[i - 1].type === "value" &&
          this._matches(block[i - 1]) &&
          (i === block.length || byteOrder(block[i - 1].key, block[i].key) < 0)
        ) {
          i--;
        }
        values = block.slice(i).map((m) => ({ key: m.key, value: m.value, rev: m.rev }));
      }
      this.lastRev = reply.rev;
      outcome = since === null ? "snapshot" : "resync";
      this._state = "live";
      this._buffer = [];
      this._resolveReady({ values, rev: reply.rev });
      this._deliver({ type: outcome, id: this.id, ...topic, values, rev: reply.rev });
    } else {
      // A replay: every change after `since`, in order. Some may have come
      // before the replay, through another subscription of this connection;
      // each revision is delivered once.
      const seen = new Set();
      const missed = this._buffer
        .filter((m) => m.rev > since && !seen.has(m.rev) && seen.add(m.rev))
        .sort((a, b) => a.rev - b.rev);
      this._state = "live";
      this._buffer = [];
      for (const m of missed) {
        if (m.rev <= this.lastRev) continue;
        this.lastRev = m.rev;
        this._deliver(this._change(m, true));
      }
      this.lastRev = Math.max(this.lastRev, reply.rev);
      outcome = "resumed";
      this._resolveReady({ values: null, rev: reply.rev });
      this._deliver({ type: "resumed", id: this.id, ...topic, since, rev: reply.rev, replayed: missed.length });
    }
    return outcome;
  }

  /** The subscription is over: refused by the server (error) or closed with the client. */
  _end(error) {
    if (this.closed) return;
    if (error) {
      this._rejectReady(error);
      this._deliver({ type: "error", id: this.id, ...(this.key !== undefined ? { key: this.key } : { prefix: this.prefix }), error });
    } else {
      this._rejectReady(new KvwsError("closed", "kvws: the client was closed"));
    }
    this.closed = true;
  }
}
