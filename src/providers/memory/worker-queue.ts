/**
 * The worker queue and sessions of MemoryProvider.
 *
 * Rows are split into lanes by tag, and within a lane into plain rows and session rows, each lane
 * half a ReadyQueue ordered by when the row next becomes fetchable (visible and not under a live
 * lock), then enqueue order. A fetch looks only at the lanes its tag filter admits, and at session
 * rows only when it brings a session config, so the common fetch is O(log n). Session rows whose
 * session another worker owns are passed over (and stay queued): that costs one step each.
 *
 * A session only routes work: it records which owner may take the session's rows while its lock is
 * live. It never replaces the per-row lock, so a row stays locked by its fetcher even after the
 * session moved to another owner.
 */
import { encodeWorkItem, type SessionFetchConfig, type TagFilter, type WorkItemOf } from "../../provider-api.ts";
import { ReadyQueue, type ReadyEntry } from "./ready-queue.ts";

export interface WorkerRow {
  seq: number;
  /** The encoded ActivityExecute. */
  text: string;
  // Copied out of the item at enqueue, so routing and cancellation never decode it.
  instance: string;
  executionId: number;
  activityId: number;
  sessionId: string | null;
  tag: string | null;
  visibleAt: number;
  lock: { token: string; until: number } | null;
  attempts: number;
  ready: ReadyEntry<unknown> | null;
}

export interface Session {
  owner: string;
  /** Owned while `until > now`. */
  until: number;
  /** Refreshed by acks and renewals of the session's rows; renewal skips idle sessions. */
  lastActivity: number;
}

interface Lane {
  plain: ReadyQueue<WorkerRow>;
  session: ReadyQueue<WorkerRow>;
}

/** The stored row of a (validated) ActivityExecute, visible at once. */
export function workerRow(item: WorkItemOf<"ActivityExecute">, seq: number, now: number): WorkerRow {
  return {
    seq,
    text: encodeWorkItem(item),
    instance: item.instance,
    executionId: item.execution_id,
    activityId: item.id,
    sessionId: item.session_id ?? null,
    tag: item.tag ?? null,
    visibleAt: now,
    lock: null,
    attempts: 0,
    ready: null,
  };
}

export class WorkerQueue {
  private readonly lanes = new Map<string | null, Lane>();
  private readonly byToken = new Map<string, WorkerRow>();
  /** For cancellation and instance deletion. */
  private readonly byInstance = new Map<string, Set<WorkerRow>>();
  private readonly sessions = new Map<string, Session>();
  /** Queued rows per session id: a session with rows is never cleaned up. */
  private readonly sessionRows = new Map<string, number>();

  add(row: WorkerRow): void {
    let rows = this.byInstance.get(row.instance);
    if (rows === undefined) this.byInstance.set(row.instance, (rows = new Set()));
    rows.add(row);
    if (row.sessionId !== null) this.sessionRows.set(row.sessionId, (this.sessionRows.get(row.sessionId) ?? 0) + 1);
    this.reschedule(row);
  }

  private laneOf(tag: string | null): Lane {
    let lane = this.lanes.get(tag);
    if (lane === undefined) this.lanes.set(tag, (lane = { plain: new ReadyQueue(), session: new ReadyQueue() }));
    return lane;
  }

  private queueOf(row: WorkerRow): ReadyQueue<WorkerRow> {
    const lane = this.laneOf(row.tag);
    return row.sessionId === null ? lane.plain : lane.session;
  }

  private reschedule(row: WorkerRow): void {
    this.queueOf(row).schedule(row, Math.max(row.visibleAt, row.lock?.until ?? 0), row.seq);
  }

  /** The lanes a tag filter admits ("None" admits nothing). */
  private lanesFor(filter: TagFilter): Lane[] {
    switch (filter.type) {
      case "None":
        return [];
      case "Any":
        return [...this.lanes.values()];
      case "DefaultOnly":
        return [this.laneOf(null)];
      case "Tags":
        return [...filter.tags].map((t) => this.laneOf(t));
      case "DefaultAnd":
        return [this.laneOf(null), ...[...filter.tags].map((t) => this.laneOf(t))];
    }
  }

  /** Whether `owner` may take rows of session `id` now: nobody owns it, its owner lapsed, or it is `owner`. */
  private claimable(id: string, owner: string, now: number): boolean {
    const s = this.sessions.get(id);
    return s === undefined || s.until <= now || s.owner === owner;
  }

  /**
   * The first fetchable row the tag filter and session config admit, in (fetchable time, enqueue
   * order). Without a session config only plain rows qualify; with one, also rows of sessions
   * that nobody owns, whose owner lapsed, or that the fetcher's owner id owns.
   */
  pick(now: number, session: SessionFetchConfig | null, filter: TagFilter): WorkerRow | null {
    let best: ReadyEntry<WorkerRow> | null = null;
    const consider = (e: ReadyEntry<WorkerRow> | null) => {
      if (e !== null && (best === null || e.at < best.at || (e.at === best.at && e.seq < best.seq))) best = e;
    };
    for (const lane of this.lanesFor(filter)) {
      consider(lane.plain.findFirst(now));
      if (session !== null) consider(lane.session.findFirst(now, (r) => this.claimable(r.sessionId!, session.owner_id, now)));
    }
    return (best as ReadyEntry<WorkerRow> | null)?.item ?? null;
  }

