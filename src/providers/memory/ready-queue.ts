/**
 * ReadyQueue: the ordered structure behind both queues of MemoryProvider. It answers "what is the
 * first thing that can be fetched now?" in O(log n) instead of scanning every row.
 *
 * Each item (an instance's orchestrator batch, a worker row) is scheduled at the time it next
 * becomes fetchable: `max(visible_at, locked_until)`. So delayed messages, abandon back-offs and
 * lock expiry (redelivery) are all the same thing, a time on the heap, and the earliest time on
 * the heap is also when a long-polling fetch should look again.
 *
 * Entries are invalidated lazily: an item points at its one current entry, and rescheduling just
 * pushes a new entry and repoints the item. Stale entries are dropped when they reach the top (and
 * the heap is rebuilt from live entries when stale ones outnumber them), which keeps every
 * operation a plain push or pop.
 */

export interface ReadyEntry<T> {
  /** When the item becomes fetchable (ms since epoch). */
  readonly at: number;
  /** Tie-break: enqueue order, so equal times keep FIFO order. */
  readonly seq: number;
  readonly item: T;
}

/** Anything the queue can schedule: it remembers its one live entry. */
export interface Schedulable {
  ready: ReadyEntry<unknown> | null;
}

const before = (a: ReadyEntry<unknown>, b: ReadyEntry<unknown>) => a.at < b.at || (a.at === b.at && a.seq < b.seq);

export class ReadyQueue<T extends Schedulable> {
  private heap: ReadyEntry<T>[] = [];
  private live = 0;

  /** (Re)schedules `item` at `at`; any previous entry of the item becomes stale. */
  schedule(item: T, at: number, seq: number): void {
    if (item.ready !== null && item.ready.at === at && item.ready.seq === seq) return; // already there
    if (item.ready === null) this.live++;
    const entry: ReadyEntry<T> = { at, seq, item };
    item.ready = entry;
    this.push(entry);
    if (this.heap.length > 64 && this.heap.length > 3 * this.live) this.compact();
  }

  /** Takes `item` off the queue (its entry becomes stale). */
  cancel(item: T): void {
    if (item.ready === null) return;
    item.ready = null;
    this.live--;
  }

  /** The earliest time anything becomes fetchable, or null when the queue is empty. */
  nextAt(): number | null {
    return this.top()?.at ?? null;
  }

  /**
   * The first entry fetchable at `now` whose item satisfies `accept`, in (at, seq) order, or null.
   * Entries passed over stay scheduled: `accept` says "not for this caller" (another runtime's
   * version, another worker's session), not "never". Costs O(k log n) for k entries passed over.
   */
  findFirst(now: number, accept?: (item: T) => boolean): ReadyEntry<T> | null {
    const first = this.top();
    if (first === null || first.at > now) return null;
    if (accept === undefined || accept(first.item)) return first;
    const passed: ReadyEntry<T>[] = [];
    let found: ReadyEntry<T> | null = null;
    for (let e = this.top(); e !== null && e.at <= now; e = this.top()) {
      passed.push(this.popTop());
      if (accept(e.item)) {
        found = e;
        break;
      }
    }
    for (const e of passed) this.push(e);
    return found;
  }

  /** The live entry at the top, after dropping stale ones. */
  private top(): ReadyEntry<T> | null {
    while (this.heap.length > 0) {
      const e = this.heap[0]!;
      if (e.item.ready === e) return e;
      this.popTop();
    }
    return null;
  }

  private compact(): void {
    this.heap = this.heap.filter((e) => e.item.ready === e);
    for (let i = (this.heap.length >> 1) - 1; i >= 0; i--) this.down(i);
  }

  // ---- a textbook binary min-heap on (at, seq)

  private push(e: ReadyEntry<T>): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  private popTop(): ReadyEntry<T> {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      this.down(0);
    }
    return top;
  }

  private down(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && before(h[l]!, h[m]!)) m = l;
      if (r < h.length && before(h[r]!, h[m]!)) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}
