// SqliteProvider while another connection or process holds the database's lock
// (docs/provider-contract.md §14.4): waiting for the lock never blocks the event loop for more than
// a short slice (timers keep firing, so activity leases are renewed), the calls complete once the
// lock is released, the whole wait is bounded by busyTimeoutMs and then fails with a retryable
// error naming the lock, and a group-commit batch waits once for all of its writes.
import { Database } from "bun:sqlite";
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ProviderError } from "../../src/core/errors.ts";
import { createRunningInstance, externalRaisedItem } from "../../src/provider-tests/helpers.ts";
import { GroupCommit } from "../../src/providers/group-commit.ts";
import { SqliteProvider } from "../../src/providers/sqlite.ts";

const dir = mkdtempSync(join(tmpdir(), "duroxide-lock-wait-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const freshPath = () => join(dir, `db-${++n}.db`);
const toClose: { close(): void }[] = [];
afterEach(() => {
  for (const c of toClose.splice(0).reverse()) c.close();
});

/**
 * The longest stretch between two ticks of a 10 ms interval: how long the event loop was blocked.
 * With the old synchronous busy wait it was the whole wait for the lock (seconds).
 */
function heartbeat(): { stop(): number } {
  let last = performance.now();
  let maxGap = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
  }, 10);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(maxGap, performance.now() - last);
    },
  };
}

/** The event loop may stall briefly on a shared machine; a blocked loop stalls for the whole wait. */
const MAX_LOOP_GAP_MS = 150;

/** Another connection to `path` holding its write lock (BEGIN IMMEDIATE) until `release()`. */
function holdWriteLock(path: string): { release(): void } {
  const other = new Database(path);
  other.run("BEGIN IMMEDIATE");
  let held = true;
  const lock = {
    release() {
      if (!held) return;
      held = false;
      other.run("COMMIT");
      other.close();
    },
  };
  toClose.push({ close: () => lock.release() });
  return lock;
}

/** Runs `release` after `ms` on the event loop and resolves with when it ran: a blocked loop delays it. */
function releaseAfter(ms: number, release: () => void): Promise<number> {
  return new Promise((resolve) =>
    setTimeout(() => {
      release();
      resolve(performance.now());
    }, ms),
  );
}

async function openProvider(path: string, options: Parameters<typeof SqliteProvider.open>[1]): Promise<SqliteProvider> {
  const p = await SqliteProvider.open(path, options);
  toClose.push(p);
  return p;
}

const enqueue = (p: SqliteProvider, instance: string) => p.enqueueForOrchestrator(externalRaisedItem(instance, "Evt", "{}"), null);

async function failure(p: Promise<unknown>): Promise<ProviderError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ProviderError);
  return err as ProviderError;
}

