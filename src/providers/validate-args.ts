/**
 * Argument checks shared by providers. Each throws an InvalidArgument ProviderError naming the
 * operation and what was wrong, before any storage is touched, so bad input can never half-write a
 * change. `validateProviderInput` / `validateAdminInput` bundle them per contract method: one call
 * at the top of each method gives exactly the checks the suite's input_validation module expects.
 */
import { DecodeError, ProviderError } from "../core/errors.ts";
import { decodeEvent, type Event } from "../core/events.ts";
import { idProblem, isMalformedText } from "../core/ids.ts";
import { isSemver, type Semver } from "../core/semver.ts";
import { isExecutionStatus } from "../core/status.ts";
import { MAX_WORKER_TAGS, type DispatcherCapabilityFilter, type ExecutionMetadata, type ScheduledActivityIdentifier, type SessionFetchConfig, type TagFilter } from "../core/queue-types.ts";
import { decodeWorkItem, workItemInstance, type WorkItem, type WorkItemType } from "../core/work-items.ts";
import type { InstanceFilter, PruneOptions } from "../core/admin-types.ts";

const bad = (op: string, msg: string) => ProviderError.invalidArgument(op, msg);

/**
 * Instance ids (and session ids) follow the shared id rule (src/core/ids.ts): non-empty, not only
 * whitespace, well-formed Unicode without NUL, at most MAX_ID_BYTES of UTF-8. Applied to every id
 * a call names, so no store can merge two ids or fail on one (docs/provider-contract.md §8).
 */
export function checkInstanceId(op: string, id: unknown, what = "instance id"): asserts id is string {
  const problem = idProblem(what, id);
  if (problem !== null) throw bad(op, problem);
}

/**
 * Names and keys stored as text columns (orchestration, activity, event and queue names, KV keys,
 * tags, versions): a NUL or an unpaired surrogate would be stored changed, so they are refused.
 */
function checkStoredText(op: string, what: string, v: unknown): void {
  if (typeof v === "string" && isMalformedText(v)) {
    throw bad(op, `${what} must be well-formed Unicode text without NUL, got ${JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v)}`);
  }
}

/** Fields of work items and events that hold instance or session ids (the full id rule). */
const ID_FIELDS = ["instance", "parent_instance", "session_id"] as const;
/** Fields that hold names or keys (well-formed text only; their emptiness is the runtime's business). */
const NAME_FIELDS = ["name", "orchestration", "version", "key", "tag"] as const;

/** The id and name fields of a decoded work item or event, checked as their stores will key them. */
function checkIdentityFields(op: string, what: string, v: Record<string, unknown>): void {
  for (const f of ID_FIELDS) {
    if (v[f] !== undefined && v[f] !== null) checkInstanceId(op, v[f], `${what} ${f}`);
  }
  for (const f of NAME_FIELDS) checkStoredText(op, `${what} ${f}`, v[f]);
}

export function checkExecutionId(op: string, id: unknown): asserts id is number {
  if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 1) {
    throw bad(op, `execution id must be a positive integer, got ${String(id)}`);
  }
}

function checkLockToken(op: string, token: unknown): asserts token is string {
  if (typeof token !== "string" || token.length === 0) throw bad(op, `lock token must be a non-empty string, got ${JSON.stringify(token)}`);
}

/** Durations in ms: finite and >= 0. `nullable` accepts null/undefined (meaning "none"). */
function checkDuration(op: string, name: string, ms: unknown, nullable = false): void {
  if (nullable && (ms === null || ms === undefined)) return;
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) {
    throw bad(op, `${name} must be a finite number of milliseconds >= 0, got ${String(ms)}`);
  }
}

/** The optional AbortSignal of a fetch (docs/provider-contract.md §3.2): absent, null or an AbortSignal. */
function checkAbortSignal(op: string, signal: unknown): void {
  if (signal === undefined || signal === null || signal instanceof AbortSignal) return;
  throw bad(op, `signal must be an AbortSignal when given, got ${typeof signal}`);
}

/**
 * A value as the store will hold it: its JSON text, and the value decoded back from that text. A
 * provider stores `text` and works with `value`, never with the caller's object: what it checked
 * is then exactly what it stores (a toJSON method, a getter or a BigInt field cannot slip an
 * undecodable row past the checks and poison a history or a queue), and nothing the caller still
 * holds shares an object with the store.
 */
