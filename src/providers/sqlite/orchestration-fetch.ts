/**
 * The orchestration fetch's transaction: pick the instance of the oldest visible message, lock it,
 * claim its batch and load what the turn needs (history, KV), remembering what it saw for the ack.
 */
import { decodeEvent, type Event } from "../../core/events.ts";
import type { FetchedOrchestration } from "../../core/queue-types.ts";
import type { Semver } from "../../core/semver.ts";
import { decodeWorkItem, type WorkItem } from "../../core/work-items.ts";
import { sqliteResultCode } from "./errors.ts";
import type { FetchedLock, FetchedLocks } from "./fetched-locks.ts";
import type { HistoryCache } from "./history-cache.ts";
import type { Statements } from "./statements.ts";

const ZERO: Semver = { major: 0, minor: 0, patch: 0 };

/**
 * The instance of the oldest visible message that is not locked (and, with a capability filter,
 * whose current execution's pinned version is in `range` or unpinned); null when there is none.
 */
export function pickInstance(s: Statements, now: number, range: [Semver, Semver] | null): { instance_id: string } | null {
  const [min, max] = range ?? [ZERO, ZERO];
  return s.pickCandidate.get(now, range === null ? 0 : 1, min.major, min.minor, min.patch, max.major, max.minor, max.patch);
}

/** Locks the next instance with work and returns its turn; null when there is none (or a race was lost). */
export function fetchOrchestration(
  s: Statements,
  history: HistoryCache,
  locks: FetchedLocks,
  lockTimeoutMs: number,
  range: [Semver, Semver] | null,
): FetchedOrchestration | null {
  const now = Date.now();
  // Normally the first candidate is taken. A batch that cannot be resolved yet (no instance row,
  // no history, no Start) is deferred, so an orphan message never blocks the queue head
  // (docs/provider-contract.md §3.2 step 5, Q2).
  for (;;) {
    const cand = pickInstance(s, now, range);
    if (cand === null) return null;
    const result = lockInstance(s, history, locks, cand.instance_id, now, lockTimeoutMs);
    if (result !== "retry") return result;
  }
}

/** Claims one instance's batch; "retry" when there was nothing to claim and the caller should pick again. */
function lockInstance(
  s: Statements,
  history: HistoryCache,
  locks: FetchedLocks,
  instance: string,
  now: number,
  lockTimeoutMs: number,
): FetchedOrchestration | "retry" | null {
  const seen = identify(s, instance);
  const token = crypto.randomUUID();
  const until = now + lockTimeoutMs;
  if (s.claimLock.run(instance, token, until, now, token, until, now, now).changes === 0) return null; // lost a race
  const batch = claimBatch(s, instance, token, now, seen);
  if (batch.messages.length === 0) {
    s.releaseLock.run(instance, token);
    return "retry";
  }
  if (seen.name === null) {
    giveBackUnresolvable(s, instance, token, batch.messages, now);
    return "retry";
  }

  let events: Event[] = [];
  let historyError: string | null = null;
  try {
    events = history.events(instance, seen.executionId);
  } catch (err) {
    // The database failing (an I/O error, a table gone) is not a bad history: thrown, it rolls the
    // whole fetch back (the lock and the attempt count with it) and the caller sees a ProviderError.
    if (sqliteResultCode(err) !== null) throw err;
    // A row that does not decode: never throw while holding a lock, hand the runtime the error so
    // it can poison the instance.
    events = [];
    historyError = `history deserialization failed: ${(err as Error).message}`;
  }
  const kv = history.kv(instance, seen.executionId);
  locks.remember(token, seen);

  return {
    item: {
      instance,
      orchestration_name: seen.name,
      execution_id: seen.executionId,
      version: seen.version ?? "unknown",
      history: events,
      messages: batch.messages,
      history_error: historyError,
      kv_snapshot: kv,
    },
    lockToken: token,
    attemptCount: batch.attemptCount,
  };
}

/**
 * Who the instance is: its row's name, version and current execution, or, when it is not created
 * yet, the latest execution in its history and that execution's start (name null when neither
 * says; claimBatch may still find a start message).
 */
function identify(s: Statements, instance: string): FetchedLock {
  const inst = s.instanceRow.get(instance);
  if (inst !== null) {
    return { instance, executionId: inst.current_execution_id, existed: true, name: inst.orchestration_name, version: inst.orchestration_version };
  }
  const seen: FetchedLock = { instance, executionId: 1, existed: false, name: null, version: null };
  // A brand-new instance (every instance's first fetch) has no execution: one cheap probe says so.
  const maxExec = s.anyExecution.get(instance) === null ? null : (s.maxExecution.get(instance)?.m ?? null);
  if (maxExec !== null) {
    seen.executionId = maxExec;
    const started = s.startedEvent.get(instance, maxExec);
    const e = started === null ? null : tryDecodeEvent(started.event_data);
    if (e?.type === "OrchestrationStarted") [seen.name, seen.version] = [e.name, e.version];
  }
  return seen;
}

interface Batch {
  messages: WorkItem[];
  /** The highest attempt count among the messages. */
  attemptCount: number;
}

/**
 * Tags every visible message of the instance and reads the batch back in one statement, oldest
 * first. Takes the identity of a not yet created instance from a Start/ContinueAsNew message.
 */
function claimBatch(s: Statements, instance: string, token: string, now: number, seen: FetchedLock): Batch {
  const rows = s.tagBatch.all(token, instance, now).sort((x, y) => x.id - y.id);
  const messages: WorkItem[] = [];
  let attemptCount = 0;
  for (const r of rows) {
    const item = tryDecodeWorkItem(r.work_item);
    if (item === null) {
      // An undecodable message can never be processed: park it rather than redeliver it forever.
      s.deadLetter.run("orchestrator", instance, r.work_item, "undecodable work item", now);
      s.deleteOrchRow.run(r.id);
      continue;
    }
    messages.push(item);
    if (r.attempt_count > attemptCount) attemptCount = r.attempt_count;
    if (seen.name === null && (item.type === "StartOrchestration" || item.type === "ContinueAsNew")) [seen.name, seen.version] = [item.orchestration, item.version];
  }
  return { messages, attemptCount };
}

/** No instance, no history, no start: nothing here can be processed (yet). Gives the batch back and unlocks. */
function giveBackUnresolvable(s: Statements, instance: string, token: string, messages: WorkItem[], now: number): void {
  if (messages.every((m) => m.type === "QueueMessage")) {
    // Only persistent events for an instance that never started: nothing can ever consume them.
    s.deleteBatch.run(token);
  } else {
    // An event raised before its start, a completion for a deleted instance: keep them, but look
    // again later, backing off with their age (1 s to 60 s), so they cost nothing on the hot path.
    s.untagUndoAttempt.run(token);
    s.deferOrphans.run(now, now, instance, now);
  }
  s.releaseLock.run(instance, token);
}

function tryDecodeEvent(text: string): Event | null {
  try {
    return decodeEvent(text);
  } catch {
    return null;
  }
}

function tryDecodeWorkItem(text: string): WorkItem | null {
  try {
    return decodeWorkItem(text);
  } catch {
    return null;
  }
}
