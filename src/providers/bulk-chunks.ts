/**
 * How bulk admin calls (deleteInstanceBulk, pruneExecutionsBulk) walk what they select, the same
 * way in every provider (docs/provider-contract.md §7.4, §7.5):
 * - explicit `instance_ids` without a `limit`: every listed id is processed, however many (no
 *   default limit: a caller naming 20,000 ids means all of them);
 * - a `limit`: at most that many instances, oldest first; no ids and no limit: DEFAULT_BULK_LIMIT;
 * - the work goes in chunks of BULK_CHUNK instances, each in its own transaction, and the call
 *   yields to the event loop between chunks, so a bulk call over 100,000 instances never holds a
 *   synchronous store (SQLite, memory) or the process for long.
 * Each chunk re-checks its instances inside its transaction, so an instance that changed between
 * selection and processing is handled by the rules at that moment (a root that started running
 * again is skipped by a delete).
 */
import type { InstanceFilter } from "../core/admin-types.ts";

/** Instances a bulk call without ids and without a limit processes. */
export const DEFAULT_BULK_LIMIT = 1000;
/** Instances (roots, for deletes) per transaction. */
export const BULK_CHUNK = 250;

/** Lets timers and I/O run between two chunks of a bulk call. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** One page of selected instances, oldest first, and the position after its last one. */
export interface BulkPage<C> {
  ids: string[];
  /** Where the next page starts (keyset: the last row's sort key); unused when the page is short. */
  next: C | null;
}

export interface BulkWalk<C> {
  /**
   * The next at most `n` instances the filter selects, oldest first, after `after` (null: from
   * the start), among `ids` when given. Must honour `completed_before`.
   */
  page(ids: string[] | null, after: C | null, n: number): Promise<BulkPage<C>>;
  /** Processes one chunk of ids (at most BULK_CHUNK) in one transaction, re-checking each. */
  process(ids: string[]): Promise<void>;
}

/** Runs a bulk call over `f` in chunks (module comment). */
export async function forEachBulkChunk<C>(f: InstanceFilter, walk: BulkWalk<C>): Promise<void> {
  const explicit = f.instance_ids == null ? null : [...new Set(f.instance_ids)];
  if (explicit !== null && explicit.length === 0) return;
  if (explicit !== null) {
    // With a limit, the oldest `limit` of the listed ids are picked first, in one read.
    const picked = f.limit == null ? explicit : (await walk.page(explicit, null, f.limit)).ids;
    for (let i = 0; i < picked.length; i += BULK_CHUNK) {
      if (i > 0) await yieldToEventLoop();
      await walk.process(picked.slice(i, i + BULK_CHUNK));
    }
    return;
  }
  let remaining = f.limit ?? DEFAULT_BULK_LIMIT;
  let after: C | null = null;
  for (let first = true; remaining > 0; first = false) {
    if (!first) await yieldToEventLoop();
    const n = Math.min(BULK_CHUNK, remaining);
    const page: BulkPage<C> = await walk.page(null, after, n);
    if (page.ids.length > 0) await walk.process(page.ids);
    if (page.ids.length < n) return;
    remaining -= page.ids.length;
    after = page.next;
  }
}