export interface Encoded<T> {
  value: T;
  text: string;
}

function roundTrip<T>(op: string, what: string, v: unknown, decode: (text: string) => T): Encoded<T> {
  let text: string | undefined;
  try {
    text = JSON.stringify(v);
  } catch (err) {
    throw bad(op, `${what} cannot be encoded as JSON: ${(err as Error).message}`);
  }
  if (typeof text !== "string") throw bad(op, `${what} cannot be encoded as JSON`);
  // Validated as decoded from its text: one check covers both the shape and what encoding did.
  try {
    return { value: decode(text), text };
  } catch (err) {
    throw bad(op, (err as DecodeError).message);
  }
}

function checkWorkItem(op: string, item: unknown, allowed: readonly WorkItemType[] | null, forbidden: readonly WorkItemType[] = []): Encoded<WorkItem> {
  const encoded = roundTrip(op, "work item", item, decodeWorkItem);
  const type = encoded.value.type;
  if (allowed !== null && !allowed.includes(type)) {
    throw bad(op, `work item type ${type} is not accepted here (expected ${allowed.join(" or ")})`);
  }
  if (forbidden.includes(type)) throw bad(op, `work item type ${type} is not accepted here`);
  checkInstanceId(op, workItemInstance(encoded.value), `${type} routing instance id`);
  checkIdentityFields(op, type, encoded.value as unknown as Record<string, unknown>);
  return encoded;
}

function checkEvents(op: string, events: unknown): Encoded<Event>[] {
  if (!Array.isArray(events)) throw bad(op, "history delta must be an array of events");
  return events.map((e: unknown) => {
    const encoded = roundTrip(op, "event", e, decodeEvent);
    const id = encoded.value.event_id;
    if (id < 1) throw bad(op, `event_id must be >= 1 (got ${id} for ${encoded.value.type})`);
    checkIdentityFields(op, encoded.value.type, encoded.value as unknown as Record<string, unknown>);
    return encoded;
  });
}

function checkMetadata(op: string, m: unknown): ExecutionMetadata {
  if (typeof m !== "object" || m === null) throw bad(op, "metadata must be an object");
  const md = m as ExecutionMetadata;
  if (md.status != null && !isExecutionStatus(md.status)) throw bad(op, `metadata.status ${JSON.stringify(md.status)} is not Running/Completed/Failed/ContinuedAsNew`);
  for (const k of ["output", "orchestration_name", "orchestration_version", "parent_instance_id"] as const) {
    if (md[k] != null && typeof md[k] !== "string") throw bad(op, `metadata.${k} must be a string or null`);
  }
  if (md.parent_instance_id != null) checkInstanceId(op, md.parent_instance_id, "metadata.parent_instance_id");
  checkStoredText(op, "metadata.orchestration_name", md.orchestration_name);
  checkStoredText(op, "metadata.orchestration_version", md.orchestration_version);
  if (md.pinned_duroxide_version != null && !isSemver(md.pinned_duroxide_version)) {
    throw bad(op, "metadata.pinned_duroxide_version must be {major, minor, patch} of non-negative integers");
  }
  return md;
}

function checkCancelled(op: string, ids: unknown): ScheduledActivityIdentifier[] {
  if (!Array.isArray(ids)) throw bad(op, "cancelled activities must be an array");
  for (const c of ids) {
    if (typeof c !== "object" || c === null || typeof c.instance !== "string" || !Number.isSafeInteger(c.execution_id) || !Number.isSafeInteger(c.activity_id)) {
      throw bad(op, `malformed cancelled activity identifier ${JSON.stringify(c)}`);
    }
  }
  return ids as ScheduledActivityIdentifier[];
}

export function checkTagFilter(op: string, f: unknown): TagFilter {
  if (typeof f !== "object" || f === null) throw bad(op, "tag filter must be an object");
  const tf = f as TagFilter;
  switch (tf.type) {
    case "DefaultOnly":
    case "Any":
    case "None":
      return tf;
    case "Tags":
    case "DefaultAnd": {
      if (!(tf.tags instanceof Set) && !Array.isArray(tf.tags)) throw bad(op, `${tf.type} tag filter needs a set of tags`);
      const tags = [...tf.tags];
      if (tags.length < 1 || tags.length > MAX_WORKER_TAGS) throw bad(op, `${tf.type} tag filter needs 1..${MAX_WORKER_TAGS} tags, got ${tags.length}`);
      if (tags.some((t) => typeof t !== "string" || t.length === 0)) throw bad(op, "tags must be non-empty strings");
      for (const t of tags) checkStoredText(op, "tag", t);
      return tf;
    }
    default:
      throw bad(op, `unknown tag filter type ${JSON.stringify((tf as { type: unknown }).type)}`);
  }
}