describe("SqliteProvider waiting for another connection's lock", () => {
  for (const groupCommit of [true, false]) {
    test(`writes (groupCommit ${groupCommit}) wait without blocking the event loop and complete once the lock is released`, async () => {
      const path = freshPath();
      const p = await openProvider(path, { busyTimeoutMs: 4_000, groupCommit });
      const lock = holdWriteLock(path);
      const beat = heartbeat();
      const released = releaseAfter(1_500, () => lock.release());
      const started = performance.now();
      await Promise.all(["a", "b", "c", "d", "e"].map((i) => enqueue(p, i)));
      const doneAt = performance.now();
      const releasedAt = await released;
      expect(beat.stop()).toBeLessThan(MAX_LOOP_GAP_MS);
      // They waited for the release (which ran on time: the loop was free), then went through at once.
      expect(releasedAt - started).toBeLessThan(1_500 + MAX_LOOP_GAP_MS);
      expect(doneAt).toBeGreaterThanOrEqual(releasedAt);
      expect(doneAt - releasedAt).toBeLessThan(500);
      expect((await p.asManagementCapability().getQueueDepths()).orchestrator_queue).toBe(5);
    });
  }

  test("a write that waits busyTimeoutMs in all fails with a retryable Unavailable error saying the database is locked by another connection and how long it waited", async () => {
    const path = freshPath();
    const p = await openProvider(path, { busyTimeoutMs: 400, groupCommit: false });
    holdWriteLock(path);
    const beat = heartbeat();
    const started = performance.now();
    const err = await failure(enqueue(p, "a"));
    const elapsed = performance.now() - started;
    expect(beat.stop()).toBeLessThan(MAX_LOOP_GAP_MS);
    expect(elapsed).toBeGreaterThanOrEqual(400);
    expect(elapsed).toBeLessThan(1_500);
    expect(err.kind).toBe("Unavailable");
    expect(err.retryable).toBe(true);
    expect(err.operation).toBe("enqueueForOrchestrator");
    expect(err.message).toContain(path);
    expect(err.message).toMatch(/locked by another connection/);
    expect(err.message).toMatch(/waited \d+ ms/);
    expect(err.message).toMatch(/busyTimeoutMs/);
    // Nothing was written; once the lock is free the provider works as before.
    toClose.splice(0).reverse().forEach((c) => c !== p && c.close());
    await enqueue(p, "a");
    expect((await p.asManagementCapability().getQueueDepths()).orchestrator_queue).toBe(1);
  });

  test("a group-commit batch meeting a held lock waits once for all its writes, not busyTimeoutMs per write", async () => {
    const path = freshPath();
    const p = await openProvider(path, { busyTimeoutMs: 1_000, groupCommit: true });
    holdWriteLock(path);
    const beat = heartbeat();
    const started = performance.now();
    // Ten writes of one tick: one batch. Before, the failed batch re-ran each write alone, each
    // waiting the whole busy timeout again (11 s here).
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => enqueue(p, `w${i}`)));
    const elapsed = performance.now() - started;
    expect(beat.stop()).toBeLessThan(MAX_LOOP_GAP_MS);
    expect(elapsed).toBeGreaterThanOrEqual(1_000);
    expect(elapsed).toBeLessThan(2_500);
    for (const r of results) {
      expect(r.status).toBe("rejected");
      const err = (r as PromiseRejectedResult).reason as ProviderError;
      expect(err).toBeInstanceOf(ProviderError);
      expect([err.kind, err.retryable]).toEqual(["Unavailable", true]);
      expect(err.message).toMatch(/locked by another connection/);
    }
  });

  test("a group-commit batch whose lock is released while it waits commits every write", async () => {
    const path = freshPath();
    const p = await openProvider(path, { busyTimeoutMs: 5_000, groupCommit: true });
    const lock = holdWriteLock(path);
    const beat = heartbeat();
    const released = releaseAfter(700, () => lock.release());
    const writes = Array.from({ length: 10 }, (_, i) => enqueue(p, `w${i}`));
    // Writes requested while the batch waits join it.
    const later = new Promise<void>((resolve, reject) => setTimeout(() => enqueue(p, "late").then(resolve, reject), 200));
    await Promise.all([...writes, later]);
    const doneAt = performance.now();
    expect(doneAt).toBeGreaterThanOrEqual(await released);
    expect(beat.stop()).toBeLessThan(MAX_LOOP_GAP_MS);
    expect((await p.asManagementCapability().getQueueDepths()).orchestrator_queue).toBe(11);
  });

  test("close() while writes wait for a lock: a group-committed write fails at once with Unavailable saying so, a write outside group commit with Closed; nothing hangs", async () => {
    const path = freshPath();
    const p = await SqliteProvider.open(path, { busyTimeoutMs: 60_000, groupCommit: true });
    const q = await SqliteProvider.open(path, { busyTimeoutMs: 60_000, groupCommit: false });
    holdWriteLock(path);
    const batched = enqueue(p, "a");
    const alone = enqueue(q, "b");
    // One turn: p's batch has met the lock (q's write met it synchronously); both wait for a retry.
    await new Promise((r) => setImmediate(r));
    const started = performance.now();
    p.close();
    q.close();
    const [e1, e2] = await Promise.all([failure(batched), failure(alone)]);
    expect(performance.now() - started).toBeLessThan(500);
    expect([e1.kind, e1.retryable]).toEqual(["Unavailable", true]);
    expect(e1.message).toMatch(/locked by another connection.*closed/);
    expect(e2.kind).toBe("Closed");
  });

  test("management deletes wait for the lock the same way", async () => {
    const path = freshPath();
    const p = await openProvider(path, { busyTimeoutMs: 4_000 });
    await createRunningInstance(p, "gone");
    const lock = holdWriteLock(path);
    const beat = heartbeat();
    const released = releaseAfter(800, () => lock.release());
    const admin = p.asManagementCapability();
    const result = await admin.deleteInstance("gone", true);
    expect(performance.now()).toBeGreaterThanOrEqual(await released);
    expect(beat.stop()).toBeLessThan(MAX_LOOP_GAP_MS);
    expect(result.instances_deleted).toBe(1);
    expect(await p.read("gone")).toEqual([]);
  });

  test("open waits for another connection's exclusive lock on the file (reads block too) and succeeds once it is released", async () => {
    const path = freshPath();
    (await SqliteProvider.open(path)).close(); // the file, in WAL mode, with the schema
    const holder = new Database(path);
    holder.run("PRAGMA locking_mode = EXCLUSIVE");
    holder.run("BEGIN IMMEDIATE");
    holder.run("INSERT INTO dead_letters (queue, instance_id, work_item, error, created_at) VALUES ('worker', NULL, 'x', 'planted', 0)");
    holder.run("COMMIT"); // the exclusive lock outlives the transaction: no other connection can even read
    toClose.push(holder);
    const beat = heartbeat();
    const released = releaseAfter(1_000, () => holder.close());
    const p = await openProvider(path, { busyTimeoutMs: 4_000 });
    expect(performance.now()).toBeGreaterThanOrEqual(await released);
    expect(beat.stop()).toBeLessThan(MAX_LOOP_GAP_MS);
    await enqueue(p, "after");
    expect((await p.asManagementCapability().getQueueDepths()).orchestrator_queue).toBe(1);
  });

  test("open gives up after busyTimeoutMs with a retryable Unavailable error naming the file and the lock", async () => {
    const path = freshPath();
    (await SqliteProvider.open(path)).close();
    const holder = new Database(path);
    holder.run("PRAGMA locking_mode = EXCLUSIVE");
    holder.run("BEGIN IMMEDIATE");
    holder.run("COMMIT");
    toClose.push(holder);
    const beat = heartbeat();
    const started = performance.now();
    const err = await failure(SqliteProvider.open(path, { busyTimeoutMs: 300 }));
    expect(performance.now() - started).toBeGreaterThanOrEqual(300);
    expect(beat.stop()).toBeLessThan(MAX_LOOP_GAP_MS);
    expect([err.kind, err.retryable, err.operation]).toEqual(["Unavailable", true, "open"]);
    expect(err.message).toContain(path);
    expect(err.message).toMatch(/locked by another connection/);
  });

  test("a lock held by another process: the provider's process keeps running its timers and writes once the lock is released", async () => {
    const path = freshPath();
    const p = await openProvider(path, { busyTimeoutMs: 5_000 });
    const script = `
      import { Database } from "bun:sqlite";
      const db = new Database(${JSON.stringify(path)});
      db.run("BEGIN IMMEDIATE");
      console.log("locked");
      setTimeout(() => { db.run("COMMIT"); db.close(); console.log("released"); }, 1200);
    `;
    const child = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "inherit" });
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    while (!out.includes("locked")) {
      const { value, done } = await lines.read();
      if (done) throw new Error(`the lock-holding child exited before locking: ${out}`);
      out += value;
    }
    const beat = heartbeat();
    const started = performance.now();
    await Promise.all(["x", "y", "z"].map((i) => enqueue(p, i)));
    const waited = performance.now() - started;
    expect(beat.stop()).toBeLessThan(MAX_LOOP_GAP_MS);
    expect(waited).toBeGreaterThan(500); // the child held the lock meanwhile
    expect(await child.exited).toBe(0);
    expect((await p.asManagementCapability().getQueueDepths()).orchestrator_queue).toBe(3);
  });
});

