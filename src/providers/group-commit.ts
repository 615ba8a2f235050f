/**
 * Group commit for a synchronous SQLite connection. Writes requested in the same turn of the
 * event loop run together in ONE `BEGIN IMMEDIATE` transaction, each inside its own savepoint, so:
 * - each write is still all-or-nothing on its own (a failing write rolls back to its savepoint and
 *   rejects alone; the others commit);
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
  private readonly savepoint: Statement;
  private readonly release: Statement;
  private readonly rollbackTo: Statement;

  constructor(private readonly db: Database) {
    this.begin = db.prepare("BEGIN IMMEDIATE");
    this.commit = db.prepare("COMMIT");
    this.rollback = db.prepare("ROLLBACK");
    this.savepoint = db.prepare("SAVEPOINT write");
    this.release = db.prepare("RELEASE write");
    this.rollbackTo = db.prepare("ROLLBACK TO write");
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

  private flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    const results: { ok: boolean; value: unknown }[] = [];
    try {
      this.begin.run();
    } catch (err) {
      for (const p of batch) p.reject(err);
      return;
    }
    try {
      if (batch.length === 1) {
        // One write: the transaction itself is its savepoint.
        results.push({ ok: true, value: batch[0]!.fn() });
      } else {
        for (const p of batch) {
          this.savepoint.run();
          try {
            results.push({ ok: true, value: p.fn() });
            this.release.run();
          } catch (err) {
            this.rollbackTo.run();
            this.release.run();
            results.push({ ok: false, value: err });
          }
        }
      }
      this.commit.run();
    } catch (err) {
      try {
        this.rollback.run();
      } catch {
        // already rolled back by SQLite
      }
      for (const p of batch) p.reject(err);
      return;
    }
    batch.forEach((p, i) => {
      const r = results[i]!;
      if (r.ok) p.resolve(r.value);
      else p.reject(r.value);
    });
  }
}
