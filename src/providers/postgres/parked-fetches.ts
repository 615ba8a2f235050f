/**
 * Fetches parked in a long poll, which a write of this process can hand its work to
 * (docs/provider-contract.md §16.4).
 *
 * A write that makes work for a queue (an enqueue, a worker's completion, a turn's activities)
 * reserves parked fetches of that queue, claims for them in its own transaction (the *_claim
 * functions of schema.ts), and hands each its claim. That saves the commit's wake-up and the
 * fetch's round trip on the path of every instance: the fetch sees the work the moment it is
 * durable. A reserved fetch stops listening to wake-ups and waits for its hand-off; it gets null
 * when the write claimed nothing for it or failed, and then simply looks again itself.
 */

/** One parked fetch: its filter (`group`, `params`) and its hand-off. */
export class ParkedFetch<Claim> {
  private reservedFlag = false;
  private onReserve!: () => void;
  private deliver!: (claim: Claim | null) => void;
  /** Resolves when a write reserves this fetch: the fetch then stops waiting for wake-ups. */
  readonly reservation: Promise<void>;
  /** What the reserving write claimed for this fetch (null: nothing, or the write failed). */
  readonly handOff: Promise<Claim | null>;

  constructor(
    /** Fetches of one group take the same work (see wake-signal.ts). */
    readonly group: string,
    /** The fetch's arguments, as the claim function takes them. */
    readonly params: readonly unknown[],
  ) {
    this.reservation = new Promise((resolve) => (this.onReserve = resolve));
    this.handOff = new Promise((resolve) => (this.deliver = resolve));
  }

  get reserved(): boolean {
    return this.reservedFlag;
  }

  /** @internal ParkedFetches.reserve */
  markReserved(): void {
    this.reservedFlag = true;
    this.onReserve();
  }

  /** Hands this fetch its claim, or null. Only the first call counts. */
  settle(claim: Claim | null): void {
    this.deliver(claim);
  }
}

export class ParkedFetches<Claim> {
  /** In the order they parked: the longest-parked fetch is served first. */
  private readonly parked: ParkedFetch<Claim>[] = [];

  get size(): number {
    return this.parked.length;
  }

  park(group: string, params: readonly unknown[]): ParkedFetch<Claim> {
    const f = new ParkedFetch<Claim>(group, params);
    this.parked.push(f);
    return f;
  }

  /** The fetch stopped waiting on its own (woken, timed out, aborted). No-op once reserved. */
  leave(f: ParkedFetch<Claim>): void {
    const i = this.parked.indexOf(f);
    if (i >= 0) this.parked.splice(i, 1);
  }

  /**
   * Reserves up to `max` parked fetches, all of the longest-parked one's group (one claim call
   * serves one filter), longest-parked first. Empty when none is parked or `max` < 1.
   */
  reserve(max: number): ParkedFetch<Claim>[] {
    const first = this.parked[0];
    if (first === undefined || max < 1) return [];
    const taken: ParkedFetch<Claim>[] = [];
    for (let i = 0; i < this.parked.length && taken.length < max; ) {
      const f = this.parked[i]!;
      if (f.group !== first.group) {
        i++;
        continue;
      }
      this.parked.splice(i, 1);
      f.markReserved();
      taken.push(f);
    }
    return taken;
  }
}
