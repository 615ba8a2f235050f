/**
 * Turns that outran their instance lock (docs/runtime-semantics.md §1.4.1 step 9). A turn is
 * synchronous: while its code computes, the event loop cannot run the lock-renewal timer, so a turn
 * longer than the lease loses the lock before its ack, and running it again on the next delivery
 * would only do the same, `maxAttempts` times, freezing the process each time. The dispatcher
 * remembers such a turn here, and the instance's next delivery fails it instead of re-running it.
 */
import type { ErrorDetails } from "../core/error-details.ts";
import type { FetchedOrchestration } from "../core/queue-types.ts";

export interface SlowTurn {
  readonly instance: string;
  /** Which batch: the fetched execution and its persisted history length (an unchanged instance). */
  readonly executionId: number;
  readonly historyLength: number;
  /** How long the turn's synchronous run took. */
  readonly turnMs: number;
  readonly at: number;
}

/** Records kept at most this long: a later delivery with the same shape is another story. */
const RECORD_TTL_MS = 10 * 60_000;
/** Bound on remembered turns (oldest dropped first). */
const MAX_RECORDS = 1_000;

export class SlowTurns {
  private readonly byInstance = new Map<string, SlowTurn>();

  /**
   * Remembers a turn that ran long enough to block its lock's renewal. Its ack decides: a commit
   * forgets it (`clear`); a lost lock keeps it for the next delivery (`take`).
   */
  remember(f: FetchedOrchestration, turnMs: number): SlowTurn {
    const rec: SlowTurn = { instance: f.item.instance, executionId: f.item.execution_id, historyLength: f.item.history.length, turnMs, at: Date.now() };
    this.byInstance.delete(rec.instance);
    this.byInstance.set(rec.instance, rec);
    if (this.byInstance.size > MAX_RECORDS) this.byInstance.delete(this.byInstance.keys().next().value!);
    return rec;
  }

  /** Forgets `rec` (its turn committed after all, or failed for another reason). */
  clear(rec: SlowTurn): void {
    if (this.byInstance.get(rec.instance) === rec) this.byInstance.delete(rec.instance);
  }

  /**
   * For a new delivery: the slow turn recorded for the same, unchanged batch (nothing committed
   * since), removed from the record; undefined otherwise. A delivery while the slow turn's ack is
   * still in flight also counts: the batch could only be fetched again because the lock lapsed.
   */
  take(f: FetchedOrchestration): SlowTurn | undefined {
    const rec = this.byInstance.get(f.item.instance);
    if (rec === undefined) return undefined;
    this.byInstance.delete(rec.instance);
    const same = rec.executionId === f.item.execution_id && rec.historyLength === f.item.history.length && Date.now() - rec.at < RECORD_TTL_MS;
    return same ? rec : undefined;
  }
}

/** Why the instance fails, naming the turn's duration, the lease and the option to raise. */
export function slowTurnDetails(rec: SlowTurn, lockTimeoutMs: number): ErrorDetails {
  const ms = Math.round(rec.turnMs);
  return {
    type: "Application",
    kind: "OrchestrationFailed",
    retryable: false,
    message:
      `an orchestration turn of ${rec.instance} ran ${ms} ms of synchronous code, and the instance lock ` +
      `(orchestratorLockTimeoutMs = ${lockTimeoutMs} ms) cannot be renewed while the event loop is blocked: ` +
      `it lapsed before the turn could commit, and running the turn again would do the same. ` +
      `Move heavy computation into an activity, or raise orchestratorLockTimeoutMs well above ${ms} ms`,
  };
}
