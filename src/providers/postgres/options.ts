/**
 * `PostgresProvider.connect` options: each one checked, with a typed error naming the bad one
 * (docs/provider-contract.md §16.1 documents them).
 */
import { ProviderError } from "../../core/errors.ts";

export interface PostgresProviderOptions {
  /**
   * The schema every table, function and index lives in; created when missing. Lower-case
   * letters, digits and `_`, starting with a letter or `_`, at most 48 characters (the NOTIFY
   * channel's name is derived from it). Default "duroxide".
   */
  schema?: string;
  /**
   * Connections in the pool; the listener opens 2 more (one that LISTENs, one for its presence
   * lock and counts), none with `listen: false`. Default 4 (DEFAULT_POOL_MAX):
   * Bun.SQL pipelines queries on busy connections, so a few connections keep a runtime's slots
   * busy, and each more is one more server process competing for the database's cores.
   */
  poolMax?: number;
  /**
   * How often an idle fetch looks at the queue although no notification came, ms: covers
   * notifications lost while the listening connection was down. Default 1000.
   */
  fallbackPollIntervalMs?: number;
  /** Seconds to wait for a new connection before the call fails (Unavailable). Default 10. */
  connectTimeoutSeconds?: number;
  /** Seconds an unused pooled connection stays open. Default 60. */
  idleTimeoutSeconds?: number;
  /**
   * Listen for other processes' enqueues and terminal statuses (LISTEN/NOTIFY). Default true;
   * false makes idle fetches rely on the fallback poll alone (for poolers that cannot LISTEN,
   * like PgBouncer in transaction mode).
   */
  listen?: boolean;
  /** Apply pending migrations on connect (default true). False refuses a schema that is not current. */
  migrate?: boolean;
  /**
   * Most activities held at once that a turn's ack or a worker fetch claimed, in its own
   * transaction, for this process's worker fetches before they ask, while those fetches are
   * taking work steadily (0: never). Each is held at most 100 ms, then given back. Default 32.
   */
  workerClaimAhead?: number;
}

/**
 * The default pool size. On the 2-core benchmark machine, the database sharing it, 4 connections
 * ran a fixed 4 000 instances of 0 ms activities in 0.917x the wall time of 10 and 0.950x that of
 * 6 (medians of 8 alternating pairs); against 6, the seed config's 20 in flight took 0.997x and
 * one instance in flight 0.994x (docs/stress-tests.md §6.4). A runtime with many slots, or many
 * concurrent client calls, on a server with many cores may want more.
 */
export const DEFAULT_POOL_MAX = 4;

export interface ResolvedOptions {
  schema: string;
  poolMax: number;
  fallbackPollIntervalMs: number;
  connectTimeoutSeconds: number;
  idleTimeoutSeconds: number;
  listen: boolean;
  migrate: boolean;
  workerClaimAhead: number;
}

const KNOWN = new Set(["schema", "poolMax", "fallbackPollIntervalMs", "connectTimeoutSeconds", "idleTimeoutSeconds", "listen", "migrate", "workerClaimAhead"]);
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,47}$/;

function bad(message: string): ProviderError {
  return ProviderError.invalidArgument("PostgresProvider.connect", message);
}

function int(name: string, v: unknown, min: number, max: number, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw bad(`options.${name} must be an integer from ${min} to ${max} (got ${typeof v === "number" ? v : typeof v})`);
  }
  return v;
}

function bool(name: string, v: unknown, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== "boolean") throw bad(`options.${name} must be a boolean (got ${typeof v})`);
  return v;
}

export function resolveOptions(options: unknown): ResolvedOptions {
  if (options === undefined || options === null) options = {};
  if (typeof options !== "object" || Array.isArray(options)) throw bad("options must be an object");
  const o = options as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!KNOWN.has(k)) throw bad(`unknown option "${k}" (known: ${[...KNOWN].join(", ")})`);
  }
  const schema = o.schema === undefined ? "duroxide" : o.schema;
  if (typeof schema !== "string" || !SCHEMA_NAME.test(schema) || schema.startsWith("pg_")) {
    throw bad(
      `options.schema must be lower-case letters, digits and _, start with a letter or _, at most 48 characters, not pg_* (got ${JSON.stringify(schema)})`,
    );
  }
  return {
    schema,
    poolMax: int("poolMax", o.poolMax, 1, 1000, DEFAULT_POOL_MAX),
    fallbackPollIntervalMs: int("fallbackPollIntervalMs", o.fallbackPollIntervalMs, 10, 3_600_000, 1000),
    connectTimeoutSeconds: int("connectTimeoutSeconds", o.connectTimeoutSeconds, 1, 3600, 10),
    idleTimeoutSeconds: int("idleTimeoutSeconds", o.idleTimeoutSeconds, 1, 86_400, 60),
    listen: bool("listen", o.listen, true),
    migrate: bool("migrate", o.migrate, true),
    workerClaimAhead: int("workerClaimAhead", o.workerClaimAhead, 0, 1000, 32),
  };
}

/** Checks the connection URL: a postgres:// or postgresql:// URL. */
export function checkUrl(url: unknown): string {
  if (typeof url !== "string" || url.length === 0) throw bad("url must be a non-empty string like postgres://user@host:5432/db");
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw bad(`url is not a URL: expected postgres://user@host:5432/db`);
  }
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
    throw bad(`url must start with postgres:// or postgresql:// (got ${parsed.protocol}//)`);
  }
  return url;
}

/** The NOTIFY channel of a schema: two schemas on one server never wake each other. */
export function channelOf(schema: string): string {
  return `duroxide_${schema}`;
}

/** `"schema"`, quoted for SQL (the name is already restricted to [a-z0-9_]). */
export function quoted(schema: string): string {
  return `"${schema}"`;
}
