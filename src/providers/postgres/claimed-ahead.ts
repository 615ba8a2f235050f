/**
 * Activities claimed for this process's worker fetches before they ask (docs/provider-contract.md
 * §16.4, "Claiming ahead").
 *
 * Under a backlog every worker slot fetches one activity per round trip: five fetch transactions
 * for a fan-out of five. A turn's ack already runs a transaction that writes the activities; when
 * this process's worker fetches have been taking work steadily, the ack claims some of them for
 * those fetches in the same transaction (the ordinary claim: oldest first, same lock, same attempt
 * count), and the next fetches take them from here without a round trip. A worker fetch that
 * finds work claims a few more the same way, for the fetches after it.
 *
 * What keeps this from hoarding, and from changing what a fetch sees:
 * - Only non-session items are claimed (a session claim would pin a session to this process).
 * - Only while fetches of one filter alone took work here in the last minute: an item held for
 *   one filter is invisible to a fetch of another (MIXED_FILTERS_WINDOW_MS).
 * - At most as many as this process's fetches of that filter took in the last hold window, and
 *   never more than `max` held or being claimed at once (room is reserved before the claim):
 *   a slow worker claims little ahead, an idle one nothing.
 * - An entry is handed out only while young (CLAIM_AHEAD_HOLD_MS, or a quarter of its lock
 *   timeout if that is shorter), its age counted from before the claiming write began; older
 *   entries go back to the queue (their attempt not counted), swept by a timer, so an item is
 *   never held away from other processes for longer than that.
 * - The claim locks for the lock timeout plus the hold (claimAheadLockMs), so an item handed out
 *   has at least the lease a fetch made at that moment would have: the runtime's renewal
 *   schedule, which counts from the fetch, stays right.
 */

/** How long a claimed-ahead item may wait here, ms (lowered to a quarter of its lock timeout). */
export const CLAIM_AHEAD_HOLD_MS = 100;

/**
 * How long a fetch of one filter keeps this process from claiming ahead for fetches of another,
 * ms: what is held for one filter, a fetch of another would not see.
 */
export const MIXED_FILTERS_WINDOW_MS = 60_000;

/** The hold of items claimed for fetches with a `lockMs` lock timeout. */
export function claimAheadHoldMs(lockMs: number): number {
  return Math.min(CLAIM_AHEAD_HOLD_MS, Math.floor(lockMs / 4));
}

/** The lock a claim ahead takes: the fetch's own, plus the longest it may wait here. */
export function claimAheadLockMs(lockMs: number): number {
  return lockMs + claimAheadHoldMs(lockMs);
}

interface Entry<R> {
  key: string;
  row: R;
  /** performance.now() before the claiming write began. */
  at: number;
  holdMs: number;
}

export class ClaimedAhead<R> {
  private entries: Entry<R>[] = [];
  /** Per fetch filter, when this process's recent fetches found work (newest last, at most `max`). */
  private takes = new Map<string, number[]>();
  /** Room reserved by claims still being written. */
  private pending = 0;
  private sweep: ReturnType<typeof setTimeout> | null = null;
  private sweepAt = Infinity;

  constructor(
    /** Most items held or being claimed at once (0: never claim ahead). */
    private readonly max: number,
    /** Gives an entry back to the queue (its attempt not counted). */
    private readonly release: (row: R) => void,
  ) {}

  get size(): number {
    return this.entries.length;
  }

  /** A worker fetch of this process with filter `key` found work: demand that claiming ahead may serve. */
  noteTaken(key: string, now = performance.now()): void {
    if (this.max === 0) return;
    let list = this.takes.get(key);
    if (list === undefined) this.takes.set(key, (list = []));
    list.push(now);
    if (list.length > this.max) list.shift();
  }

  /**
   * Reserves room for claiming up to `offered` new activities for fetches of `key` now, and
   * returns how many; the caller settles the reservation with put() or cancel().
   */
  reserve(key: string, offered: number, now = performance.now()): number {
    if (this.max === 0 || offered === 0) return 0;
    // Held items are invisible to this process's fetches of other filters: claim only while one
    // filter alone has been fetching (a runtime's worker slots share one).
    for (const [other, list] of this.takes) {
      if (other !== key && list.length > 0 && now - list[list.length - 1]! <= MIXED_FILTERS_WINDOW_MS) return 0;
    }
    let recent = 0;
    for (const t of this.takes.get(key) ?? []) if (now - t <= CLAIM_AHEAD_HOLD_MS) recent++;
    const n = Math.min(offered, recent - this.entries.length - this.pending, this.max - this.entries.length - this.pending);
    if (n <= 0) return 0;
    this.pending += n;
    return n;
  }

  /** A reservation whose claim failed. */
  cancel(reserved: number): void {
    this.pending = Math.max(0, this.pending - reserved);
  }

  /** Settles a reservation: holds `rows`, claimed for fetches of `key` with a `lockMs` lock timeout by a write begun at `at`. */
  put(key: string, rows: R[], reserved: number, lockMs: number, at: number): void {
    this.cancel(reserved);
    const holdMs = claimAheadHoldMs(lockMs);
    for (const row of rows) this.entries.push({ key, row, at, holdMs });
    this.armSweep();
  }

  /** Whether any entry for `key` is held (young or not). */
  holds(key: string): boolean {
    return this.entries.some((e) => e.key === key);
  }

  /** The oldest entry for `key` that is still young; older ones met on the way go back. */
  take(key: string, now = performance.now()): R | undefined {
    for (let i = 0; i < this.entries.length; i++) {
      const e = this.entries[i]!;
      if (e.key !== key) continue;
      this.entries.splice(i, 1);
      if (now - e.at <= e.holdMs) return e.row;
      this.release(e.row);
      i--;
    }
    return undefined;
  }

  /** Drops the entries `gone` says were deleted (cancelled activities): there is nothing to give back. */
  discard(gone: (row: R) => boolean): void {
    this.entries = this.entries.filter((e) => !gone(e.row));
  }

  /** Removes every entry and returns their rows (close: the caller gives them back). */
  drain(): R[] {
    if (this.sweep !== null) clearTimeout(this.sweep);
    this.sweep = null;
    this.sweepAt = Infinity;
    const rows = this.entries.map((e) => e.row);
    this.entries = [];
    return rows;
  }

  /** Arms the sweep for the earliest entry's end of hold (earlier than an armed one: re-armed). */
  private armSweep(): void {
    let due = Infinity;
    for (const e of this.entries) due = Math.min(due, e.at + e.holdMs);
    if (due === Infinity || due >= this.sweepAt) return;
    if (this.sweep !== null) clearTimeout(this.sweep);
    this.sweepAt = due;
    this.sweep = setTimeout(() => {
      this.sweep = null;
      this.sweepAt = Infinity;
      const at = performance.now();
      const kept: Entry<R>[] = [];
      for (const e of this.entries) {
        if (at - e.at > e.holdMs) this.release(e.row);
        else kept.push(e);
      }
      this.entries = kept;
      this.armSweep();
    }, Math.max(1, Math.ceil(due - performance.now()) + 1));
    this.sweep.unref?.();
  }
}
