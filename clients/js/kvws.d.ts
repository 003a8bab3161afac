// Type declarations for kvws.js.

/** Any JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A token, or a (possibly async) function returning a fresh one. */
export type TokenSource = string | (() => string | Promise<string>);

/** What the client needs of a WebSocket: the browser's, Node's, or the `ws` package's. */
export interface WebSocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: string, listener: (event: any) => void): void;
  removeEventListener(type: string, listener: (event: any) => void): void;
}

export interface ConnectOptions {
  /** Authenticate with this token; a function is called on every (re)connect and to refresh before expiry. */
  token?: TokenSource;
  /** The WebSocket class to use (default: globalThis.WebSocket), e.g. the `ws` package's. */
  WebSocket?: new (url: string) => WebSocketLike;
  /** Opening the socket and authenticating, per attempt (default 10000). */
  connectTimeoutMs?: number;
  /** A request's reply, including any wait for a reconnection (default 30000; 0 or Infinity: none). */
  requestTimeoutMs?: number;
  /** First delay before reconnecting (default 100); doubles with every failed attempt... */
  backoffInitialMs?: number;
  /** ...up to this (default 5000). Each delay is jittered between half and all of it. */
  backoffMaxMs?: number;
  /** Refresh the token this long before it expires, at most a quarter of its lifetime (default 60000). */
  refreshMarginMs?: number;
  /** Refresh a token function's token before it expires (default true). */
  refresh?: boolean;
}

export interface SetOptions {
  /** Only if the key's revision is this (0: only if absent); else a `conflict` error. */
  ifRev?: number;
  /** The key expires after this many milliseconds. */
  ttlMs?: number;
  /** The key is deleted when this connection closes. */
  ephemeral?: boolean;
}

export interface ListOptions {
  prefix?: string;
  /** Exclusive: keys after this one. */
  after?: string;
  /** At most this many keys (server default 100, capped at 1000). */
  limit?: number;
}

export interface Entry<T = Json> {
  /** The value; null when absent. */
  value: T | null;
  /** Its revision; 0 when absent. */
  rev: number;
}

export interface KeyValue {
  key: string;
  value: Json;
  rev: number;
}

export type Topic = { key: string } | { prefix: string };

interface TopicFields {
  id: string;
  key?: string;
  prefix?: string;
}

/** A change: a key was set, or deleted (reason "expired", "disconnected" or null for a delete). */
export interface ChangeEvent extends TopicFields {
  type: "value" | "deleted";
  key: string;
  /** The new value; null for a deletion. */
  value: Json;
  rev: number;
  reason: "expired" | "disconnected" | null;
  /** Present (true) on the changes replayed after a reconnect. */
  replayed?: true;
}

/**
 * The full state of the subscription: its first state ("snapshot"), or a
 * replacement after changes may have been missed ("resync"). Drop what you
 * hold for the subscription and take `values` (the keys that exist; for a
 * key subscription zero or one) as the truth.
 */
export interface StateEvent extends TopicFields {
  type: "snapshot" | "resync";
  values: KeyValue[];
  /** The revision the state is as of (for a key: the key's revision). */
  rev: number;
}

/** After a reconnect: every change after `since` was replayed (`replayed` of them, just before). */
export interface ResumedEvent extends TopicFields {
  type: "resumed";
  since: number;
  rev: number;
  replayed: number;
}

/** The subscription ended: refused by the server, or its token expired with no way to renew it. */
export interface SubscriptionErrorEvent extends TopicFields {
  type: "error";
  error: KvwsError;
}

export type SubscriptionEvent = ChangeEvent | StateEvent | ResumedEvent | SubscriptionErrorEvent;

export interface Subscription {
  readonly id: string;
  readonly key?: string;
  readonly prefix?: string;
  /** The largest revision delivered: `since` on the next resubscription. */
  readonly lastRev: number | null;
  readonly closed: boolean;
  /** Resolves with the first state (`values`: null after a replay), or rejects with the server's error. */
  readonly ready: Promise<{ values: KeyValue[] | null; rev: number }>;
  /** Unsubscribes; no more events. */
  close(): void;
}