function checkSessionConfig(op: string, s: unknown): SessionFetchConfig | null {
  if (s === null || s === undefined) return null;
  const c = s as SessionFetchConfig;
  if (typeof c !== "object" || typeof c.owner_id !== "string" || c.owner_id.length === 0) throw bad(op, "session config needs a non-empty owner_id");
  checkStoredText(op, "session owner_id", c.owner_id);
  if (typeof c.lock_timeout !== "number" || !Number.isFinite(c.lock_timeout) || c.lock_timeout <= 0) throw bad(op, "session lock_timeout must be a positive number of ms");
  return c;
}

export function checkInstanceFilter(op: string, f: unknown): InstanceFilter {
  if (typeof f !== "object" || f === null) throw bad(op, "filter must be an object");
  const flt = f as InstanceFilter;
  if (flt.instance_ids != null) {
    if (!Array.isArray(flt.instance_ids)) throw bad(op, "instance_ids must be an array of instance ids");
    for (const id of flt.instance_ids) checkInstanceId(op, id, "each of instance_ids");
  }
  if (flt.limit != null && (!Number.isSafeInteger(flt.limit) || flt.limit < 0)) throw bad(op, `limit must be a non-negative integer, got ${flt.limit}`);
  if (flt.completed_before != null && !Number.isFinite(flt.completed_before)) throw bad(op, "completed_before must be a number of ms");
  return flt;
}

export function checkPruneOptions(op: string, o: unknown): PruneOptions {
  if (typeof o !== "object" || o === null) throw bad(op, "prune options must be an object");
  const opts = o as PruneOptions;
  if (opts.keep_last != null && (!Number.isSafeInteger(opts.keep_last) || opts.keep_last < 0)) throw bad(op, `keep_last must be a non-negative integer, got ${opts.keep_last}`);
  if (opts.completed_before != null && !Number.isFinite(opts.completed_before)) throw bad(op, "completed_before must be a number of ms");
  return opts;
}

/** Work item types the orchestrator queue refuses (they belong to the worker queue). */
export const ORCHESTRATOR_FORBIDDEN_ITEMS: readonly WorkItemType[] = ["ActivityExecute"];
/** The only work item type the worker queue accepts. */
export const WORKER_ITEMS: readonly WorkItemType[] = ["ActivityExecute"];
/** What `ackWorkItem` may enqueue as the activity's completion. */
export const COMPLETION_ITEMS: readonly WorkItemType[] = ["ActivityCompleted", "ActivityFailed"];

function checkOwnerIds(op: string, ownerIds: unknown): asserts ownerIds is string[] {
  if (!Array.isArray(ownerIds) || ownerIds.some((o) => typeof o !== "string")) throw bad(op, "ownerIds must be an array of strings");
}

/**
 * The version range a capability filter admits: `[min, max]` inclusive, "none" for an empty range
 * list (the fetch returns null), null for no filter. Only the first range counts: the runtime
 * sends exactly one.
 */
export function checkCapabilityFilter(op: string, filter: unknown): [Semver, Semver] | "none" | null {
  if (filter === null || filter === undefined) return null;
  if (typeof filter !== "object") throw bad(op, "capability filter must be an object or null");
  const ranges = (filter as DispatcherCapabilityFilter).supported_duroxide_versions;
  if (!Array.isArray(ranges)) throw bad(op, "filter.supported_duroxide_versions must be an array");
  const first = ranges[0];
  if (first === undefined) return "none";
  if (!isSemver(first.min) || !isSemver(first.max)) throw bad(op, "filter.supported_duroxide_versions[0] needs min and max as {major, minor, patch}");
  return [first.min, first.max];
}

/**
 * One validator per Provider method, named after it, taking the method's arguments in order.
 * Each throws InvalidArgument for input that can never be valid and returns the arguments in the
 * form a provider stores (defaults filled in; events and work items as `Encoded` values: a clean
 * decoded copy and the JSON text to store, see `Encoded`).
 */
