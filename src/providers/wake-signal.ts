/**
 * A level-free wake-up for long-polling fetches: waiters sleep until `notify()` or their timeout,
 * whichever comes first. Providers notify when they write work into a queue, so a fetch waiting in
 * the same process returns at once instead of at its next poll.
 */
/** The longest delay setTimeout honours (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class WakeSignal {
  private waiters = new Set<() => void>();
  private notified = 0;

  /**
   * Counts notify() calls, waiters or not: a fetch that reads it before looking at the queue and
   * finds it changed after looking knows that work may have arrived meanwhile, and looks again
   * instead of sleeping through it.
   */
  get generation(): number {
    return this.notified;
  }

  notify(): void {
    this.notified++;
    if (this.waiters.size === 0 || this.pending) return;
    // Wake on the next macrotask, not in this one: whoever wrote the work (e.g. a worker slot that
    // just acked an activity) first gets to start its next item, then the woken fetchers run.
    this.pending = true;
    setImmediate(() => {
      this.pending = false;
      const woken = this.waiters;
      this.waiters = new Set();
      for (const wake of woken) wake();
    });
  }

  private pending = false;

  /**
   * Sleeps until notify(), `ms`, or `abort` (a fetch's signal: the runtime shutting down cancels
   * its idle waits instead of waiting them out, docs/provider-contract.md §3.2).
   */
  wait(ms: number, abort?: AbortSignal | null): Promise<void> {
    return new Promise((resolve) => {
      if (abort?.aborted) return resolve();
      const wake = () => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        abort?.removeEventListener("abort", wake);
        resolve();
      };
      abort?.addEventListener("abort", wake, { once: true });
      // setTimeout fires at once for delays past 2^31-1 ms: clamp, the caller re-checks and waits again.
      const timer = setTimeout(wake, Math.min(Math.max(ms, 0), MAX_TIMER_MS));
      // A waiting fetch alone must not keep the process alive: a runtime holds its own handle
      // while running, so after shutdown a process can exit without waiting out long polls.
      (timer as { unref?: () => void }).unref?.();
      this.waiters.add(wake);
    });
  }
}
