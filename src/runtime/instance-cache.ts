/**
 * The instance cache ("sticky instances", docs/runtime-semantics.md §2.12): the live state of
 * instances whose last turn this runtime committed — the running generator, its tasks and replay
 * state — so the next turn applies only its new messages instead of replaying the whole history.
 *
 * Safety rests on one rule: an entry is used only when the fetched history proves it is current
 * (same execution, same length, same last event, and the tail is exactly the delta this runtime
 * committed). An entry is taken out of the cache when a turn uses it and put back only after that
 * turn's ack succeeded, so a turn that threw, a lost lock or a failed ack leaves nothing behind:
 * the next delivery replays in full.
 */
import type { Event } from "../core/events.ts";
import type { KvEntry } from "../core/queue-types.ts";
import type { OrchestrationHandler } from "./handler-types.ts";
import type { TurnState } from "./replay/turn-state.ts";

/** Counters of the cache, for `Runtime.instanceCacheStats()`. */
export interface InstanceCacheStats {
  /** Turns that resumed a cached live state (no replay). */
  hits: number;
  /**
   * Turns of a started execution that replayed in full: no entry, one the fetched history did not
   * prove current, or a resumed turn that met an abort or nondeterminism and was redone in full.
   */
  misses: number;
  /** Entries dropped to stay within `instanceCacheSize` (least recently used first). */
  evictions: number;
  /** Entries found but not usable (history mismatch, other execution, version or handler change). */
  invalidations: number;
  /** Entries held now. */
  size: number;
  /** Max entries (`instanceCacheSize`); 0 = the cache is off. */
  capacity: number;
}

/** One cached instance: its live state and the committed history it stands for. */
export interface CachedInstance {
  live: TurnState;
  executionId: number;
  handler: OrchestrationHandler;
  name: string;
  version: string;
  /** Events of the execution's committed history (persisted before the turn + the turn's delta). */
  historyLen: number;
  lastEventId: number;
  /** The delta the last turn committed: the fetched history must end with exactly these events. */
  ackedDelta: Event[];
  kvSnapshot: Record<string, KvEntry>;
}

export class InstanceCache {
  /** Map order is recency order: the first key is the least recently used. */
  private readonly entries = new Map<string, CachedInstance>();
  private hits = 0;
  private misses = 0;
  private evictions = 0;
  private invalidations = 0;

  constructor(readonly capacity: number) {}

  get enabled(): boolean {
    return this.capacity > 0;
  }

  /**
   * Removes and returns the entry for `instance` if `history` (the fetched one) proves it current
   * and it was made by the same code; counts a miss when it returns null (the caller counts the
   * outcome of using an entry: recordHit / countMiss). The entry is gone either way: the caller's
   * turn consumes it, and only a committed turn puts one back.
   */
  take(instance: string, executionId: number, history: Event[], handler: OrchestrationHandler, kvSnapshot: Record<string, KvEntry>): CachedInstance | null {
    if (!this.enabled) return null;
    const e = this.entries.get(instance);
    if (e === undefined) {
      this.misses++;
      return null;
    }
    this.entries.delete(instance);
    if (!matches(e, executionId, history, handler, kvSnapshot)) {
      this.invalidations++;
      this.misses++;
      return null;
    }
    return e;
  }

  /** Turns resumed so far (read before and after a turn to tell whether it replayed; no allocation). */
  get hitCount(): number {
    return this.hits;
  }

  /** A turn resumed from an entry and went on waiting: no replay happened. */
  recordHit(): void {
    this.hits++;
  }

  /** Counts a full replay after an entry was taken but could not finish the turn. */
  countMiss(): void {
    if (this.enabled) this.misses++;
  }

  /**
   * Keeps the live state of a turn whose ack succeeded (only then: §2.12); its delta becomes the
   * state's persisted history. Drops the least recently used entry when full.
   */
  put(instance: string, entry: CachedInstance): void {
    if (!this.enabled) return;
    entry.live.absorbCommittedDelta();
    this.entries.delete(instance);
    this.entries.set(instance, entry);
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
      this.evictions++;
    }
  }

  /** Forgets an instance (its turn failed, its ack failed, its lock was lost). */
  evict(instance: string): void {
    this.entries.delete(instance);
  }

  clear(): void {
    this.entries.clear();
  }

  stats(): InstanceCacheStats {
    return { hits: this.hits, misses: this.misses, evictions: this.evictions, invalidations: this.invalidations, size: this.entries.size, capacity: this.capacity };
  }
}

/**
 * Whether the fetched history is exactly the one the entry stands for. Length and last event id
 * alone could match a different history (the instance deleted and started again under the same
 * id), so the events the entry's turn committed are compared too, field by field where cheap.
 */
function matches(e: CachedInstance, executionId: number, history: Event[], handler: OrchestrationHandler, kvSnapshot: Record<string, KvEntry>): boolean {
  if (e.executionId !== executionId || e.handler !== handler) return false;
  if (history.length !== e.historyLen || history.length === 0) return false;
  if (history[history.length - 1]!.event_id !== e.lastEventId) return false;
  const first = history[0]!;
  if (first.type !== "OrchestrationStarted" || first.name !== e.name || first.version !== e.version) return false;
  const off = history.length - e.ackedDelta.length;
  if (off < 0) return false;
  for (let i = 0; i < e.ackedDelta.length; i++) {
    const a = e.ackedDelta[i]!;
    const b = history[off + i]!;
    if (a.event_id !== b.event_id || a.type !== b.type || a.execution_id !== b.execution_id || a.source_event_id !== b.source_event_id || a.timestamp_ms !== b.timestamp_ms) return false;
  }
  return sameKv(e.kvSnapshot, kvSnapshot);
}

/** The committed KV of earlier executions: fixed while an execution runs, checked anyway. */
function sameKv(a: Record<string, KvEntry>, b: Record<string, KvEntry>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) {
    const x = a[k]!;
    const y = b[k];
    if (y === undefined || x.value !== y.value || x.last_updated_at_ms !== y.last_updated_at_ms) return false;
  }
  return true;
}
