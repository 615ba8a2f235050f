/**
 * Decoded history (and committed KV) of recently fetched instances, so a turn reads and decodes
 * only what is new (docs/provider-contract.md §14.6).
 *
 * An entry is kept current by this connection itself: the turn ack that appends events appends
 * them here too, inside its transaction (`appended`), and every other write of this connection
 * that touches history (deletes, prunes, `appendWithExecution`, direct SQL of the test hooks)
 * drops the instances it touches (`forget`). A rolled-back transaction drops everything
 * (`forget()`), since the entries may hold what it wrote.
 *
 * Writes by OTHER connections (another process on the same file) are seen through
 * `PRAGMA data_version`, which changes exactly when another connection has committed. While it
 * stays the same, a cached entry is trusted as it is: no query at all. Once it has changed, each
 * entry is checked once against the table before it is trusted again: its first and last events
 * (ids and stored texts, index seeks of constant cost however long the history) detect an
 * execution that was appended to, pruned, or deleted and started again (same ids, other texts:
 * every event carries its timestamp), and fall back to a full read. History is append-only with
 * each execution's ids rising and nothing deletes single rows, so the ends are enough. The
 * entry's committed KV is dropped at that check too: another connection's terminal ack (a
 * continue-as-new) merges KV without this connection seeing it.
 */
import { decodeEvent, type Event } from "../../core/events.ts";
import type { KvEntry } from "../../core/queue-types.ts";
import type { Statements } from "./statements.ts";

/** Instances whose decoded history is kept; least recently fetched ones are dropped first. */
const HISTORY_CACHE_INSTANCES = 1_000;

interface CachedInstance {
  executionId: number;
  events: Event[];
  /** The stored texts of the first and last events (null when there are none), for the check after another connection's commit. */
  firstText: string | null;
  lastText: string | null;
  /** Committed KV (changes only at terminal acks, which drop the entry). */
  kv: Record<string, KvEntry> | null;
  /** The cache's epoch when this entry was last known to match the table. */
  epoch: number;
}

export class HistoryCache {
  private readonly entries = new Map<string, CachedInstance>();
  /** The data_version last seen; -1 before the first look. */
  private dataVersion = -1;
  /** Bumped whenever data_version changes: entries of an older epoch must be checked before use. */
  private epoch = 0;

  constructor(private readonly s: Statements) {}

  /** The execution's history, decoded (a fresh array the caller may keep). Throws DecodeError for unreadable rows. */
  events(instance: string, executionId: number): Event[] {
    const s = this.s;
    const version = s.dataVersion.get()!.data_version;
    if (version !== this.dataVersion) {
      this.dataVersion = version;
      this.epoch++;
    }
    const cached = this.entries.get(instance);
    if (cached !== undefined && cached.executionId === executionId) {
      if (cached.epoch === this.epoch) {
        this.touch(instance, cached);
        return cached.events.slice();
      }
      // Another connection may have merged KV (its continue-as-new ack): read it again.
      cached.kv = null;
      const shape = s.historyShape.get(instance, executionId)!;
      const have = cached.events;
      const firstId = have[0]?.event_id ?? null;
      const lastId = have.at(-1)?.event_id ?? null;
      const sameStart = shape.min === firstId && shape.min_data === cached.firstText;
      if (sameStart && shape.max === lastId && shape.max_data === cached.lastText) {
        cached.epoch = this.epoch;
        this.touch(instance, cached);
        return have.slice();
      }
      if (shape.max !== null && (lastId === null || (sameStart && shape.max > lastId))) {
        const newer = s.historyAfter.all(instance, executionId, lastId ?? 0);
        if (newer.length > 0) {
          // Decoded before any is kept: a row that fails to decode leaves the entry as it was.
          const decoded = newer.map((r) => decodeEvent(r.event_data));
          for (const e of decoded) have.push(e);
          cached.firstText ??= newer[0]!.event_data;
          cached.lastText = newer.at(-1)!.event_data;
          cached.epoch = this.epoch;
          this.touch(instance, cached);
          return have.slice();
        }
      }
    }
    // Most misses are an instance's first turn, with no history yet: a cheap probe answers those.
    const rows = s.anyHistory.get(instance, executionId) === null ? [] : s.historyRows.all(instance, executionId);
    const events = rows.map((r) => decodeEvent(r.event_data));
    const firstText = rows[0]?.event_data ?? null;
    const lastText = rows.at(-1)?.event_data ?? null;
    this.touch(instance, { executionId, events, firstText, lastText, kv: null, epoch: this.epoch });
    return events.slice();
  }

  /**
   * A turn of this connection appended `delta` to the execution, in the transaction running now
   * (called after its last write, so a statement failing before it leaves the entry alone; a
   * failure after it rolls back, which drops every entry). `delta` is the provider's own decoded
   * copy, never the caller's objects; `texts` are the rows' stored texts, in the same order.
   */
  appended(instance: string, executionId: number, delta: readonly Event[], texts: readonly string[]): void {
    if (delta.length === 0) return;
    const cached = this.entries.get(instance);
    if (cached === undefined) return;
    const lastId = cached.events.at(-1)?.event_id ?? 0;
    if (cached.executionId !== executionId || delta[0]!.event_id <= lastId) {
      // A new execution (continue-as-new), or ids that do not extend what is cached: read afresh next time.
      this.entries.delete(instance);
      return;
    }
    for (const e of delta) cached.events.push(e);
    cached.firstText ??= texts[0]!;
    cached.lastText = texts.at(-1)!;
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
