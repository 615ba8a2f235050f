/**
 * The worker fetch: one pick statement per kind of tag filter, and the transaction that claims the
 * picked row (and its session, for a session-bound activity).
 */
import type { Database, Statement } from "bun:sqlite";
import { ProviderError } from "../../core/errors.ts";
import type { FetchedWorkItem, SessionFetchConfig, TagFilter } from "../../core/queue-types.ts";
import { decodeWorkItem, type WorkItem } from "../../core/work-items.ts";
import type { Statements } from "./statements.ts";

interface WorkerRow {
  id: number;
  work_item: string;
  attempt_count: number;
  session_id: string | null;
}

/** Binds ?1 now, ?2 the filter's tags as a JSON array, ?3 the session owner. */
export type WorkerPick = Statement<WorkerRow, [number, string, string]>;

/** One prepared statement per (tag filter kind, session or not), prepared on first use. */
export class WorkerPicks {
  private readonly picks = new Map<string, WorkerPick>();

  constructor(private readonly db: Database) {}

  get(tf: TagFilter, withSession: boolean): WorkerPick {
    const key = `${tf.type}|${withSession}`;
    let st = this.picks.get(key);
    if (st !== undefined) return st;
    const tagPred =
      tf.type === "DefaultOnly"
        ? "w.tag IS NULL"
        : tf.type === "Tags"
          ? "w.tag IN (SELECT value FROM json_each(?2))"
          : tf.type === "DefaultAnd"
            ? "(w.tag IS NULL OR w.tag IN (SELECT value FROM json_each(?2)))"
            : "?2 = ?2";
    // Without a session config only plain rows qualify; with one, a session row qualifies when its
    // session is unowned, expired, or owned by this owner.
    const sql = withSession
      ? `SELECT w.id, w.work_item, w.attempt_count, w.session_id FROM worker_queue AS w
           LEFT JOIN sessions AS o ON o.session_id = w.session_id AND o.locked_until > ?1
          WHERE w.visible_at <= ?1 AND (w.lock_token IS NULL OR w.locked_until <= ?1) AND ${tagPred}
            AND (w.session_id IS NULL OR o.session_id IS NULL OR o.worker_id = ?3)
          ORDER BY w.visible_at, w.id LIMIT 1`
      : `SELECT w.id, w.work_item, w.attempt_count, w.session_id FROM worker_queue AS w
          WHERE w.visible_at <= ?1 AND (w.lock_token IS NULL OR w.locked_until <= ?1) AND ${tagPred}
            AND w.session_id IS NULL AND ?3 = ?3
          ORDER BY w.visible_at, w.id LIMIT 1`;
    st = this.db.prepare<WorkerRow, [number, string, string]>(sql);
    this.picks.set(key, st);
    return st;
  }
}

/**
 * Locks the first row `pick` finds, moving undecodable rows to dead_letters on the way; null when
 * there is none. Throws LostSessionRace (to roll the transaction back) when the row's session
 * went to another owner.
 */
export function claimWorkItem(
  s: Statements,
  pick: WorkerPick,
  tags: string,
  owner: string,
  lockTimeoutMs: number,
  sess: SessionFetchConfig | null,
): FetchedWorkItem | null {
  const now = Date.now();
  for (;;) {
    const row = pick.get(now, tags, owner);
    if (row === null) return null;
    let item: WorkItem;
    try {
      item = decodeWorkItem(row.work_item);
    } catch (err) {
      // An undecodable row can never run: park it instead of failing every fetch behind it.
      s.deadLetter.run("worker", null, row.work_item, (err as Error).message, now);
      s.deleteWorkerRow.run(row.id);
      continue;
    }
    const token = crypto.randomUUID();
    s.lockWorker.run(token, now + lockTimeoutMs, row.id);
    if (row.session_id !== null && sess !== null) {
      const until = now + sess.lock_timeout;
      const claimed = s.claimSession.run(row.session_id, sess.owner_id, until, now, sess.owner_id, until, now, now, sess.owner_id);
      if (claimed.changes === 0) throw new LostSessionRace();
    }
    return { item, lockToken: token, attemptCount: row.attempt_count + 1 };
  }
}

/** Thrown inside a fetch transaction to roll it back when a session claim lost a race. */
class LostSessionRace extends Error {}

/** The fetch's failure was a lost session race (it then finds nothing rather than failing). */
export function isLostSessionRace(err: unknown): boolean {
  return err instanceof ProviderError && err.cause instanceof LostSessionRace;
}
