/**
 * Group commit for a synchronous SQLite connection. Writes requested in the same turn of the
 * event loop run together in ONE `BEGIN IMMEDIATE` transaction, so:
 * - each write is still all-or-nothing on its own (if one fails, the batch is rolled back and every
 *   write re-runs alone: the failing one rejects, the others commit);
 * - writes apply in the order they were requested, exactly as if run one after another;
 * - no promise resolves before the COMMIT that made its write durable.
 * What it saves is the per-commit cost (WAL frames, locks), paid once per batch instead of per write.
 *
 * When another connection holds the database's lock, the batch waits for it as a whole
 * (docs/provider-contract.md §14.4): it is rolled back and tried again, whole, after a back-off on
 * the event loop (writes requested meanwhile join it), never blocking the loop for more than
 * SQLite's short busy slice. A write that has waited `busyTimeoutMs` in all fails with
 * DatabaseLocked; the batch never re-runs its writes one by one for a lock, so its wait is paid
 * once, not once per write.
 */
import type { Database, Statement } from "bun:sqlite";
import { backoffMs, DatabaseLocked, isBusy } from "./sqlite/busy-wait.ts";

interface Pending {
  fn: () => unknown;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  /** When this write first found the database locked (performance.now()); null until then. */
  lockedSince: number | null;
}

export interface GroupCommitOptions {
  /**
   * How long, in all, a write may wait for another connection's lock before failing with
   * DatabaseLocked. Default 0: fail at once.
   */
  busyTimeoutMs?: number;
  /** Runs after every rollback of writes that ran, so caches of what they wrote can be dropped. */
  onRollback?: () => void;
}

export class GroupCommit {
  private pending: Pending[] = [];
  /** A flush is due: on the next setImmediate, or (waiting for a lock) when `retry` fires. */
  private scheduled = false;
  private retry: ReturnType<typeof setTimeout> | null = null;
  /** Consecutive batches that found the database locked, for the back-off. */
  private lockedAttempts = 0;
  private readonly busyTimeoutMs: number;
  private readonly onRollback: (() => void) | undefined;
  private readonly begin: Statement;
  private readonly commit: Statement;
  private readonly rollback: Statement;

  constructor(db: Database, options: GroupCommitOptions = {}) {
    this.busyTimeoutMs = options.busyTimeoutMs ?? 0;
    this.onRollback = options.onRollback;
    this.begin = db.prepare("BEGIN IMMEDIATE");
    this.commit = db.prepare("COMMIT");
    this.rollback = db.prepare("ROLLBACK");
  }

  /** Queues `fn` for the next batch; resolves with its result once the batch committed. */
  run<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ fn, resolve: resolve as (v: unknown) => void, reject, lockedSince: null });
      if (!this.scheduled) {
        this.scheduled = true;
        // After every microtask of this turn: callers woken by the previous batch join this one.
        setImmediate(() => this.flush(false));
      }
    });
  }

  /**
   * Commits every write requested so far, now (before the connection closes: a write whose
   * promise is pending was accepted and must commit or fail, not vanish with the connection).
   * Writes that find the database locked fail at once: the connection cannot wait any longer.
   */
  flushNow(): void {
    if (this.retry !== null) clearTimeout(this.retry);
    this.retry = null;
    this.flush(true);
  }

  private flush(final: boolean): void {
    this.scheduled = false;
    this.retry = null;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    // Optimistic: the whole batch in one transaction. Failures are rare (a lost lock, bad input
    // found late), so instead of paying a savepoint per write, a failing batch is rolled back
    // and its writes are re-run one transaction each, which isolates the failure exactly.
    const startedAt = performance.now();
    const results: unknown[] = [];
    let began = false;
    try {
      this.begin.run();
      began = true;
      for (const p of batch) results.push(p.fn());
      this.commit.run();
    } catch (err) {
      this.tryRollback(began);
      // Another connection's lock says nothing about the writes: wait and run the batch again.
      if (isBusy(err)) return this.waitForLock(batch, err, startedAt, final);
      this.lockedAttempts = 0;
      // A lone write has failed on its own already: re-running it would only run its body twice.
      if (batch.length === 1) batch[0]!.reject(err);
      else this.runEachAlone(batch, final);
      return;
    }
    this.lockedAttempts = 0;
    batch.forEach((p, i) => p.resolve(results[i]));
  }

  /** Runs each write in a transaction of its own, in order; from one that finds the database locked on, they wait as a batch again. */
  private runEachAlone(batch: Pending[], final: boolean): void {
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i]!;
      const startedAt = performance.now();
      let value: unknown;
      let began = false;
      try {
        this.begin.run();
        began = true;
        value = p.fn();
        this.commit.run();
      } catch (err) {
        this.tryRollback(began);
        if (isBusy(err)) return this.waitForLock(batch.slice(i), err, startedAt, final);
        p.reject(err);
        continue;
      }
      p.resolve(value);
    }
  }

  /**
   * The database was locked by another connection: `writes` (rolled back, so nothing of them is
   * applied) go back to the head of the queue and the batch runs again after a back-off. Writes
   * that have waited busyTimeoutMs in all, or all of them when the connection is closing, fail.
   */
  private waitForLock(writes: Pending[], err: unknown, startedAt: number, final: boolean): void {
    const now = performance.now();
    const waiting: Pending[] = [];
    let nextDeadline = Infinity;
    for (const p of writes) {
      p.lockedSince ??= startedAt;
      const waited = now - p.lockedSince;
      if (final || waited >= this.busyTimeoutMs) {
        p.reject(new DatabaseLocked(waited, this.busyTimeoutMs, err, final));
      } else {
        waiting.push(p);
        nextDeadline = Math.min(nextDeadline, this.busyTimeoutMs - waited);
      }
    }
    // Nothing was queued since the batch was taken (flushing is synchronous), so `pending` is empty.
    this.pending = waiting.concat(this.pending);
    if (this.pending.length === 0) return;
    this.scheduled = true;
    const delay = Math.min(backoffMs(this.lockedAttempts++), Math.ceil(nextDeadline));
    this.retry = setTimeout(() => this.flush(false), delay);
  }

  /** `began`: writes ran in the transaction (not so when BEGIN itself failed, waiting for a lock). */
  private tryRollback(began: boolean): void {
    try {
      this.rollback.run();
    } catch {
      // no transaction open (BEGIN itself failed) or SQLite already rolled back
    }
    if (began) this.onRollback?.();
  }
}