  /** Locks a picked row for its fetcher (one more delivery) and claims or extends its session. */
  lock(row: WorkerRow, now: number, lockTimeoutMs: number, session: SessionFetchConfig | null): string {
    const token = crypto.randomUUID();
    if (row.lock !== null) this.byToken.delete(row.lock.token); // a lapsed lock dies with its token
    row.lock = { token, until: now + lockTimeoutMs };
    row.attempts++;
    this.byToken.set(token, row);
    this.reschedule(row);
    if (row.sessionId !== null && session !== null) {
      this.sessions.set(row.sessionId, { owner: session.owner_id, until: now + session.lock_timeout, lastActivity: now });
    }
    return token;
  }

  /** The row `token` locks, if the lock is still live. */
  live(token: string, now: number): WorkerRow | null {
    const row = this.byToken.get(token);
    return row !== undefined && row.lock !== null && row.lock.until > now ? row : null;
  }

  /** The row `token` locks, live or lapsed (until the row is fetched again or removed). */
  held(token: string): WorkerRow | undefined {
    return this.byToken.get(token);
  }

  /** Unlocks a row for redelivery at `visibleAt` (abandon). */
  release(row: WorkerRow, visibleAt: number, undoAttempt: boolean): void {
    if (row.lock !== null) this.byToken.delete(row.lock.token);
    row.lock = null;
    row.visibleAt = visibleAt;
    if (undoAttempt) row.attempts = Math.max(0, row.attempts - 1);
    this.reschedule(row);
  }

  /** Extends a live lock. */
  extend(row: WorkerRow, until: number): void {
    row.lock!.until = until;
    this.reschedule(row);
  }

  /** Deletes a row (ack, cancellation, instance deletion); its lock token stops working. */
  remove(row: WorkerRow): void {
    this.queueOf(row).cancel(row);
    if (row.lock !== null) this.byToken.delete(row.lock.token);
    const rows = this.byInstance.get(row.instance);
    rows?.delete(row);
    if (rows?.size === 0) this.byInstance.delete(row.instance);
    if (row.sessionId !== null) {
      const n = (this.sessionRows.get(row.sessionId) ?? 1) - 1;
      if (n === 0) this.sessionRows.delete(row.sessionId);
      else this.sessionRows.set(row.sessionId, n);
    }
  }

  /** Deletes the queued activity (locked or not: that is how a running activity learns it was cancelled). */
  cancel(instance: string, executionId: number, activityId: number): void {
    for (const row of this.byInstance.get(instance) ?? []) {
      if (row.executionId === executionId && row.activityId === activityId) this.remove(row);
    }
  }

  /** Deletes every row of an instance; returns how many. */
  purgeInstance(instance: string): number {
    const rows = [...(this.byInstance.get(instance) ?? [])];
    for (const row of rows) this.remove(row);
    return rows.length;
  }

  /** Rows not under a live lock (the management queue depth). */
  depth(now: number): number {
    let n = 0;
    for (const rows of this.byInstance.values()) for (const r of rows) if (r.lock === null || r.lock.until <= now) n++;
    return n;
  }

  /** The earliest time a row this fetcher could take becomes fetchable (for a long poll's timer), or null. */
  nextAt(filter: TagFilter, withSessions: boolean): number | null {
    let next: number | null = null;
    for (const lane of this.lanesFor(filter)) {
      for (const at of [lane.plain.nextAt(), withSessions ? lane.session.nextAt() : null]) if (at !== null && (next === null || at < next)) next = at;
    }
    return next;
  }

  // ------------------------------------------------------------------ sessions

  /** Work on a session's row counts as activity, while the session lock is live. */
  touchSession(id: string | null, now: number): void {
    const s = id === null ? undefined : this.sessions.get(id);
    if (s !== undefined && s.until > now) s.lastActivity = now;
  }

  /** Extends the live, non-idle sessions of `owners`; returns how many. */
  renewSessions(owners: readonly string[], now: number, extendForMs: number, idleTimeoutMs: number): number {
    const wanted = new Set(owners);
    let n = 0;
    for (const s of this.sessions.values()) {
      if (wanted.has(s.owner) && s.until > now && s.lastActivity > now - idleTimeoutMs) {
        s.until = now + extendForMs;
        n++;
      }
    }
    return n;
  }

  /**
   * Ends the live session locks of `owners` now (only `sessionIds` when given): their sessions are
   * claimable by any owner at once; returns how many.
   */
  releaseSessions(owners: readonly string[], sessionIds: readonly string[] | null, now: number): number {
    const wanted = new Set(owners);
    const only = sessionIds === null ? null : new Set(sessionIds);
    let n = 0;
    for (const [id, s] of this.sessions) {
      if (wanted.has(s.owner) && s.until > now && (only === null || only.has(id))) {
        s.until = now;
        n++;
      }
    }
    return n;
  }

  /** Removes lapsed sessions that no queued row refers to; returns how many. */
  cleanupSessions(now: number): number {
    let n = 0;
    for (const [id, s] of this.sessions) {
      if (s.until <= now && !this.sessionRows.has(id)) {
        this.sessions.delete(id);
        n++;
      }
    }
    return n;
  }
}
