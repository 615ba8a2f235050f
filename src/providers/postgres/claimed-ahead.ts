/**
 * Activities claimed for this process's worker fetches before they ask (docs/provider-contract.md
 * §16.4, "Claiming ahead").
 *
 * Under a backlog every worker slot fetches one activity per round trip: five fetch transactions
 * for a fan-out of five. A turn's ack already runs a transaction that writes the activities; when
 * this process's worker fetches have been taking work steadily, the ack claims some of them for
 * those fetches in the same transaction (the ordinary claim: oldest first, same lock, same attempt
 * count), and the next fetches take them from here without a round trip.
 *
 * What keeps this from hoarding:
 * - Only non-session items are claimed (a session claim would pin a session to this process).
 * - At most as many as this process's fetches took in the last HOLD window, and at most `max`:
 *   a slow worker claims little ahead, an idle one nothing.
 * - An entry is handed out only while young (HOLD_MS, or a quarter of its lock timeout if that is
 *   shorter), the age at which the runtime's own prefetch stops trusting a lease without renewing
 *   it. Older entries go back to the queue (their attempt not counted), swept by a timer, so an
 *   item is never held away from other processes for longer than that.
 */

/** How long a claimed-ahead item may wait here, ms (lowered to a quarter of its lock timeout). */
export const CLAIM_AHEAD_HOLD_MS = 100;

interface Entry<R> {
  key: string;
  row: R;
  /** performance.now() when it was claimed. */
  at: number;
  holdMs: number;
}

export class ClaimedAhead<R> {
  private entries: Entry<R>[] = [];
  /** When this process's recent fetches found work (ring, newest last), for the demand estimate. */
  private takes: number[] = [];
  private sweep: ReturnType<typeof setTimeout> | null = null;

  constructor(
    /** Most items held at once (0: never claim ahead). */
    private readonly max: number,
    /** Gives an entry back to the queue (its attempt not counted). */
    private readonly release: (row: R) => void,
  ) {}

  get size(): number {
    return this.entries.length;
  }

  /** A worker fetch of this process found work: demand that claiming ahead may serve. */
  noteTaken(now = performance.now()): void {
    if (this.max === 0) return;
    this.takes.push(now);
    if (this.takes.length > this.max) this.takes.shift();
  }

  /** How many of `offered` new activities to claim ahead now. */
  room(offered: number, now = performance.now()): number {
    if (this.max === 0 || offered === 0) return 0;
    let recent = 0;
    for (const t of this.takes) if (now - t <= CLAIM_AHEAD_HOLD_MS) recent++;
    return Math.max(0, Math.min(offered, recent - this.entries.length));
  }

  /** Holds rows claimed for fetches of `key` with a lock of `lockMs`. */
  put(key: string, rows: R[], lockMs: number, now = performance.now()): void {
    const holdMs = Math.min(CLAIM_AHEAD_HOLD_MS, Math.floor(lockMs / 4));
    for (const row of rows) this.entries.push({ key, row, at: now, holdMs });
    this.armSweep();
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
    const rows = this.entries.map((e) => e.row);
    this.entries = [];
    return rows;
  }

  private armSweep(): void {
    if (this.sweep !== null || this.entries.length === 0) return;
    const now = performance.now();
    let due = Infinity;
    for (const e of this.entries) due = Math.min(due, e.at + e.holdMs);
    this.sweep = setTimeout(() => {
      this.sweep = null;
      const at = performance.now();
      const kept: Entry<R>[] = [];
      for (const e of this.entries) {
        if (at - e.at > e.holdMs) this.release(e.row);
        else kept.push(e);
      }
      this.entries = kept;
      this.armSweep();
    }, Math.max(1, Math.ceil(due - now) + 1));
    this.sweep.unref?.();
  }
}
