// How SqliteProvider classifies SQLite's failures (docs/provider-contract.md §14.5): every failure
// is a ProviderError whose kind and `retryable` follow one table, with a message that names the
// file and says what to do. Real failures where SQLite can be made to produce them (a missing
// directory, a file that is not a database, corrupt pages, a read-only connection, a full
// database); the table itself for the codes no test can provoke portably (I/O errors, permissions).
import { Database } from "bun:sqlite";
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ProviderError, type ProviderErrorKind } from "../../src/core/errors.ts";
import { TagFilter } from "../../src/core/queue-types.ts";
import { createRunningInstance, externalRaisedItem } from "../../src/provider-tests/helpers.ts";
import { SqliteProvider } from "../../src/providers/sqlite.ts";
import { sqliteError } from "../../src/providers/sqlite/errors.ts";

const dir = mkdtempSync(join(tmpdir(), "duroxide-sqlite-errors-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const freshPath = () => join(dir, `db-${++n}.db`);
const toClose: { close(): void }[] = [];
afterEach(() => {
  for (const c of toClose.splice(0).reverse()) c.close();
});

async function failure(p: Promise<unknown>): Promise<ProviderError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ProviderError);
  return err as ProviderError;
}

async function openProvider(path: string): Promise<SqliteProvider> {
  const p = await SqliteProvider.open(path);
  toClose.push(p);
  return p;
}

/**
 * The provider's own connection. Only for forcing a condition SQLite reports on that connection
 * (read-only, a page limit) that the tests cannot create from outside as root.
 */
function connectionOf(p: SqliteProvider): Database {
  return (p as unknown as { conn: { db: Database } }).conn.db;
}

const enqueue = (p: SqliteProvider, instance: string) => p.enqueueForOrchestrator(externalRaisedItem(instance, "Evt", "{}"), null);

describe("SqliteProvider.open failures", () => {
  test("a path whose directory does not exist fails with a non-retryable ProviderError naming the path (not SQLite's bare error)", async () => {
    const path = join(dir, "no-such-dir", "x.db");
    const err = await failure(SqliteProvider.open(path));
    expect([err.kind, err.retryable, err.operation]).toEqual(["Internal", false, "open"]);
    expect(err.message).toContain(path);
    expect(err.message).toMatch(/cannot open/);
    expect(err.message).toMatch(/directory exists/);
    expect((err.cause as { code?: string }).code).toBe("SQLITE_CANTOPEN");
  });

  test("a path that is a directory fails the same way", async () => {
    const path = join(dir, "a-directory");
    mkdirSync(path);
    const err = await failure(SqliteProvider.open(path));
    expect([err.kind, err.retryable, err.operation]).toEqual(["Internal", false, "open"]);
    expect(err.message).toContain(path);
  });

  test("a file that is not a SQLite database fails with Corrupt, not retryable, naming the file", async () => {
    const path = freshPath();
    writeFileSync(path, "this is not a database, it is a text file\n".repeat(200));
    const err = await failure(SqliteProvider.open(path));
    expect([err.kind, err.retryable, err.operation]).toEqual(["Corrupt", false, "open"]);
    expect(err.message).toContain(path);
    expect(err.message).toMatch(/not a SQLite database/);
  });
});

describe("SqliteProvider call failures", () => {
  test("a read of corrupt pages fails with Corrupt, not retryable, saying to restore the file", async () => {
    const path = freshPath();
    const p = await SqliteProvider.open(path);
    for (let i = 0; i < 20; i++) await createRunningInstance(p, `inst-${i}`);
    p.close();
    // Overwrite the history table's root page with garbage (after folding the WAL into the file).
    const raw = new Database(path);
    raw.run("PRAGMA wal_checkpoint(TRUNCATE)");
    const root = raw.query<{ rootpage: number }, []>("SELECT rootpage FROM sqlite_master WHERE name = 'history'").get()!.rootpage;
    const pageSize = raw.query<{ page_size: number }, []>("PRAGMA page_size").get()!.page_size;
    raw.close();
    const fd = openSync(path, "r+");
    writeSync(fd, Buffer.alloc(pageSize, 0xab), 0, pageSize, (root - 1) * pageSize);
    closeSync(fd);

    const q = await openProvider(path);
    const err = await failure(q.read("inst-3"));
    expect([err.kind, err.retryable, err.operation]).toEqual(["Corrupt", false, "read"]);
    expect(err.message).toContain(path);
    expect(err.message).toMatch(/corrupt/);
    expect(err.message).toMatch(/backup/);
  });

  test("a write to a database this process can only read fails, not retryable, saying the file is read-only", async () => {
    const p = await openProvider(freshPath());
    connectionOf(p).run("PRAGMA query_only = ON"); // what SQLite reports for a read-only file or mount
    const err = await failure(enqueue(p, "a"));
    expect([err.kind, err.retryable]).toEqual(["Internal", false]);
    expect((err.cause as { code?: string }).code).toBe("SQLITE_READONLY");
    expect(err.message).toMatch(/read-only/);
    expect(err.message).toMatch(/permissions/);
  });

  test("a write to a full database fails retryably, saying to free space (it succeeds once there is room)", async () => {
    const p = await openProvider(freshPath());
    const db = connectionOf(p);
    db.run("PRAGMA max_page_count = 1"); // clamps to the current size: any growth is "disk full"
    const big = "x".repeat(64 * 1024);
    const err = await failure(p.enqueueForOrchestrator(externalRaisedItem("a", "Evt", JSON.stringify(big)), null));
    expect([err.kind, err.retryable]).toEqual(["Unavailable", true]);
    expect((err.cause as { code?: string }).code).toBe("SQLITE_FULL");
    expect(err.message).toMatch(/full/);
    expect(err.message).toMatch(/free space/i);
    db.run("PRAGMA max_page_count = 1073741823");
    await p.enqueueForOrchestrator(externalRaisedItem("a", "Evt", JSON.stringify(big)), null);
  });

  test("a fetch on a closed provider with a tag filter it never used fails with Closed, not an untyped error", async () => {
    const p = await SqliteProvider.open(freshPath());
    p.close();
    const err = await failure(p.fetchWorkItem(1000, 0, null, TagFilter.tags("never-used")));
    expect(err.kind).toBe("Closed");
  });
});