describe("GroupCommit waiting for another connection's lock", () => {
  test("a batch that finds the database locked runs again whole once it is free: each body once, in order, in one transaction", async () => {
    const path = freshPath();
    const db = new Database(path);
    db.run("PRAGMA journal_mode = WAL");
    db.run("PRAGMA busy_timeout = 0");
    db.run("CREATE TABLE t (v TEXT NOT NULL)");
    const reader = new Database(path, { readonly: true });
    toClose.push(db, reader);
    const gc = new GroupCommit(db, { busyTimeoutMs: 5_000 });
    const lock = holdWriteLock(path);
    const ran: string[] = [];
    const write = (v: string) => () => {
      ran.push(v);
      db.run("INSERT INTO t (v) VALUES (?)", [v]);
      // What another connection sees from inside the batch: nothing of it until its COMMIT.
      return reader.query<{ n: number }, []>("SELECT COUNT(*) AS n FROM t").get()!.n;
    };
    const writes = [gc.run(write("a")), gc.run(write("b")), gc.run(write("c"))];
    const released = releaseAfter(300, () => lock.release());
    expect(await Promise.all(writes)).toEqual([0, 0, 0]);
    expect(performance.now()).toBeGreaterThanOrEqual(await released);
    expect(ran).toEqual(["a", "b", "c"]);
    expect(reader.query<{ v: string }, []>("SELECT v FROM t ORDER BY rowid").all().map((r) => r.v)).toEqual(["a", "b", "c"]);
  });
});
