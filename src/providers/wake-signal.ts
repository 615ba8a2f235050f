/**
 * A level-free wake-up for long-polling fetches: waiters sleep until `notify()` or their timeout,
 * whichever comes first. Providers notify when they write work into a queue, so a fetch waiting in
 * the same process returns at once instead of at its next poll.
 *
 * Two ways to wake (docs/provider-contract.md §16.4):
 * - "all" (the default): every waiter wakes on every notify.
 * - "one": a notify wakes the longest-waiting waiter of each group (waiters that fetch with the
 *   same filter are one group: any of them can take what the others can). A waiter that found
 *   work calls `passOn(group)`, which wakes the next one of its group, since more work may be
 *   waiting; the chain ends at the first waiter that finds nothing. Waking every idle slot for
 *   one message only to have all but one find nothing cost a database round trip per idle slot
 *   per message.
 */
/** The longest delay setTimeout honours (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

export type WakeMode = "all" | "one";

/** The group of waiters that `wait` joins when it names none. */
const DEFAULT_GROUP = "";

export class WakeSignal {
  /** Waiters by group, each group in the order they began to wait. */
  private readonly groups = new Map<string, Set<() => void>>();
  private notified = 0;
  /** Whether a notify is waiting for the next macrotask to wake waiters. */
  private pending = false;
  /** Groups whose next waiter a passOn() will wake on the next macrotask. */
  private readonly passes = new Set<string>();
  private passPending = false;

  constructor(private readonly mode: WakeMode = "all") {}

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
    if (this.groups.size === 0 || this.pending) return;
    // Wake on the next macrotask, not in this one: whoever wrote the work (e.g. a worker slot that
    // just acked an activity) first gets to start its next item, then the woken fetchers run.
    this.pending = true;
    setImmediate(() => {
      this.pending = false;
      for (const [group, waiters] of [...this.groups]) {
        if (this.mode === "all") {
          this.groups.delete(group);
          for (const wake of waiters) wake();
        } else {
          this.wakeFirst(waiters);
        }
      }
    });
  }

  /** Wakes every waiter of every group now, whatever the mode (the provider is closing). */
  wakeAll(): void {
    this.notified++;
    const groups = [...this.groups.values()];
    this.groups.clear();
    for (const waiters of groups) for (const wake of [...waiters]) wake();
  }



  /**
   * In "one" mode, wakes the next waiter of `group` (the caller found work: there may be more).
   * No generation change: fetches already looking need not look again. A no-op in "all" mode.
   */
  passOn(group: string = DEFAULT_GROUP): void {
    if (this.mode === "all" || !this.groups.has(group)) return;
    this.passes.add(group);
    if (this.passPending) return;
    this.passPending = true;
    setImmediate(() => {
      this.passPending = false;
      for (const g of this.passes) {
        const waiters = this.groups.get(g);
        if (waiters !== undefined) this.wakeFirst(waiters);
      }
      this.passes.clear();
    });
  }

  private wakeFirst(waiters: Set<() => void>): void {
    for (const wake of waiters) {
      wake();
      return;
    }
  }

  /**
   * Sleeps until notify(), `ms`, or `abort` (a fetch's signal: the runtime shutting down cancels
   * its idle waits instead of waiting them out, docs/provider-contract.md §3.2). `group` names the
   * waiters this one can stand in for ("one" mode); one group when omitted. `until` also ends the
   * wait when it settles (the waiter then no longer counts as waiting).
   */
  wait(ms: number, abort?: AbortSignal | null, group: string = DEFAULT_GROUP, until?: Promise<unknown>): Promise<void> {
    return new Promise((resolve) => {
      if (abort?.aborted) return resolve();
      let waiters = this.groups.get(group);
      if (waiters === undefined) this.groups.set(group, (waiters = new Set()));
      const set = waiters;
      const wake = () => {
        clearTimeout(timer);
        set.delete(wake);
        if (set.size === 0 && this.groups.get(group) === set) this.groups.delete(group);
        abort?.removeEventListener("abort", wake);
        resolve();
      };
      abort?.addEventListener("abort", wake, { once: true });
      // setTimeout fires at once for delays past 2^31-1 ms: clamp, the caller re-checks and waits again.
      const timer = setTimeout(wake, Math.min(Math.max(ms, 0), MAX_TIMER_MS));
      // A waiting fetch alone must not keep the process alive: a runtime holds its own handle
      // while running, so after shutdown a process can exit without waiting out long polls.
      (timer as { unref?: () => void }).unref?.();
      set.add(wake);
      until?.then(wake, wake);
    });
  }
}