describe("sqliteError: the SQLite classification table", () => {
  /** A SQLite error as bun:sqlite throws it, for the codes no test can make SQLite produce portably. */
  const sqliteFailure = (code: string, message: string) => Object.assign(new Error(message), { name: "SQLiteError", code });
  const cases: [code: string, kind: ProviderErrorKind, retryable: boolean, says: RegExp][] = [
    ["SQLITE_BUSY", "Unavailable", true, /locked by another connection/],
    ["SQLITE_BUSY_SNAPSHOT", "Unavailable", true, /locked by another connection/],
    ["SQLITE_LOCKED", "Unavailable", true, /locked/],
    ["SQLITE_PROTOCOL", "Unavailable", true, /retried/],
    ["SQLITE_NOMEM", "Unavailable", true, /memory/],
    ["SQLITE_IOERR_WRITE", "Unavailable", true, /I\/O error.*disk/],
    ["SQLITE_IOERR_FSYNC", "Unavailable", true, /I\/O error/],
    ["SQLITE_IOERR_CORRUPTFS", "Corrupt", false, /backup/],
    ["SQLITE_FULL", "Unavailable", true, /free space/i],
    ["SQLITE_READONLY", "Internal", false, /read-only/],
    ["SQLITE_READONLY_DBMOVED", "Internal", false, /read-only/],
    ["SQLITE_CANTOPEN", "Internal", false, /cannot open/],
    ["SQLITE_PERM", "Internal", false, /permission/],
    ["SQLITE_AUTH", "Internal", false, /permission/],
    ["SQLITE_NOTADB", "Corrupt", false, /not a SQLite database/],
    ["SQLITE_CORRUPT", "Corrupt", false, /backup/],
    ["SQLITE_CORRUPT_INDEX", "Corrupt", false, /backup/],
    ["SQLITE_CONSTRAINT_UNIQUE", "Conflict", false, /duplicate key/],
    ["SQLITE_CONSTRAINT_FOREIGNKEY", "Conflict", false, /FOREIGN KEY/],
    ["SQLITE_TOOBIG", "InvalidArgument", false, /too big/],
    ["SQLITE_ERROR", "Internal", false, /report/],
    ["SQLITE_MISUSE", "Internal", false, /report/],
  ];
  for (const [code, kind, retryable, says] of cases) {
    test(`${code} → ${kind}, ${retryable ? "retryable" : "not retryable"}, saying what to do`, () => {
      const cause = sqliteFailure(code, code === "SQLITE_CONSTRAINT_FOREIGNKEY" ? "FOREIGN KEY constraint failed" : "sqlite says no");
      const err = sqliteError("ackOrchestrationItem", cause, "/data/app.db");
      expect(err).toBeInstanceOf(ProviderError);
      expect([err.kind, err.retryable, err.operation]).toEqual([kind, retryable, "ackOrchestrationItem"]);
      expect(err.message).toMatch(says);
      expect(err.cause).toBe(cause);
      if (kind !== "Conflict") expect(err.message).toContain("/data/app.db");
    });
  }

  test("a real SQLITE_READONLY from bun:sqlite (a read-only connection) is classified by its code", () => {
    const path = freshPath();
    new Database(path).run("CREATE TABLE t (x)");
    const ro = new Database(path, { readonly: true });
    toClose.push(ro);
    let thrown: unknown;
    try {
      ro.run("INSERT INTO t VALUES (1)");
    } catch (e) {
      thrown = e;
    }
    const err = sqliteError("appendWithExecution", thrown, path);
    expect([err.kind, err.retryable]).toEqual(["Internal", false]);
    expect(err.message).toContain(path);
  });

  test("ProviderErrors pass through; a non-SQLite error becomes Internal and retryable (the runtime backs off)", () => {
    const lost = ProviderError.lockLost("ackWorkItem", "gone");
    expect(sqliteError("ackWorkItem", lost, "/x.db")).toBe(lost);
    const plain = sqliteError("read", new TypeError("boom"), "/x.db");
    expect([plain.kind, plain.retryable]).toEqual(["Internal", true]);
  });
});
