// GroupCommit (src/providers/group-commit.ts) on real bun:sqlite databases: writes requested in one
// tick share one BEGIN IMMEDIATE transaction; each caller gets its own result or error, only after
// the COMMIT; a failing write rolls the batch back and every write re-runs in a transaction of its
// own, in request order. Then one case through SqliteProvider's public API only: a group-commit
// batch with a failing write, after which every history is exactly what is stored, as read() and
// readWithExecution() (which read rows), a second connection, and the history cache (which serves
// the history of fetchOrchestrationItem) each see it.
import { Database, type Statement } from "bun:sqlite";
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ProviderError } from "../../src/core/errors.ts";
import type { Event } from "../../src/core/events.ts";
import {
  activityCompletedItem,
  activityItem,
  activityScheduledEvent,
  createRunningInstance,
  event,
  externalRaisedItem,
  fetchOrch,
  fetchWork,
  runningMeta,
  startedEvent,
} from "../../src/provider-tests/helpers.ts";
import { GroupCommit } from "../../src/providers/group-commit.ts";
import { SqliteProvider } from "../../src/providers/sqlite.ts";

const dir = mkdtempSync(join(tmpdir(), "duroxide-group-commit-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const toClose: { close(): void }[] = [];
afterEach(() => {
  for (const c of toClose.splice(0).reverse()) c.close();
});

/**
 * A WAL file with table `t`, a GroupCommit on one connection and a second connection (`reader`)
 * that sees only committed rows. `log` records, in order, every BEGIN / COMMIT / ROLLBACK that
 * GroupCommit runs ("!" appended when it throws) and every write's body (`w:<name>`).
 */
function fixture() {
  const path = join(dir, `gc-${++files}.db`);
  const db = new Database(path);
  db.run("PRAGMA journal_mode = WAL");
  db.run("PRAGMA foreign_keys = ON");
  db.run("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE)");
  db.run("CREATE TABLE parent (id INTEGER PRIMARY KEY)");
  db.run("CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)");
  const reader = new Database(path, { readonly: true });
  toClose.push(db, reader);
  const log: string[] = [];
  const gc = new GroupCommit(spyOnControlStatements(db, log));
  const insertRow = db.prepare<{ n: number }, [string]>("INSERT INTO t (v) VALUES (?) RETURNING (SELECT COUNT(*) FROM t) AS n");
  return {
    path,
    db,
    reader,
    gc,
    log,
    /** A write that inserts `v` and returns how many rows its transaction sees, itself included. */
    insert: (v: string) => () => {
      log.push(`w:${v}`);
      return insertRow.get(v)!.n;
    },
    /** The committed values of `t`, in insertion order, as another connection sees them. */
    committed: () => reader.query<{ v: string }, []>("SELECT v FROM t ORDER BY id").all().map((r) => r.v),
  };
}

/** `db`, except that the BEGIN / COMMIT / ROLLBACK statements prepared from it log when they run. */
function spyOnControlStatements(db: Database, log: string[]): Database {
  return new Proxy(db, {
    get(target, key) {
      if (key === "prepare") {
        return (sql: string) => {
          const st = target.prepare(sql);
          const word = /^(BEGIN|COMMIT|ROLLBACK)\b/.exec(sql)?.[1];
          if (word === undefined) return st;
          return {
            run: (...args: unknown[]) => {
              try {
                const r = (st as Statement).run(...(args as []));
                log.push(word);
                return r;
              } catch (err) {
                log.push(`${word}!`);
                throw err;
              }
            },
          };
        };
      }
      const v = Reflect.get(target, key, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

/** Settles every promise, as { ok, value } / { ok: false, error }. */
async function settle<T>(ps: Promise<T>[]): Promise<({ ok: true; value: T } | { ok: false; error: unknown })[]> {
  return (await Promise.allSettled(ps)).map((r) => (r.status === "fulfilled" ? { ok: true, value: r.value } : { ok: false, error: r.reason }));
}

describe("GroupCommit", () => {
  test("writes requested in one tick run in one transaction: one BEGIN and one COMMIT, each write sees the ones before it, another connection sees none until the COMMIT", async () => {
    const f = fixture();
    let seenByReader: string[] | null = null;
    const writes = [
      f.gc.run(f.insert("a")),
      f.gc.run(f.insert("b")),
      f.gc.run(() => {
        const n = f.insert("c")();
        seenByReader = f.committed(); // "a" and "b" already ran, in this same open transaction
        return n;
      }),
    ];
    expect(f.log).toEqual([]); // nothing runs before the tick ends
    expect(await Promise.all(writes)).toEqual([1, 2, 3]);
    expect(seenByReader!).toEqual([]);
    expect(f.log).toEqual(["BEGIN", "w:a", "w:b", "w:c", "COMMIT"]);
    expect(f.committed()).toEqual(["a", "b", "c"]);
  });

  test("each caller gets its own result, and resumes with its write already committed", async () => {
    const f = fixture();
    const resolvedWith: { name: string; value: unknown; committed: string[] }[] = [];
    const track = <T>(name: string, p: Promise<T>) =>
      p.then((value) => {
        f.log.push(`resolved:${name}`);
        resolvedWith.push({ name, value, committed: f.committed() });
        return value;
      });
    const values = await Promise.all([
      track("row", f.gc.run(f.insert("x"))),
      track("text", f.gc.run(() => "plain value")),
      track("object", f.gc.run(() => ({ rows: f.db.query<{ n: number }, []>("SELECT COUNT(*) AS n FROM t").get()!.n }))),
      track("nothing", f.gc.run(() => undefined)),
    ]);
    expect(values).toEqual([1, "plain value", { rows: 1 }, undefined]);
    expect(f.log).toEqual(["BEGIN", "w:x", "COMMIT", "resolved:row", "resolved:text", "resolved:object", "resolved:nothing"]);
    // Whatever its write was, each caller already finds the batch committed when it resumes.
    expect(resolvedWith.map((r) => r.committed)).toEqual([["x"], ["x"], ["x"], ["x"]]);
  });

  test("a write requested by a caller woken by a batch, or in a later tick, goes into the next transaction", async () => {
    const f = fixture();
    let chained: Promise<number> | null = null;
    await f.gc.run(f.insert("first")).then(() => {
      chained = f.gc.run(f.insert("woken"));
    });
    expect(await chained!).toBe(2);
    await new Promise<void>((r) => setImmediate(r));
    expect(await f.gc.run(f.insert("later"))).toBe(3);
    expect(f.log).toEqual(["BEGIN", "w:first", "COMMIT", "BEGIN", "w:woken", "COMMIT", "BEGIN", "w:later", "COMMIT"]);
    expect(f.committed()).toEqual(["first", "woken", "later"]);
  });

  test("a failing write rolls the batch back and every write re-runs in its own transaction, in order: the others commit, only the failing one rejects with its own error, its partial writes undone", async () => {
    const f = fixture();
    const boom = new Error("boom");
    const results = await settle([
      f.gc.run(f.insert("a")),
      f.gc.run(() => {
        f.insert("half-done")(); // a write that fails after writing something
        throw boom;
      }),
      f.gc.run(f.insert("b")),
      f.gc.run(f.insert("a")), // UNIQUE violation: "a" is already there
      f.gc.run(f.insert("c")),
    ]);
    expect(results[0]).toEqual({ ok: true, value: 1 });
    expect(results[1]).toEqual({ ok: false, error: boom });
    expect(results[2]).toEqual({ ok: true, value: 2 });
    expect(results[3]!.ok).toBe(false);
    expect((results[3] as { error: { code?: string } }).error.code).toBe("SQLITE_CONSTRAINT_UNIQUE");
    expect(results[4]).toEqual({ ok: true, value: 3 });
    expect(f.log).toEqual([
      // the batch, up to its first failure
      "BEGIN", "w:a", "w:half-done", "ROLLBACK",
      // then one transaction per write, in request order
      "BEGIN", "w:a", "COMMIT",
      "BEGIN", "w:half-done", "ROLLBACK",
      "BEGIN", "w:b", "COMMIT",
      "BEGIN", "w:a", "ROLLBACK",
      "BEGIN", "w:c", "COMMIT",
    ]);
    expect(f.committed()).toEqual(["a", "b", "c"]);
    expect(f.db.inTransaction).toBe(false);
  });

  test("a failure found only at COMMIT (a deferred foreign key) is isolated the same way: no write is reported done before a COMMIT succeeded, none is left open", async () => {
    const f = fixture();
    f.db.run("INSERT INTO parent (id) VALUES (1)");
    const child = (id: number, parent: number) => () => {
      f.log.push(`w:child${id}`);
      f.db.run("INSERT INTO child (id, parent_id) VALUES (?, ?)", [id, parent]);
    };
    const results = await settle([f.gc.run(child(1, 1)), f.gc.run(child(2, 99)), f.gc.run(child(3, 1))]);
    expect(results.map((r) => r.ok)).toEqual([true, false, true]);
    expect((results[1] as { error: { code?: string } }).error.code).toBe("SQLITE_CONSTRAINT_FOREIGNKEY");
    expect(f.log).toEqual([
      "BEGIN", "w:child1", "w:child2", "w:child3", "COMMIT!", "ROLLBACK",
      "BEGIN", "w:child1", "COMMIT",
      "BEGIN", "w:child2", "COMMIT!", "ROLLBACK",
      "BEGIN", "w:child3", "COMMIT",
    ]);
    expect(f.reader.query<{ id: number }, []>("SELECT id FROM child ORDER BY id").all()).toEqual([{ id: 1 }, { id: 3 }]);
    expect(f.db.inTransaction).toBe(false);
    expect(await f.gc.run(f.insert("after"))).toBe(1);
    expect(f.committed()).toEqual(["after"]);
  });

  test("a batch of one failing write rejects with its error, commits nothing and leaves no transaction open", async () => {
    const f = fixture();
    await f.gc.run(f.insert("a"));
    const err = await f.gc.run(f.insert("a")).then(
      () => null,
      (e: unknown) => e,
    );
    expect((err as { code?: string }).code).toBe("SQLITE_CONSTRAINT_UNIQUE");
    expect(f.log.filter((l) => l === "w:a")).toHaveLength(2); // the failing body ran once, not re-run alone
    expect(f.log.filter((l) => l === "COMMIT")).toHaveLength(1); // only the first write's
    expect(f.log.at(-1)).toBe("ROLLBACK");
    expect(f.db.inTransaction).toBe(false);
    expect(await f.gc.run(f.insert("b"))).toBe(2);
    expect(f.committed()).toEqual(["a", "b"]);
  });

  test("when BEGIN fails because another connection holds the write lock, every write of the batch rejects with SQLITE_BUSY without running, and the next batch commits once the lock is free", async () => {
    const f = fixture();
    const other = new Database(f.path);
    toClose.push(other);
    other.run("BEGIN IMMEDIATE");
    other.run("INSERT INTO t (v) VALUES ('other')");
    const results = await settle([f.gc.run(f.insert("a")), f.gc.run(f.insert("b"))]);
    expect(results.map((r) => (r.ok ? "ok" : (r.error as { code?: string }).code))).toEqual(["SQLITE_BUSY", "SQLITE_BUSY"]);
    expect(f.log.filter((l) => l.startsWith("w:"))).toEqual([]); // no write body ran outside a transaction
    expect(f.log.filter((l) => l === "COMMIT")).toEqual([]);
    other.run("COMMIT");
    expect(await Promise.all([f.gc.run(f.insert("a")), f.gc.run(f.insert("b"))])).toEqual([2, 3]);
    expect(f.committed()).toEqual(["other", "a", "b"]);
  });

  test("onRollback runs after a rollback of writes that ran (a failing write), not after a BEGIN that found the database locked (nothing ran)", async () => {
    const f = fixture();
    let rollbacks = 0;
    const gc = new GroupCommit(f.db, { onRollback: () => rollbacks++ });
    const other = new Database(f.path);
    toClose.push(other);
    other.run("BEGIN IMMEDIATE");
    const locked = await settle([gc.run(f.insert("a"))]);
    expect((locked[0] as { error: { code?: string } }).error.code).toBe("SQLITE_BUSY");
    expect(rollbacks).toBe(0);
    other.run("ROLLBACK");
    const failed = await settle([
      gc.run(f.insert("b")),
      gc.run(() => {
        throw new Error("boom");
      }),
    ]);
    expect(failed.map((r) => r.ok)).toEqual([true, false]);
    // The batch rolled back (1), then the failing write alone rolled back again (2).
    expect(rollbacks).toBe(2);
    expect(f.committed()).toEqual(["b"]);
  });

  test("writes still pending when their Database is closed reject with its error instead of hanging", async () => {
    const f = fixture();
    const pending = [f.gc.run(() => f.db.run("INSERT INTO t (v) VALUES ('late')")), f.gc.run(() => f.db.query("SELECT 1").get())];
    f.db.close();
    const results = await settle(pending);
    expect(results.map((r) => r.ok)).toEqual([false, false]);
    for (const r of results) expect((r as { error: Error }).error.message).toMatch(/closed database|Database has closed/);
    expect(f.committed()).toEqual([]);
  });
});

describe("SqliteProvider with group commit", () => {
  test("close() commits the writes it already accepted, then releases the file at once (an exclusive reopen succeeds)", async () => {
    const path = join(dir, `close-${++files}.db`);
    const p = await SqliteProvider.open(path, { groupCommit: true, exclusive: true });
    const accepted = [p.enqueueForOrchestrator(externalRaisedItem("c-1", "e", "1"), null), p.enqueueForOrchestrator(externalRaisedItem("c-2", "e", "2"), null)];
    p.close(); // same tick: both writes are still waiting for their group commit
    await Promise.all(accepted);
    await expect(p.enqueueForOrchestrator(externalRaisedItem("c-3", "e", "3"), null)).rejects.toMatchObject({ kind: "Closed" });
    const again = await SqliteProvider.open(path, { exclusive: true });
    toClose.push(again);
    expect((await again.asManagementCapability().getQueueDepths()).orchestrator_queue).toBe(2);
  });

  test("a batch in which one append fails (duplicate event id) commits every other write; read, readWithExecution, a fresh connection and the history cache then agree on every history", async () => {
    const path = join(dir, "provider.db");
    const p = await SqliteProvider.open(path, { groupCommit: true });
    toClose.push(p);
    const ext = (instance: string, id: number, data: string) => event(instance, 1, id, { type: "ExternalEvent", name: "Evt", data });

    // A and C are running and locked by a fetch (so their histories are in p's cache); a second
    // message for A arrives while it is locked. B has an activity, locked by a worker. E has no rows.
    const started = { A: startedEvent("A"), B: startedEvent("B"), C: startedEvent("C"), E: startedEvent("E") };
    const scheduledB = activityScheduledEvent("B", 1, 2, "Work");
    await createRunningInstance(p, "B", { extraEvents: [scheduledB], workerItems: [activityItem("B", 2, { name: "Work" })] });
    // createRunningInstance builds its own Started event; keep the stored one as the expectation.
    started.B = (await p.read("B"))[0]!;
    const work = await fetchWork(p, 30_000);
    const lockedTurn = async (instance: "A" | "C") => {
      await createRunningInstance(p, instance);
      started[instance] = (await p.read(instance))[0]!;
      await p.enqueueForOrchestrator(externalRaisedItem(instance, "Evt", `${instance}-1`), null);
      const f = await fetchOrch(p, 30_000);
      expect(f.item.instance).toBe(instance);
      expect(f.item.history).toEqual([started[instance]]);
      return f;
    };
    const turnA = await lockedTurn("A");
    const turnC = await lockedTurn("C");
    await p.enqueueForOrchestrator(externalRaisedItem("A", "Evt", "A-2"), null);

    // One tick: six writes, so one group-commit batch. The fetch runs after A's ack released A's
    // lock, so in the batch it reads A's history including that ack's not yet committed event.
    const extA2 = ext("A", 2, "A-1");
    const extC2 = ext("C", 2, "C-1");
    const dupB = event("B", 1, 2, { type: "ActivityCompleted", result: "dup" }, 2);
    const [ackA, appendE, fetchA, appendB, ackWork, ackC] = await settle<unknown>([
      p.ackOrchestrationItem(turnA.lockToken, 1, [extA2], [], [], runningMeta(), []),
      p.appendWithExecution("E", 1, [started.E]),
      p.fetchOrchestrationItem(30_000, 0),
      p.appendWithExecution("B", 1, [dupB]),
      p.ackWorkItem(work.lockToken, activityCompletedItem("B", 2, '"r"')),
      p.ackOrchestrationItem(turnC.lockToken, 1, [extC2], [], [], runningMeta(), []),
    ]);
    expect([ackA, appendE, ackWork, ackC]).toEqual(Array(4).fill({ ok: true, value: undefined }));
    expect(appendB!.ok).toBe(false);
    const dupError = (appendB as { error: unknown }).error;
    expect(dupError).toBeInstanceOf(ProviderError);
    expect((dupError as ProviderError).message).toMatch(/duplicate key/);
    expect(fetchA!.ok).toBe(true);
    const turnA2 = (fetchA as { value: Awaited<ReturnType<SqliteProvider["fetchOrchestrationItem"]>> }).value!;
    expect(turnA2.item.instance).toBe("A");
    expect(turnA2.item.messages).toEqual([externalRaisedItem("A", "Evt", "A-2")]);

    const expected: Record<string, Event[]> = {
      A: [started.A, extA2],
      B: [started.B, scheduledB], // the duplicate was rolled back
      C: [started.C, extC2],
      E: [started.E],
    };
    // The history the batch's fetch served (from the cache) is the committed one.
    expect(turnA2.item.history).toEqual(expected.A!);
    const fresh = await SqliteProvider.open(path, { groupCommit: true }); // another connection: no cache
    toClose.push(fresh);
    const expectStored = async () => {
      for (const [instance, events] of Object.entries(expected)) {
        expect({ instance, read: await p.read(instance) }).toEqual({ instance, read: events });
        expect({ instance, read: await p.readWithExecution(instance, 1) }).toEqual({ instance, read: events });
        expect({ instance, read: await fresh.read(instance) }).toEqual({ instance, read: events });
      }
    };
    await expectStored();

    // The next turn of each instance is served from p's history cache: it must be the stored history.
    const nextTurn = async (instance: string) => {
      const f = await fetchOrch(p, 30_000);
      expect(f.item.instance).toBe(instance);
      expect({ instance, history: f.item.history }).toEqual({ instance, history: await fresh.read(instance) });
      return f;
    };
    // B: the worker's completion is queued (and B's cache was dropped by the append that failed).
    const turnB = await nextTurn("B");
    expect(turnB.item.messages).toEqual([activityCompletedItem("B", 2, '"r"')]);
    const completedB = event("B", 1, 3, { type: "ActivityCompleted", result: '"r"' }, 2);
    await p.ackOrchestrationItem(turnB.lockToken, 1, [completedB], [], [], runningMeta(), []);
    expected.B!.push(completedB);
    // A: its turn from the batch is acked, then another message starts the next one.
    const extA3 = ext("A", 3, "A-2");
    await p.ackOrchestrationItem(turnA2.lockToken, 1, [extA3], [], [], runningMeta(), []);
    expected.A!.push(extA3);
    await p.enqueueForOrchestrator(externalRaisedItem("A", "Evt", "A-3"), null);
    const turnA3 = await nextTurn("A");
    expect(turnA3.item.history).toEqual(expected.A!);
    // C: acked inside the batch; its next turn must include that ack's event.
    await p.enqueueForOrchestrator(externalRaisedItem("C", "Evt", "C-2"), null);
    const turnC2 = await nextTurn("C");
    expect(turnC2.item.history).toEqual(expected.C!);
    await expectStored();
  });
});
