/**
 * One instance's data in MemoryProvider: its row, executions, history, orchestrator messages,
 * lock and KV (`InstanceState`), and the helpers that read and write them. See store.ts for the
 * aliasing rule: objects are kept as JSON text made by the entry's codecs.
 */
import { decodeEvent, encodeEvent, type Event, type ExecutionStatus, type KvEntry, type Semver } from "../../provider-api.ts";
import type { Schedulable, ReadyEntry } from "./ready-queue.ts";

/** The instance row: exists once an ack carried both orchestration name and version. */
export interface InstanceRow {
  name: string;
  version: string;
  currentExecutionId: number;
  /** Write-once at creation; drives cascade delete. */
  parentId: string | null;
  customStatus: string | null;
  /** Moves by one per ack that carried a CustomStatusUpdated; 0 = never set. */
  customStatusVersion: number;
  createdAt: number;
  updatedAt: number;
  /** Creation order, for newest-first listings. */
  createdSeq: number;
}


export interface ExecutionRow {
  status: ExecutionStatus;
  output: string | null;
  startedAt: number;
  /** Set by terminal statuses only. */
  completedAt: number | null;
  /** The duroxide version the execution is pinned to (the capability filter reads it); null = any. */
  pinned: Semver | null;
}

/** One history event: its key and type in the clear, the event itself as encoded JSON. */
export interface StoredEvent {
  id: number;
  type: Event["type"];
  text: string;
}

/** One orchestrator-queue message. */
export interface OrchMessage {
  seq: number;
  /** The encoded WorkItem. */
  text: string;
  visibleAt: number;
  createdAt: number;
  /** Deliveries so far (first fetch makes it 1); the runtime poisons past its maximum. */
  attempts: number;
  /** The lock token of the batch it was last fetched in (a stale tag is harmless: see fetch). */
  batch: string | null;
}

/** The instance-level lock an orchestration fetch takes. Live while `until > now`. */
export interface OrchLock {
  token: string;
  until: number;
}

/** A committed KV value and when it was last written. */
export interface KvValue {
  value: string;
  at: number;
}

/** A change of the running execution: a value, or null for a tombstone (the key was cleared). */
export interface KvChange {
  value: string | null;
  at: number;
}

/** Everything stored about one instance id. Created on first use, dropped when empty again. */
export class InstanceState implements Schedulable {
  row: InstanceRow | null = null;
  readonly executions = new Map<number, ExecutionRow>();
  /** Per execution id, ordered by event id. Kept apart from `executions` like a history table. */
  readonly history = new Map<number, StoredEvent[]>();
  /** Orchestrator messages in enqueue order. */
  queue: OrchMessage[] = [];
  lock: OrchLock | null = null;
  /** Committed KV: merged state of completed executions (the fetch snapshot). */
  readonly kv = new Map<string, KvValue>();
  /** The running execution's KV changes, merged into `kv` when it ends. */
  readonly kvDelta = new Map<string, KvChange>();
  /** This instance's entry in the orchestrator ReadyQueue. */
  ready: ReadyEntry<unknown> | null = null;

  constructor(readonly id: string) {}

  /** Nothing left worth keeping (the store drops the entry). */
  isEmpty(): boolean {
    return (
      this.row === null &&
      this.executions.size === 0 &&
      this.history.size === 0 &&
      this.queue.length === 0 &&
      this.lock === null &&
      this.kv.size === 0 &&
      this.kvDelta.size === 0
    );
  }

  /** Highest execution id with an execution row, or null. */
  latestExecution(): number | null {
    let max: number | null = null;
    for (const id of this.executions.keys()) if (max === null || id > max) max = id;
    return max;
  }
}

// ------------------------------------------------------------------ history

/** Decodes an execution's events in event_id order (DecodeError for corrupt stored text). */
export function decodeHistory(events: readonly StoredEvent[] | undefined): Event[] {
  return events === undefined ? [] : events.map((e) => decodeEvent(e.text));
}

/** Position of `id` in the sorted list, or where it would go (binary search). */
function position(events: readonly StoredEvent[], id: number): number {
  let lo = 0;
  let hi = events.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (events[mid]!.id < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The first event id of `delta` that is already stored (or repeated within `delta`), or null. */
export function duplicateEventId(events: readonly StoredEvent[] | undefined, delta: readonly Event[]): number | null {
  const seen = new Set<number>();
  for (const e of delta) {
    if (seen.has(e.event_id)) return e.event_id;
    seen.add(e.event_id);
    if (events !== undefined && events[position(events, e.event_id)]?.id === e.event_id) return e.event_id;
  }
  return null;
}

/**
 * Appends events (checked with duplicateEventId first) keeping event_id order. The runtime appends
 * in increasing order, so this is normally a push; anything else is inserted where it belongs.
 */
export function appendEvents(state: InstanceState, executionId: number, delta: readonly Event[]): void {
  if (delta.length === 0) return;
  let events = state.history.get(executionId);
  if (events === undefined) state.history.set(executionId, (events = []));
  for (const e of delta) {
    const stored: StoredEvent = { id: e.event_id, type: e.type, text: encodeEvent(e) };
    const last = events.at(-1);
    if (last === undefined || last.id < e.event_id) events.push(stored);
    else events.splice(position(events, e.event_id), 0, stored);
  }
}

// ------------------------------------------------------------------ KV

/** Committed KV as the fetch snapshot (fresh objects; fromEntries makes even "__proto__" a plain key). */
export function kvSnapshot(state: InstanceState | undefined): Record<string, KvEntry> {
  return Object.fromEntries([...(state?.kv ?? [])].map(([k, v]) => [k, { value: v.value, last_updated_at_ms: v.at }]));
}

/** What clients read: committed values overlaid by the running execution's changes. */
export function kvMerged(state: InstanceState | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (state === undefined) return out;
  for (const [k, v] of state.kv) out.set(k, v.value);
  for (const [k, v] of state.kvDelta) {
    if (v.value === null) out.delete(k);
    else out.set(k, v.value);
  }
  return out;
}

/** Applies one ack's KV events, in order, to the running execution's overlay. */
export function applyKvEvents(state: InstanceState, delta: readonly Event[], now: number): void {
  for (const e of delta) {
    if (e.type === "KeyValueSet") state.kvDelta.set(e.key, { value: e.value, at: e.last_updated_at_ms ?? 0 });
    else if (e.type === "KeyValueCleared") state.kvDelta.set(e.key, { value: null, at: now });
    else if (e.type === "KeyValuesCleared") {
      // Tombstone every key the client could see, committed ones included.
      for (const k of new Set([...state.kv.keys(), ...state.kvDelta.keys()])) state.kvDelta.set(k, { value: null, at: now });
    }
  }
}

/** An execution ended: its overlay becomes committed KV. */
export function mergeKv(state: InstanceState): void {
  for (const [k, v] of state.kvDelta) {
    if (v.value === null) state.kv.delete(k);
    else state.kv.set(k, { value: v.value, at: v.at });
  }
  state.kvDelta.clear();
}
