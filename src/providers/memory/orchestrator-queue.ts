/**
 * The orchestrator queue of MemoryProvider. Messages live on their instance (InstanceState.queue,
 * in enqueue order), since a fetch takes all of an instance's visible messages at once; a
 * ReadyQueue holds one entry per instance with messages, at the time its next batch becomes
 * fetchable. Fetch, ack and abandon therefore cost O(log instances + the instance's messages).
 *
 * Locks: an instance lock is live while `until > now`. Messages only carry the token of the batch
 * they were last fetched in: a fetch after a lapsed lock re-tags every visible message, so a stale
 * tag is harmless, and an ack consumes exactly the messages tagged with its own token (messages
 * that arrived during the turn survive for the next one).
 */
import { compareSemver, decodeEvent, type Semver, type WorkItem } from "../../provider-api.ts";
import type { InstanceState, OrchMessage, StoredEvent } from "./instance-state.ts";
import { ReadyQueue } from "./ready-queue.ts";

export class OrchestratorQueue {
  private readonly ready = new ReadyQueue<InstanceState>();
  /** Token -> instance, for every lock not yet released or replaced (a lapsed one included). */
  private readonly locks = new Map<string, InstanceState>();

  add(state: InstanceState, message: OrchMessage): void {
    state.queue.push(message);
    this.reschedule(state);
  }

  /**
   * Puts the instance on the ready queue at the time its next batch can be fetched: when its
   * earliest message becomes visible, but not before a lock it holds lapses (that is redelivery).
   * Without messages it is off the queue.
   */
  reschedule(state: InstanceState): void {
    let first: OrchMessage | null = null;
    for (const m of state.queue) if (first === null || m.visibleAt < first.visibleAt) first = m;
    if (first === null) this.ready.cancel(state);
    else this.ready.schedule(state, Math.max(first.visibleAt, state.lock?.until ?? 0), first.seq);
  }

  /** When the next batch becomes fetchable (for a long poll's timer), or null. */
  nextAt(): number | null {
    return this.ready.nextAt();
  }

  /** The instance whose batch is fetchable first at `now`, among those `accept` admits. */
  candidate(now: number, accept?: (state: InstanceState) => boolean): InstanceState | null {
    return this.ready.findFirst(now, accept)?.item ?? null;
  }

  /**
   * Locks the instance and makes every message visible at `now` its batch: tagged with the new
   * token, one more delivery counted. A lapsed lock it replaces dies with its token.
   */
  lock(state: InstanceState, now: number, lockTimeoutMs: number): { token: string; batch: OrchMessage[] } {
    if (state.lock !== null) this.locks.delete(state.lock.token);
    const token = crypto.randomUUID();
    state.lock = { token, until: now + lockTimeoutMs };
    this.locks.set(token, state);
    const batch: OrchMessage[] = [];
    for (const m of state.queue) {
      if (m.visibleAt > now) continue;
      m.batch = token;
      m.attempts++;
      batch.push(m);
    }
    this.reschedule(state);
    return { token, batch };
  }

  /** The instance `token` locks (live or lapsed, until released or replaced), or undefined. */
  locked(token: string): InstanceState | undefined {
    return this.locks.get(token);
  }

  /** Deletes exactly the messages of batch `token` (an ack consumed them). */
  consume(state: InstanceState, token: string): void {
    state.queue = state.queue.filter((m) => m.batch !== token);
  }

  /** The messages visible at `now`, in enqueue order: what a fetch would take as the batch. */
  visible(state: InstanceState, now: number): OrchMessage[] {
    return state.queue.filter((m) => m.visibleAt <= now);
  }

  /** Removes these messages (orphans nothing can ever consume). */
  drop(state: InstanceState, messages: readonly OrchMessage[]): void {
    const gone = new Set(messages);
    state.queue = state.queue.filter((m) => !gone.has(m));
    this.reschedule(state);
  }

  /** Untags batch `token` (abandon), uncounting its delivery when `undoAttempt`. */
  untag(state: InstanceState, token: string, undoAttempt: boolean): void {
    for (const m of state.queue) {
      if (m.batch !== token) continue;
      m.batch = null;
      if (undoAttempt) m.attempts = Math.max(0, m.attempts - 1);
    }
  }

  /**
   * Hides every message visible at `now` until `until(message)` (a back-off). Messages due later
   * keep their time: a back-off never pulls a future timer earlier.
   */
  hide(state: InstanceState, now: number, until: (m: OrchMessage) => number): void {
    for (const m of state.queue) if (m.visibleAt <= now) m.visibleAt = until(m);
    this.reschedule(state);
  }

  /** Releases the instance's lock (ack, abandon) and puts its remaining messages back in line. */
  unlock(state: InstanceState): void {
    if (state.lock !== null) this.locks.delete(state.lock.token);
    state.lock = null;
    this.reschedule(state);
  }

  /** Forgets an instance being deleted: its messages, and its lock (so an in-flight ack fails). */
  purge(state: InstanceState): number {
    const n = state.queue.length;
    state.queue = [];
    this.unlock(state);
    return n;
  }

  /** Messages not part of a batch under a live lock (the management queue depth). */
  static depth(states: Iterable<InstanceState>, now: number): number {
    let n = 0;
    for (const s of states) {
      const live = s.lock !== null && s.lock.until > now ? s.lock.token : null;
      for (const m of s.queue) if (live === null || m.batch !== live) n++;
    }
    return n;
  }
}

/** The capability filter: the current execution's pinned version lies in [min, max]; none pinned = any. */
export function pinnedWithin(state: InstanceState, [min, max]: [Semver, Semver]): boolean {
  const pinned = state.row === null ? null : (state.executions.get(state.row.currentExecutionId)?.pinned ?? null);
  return pinned === null || (compareSemver(pinned, min) >= 0 && compareSemver(pinned, max) <= 0);
}

/**
 * Who a batch is for: the instance row; before it exists, the latest execution's
 * OrchestrationStarted, else a Start / ContinueAsNew in the batch. Null when none of these exists.
 */
export function identify(state: InstanceState, batch: readonly WorkItem[]): { name: string; version: string | null; executionId: number } | null {
  if (state.row !== null) return { name: state.row.name, version: state.row.version, executionId: state.row.currentExecutionId };
  const executionId = state.latestExecution() ?? 1;
  const started = startedIdentity(state.history.get(executionId));
  if (started !== null) return { ...started, executionId };
  const start = batch.find((m) => m.type === "StartOrchestration" || m.type === "ContinueAsNew");
  return start === undefined ? null : { name: start.orchestration, version: start.version, executionId };
}

/** Name and version from the execution's OrchestrationStarted, if it has a readable one. */
function startedIdentity(events: readonly StoredEvent[] | undefined): { name: string; version: string } | null {
  const started = events?.find((e) => e.type === "OrchestrationStarted");
  if (started === undefined) return null;
  try {
    const e = decodeEvent(started.text);
    return e.type === "OrchestrationStarted" ? { name: e.name, version: e.version } : null;
  } catch {
    return null; // an unreadable history is reported by the fetch itself (history_error)
  }
}