export const validateProviderInput = {
  enqueueForOrchestrator(item: unknown, delayMs: unknown): { item: WorkItem; text: string; delayMs: number } {
    const op = "enqueueForOrchestrator";
    const checked = checkWorkItem(op, item, null, ORCHESTRATOR_FORBIDDEN_ITEMS);
    checkDuration(op, "delayMs", delayMs, true);
    return { item: checked.value, text: checked.text, delayMs: (delayMs as number | null | undefined) ?? 0 };
  },
  fetchOrchestrationItem(lockTimeoutMs: unknown, pollTimeoutMs: unknown, filter: unknown, signal?: unknown): { range: [Semver, Semver] | "none" | null } {
    const op = "fetchOrchestrationItem";
    checkDuration(op, "lockTimeoutMs", lockTimeoutMs);
    checkDuration(op, "pollTimeoutMs", pollTimeoutMs);
    checkAbortSignal(op, signal);
    return { range: checkCapabilityFilter(op, filter) };
  },
  ackOrchestrationItem(
    lockToken: unknown,
    executionId: unknown,
    historyDelta: unknown,
    workerItems: unknown,
    orchestratorItems: unknown,
    metadata: unknown,
    cancelledActivities: unknown,
  ): {
    delta: Event[];
    deltaTexts: string[];
    workerItems: WorkItem[];
    workerTexts: string[];
    orchestratorItems: WorkItem[];
    orchestratorTexts: string[];
    metadata: ExecutionMetadata;
    cancelled: ScheduledActivityIdentifier[];
  } {
    const op = "ackOrchestrationItem";
    checkLockToken(op, lockToken);
    checkExecutionId(op, executionId);
    const delta = checkEvents(op, historyDelta);
    if (!Array.isArray(workerItems) || !Array.isArray(orchestratorItems)) throw bad(op, "workerItems and orchestratorItems must be arrays");
    const worker = workerItems.map((w: unknown) => checkWorkItem(op, w, WORKER_ITEMS));
    const orch = orchestratorItems.map((o: unknown) => checkWorkItem(op, o, null, ORCHESTRATOR_FORBIDDEN_ITEMS));
    return {
      delta: delta.map((e) => e.value),
      deltaTexts: delta.map((e) => e.text),
      workerItems: worker.map((w) => w.value),
      workerTexts: worker.map((w) => w.text),
      orchestratorItems: orch.map((o) => o.value),
      orchestratorTexts: orch.map((o) => o.text),
      metadata: checkMetadata(op, metadata ?? {}),
      cancelled: checkCancelled(op, cancelledActivities ?? []),
    };
  },
  abandonOrchestrationItem(lockToken: unknown, delayMs: unknown): { delayMs: number } {
    const op = "abandonOrchestrationItem";
    checkLockToken(op, lockToken);
    checkDuration(op, "delayMs", delayMs, true);
    return { delayMs: (delayMs as number | null | undefined) ?? 0 };
  },
  renewOrchestrationItemLock(lockToken: unknown, extendForMs: unknown): void {
    const op = "renewOrchestrationItemLock";
    checkLockToken(op, lockToken);
    checkDuration(op, "extendForMs", extendForMs);
  },
  enqueueForWorker(item: unknown): { item: WorkItem; text: string } {
    const checked = checkWorkItem("enqueueForWorker", item, WORKER_ITEMS);
    return { item: checked.value, text: checked.text };
  },
  fetchWorkItem(lockTimeoutMs: unknown, pollTimeoutMs: unknown, session: unknown, tagFilter: unknown, signal?: unknown): { session: SessionFetchConfig | null; tagFilter: TagFilter } {
    const op = "fetchWorkItem";
    checkDuration(op, "lockTimeoutMs", lockTimeoutMs);
    checkDuration(op, "pollTimeoutMs", pollTimeoutMs);
    checkAbortSignal(op, signal);
    return { session: checkSessionConfig(op, session), tagFilter: checkTagFilter(op, tagFilter) };
  },
  /** The completion to enqueue (null: none). */
  ackWorkItem(lockToken: unknown, completion: unknown): { item: WorkItem; text: string } | null {
    const op = "ackWorkItem";
    checkLockToken(op, lockToken);
    if (completion === null || completion === undefined) return null;
    const checked = checkWorkItem(op, completion, COMPLETION_ITEMS);
    return { item: checked.value, text: checked.text };
  },
  abandonWorkItem(lockToken: unknown, delayMs: unknown): { delayMs: number } {
    const op = "abandonWorkItem";
    checkLockToken(op, lockToken);
    checkDuration(op, "delayMs", delayMs, true);
    return { delayMs: (delayMs as number | null | undefined) ?? 0 };
  },
  renewWorkItemLock(lockToken: unknown, extendForMs: unknown): void {
    const op = "renewWorkItemLock";
    checkLockToken(op, lockToken);
    checkDuration(op, "extendForMs", extendForMs);
  },
  renewSessionLock(ownerIds: unknown, extendForMs: unknown, idleTimeoutMs: unknown): string[] {
    const op = "renewSessionLock";
    checkOwnerIds(op, ownerIds);
    checkDuration(op, "extendForMs", extendForMs);
    checkDuration(op, "idleTimeoutMs", idleTimeoutMs);
    return ownerIds;
  },
  /** The session-id filter (null: every session of the owners). */
  releaseSessionLocks(ownerIds: unknown, sessionIds: unknown): { owners: string[]; sessionIds: string[] | null } {
    const op = "releaseSessionLocks";
    checkOwnerIds(op, ownerIds);
    if (sessionIds === null || sessionIds === undefined) return { owners: ownerIds, sessionIds: null };
    if (!Array.isArray(sessionIds) || sessionIds.some((id) => typeof id !== "string")) throw bad(op, "sessionIds must be an array of strings or null");
    return { owners: ownerIds, sessionIds };
  },
  cleanupOrphanedSessions(idleTimeoutMs: unknown): void {
    checkDuration("cleanupOrphanedSessions", "idleTimeoutMs", idleTimeoutMs);
  },
  read(instance: unknown): void {
    checkInstanceId("read", instance);
  },
  readWithExecution(instance: unknown, executionId: unknown): void {
    checkInstanceId("readWithExecution", instance);
    checkExecutionId("readWithExecution", executionId);
  },
  appendWithExecution(instance: unknown, executionId: unknown, events: unknown): { events: Event[]; texts: string[] } {
    const op = "appendWithExecution";
    checkInstanceId(op, instance);
    checkExecutionId(op, executionId);
    const checked = checkEvents(op, events);
    return { events: checked.map((e) => e.value), texts: checked.map((e) => e.text) };
  },
  getCustomStatus(instance: unknown, lastSeenVersion: unknown): void {
    const op = "getCustomStatus";
    checkInstanceId(op, instance);
    if (typeof lastSeenVersion !== "number" || !Number.isFinite(lastSeenVersion)) throw bad(op, `lastSeenVersion must be a number, got ${String(lastSeenVersion)}`);
  },
  getKvValue(instance: unknown, key: unknown): void {
    checkInstanceId("getKvValue", instance);
    if (typeof key !== "string") throw bad("getKvValue", "key must be a string");
    checkStoredText("getKvValue", "key", key);
  },
  getKvAllValues(instance: unknown): void {
    checkInstanceId("getKvAllValues", instance);
  },
};

