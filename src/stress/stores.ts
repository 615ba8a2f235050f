/**
 * Stores that several processes can open at once, described as plain data so that a stress run's
 * runtime processes (`startRuntimeProcesses`) open the same store as the process that pumps
 * instances: a SQLite file, or a schema of a PostgreSQL database. docs/stress-tests.md §6.
 */
import type { Provider } from "../provider.ts";
import { PostgresProvider } from "../providers/postgres.ts";
import { SqliteProvider } from "../providers/sqlite.ts";

/** A store other processes can open: a SQLite file, or a PostgreSQL database URL and schema. */
export type StoreDescriptor =
  | { kind: "sqlite-file"; path: string }
  | { kind: "postgres"; url: string; schema: string; poolMax?: number };

/** Opens the store `d` describes (it must exist: the pumping process creates it first). */
export async function openStore(d: StoreDescriptor): Promise<Provider> {
  switch (d.kind) {
    case "sqlite-file":
      return SqliteProvider.open(d.path); // WAL, synchronous NORMAL: as the pumping process opens it
    case "postgres":
      return PostgresProvider.connect(d.url, { schema: d.schema, ...(d.poolMax === undefined ? {} : { poolMax: d.poolMax }) });
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
