/**
 * The orchestration ack: one turn's writes, applied in the caller's transaction so they commit
 * all together or not at all, the lock release included. The steps run in this order: check the
 * lock, delete the batch, instance and execution rows, history, status, custom status, KV,
 * activities, their cancellations, orchestrator messages, release the lock.
 */
import { ProviderError } from "../../core/errors.ts";
import type { Event } from "../../core/events.ts";
import type { ExecutionMetadata, ScheduledActivityIdentifier } from "../../core/queue-types.ts";
import { workItemInstance, type WorkItem } from "../../core/work-items.ts";
import type { validateProviderInput } from "../validate-args.ts";
import type { FetchedLock, FetchedLocks } from "./fetched-locks.ts";
import type { HistoryCache } from "./history-cache.ts";
import type { Statements } from "./statements.ts";

const TERMINAL = new Set(["Completed", "Failed", "ContinuedAsNew"]);

export function isTerminalStatus(status: string | null | undefined): boolean {
  return status != null && TERMINAL.has(status);
}

/** A validated turn with its rows encoded. */
export interface Turn {
  lockToken: string;
  executionId: number;
  delta: Event[];
  workerItems: WorkItem[];
  orchestratorItems: WorkItem[];
  metadata: ExecutionMetadata;
  cancelled: ScheduledActivityIdentifier[];
  encodedEvents: string[];
  encodedWorker: string[];
  encodedOrch: string[];
}

/** Encodes the turn's rows; done before the transaction so the write lock is held as briefly as possible. */
export function encodeTurn(
  lockToken: string,
  executionId: number,
  valid: ReturnType<typeof validateProviderInput.ackOrchestrationItem>,
): Turn {
  const { delta, workerItems, orchestratorItems, metadata, cancelled } = valid;
  return {
    lockToken,
    executionId,
    delta,
    workerItems,
    orchestratorItems,
    metadata,
    cancelled,
    // The validator's texts: exactly what it checked decodes, so nothing is encoded twice.
    encodedEvents: valid.deltaTexts,
    encodedWorker: valid.workerTexts,
    encodedOrch: valid.orchestratorTexts,
  };
}

/** Applies the turn; returns its instance. Throws LockLost when the lock is gone or expired. */
export function commitTurn(s: Statements, locks: FetchedLocks, history: HistoryCache, op: string, t: Turn): string {
  const now = Date.now();
  const instance = lockedInstance(s, op, t.lockToken, now);
  // Writes that would change nothing are skipped when this lock's fetch already saw the
  // instance with this execution as its current one (the common case: every turn but the first).
  const seen = locks.sawCurrent(t.lockToken, instance, t.executionId);
  s.deleteBatch.run(t.lockToken);
  writeInstanceRow(s, instance, t, seen, now);
  const freshExecution = seen === undefined && startExecution(s, instance, t.executionId, now);
  const pin = t.metadata.pinned_duroxide_version;
  if (pin != null) s.pinExecution.run(pin.major, pin.minor, pin.patch, instance, t.executionId);
  appendHistory(s, instance, t, now);
  writeExecutionStatus(s, instance, t, freshExecution, now);
  writeCustomStatus(s, instance, t.delta, now);
  writeKv(s, instance, t, now);
  enqueueActivities(s, t, now);
  cancelActivities(s, t.cancelled);
  enqueueOrchestratorItems(s, t, now);
  s.releaseLock.run(instance, t.lockToken);
  // A terminal turn merged KV into the committed KV the entry holds, and a finished execution is
  // not fetched again for a while: drop the entry, in this transaction, so that a fetch in the same
  // group commit (the ContinueAsNew message this turn enqueued) reads both afresh
  // (docs/provider-contract.md §14.6).
  if (isTerminalStatus(t.metadata.status)) history.forget(instance);
  else history.appended(instance, t.executionId, t.delta, t.encodedEvents);
  return instance;
}

/** The instance the token locks, when the lock is still live. */
function lockedInstance(s: Statements, op: string, lockToken: string, now: number): string {
  const lock = s.lockByToken.get(lockToken);
  if (lock === null) throw ProviderError.lockLost(op, `Invalid lock token: ${lockToken} (unknown, already acked or abandoned, or the instance was deleted)`);
  if (lock.locked_until <= now) throw ProviderError.lockLost(op, `lock expired for instance ${lock.instance_id}: the turn took longer than the lock timeout`);
  return lock.instance_id;
}

