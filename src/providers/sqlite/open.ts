/**
 * Opening a store: the options, `sqlite:` URLs, the connection's pragmas and the schema migration.
 */
import { Database } from "bun:sqlite";
import { ValidationError } from "../../core/errors.ts";
import { busySliceMs, whileBusy } from "./busy-wait.ts";
import { sqliteError } from "./errors.ts";
import { SCHEMA_SQL, SCHEMA_VERSION } from "./schema.ts";

export interface SqliteProviderOptions {
  /** `NORMAL` (default; durable at checkpoints, safe against corruption in WAL) or `FULL` (fsync every commit). */
  synchronous?: "NORMAL" | "FULL";
  /**
   * How long, in all, a call (and `open` itself) waits for another connection's or process's lock
   * on the file before failing with a retryable Unavailable error that says so. Default 60 000; 0
   * fails at once. The wait runs on the event loop: SQLite's own busy handler blocks at most
   * ~10 ms at a time, so timers (lease renewals) keep running (docs/provider-contract.md §14.4).
   */
  busyTimeoutMs?: number;
  /**
   * Long polling (default true): an empty fetch waits up to its pollTimeoutMs for work. Work
   * enqueued through this provider object wakes it at once; work from other processes, expired
   * locks and due timers are noticed within `pollIntervalMs`.
   */
  longPolling?: boolean;
  /** While long-polling, how often to look at the database again. Default 50 ms. */
  pollIntervalMs?: number;
  /**
   * Single-process mode (default false): `locking_mode=EXCLUSIVE` keeps the file lock for the
   * connection's lifetime, saving lock syscalls per commit. No other process can open the file.
   */
  exclusive?: boolean;
  /**
   * Group commit: writes requested in the same tick share one transaction (if one fails, the batch
   * is rolled back and its writes re-run one transaction each), paying the commit cost once per
   * batch; false commits every write alone. Default:
   * on for files (a commit writes WAL frames), off in memory (commits are nearly free there and the
   * batching delay costs more than it saves; measured with scripts/parallel_orchestrations.ts).
   */
  groupCommit?: boolean;
}

/** Accepts `sqlite:./x.db`, `sqlite://x.db`, `sqlite::memory:`, `:memory:` or a plain path; drops `?mode=...`. */
export function parseSqliteUrl(urlOrPath: string): string {
  if (typeof urlOrPath !== "string" || urlOrPath.trim().length === 0) {
    throw new ValidationError("SqliteProvider.open needs a path or a sqlite: URL, got an empty value");
  }
  let path = urlOrPath.trim();
  if (path.startsWith("sqlite://")) path = path.slice("sqlite://".length);
  else if (path.startsWith("sqlite:")) path = path.slice("sqlite:".length);
  const q = path.indexOf("?");
  if (q >= 0) path = path.slice(0, q);
  if (path.length === 0) throw new ValidationError(`"${urlOrPath}" names no database file`);
  return path;
}

export function checkPollingOptions(o: SqliteProviderOptions): void {
  if (typeof o !== "object" || o === null) throw new ValidationError("SqliteProvider options must be an object");
  for (const k of ["longPolling", "exclusive", "groupCommit"] as const) {
    if (o[k] !== undefined && typeof o[k] !== "boolean") throw new ValidationError(`${k} must be a boolean, got ${JSON.stringify(o[k])}`);
  }
  const i = o.pollIntervalMs;
  if (i !== undefined && (typeof i !== "number" || !Number.isFinite(i) || i < 1)) throw new ValidationError(`pollIntervalMs must be a number >= 1, got ${String(i)}`);
}

/** The busyTimeoutMs in `options`, checked. */
export function busyTimeoutOf(options: SqliteProviderOptions): number {
  const busy = options.busyTimeoutMs ?? 60_000;
  if (!Number.isSafeInteger(busy) || busy < 0) throw new ValidationError(`busyTimeoutMs must be a non-negative integer, got ${busy}`);
  return busy;
}

/**
 * Validates `options`, then opens (creating if missing) the database file at `path` in WAL mode
 * and migrates it; `:memory:` opens a private in-memory database instead. While another
 * connection holds a lock on the file (a process that opened it with `exclusive: true`, a
 * migration), it waits on the event loop up to busyTimeoutMs. Fails with a ProviderError
 * (operation "open") that names the file: docs/provider-contract.md §14.5.
 */
export async function openDatabase(path: string, options: SqliteProviderOptions): Promise<Database> {
  checkPollingOptions(options);
  const sync = options.synchronous ?? "NORMAL";
  if (sync !== "NORMAL" && sync !== "FULL") throw new ValidationError(`synchronous must be "NORMAL" or "FULL", got ${JSON.stringify(sync)}`);
  const busy = busyTimeoutOf(options);
  if (path === ":memory:") return openMemoryDatabase();
  let db: Database;
  try {
    db = new Database(path, { create: true, readwrite: true });
  } catch (err) {
    throw sqliteError("open", err, path);
  }
  try {
    db.run(`PRAGMA busy_timeout = ${busySliceMs(busy)}`);
    // Every step is idempotent (migrate is one transaction), so after SQLITE_BUSY all run again.
    await whileBusy(busy, () => {
      db.run("PRAGMA journal_mode = WAL");
      db.run(`PRAGMA synchronous = ${sync}`);
      if (options.exclusive === true) db.run("PRAGMA locking_mode = EXCLUSIVE");
      // Write path tuning: a 16 MiB page cache keeps hot pages (no memory-mapping: mapped pages
      // would count towards RSS as the file grows, and measured no faster), and fewer, larger WAL
      // checkpoints write each hot page once per checkpoint, not once per commit.
      db.run("PRAGMA cache_size = -16384");
      db.run("PRAGMA wal_autocheckpoint = 10000");
      db.run("PRAGMA temp_store = MEMORY");
      migrate(db);
    });
  } catch (err) {
    db.close();
    throw sqliteError("open", err, path);
  }
  return db;
}

/** A private in-memory database, migrated: fast, gone when closed. */
export function openMemoryDatabase(): Database {
  try {
    const db = new Database(":memory:");
    migrate(db);
    return db;
  } catch (err) {
    throw sqliteError("open", err, ":memory:");
  }
}

function migrate(db: Database): void {
  db.transaction(() => {
    const row = db.query<{ user_version: number }, []>("PRAGMA user_version").get();
    const v = row?.user_version ?? 0;
    if (v > SCHEMA_VERSION) {
      throw new ValidationError(`database schema version ${v} is newer than this duroxide (${SCHEMA_VERSION})`);
    }
    db.run(SCHEMA_SQL);
    db.run(`PRAGMA user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}
