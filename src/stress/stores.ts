/**
 * Stores that several processes can open at once, described as plain data so that a stress run's
 * runtime processes (`startRuntimeProcesses`) open the same store as the process that pumps
 * instances: a SQLite file, or a schema of a PostgreSQL database. docs/stress-tests.md §6.
 *
 * The PostgreSQL provider is loaded on first use only, by a computed path: a checkout without it
 * (or a run without postgres) never loads it, and the type checker does not need it.
 */
import { join } from "node:path";
import type { Provider } from "../provider.ts";
import { SqliteProvider } from "../providers/sqlite.ts";

/** A store other processes can open: a SQLite file, or a PostgreSQL database URL and schema. */
export type StoreDescriptor =
  | { kind: "sqlite-file"; path: string }
  | { kind: "postgres"; url: string; schema: string; poolMax?: number };

/** The parts of `PostgresProvider` (src/providers/postgres.ts) the stress harness uses. */
export interface PostgresProviderClass {
  connect(url: string, options: { schema: string; poolMax?: number }): Promise<Provider & { close(): Promise<void> }>;
  dropSchema(url: string, schema: string): Promise<void>;
}

const POSTGRES_MODULE = join(import.meta.dir, "..", "providers", "postgres.ts");
let postgres: Promise<PostgresProviderClass> | null = null;

/** `PostgresProvider`, imported on first call; rejects with a clear message when this checkout has none. */
export function loadPostgresProvider(): Promise<PostgresProviderClass> {
  postgres ??= (async () => {
    let mod: { PostgresProvider?: PostgresProviderClass };
    try {
      mod = (await import(POSTGRES_MODULE)) as { PostgresProvider?: PostgresProviderClass };
    } catch (err) {
      throw new Error(`cannot load the PostgreSQL provider (${POSTGRES_MODULE}): ${(err as Error).message}`);
    }
    const cls = mod.PostgresProvider;
    if (cls === undefined || typeof cls.connect !== "function" || typeof cls.dropSchema !== "function") {
      throw new Error(`${POSTGRES_MODULE} exports no PostgresProvider with static connect() and dropSchema()`);
    }
    return cls;
  })();
  // A failed load is not cached: the message says what to fix, a retry after fixing it must work.
  postgres.catch(() => (postgres = null));
  return postgres;
}

/** Opens the store `d` describes (it must exist: the pumping process creates it first). */
export async function openStore(d: StoreDescriptor): Promise<Provider> {
  switch (d.kind) {
    case "sqlite-file":
      return SqliteProvider.open(d.path); // WAL, synchronous NORMAL: as the pumping process opens it
    case "postgres": {
      const pg = await loadPostgresProvider();
      return pg.connect(d.url, { schema: d.schema, ...(d.poolMax === undefined ? {} : { poolMax: d.poolMax }) });
    }
  }
}

/** Closes a provider whatever its close() returns (SQLite's is synchronous, PostgreSQL's a promise). */
export async function closeStore(p: Provider): Promise<void> {
  await (p as { close?: () => unknown }).close?.();
}

/** A URL with its password (if any) replaced by `***`, for printing. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== "") u.password = "***";
    return u.toString();
  } catch {
    return url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@");
  }
}
