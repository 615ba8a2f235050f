/**
 * Completions committed before they are durable (docs/provider-contract.md §16.4, "A completion
 * handed over before its flush").
 *
 * A worker's ack that hands its completion to an idle orchestrator fetch of this process commits
 * without waiting for the WAL flush (synchronous_commit off for that transaction), so the turn the
 * completion wakes runs one flush sooner. The ack's caller is still answered only once the ack is
 * durable: PostgreSQL writes commit records in order and a durable commit flushes the WAL up to
 * its own record, so any durable commit that this process submits after the ack returned covers
 * it. Usually that is the turn's own ack, about a millisecond later. When none comes within
 * FLUSH_FALLBACK_MS (the turn is slow, or its ack failed), a commit that only flushes does it.
 *
 * Until then the ack is committed but not durable: other sessions can see it, and a server crash
 * (not a process crash: the server flushes it within a few hundred milliseconds on its own) can
 * lose it, together with every later commit that depended on it. Nothing that depends on it is
 * durable before it, and nobody was told it was done: the activity then runs again, as for any
 * activity whose ack did not land.
 */

/** Longest a non-durable ack waits for a durable commit of this process before it makes one. */
export const FLUSH_FALLBACK_MS = 10;

interface Waiter {
  /** performance.now() when the non-durable commit had returned. */
  readonly at: number;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

export class FlushWatch {
  private waiters: Waiter[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private flushing: Promise<void> | null = null;

  constructor(
    /** One durable commit (it flushes the WAL up to its own commit record). */
    private readonly flush: () => Promise<void>,
    private readonly fallbackMs = FLUSH_FALLBACK_MS,
  ) {}

  /**
   * Resolves once a commit that returned before this call is durable: after a durable commit
   * submitted from now on (`covered`), or the fallback's own. Rejects when the fallback flush
   * fails: whether the commit survived is then unknown (a retry of the ack tells).
   */
  durable(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ at: performance.now(), resolve, reject });
      this.timer ??= setTimeout(() => {
        this.timer = null;
        void this.flushNow();
      }, this.fallbackMs);
    });
  }

  /** A durable commit submitted at `submittedAt` (performance.now()) succeeded: it covers every commit that returned before. */
  covered(submittedAt: number): void {
    if (this.waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.at <= submittedAt) w.resolve();
      else still.push(w);
    }
    this.waiters = still;
    if (still.length === 0 && this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  /** Flushes now for every waiter (the fallback, and close()); resolves when they are all settled. */
  async flushNow(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    while (this.waiters.length > 0) {
      if (this.flushing === null) {
        const submittedAt = performance.now();
        const waiting = [...this.waiters]; // those registered by now: a later one gets a flush of its own
        this.flushing = this.flush().then(
          () => this.covered(submittedAt),
          (err) => {
            // Only those it was meant to cover (a later waiter gets a flush of its own); rejecting
            // one that a durable commit resolved meanwhile does nothing.
            const failed = new Set(waiting);
            this.waiters = this.waiters.filter((w) => !failed.has(w));
            for (const w of waiting) w.reject(err);
          },
        ).finally(() => (this.flushing = null));
      }
      await this.flushing;
    }
  }

  get size(): number {
    return this.waiters.length;
  }
}
