/**
 * Decoded history (and committed KV) of recently fetched instances. Every turn of an instance
 * re-reads its history, so decoded events are kept per instance and only rows past the cached ones
 * are read and decoded. The first and last event ids (two index probes, constant cost however long
 * the history) detect other changes (another process appending, pruning or deleting the
 * execution) and fall back to a full read. History is append-only with each execution's ids
 * rising, and nothing deletes single rows, so the ends are enough. What that check cannot see,
 * rows replaced by others with the same ids (an instance deleted and started again, rows rewritten
 * by direct SQL), must be followed by `forget`: the admin's deletes and prunes and
 * `appendWithExecution` forget the instances they touch, and a terminal ack drops its instance
 * (a finished execution is not fetched again for a while).
 */
import { decodeEvent, type Event } from "../../core/events.ts";
import type { KvEntry } from "../../core/queue-types.ts";
import type { Statements } from "./statements.ts";

/** Instances whose decoded history is kept; least recently fetched ones are dropped first. */
const HISTORY_CACHE_INSTANCES = 1_000;

interface CachedInstance {
  executionId: number;
  events: Event[];
  /** Committed KV (changes only at terminal acks, which drop the entry). */
  kv: Record<string, KvEntry> | null;
}

export class HistoryCache {
  private readonly entries = new Map<string, CachedInstance>();

  constructor(private readonly s: Statements) {}

  /** The execution's history, decoded (a fresh array the caller may keep). Throws DecodeError for unreadable rows. */
  events(instance: string, executionId: number): Event[] {
    const s = this.s;
    const cached = this.entries.get(instance);
    if (cached !== undefined && cached.executionId === executionId) {
      const shape = s.historyShape.get(instance, executionId, instance, executionId)!;
      const have = cached.events;
      const firstId = have[0]?.event_id ?? null;
      const lastId = have.at(-1)?.event_id ?? null;
      if (shape.min === firstId && shape.max === lastId) {
        this.touch(instance, cached);
        return have.slice();
      }
      if (shape.max !== null && (lastId === null || (shape.min === firstId && shape.max > lastId))) {
        const newer = s.historyAfter.all(instance, executionId, lastId ?? 0);
        if (newer.length > 0) {
          const decoded = newer.map((r) => decodeEvent(r.event_data));
          for (const e of decoded) have.push(e);
          this.touch(instance, cached);
          return have.slice();
        }
      }
    }
    const events = s.historyRows.all(instance, executionId).map((r) => decodeEvent(r.event_data));
    this.touch(instance, { executionId, events, kv: null });
    return events.slice();
  }

  /** Committed KV of the instance, from the cache entry when it is current (a fresh object). */
  kv(instance: string, executionId: number): Record<string, KvEntry> {
    const cached = this.entries.get(instance);
    if (cached !== undefined && cached.executionId === executionId && cached.kv !== null) return { ...cached.kv };
    const kv: Record<string, KvEntry> = {};
    for (const r of this.s.kvStoreRows.all(instance)) kv[r.key] = { value: r.value, last_updated_at_ms: r.last_updated_at_ms };
    if (cached !== undefined && cached.executionId === executionId) cached.kv = { ...kv };
    return kv;
  }

  /** Forget what is cached of one instance, or of all. */
  forget(instance?: string): void {
    if (instance === undefined) this.entries.clear();
    else this.entries.delete(instance);
  }

  private touch(instance: string, entry: CachedInstance): void {
    // Map order is insertion order: re-inserting makes this the most recently used entry.
    this.entries.delete(instance);
    this.entries.set(instance, entry);
    if (this.entries.size > HISTORY_CACHE_INSTANCES) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
  }
}
