// Shared by the tests: a real kvws server started as a child process, tokens
// minted by `kvws token`, a TCP proxy that can cut connections, and a
// recorder of subscription events with bounded waits.

import { spawn, execFile } from "node:child_process";
import { mkdtempSync, openSync, readFileSync, writeFileSync, chmodSync, rmSync } from "node:fs";
import { createHmac, randomBytes } from "node:crypto";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));

/** The server binary: $KVWS_BIN, else the debug build of this repository. */
export const KVWS_BIN = process.env.KVWS_BIN
  ? path.resolve(process.env.KVWS_BIN)
  : path.resolve(here, "../../../target/debug/kvws");

/** How long any wait in a test may last. */
export const PATIENCE_MS = 10_000;

const running = new Set();
process.on("exit", () => {
  for (const p of running) p.kill("SIGKILL");
});

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until `pred()` is true, polling; fails after `ms`. */
export async function until(what, pred, ms = PATIENCE_MS) {
  const deadline = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

export function tempDir() {
  const dir = mkdtempSync(path.join(os.tmpdir(), "kvws-js-"));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A secret file as the server wants it: 48 random bytes, base64, mode 600. */
export function secretFile(dir = tempDir()) {
  const file = path.join(dir, "secret");
  writeFileSync(file, randomBytes(48).toString("base64"));
  chmodSync(file, 0o600);
  return file;
}

/** Mints a token with `kvws token`. */
export function mintToken(secret, { role = "guest", ids = ["app1"], access = "readwrite", ttl = "1h" } = {}) {
  const args = ["token", "--secret-file", secret, "--role", role, "--access", access, "--ttl", ttl];
  if (role === "guest") for (const id of ids) args.push("--id", id);
  return new Promise((resolve, reject) => {
    execFile(KVWS_BIN, args, { timeout: PATIENCE_MS }, (err, stdout, stderr) => {
      if (err) reject(new Error(`kvws token failed: ${stderr || err.message}`));
      else resolve(stdout.trim());
    });
  });
}

/**
 * Signs claims (HS256) with the secret file's key, as any backend would:
 * for tokens `kvws token` will not make, such as one already expired.
 */
export function signToken(secret, claims) {
  const key = readFileSync(secret, "utf8").trim();
  const b64 = (obj) => Buffer.from(JSON.stringify(obj)).toString("base64url");
  const body = `${b64({ alg: "HS256", typ: "JWT" })}.${b64(claims)}`;
  return `${body}.${createHmac("sha256", key).update(body).digest("base64url")}`;
}

/**
 * Starts `kvws` with `args` on `port` (0: a free one, read back from its log
 * line `listening on http://ADDR/`). Resolves to { url, port, stop, kill, log }.
 */
export async function startServer(args = [], { port = 0 } = {}) {
  const dir = tempDir();
  const logFile = path.join(dir, "server.log");
  const fd = openSync(logFile, "w");
  const proc = spawn(KVWS_BIN, ["--port", String(port), ...args], { stdio: ["ignore", "ignore", fd] });
  running.add(proc);
  let exited = false;
  proc.on("exit", () => {
    exited = true;
    running.delete(proc);
  });
  const log = () => readFileSync(logFile, "utf8");
  let addr = null;
  await until(`kvws ${args.join(" ")} to listen`, () => {
    if (exited) throw new Error(`kvws exited at start:\n${log()}`);
    addr = log().match(/listening on http:\/\/([^/\s]+)\//)?.[1];
    return addr !== undefined && addr !== null;
  });
  const boundPort = Number(addr.slice(addr.lastIndexOf(":") + 1));
  return {
    url: `ws://${addr}/`,
    port: boundPort,
    log,
    /** SIGTERM and wait for the exit (a graceful shutdown). */
    async stop() {
      if (exited) return;
      proc.kill("SIGTERM");
      await until("kvws to stop", () => exited);
    },
    kill() {
      if (!exited) proc.kill("SIGKILL");
    },
  };
}

/** A TCP proxy in front of a server: `cut()` drops every connection. */
export class Proxy {
  static async start(upstreamPort) {
    const p = new Proxy(upstreamPort);
    await new Promise((resolve) => p.server.listen(0, "127.0.0.1", resolve));
    p.port = p.server.address().port;
    p.url = `ws://127.0.0.1:${p.port}/`;
    return p;
  }

  constructor(upstreamPort) {
    this.upstreamPort = upstreamPort;
    this.open = true;
    this.sockets = new Set();
    this.server = net.createServer((client) => {
      if (!this.open) {
        client.destroy();
        return;
      }
      const upstream = net.connect(this.upstreamPort, "127.0.0.1");
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on("close", () => this.sockets.delete(s));
        s.on("error", () => {});
      }
      client.pipe(upstream);
      upstream.pipe(client);
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    });
  }

  /** Drops every connection; new ones are refused until `reopen()`. */
  cut() {
    this.open = false;
    for (const s of this.sockets) s.destroy();
  }

  reopen() {
    this.open = true;
  }

  close() {
    this.cut();
    this.server.close();
  }
}

/** Collects a subscription's events; `waitFor` finds one with a bound. */
export class Recorder {
  constructor() {
    this.events = [];
    this.fn = (e) => this.events.push(e);
  }

  /** Events of the given types, from position `from` on. */
  of(types, from = 0) {
    return this.events.slice(from).filter((e) => types.includes(e.type));
  }

  async waitFor(what, pred, from = 0) {
    let found;
    await until(what, () => {
      found = this.events.slice(from).find(pred);
      return found !== undefined;
    });
    return found;
  }
}

/** A client's connection events, recorded. */
export function watchEvents(kv) {
  const seen = [];
  for (const name of ["connecting", "open", "closed", "resynced", "authenticated", "error"]) {
    kv.on(name, (detail) => seen.push({ name, ...detail }));
  }
  return seen;
}