/** One validator per ProviderAdmin method that takes arguments, like `validateProviderInput`. */
export const validateAdminInput = {
  listInstancesByStatus(status: unknown): void {
    if (typeof status !== "string" || status.length === 0) throw bad("listInstancesByStatus", "status must be a non-empty string");
  },
  instance(op: string, instance: unknown): void {
    checkInstanceId(op, instance);
  },
  execution(op: string, instance: unknown, executionId: unknown): void {
    checkInstanceId(op, instance);
    checkExecutionId(op, executionId);
  },
  deleteInstancesAtomic(ids: unknown): string[] {
    const op = "deleteInstancesAtomic";
    if (!Array.isArray(ids)) throw bad(op, "ids must be an array of instance ids");
    for (const id of ids) checkInstanceId(op, id);
    return ids as string[];
  },
  deleteInstanceBulk(filter: unknown): InstanceFilter {
    return checkInstanceFilter("deleteInstanceBulk", filter);
  },
  pruneExecutions(instance: unknown, options: unknown): PruneOptions {
    checkInstanceId("pruneExecutions", instance);
    return checkPruneOptions("pruneExecutions", options);
  },
  pruneExecutionsBulk(filter: unknown, options: unknown): { filter: InstanceFilter; options: PruneOptions } {
    return { filter: checkInstanceFilter("pruneExecutionsBulk", filter), options: checkPruneOptions("pruneExecutionsBulk", options) };
  },
};
