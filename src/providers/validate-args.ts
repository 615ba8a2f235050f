/**
 * Argument checks shared by providers. Each throws an InvalidArgument ProviderError naming the operation
 * and what was wrong, before any storage is touched, so bad input can never half-write a change.
 */
import { DecodeError, ProviderError } from "../core/errors.ts";
import { validateEvent, type Event } from "../core/events.ts";
import { isSemver } from "../core/semver.ts";
import { MAX_WORKER_TAGS, type ExecutionMetadata, type ScheduledActivityIdentifier, type SessionFetchConfig, type TagFilter } from "../core/queue-types.ts";
import { validateWorkItem, type WorkItem, type WorkItemType } from "../core/work-items.ts";
import type { InstanceFilter, PruneOptions } from "../core/admin-types.ts";

const bad = (op: string, msg: string) => ProviderError.invalidArgument(op, msg);

export function checkInstanceId(op: string, id: unknown, what = "instance id"): asserts id is string {
  if (typeof id !== "string" || id.length === 0) throw bad(op, `${what} must be a non-empty string, got ${JSON.stringify(id)}`);
}

export function checkExecutionId(op: string, id: unknown): asserts id is number {
  if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 1) {
    throw bad(op, `execution id must be a positive integer, got ${String(id)}`);
  }
}

export function checkLockToken(op: string, token: unknown): asserts token is string {
  if (typeof token !== "string" || token.length === 0) throw bad(op, `lock token must be a non-empty string, got ${JSON.stringify(token)}`);
}

/** Durations in ms: finite and >= 0. `nullable` accepts null/undefined (meaning "none"). */
export function checkDuration(op: string, name: string, ms: unknown, nullable = false): void {
  if (nullable && (ms === null || ms === undefined)) return;
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) {
    throw bad(op, `${name} must be a finite number of milliseconds >= 0, got ${String(ms)}`);
  }
}

export function checkWorkItem(op: string, item: unknown, allowed: readonly WorkItemType[] | null, forbidden: readonly WorkItemType[] = []): WorkItem {
  try {
    validateWorkItem(item);
  } catch (err) {
    throw bad(op, (err as DecodeError).message);
  }
  if (allowed !== null && !allowed.includes(item.type)) {
    throw bad(op, `work item type ${item.type} is not accepted here (expected ${allowed.join(" or ")})`);
  }
  if (forbidden.includes(item.type)) throw bad(op, `work item type ${item.type} is not accepted here`);
  return item;
}

export function checkEvents(op: string, events: unknown): Event[] {
  if (!Array.isArray(events)) throw bad(op, "history delta must be an array of events");
  for (const e of events) {
    try {
      validateEvent(e);
    } catch (err) {
      throw bad(op, (err as DecodeError).message);
    }
    if (e.event_id < 1) throw bad(op, `event_id must be >= 1 (got ${e.event_id} for ${e.type})`);
  }
  return events as Event[];
}

const STATUSES = new Set(["Running", "Completed", "Failed", "ContinuedAsNew"]);

export function checkMetadata(op: string, m: unknown): ExecutionMetadata {
  if (typeof m !== "object" || m === null) throw bad(op, "metadata must be an object");
  const md = m as ExecutionMetadata;
  if (md.status != null && !STATUSES.has(md.status)) throw bad(op, `metadata.status ${JSON.stringify(md.status)} is not Running/Completed/Failed/ContinuedAsNew`);
  for (const k of ["output", "orchestration_name", "orchestration_version", "parent_instance_id"] as const) {
    if (md[k] != null && typeof md[k] !== "string") throw bad(op, `metadata.${k} must be a string or null`);
  }
  if (md.pinned_duroxide_version != null && !isSemver(md.pinned_duroxide_version)) {
    throw bad(op, "metadata.pinned_duroxide_version must be {major, minor, patch} of non-negative integers");
  }
  return md;
}

export function checkCancelled(op: string, ids: unknown): ScheduledActivityIdentifier[] {
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
      return tf;
    }
    default:
      throw bad(op, `unknown tag filter type ${JSON.stringify((tf as { type: unknown }).type)}`);
  }
}

export function checkSessionConfig(op: string, s: unknown): SessionFetchConfig | null {
  if (s === null || s === undefined) return null;
  const c = s as SessionFetchConfig;
  if (typeof c !== "object" || typeof c.owner_id !== "string" || c.owner_id.length === 0) throw bad(op, "session config needs a non-empty owner_id");
  if (typeof c.lock_timeout !== "number" || !Number.isFinite(c.lock_timeout) || c.lock_timeout <= 0) throw bad(op, "session lock_timeout must be a positive number of ms");
  return c;
}

export function checkInstanceFilter(op: string, f: unknown): InstanceFilter {
  if (typeof f !== "object" || f === null) throw bad(op, "filter must be an object");
  const flt = f as InstanceFilter;
  if (flt.instance_ids != null && (!Array.isArray(flt.instance_ids) || flt.instance_ids.some((i) => typeof i !== "string"))) throw bad(op, "instance_ids must be an array of strings");
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