/** The `authenticated` reply. */
export interface Session {
  type: "authenticated";
  role: "guest" | "manager";
  ids: string[];
  access: "read" | "readwrite";
  /** Unix seconds. */
  expires: number;
}

export interface ClientEvents {
  /** An attempt to connect begins. */
  connecting: { attempt: number; reconnect: boolean };
  /** Connected (and authenticated); subscriptions are being resent. */
  open: { reconnect: boolean; session: Session | null };
  /** The connection was lost (willReconnect) or the client closed for good. */
  closed: { code: number | null; reason: string; willReconnect: boolean; error: KvwsError };
  /** After a reconnect or re-authentication, every subscription is back: how many resumed, resynced or failed. */
  resynced: { resumed: number; resynced: number; failed: number };
  /** A token was accepted (on connecting, refreshing, or after token_expired). */
  authenticated: { session: Session };
  /** Something went wrong in the background (a failed attempt, a refused token, a throwing callback). */
  error: { error: unknown; thrown?: true };
}

export type State = "connecting" | "authenticating" | "open" | "reconnecting" | "closed";

export declare class Client {
  readonly url: string;
  readonly state: State;
  /** The last `authenticated` reply, or null. */
  readonly session: Session | null;
  set<T extends Json = Json>(id: string, key: string, value: T, options?: SetOptions): Promise<Entry<T>>;
  get<T extends Json = Json>(id: string, key: string): Promise<Entry<T>>;
  /** Resolves to true if the key existed. */
  delete(id: string, key: string, options?: { ifRev?: number }): Promise<boolean>;
  list(id: string, options?: ListOptions): Promise<{ keys: string[]; more: boolean }>;
  /** Every key under the prefix, paging with list. */
  listAll(id: string, prefix?: string): Promise<string[]>;
  subscribe(id: string, topic: Topic, callback: (event: SubscriptionEvent) => void): Subscription;
  /**
   * Authenticates on this connection (waiting for it while reconnecting);
   * once accepted, the token is the one presented on every reconnect.
   * Rejects with the server's error, and then the previous token stays.
   */
  authenticate(token: TokenSource): Promise<Session>;
  /**
   * Sends `text` exactly as given. Resolves to the reply whose `req` is the
   * message's own (an `error` reply too), or to null once sent if it has no
   * `req`. Rejects with `req_in_use` if that `req` belongs to a request in
   * flight. The client does not act on what the message does.
   */
  sendRaw(text: string): Promise<{ type: string; [field: string]: Json } | null>;
  /** While waiting to reconnect, tries at once (the backoff starts over). */
  reconnect(): void;
  on<E extends keyof ClientEvents>(event: E, listener: (detail: ClientEvents[E]) => void): () => void;
  off<E extends keyof ClientEvents>(event: E, listener: (detail: ClientEvents[E]) => void): void;
  /** Closes for good: waiting requests reject with code "closed". */
  close(): void;
}

/**
 * An error: `code` is the server's (bad_request, conflict, too_large,
 * too_many_keys, too_many_subscriptions, store_full, unauthenticated,
 * invalid_token, token_expired, forbidden, storage_failed, unavailable) or the client's
 * (connect_failed, connection_lost, timeout, closed, protocol, req_in_use).
 */
export declare class KvwsError extends Error {
  readonly code: string;
  /** conflict: the key's current revision. */
  readonly rev?: number;
  readonly id?: string;
  readonly key?: string;
  /** token_expired notice: the ids whose grant expired. */
  readonly ids?: string[];
}

/** Connects; resolves once connected and authenticated, rejects if that first attempt fails. */
export declare function connect(url: string, options?: ConnectOptions): Promise<Client>;
