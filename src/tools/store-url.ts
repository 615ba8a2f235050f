/**
 * Store URLs for the operator tools (CLI, dashboard): one string names a store, as the user types
 * it or sets it in `DUROXIDE_STORE`:
 * - `sqlite:PATH` or a bare file path: a SQLite file (`sqlite::memory:` is refused: a private
 *   in-memory database is empty to every other process);
 * - `postgres://...` or `postgresql://...`: a PostgreSQL database; `?schema=NAME` picks the schema
 *   (default "duroxide"), the other parameters go to the server.
 * A tool inspects an existing store: a SQLite file that does not exist is refused rather than
 * created empty, so a typo in a path says so instead of showing "no instances".
 */
import { Database } from "bun:sqlite";
import { existsSync } from "node:fs";
import { ValidationError } from "../core/errors.ts";
import type { Provider } from "../provider.ts";
import { PostgresProvider } from "../providers/postgres.ts";
import { SqliteProvider } from "../providers/sqlite.ts";

export type StoreUrl = { kind: "sqlite"; path: string } | { kind: "postgres"; url: string; schema?: string };

/** The environment variable a tool reads when no `--store` is given. */
export const STORE_ENV = "DUROXIDE_STORE";

/**
 * The store URL as an error message may show it: a password (`user:PASSWORD@host`, or a
 * `password=` parameter) becomes `***`. Error messages end up in terminals, logs and CI output,
 * so a message never echoes the URL the user typed as is (docs/cli.md "Store"). Works on text that
 * is not a valid URL too (that is when it is echoed): everything between the first `:` of the
 * user part and the last `@` is hidden.
 */
export function redactStoreUrl(raw: string): string {
  let s = raw;
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(s);
  if (scheme !== null) {
    const at = s.lastIndexOf("@");
    const colon = s.indexOf(":", scheme[0].length);
    if (at > scheme[0].length && colon !== -1 && colon < at) s = `${s.slice(0, colon + 1)}***${s.slice(at)}`;
  }
  return s.replace(/([?&;]\s*(?:password|pass|pwd)\s*=)[^&#]*/gi, "$1***");
}

/** Parses a store URL; a ValidationError says what was wrong and what forms are accepted. */
export function parseStoreUrl(raw: unknown): StoreUrl {
  if (typeof raw !== "string" || raw.trim() === "") {
    throw new ValidationError(
      `no store given: pass --store sqlite:./data.db, a file path, or postgres://user@host/db, or set ${STORE_ENV}`,
    );
  }
  const s = raw.trim();
  if (/^postgres(ql)?:\/\//i.test(s)) {
    let u: URL;
    try {
      u = new URL(s);
    } catch {
      throw new ValidationError(`store URL ${JSON.stringify(redactStoreUrl(s))} is not a valid postgres:// URL (postgres://user:password@host:5432/db; percent-encode special characters in the password)`);
    }
    const schema = u.searchParams.get("schema") ?? undefined;
    u.searchParams.delete("schema");
    return schema === undefined ? { kind: "postgres", url: u.toString() } : { kind: "postgres", url: u.toString(), schema };
  }
  const path = s.startsWith("sqlite:") ? s.slice("sqlite:".length).replace(/^\/\/(?=\/)/, "") : s;
  if (path === "" || path === ":memory:") {
    throw new ValidationError(`store ${JSON.stringify(s)} names no file: an in-memory database cannot be inspected from another process`);
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(path)) {
    throw new ValidationError(`store URL ${JSON.stringify(redactStoreUrl(s))}: unknown scheme (use sqlite:PATH, a file path, or postgres://...)`);
  }
  return { kind: "sqlite", path };
}

/** A store opened for inspection and administration (`new Client(store)`; close it when done). */
export type OpenedStore = Provider & { close(): unknown };

/**
 * Opens the store a URL names. A SQLite file must already exist (a tool never creates an empty
 * store by accident); PostgreSQL must have the schema's tables (connect runs migrations, which is
 * harmless on a current schema).
 */
export async function openStoreUrl(raw: unknown): Promise<OpenedStore> {
  const parsed = parseStoreUrl(raw);
  if (parsed.kind === "sqlite") {
    if (!existsSync(parsed.path)) {
      throw new ValidationError(`SQLite store ${JSON.stringify(parsed.path)} does not exist (check the path; tools do not create stores)`);
    }
    if (holdsOtherTablesOnly(parsed.path)) {
      throw new ValidationError(
        `SQLite file ${JSON.stringify(parsed.path)} is a database but not a duroxide store (it has no "instances" table): ` +
          "check the path; tools do not add duroxide's tables to another database",
      );
    }
    return await SqliteProvider.open(parsed.path);
  }
  return await PostgresProvider.connect(parsed.url, parsed.schema === undefined ? {} : { schema: parsed.schema });
}

/**
 * True when the file is a SQLite database without duroxide's `instances` table (another
 * application's database, or an empty file). Opening it as a store would run the migrations and
 * switch it to WAL: a tool pointed at the wrong file would change it. Opened without `create`
 * and only read; when it cannot be read at all (a directory, not a database, locked), false, and
 * SqliteProvider.open reports why.
 */
function holdsOtherTablesOnly(path: string): boolean {
  let db: Database | null = null;
  try {
    db = new Database(path, { create: false, readwrite: true });
    return db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'instances'").get() === null;
  } catch {
    return false;
  } finally {
    db?.close();
  }
}