/** Creates the instance row on its first turn and keeps its name and version current. */
function writeInstanceRow(s: Statements, instance: string, t: Turn, seen: FetchedLock | undefined, now: number): void {
  const md = t.metadata;
  if (md.orchestration_name == null || md.orchestration_version == null) return;
  if (seen !== undefined && seen.name === md.orchestration_name && seen.version === md.orchestration_version) return;
  s.createInstance.run(instance, md.orchestration_name, md.orchestration_version, t.executionId, md.parent_instance_id ?? null, now, now);
  s.updateInstanceNameVersion.run(md.orchestration_name, md.orchestration_version, now, instance);
}

/** Creates the execution's row (Running) and makes it the instance's current one; true when the row is new. */
function startExecution(s: Statements, instance: string, executionId: number, now: number): boolean {
  const fresh = s.createExecution.run(instance, executionId, now).changes === 1;
  s.raiseCurrentExecution.run(executionId, now, instance);
  return fresh;
}

function appendHistory(s: Statements, instance: string, t: Turn, now: number): void {
  const { delta, encodedEvents } = t;
  for (let i = 0; i < delta.length; i++) {
    const e = delta[i]!;
    s.insertHistory.run(instance, t.executionId, e.event_id, e.type, encodedEvents[i]!, now);
  }
}

function writeExecutionStatus(s: Statements, instance: string, t: Turn, freshExecution: boolean, now: number): void {
  const md = t.metadata;
  if (md.status == null) return;
  // A just-created execution already is Running with no output.
  if (freshExecution && md.status === "Running" && md.output == null) return;
  s.setExecutionStatus.run(md.status, md.output ?? null, TERMINAL.has(md.status) ? now : null, instance, t.executionId);
}

/** The last custom status the turn set, if any. */
function writeCustomStatus(s: Statements, instance: string, delta: Event[], now: number): void {
  let lastStatus: Event | undefined;
  for (const e of delta) if (e.type === "CustomStatusUpdated") lastStatus = e;
  if (lastStatus !== undefined && lastStatus.type === "CustomStatusUpdated") {
    s.setCustomStatus.run(lastStatus.status, now, instance);
  }
}

/** KV changes go to the instance's overlay (kv_delta); a terminal turn merges the overlay into kv_store. */
function writeKv(s: Statements, instance: string, t: Turn, now: number): void {
  for (const e of t.delta) {
    if (e.type === "KeyValueSet") s.kvDeltaSet.run(instance, e.key, e.value, e.last_updated_at_ms ?? 0);
    else if (e.type === "KeyValueCleared") s.kvDeltaSet.run(instance, e.key, null, now);
    else if (e.type === "KeyValuesCleared") {
      s.kvDeltaTombstoneAll.run(now, instance);
      s.kvDeltaTombstoneCommitted.run(instance, now, instance);
    }
  }
  // The merge's three statements only when the execution wrote KV at all (one cheap probe).
  if (isTerminalStatus(t.metadata.status) && s.kvDeltaAny.get(instance) !== null) {
    s.kvMergeUpsert.run(instance);
    s.kvMergeDelete.run(instance);
    s.kvDeltaClear.run(instance);
  }
}

function enqueueActivities(s: Statements, t: Turn, now: number): void {
  const { workerItems, encodedWorker } = t;
  for (let i = 0; i < workerItems.length; i++) {
    const w = workerItems[i]!;
    if (w.type !== "ActivityExecute") continue;
    s.insertWorker.run(encodedWorker[i]!, now, now, w.instance, w.execution_id, w.id, w.session_id ?? null, w.tag ?? null);
  }
}

/** Runs after enqueueActivities, so scheduling and cancelling one activity in the same turn is a no-op (docs/provider-contract.md R5). */
function cancelActivities(s: Statements, cancelled: ScheduledActivityIdentifier[]): void {
  for (const c of cancelled) s.deleteWorkerByIdentity.run(c.instance, c.execution_id, c.activity_id);
}

/** Timers become visible when they fire, everything else at once. */
function enqueueOrchestratorItems(s: Statements, t: Turn, now: number): void {
  const { orchestratorItems, encodedOrch } = t;
  for (let i = 0; i < orchestratorItems.length; i++) {
    const o = orchestratorItems[i]!;
    const visibleAt = o.type === "TimerFired" ? o.fire_at_ms : now;
    s.insertOrch.run(workItemInstance(o), o.type, encodedOrch[i]!, visibleAt, now);
  }
}
