/**
 * The instances whose orchestrator locks this process holds: turns fetched and not yet acked or
 * abandoned (docs/provider-contract.md §16.3, "Passing over held instances").
 *
 * At the head of a busy orchestrator queue most messages belong to instances whose turn is
 * running (they arrived during it), and the fetch's pick looked each one's lock up, an index probe
 * per message. A fetch passes the instances listed here to fetch_orch_tail, which passes over their
 * messages without a lookup. The list is a hint, never a claim: an instance it leaves out is still
 * checked against its lock row. An entry counts only until its lock, as fetched or last renewed,
 * would have expired, so a turn whose ack never comes (a lost token, a runtime that stopped) does
 * not hide its instance from this process's fetches for longer than its lease.
 */

/** Most instances passed at once (a bound on the fetch's parameters; the oldest are left out). */
export const MAX_HELD_TURNS_PASSED = 64;

export class HeldTurns {
  private readonly byToken = new Map<string, { instance: string; until: number }>();

  /** A turn of `instance` was fetched under `token`, locked for `lockMs`. */
  hold(token: string, instance: string, lockMs: number, now = performance.now()): void {
    this.byToken.set(token, { instance, until: now + lockMs });
  }

  /** The lock of `token` was renewed for `extendMs` from now. */
  renew(token: string, extendMs: number, now = performance.now()): void {
    const held = this.byToken.get(token);
    if (held !== undefined) held.until = now + extendMs;
  }

  /** The turn of `token` was acked or abandoned (or either failed: its lock is then in doubt). */
  release(token: string): void {
    this.byToken.delete(token);
  }

  get size(): number {
    return this.byToken.size;
  }

  /** The instances held now, newest last, at most MAX_HELD_TURNS_PASSED; entries past their lock are dropped. */
  instances(now = performance.now()): string[] {
    const out: string[] = [];
    for (const [token, held] of this.byToken) {
      if (held.until <= now) this.byToken.delete(token);
      else out.push(held.instance);
    }
    return out.length > MAX_HELD_TURNS_PASSED ? out.slice(out.length - MAX_HELD_TURNS_PASSED) : out;
  }
}
