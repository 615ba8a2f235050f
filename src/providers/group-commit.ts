/**
 * Group commit for a synchronous SQLite connection. Writes requested in the same turn of the
 * event loop run together in ONE `BEGIN IMMEDIATE` transaction, so:
 * - each write is still all-or-nothing on its own (if one fails, the batch is rolled back and every
 *   write re-runs alone: the failing one rejects, the others commit);
 * - writes apply in the order they were requested, exactly as if run one after another;
 * - no promise resolves before the COMMIT that made its write durable.
 * What it saves is the per-commit cost (WAL frames, locks), paid once per batch instead of per write.
 */
import type { Database, Statement } from "bun:sqlite";

interface Pending {
  fn: () => unknown;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

export class GroupCommit {
  private pending: Pending[] = [];
  private scheduled = false;
  private readonly begin: Statement;
  private readonly commit: Statement;
  private readonly rollback: Statement;

  constructor(db: Database) {
    this.begin = db.prepare("BEGIN IMMEDIATE");
    this.commit = db.prepare("COMMIT");
    this.rollback = db.prepare("ROLLBACK");
  }

  /** Queues `fn` for the next batch; resolves with its result once the batch committed. */
  run<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // After every microtask of this turn: callers woken by the previous batch join this one.
        setImmediate(() => this.flush());
      }
    });
  }

  /**
   * Commits every write requested so far, now (before the connection closes: a write whose
   * promise is pending was accepted and must commit or fail, not vanish with the connection).
   */
  flushNow(): void {
    this.flush();
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    // Optimistic: the whole batch in one transaction. Failures are rare (a lost lock, bad input
    // found late), so instead of paying a savepoint per write, a failing batch is rolled back
    // and its writes are re-run one transaction each, which isolates the failure exactly.
    const results: unknown[] = [];
    try {
      this.begin.run();
      for (const p of batch) results.push(p.fn());
      this.commit.run();
    } catch (err) {
      this.tryRollback();
      // A lone write has failed on its own already: re-running it would only run its body twice.
      if (batch.length === 1) batch[0]!.reject(err);
      else for (const p of batch) this.runAlone(p);
      return;
    }
    batch.forEach((p, i) => p.resolve(results[i]));
  }

  private runAlone(p: Pending): void {
    let value: unknown;
    try {
      this.begin.run();
      value = p.fn();
      this.commit.run();
    } catch (err) {
      this.tryRollback();
      p.reject(err);
      return;
    }
    p.resolve(value);
  }

  private tryRollback(): void {
    try {
      this.rollback.run();
    } catch {
      // no transaction open (BEGIN itself failed) or SQLite already rolled back
    }
  }
}
