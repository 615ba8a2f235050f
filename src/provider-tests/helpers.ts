/**
 * Builders and assertions shared by the suite's cases. Cases stay short and read like the rule
 * they check: build items with these, drive the provider, assert.
 */
import { expect } from "bun:test";
import type { ErrorDetails } from "../core/error-details.ts";
import { ProviderError, type ProviderErrorKind } from "../core/errors.ts";
import type { Event, EventKind } from "../core/events.ts";
import type { ExecutionMetadata, FetchedOrchestration, FetchedWorkItem } from "../core/queue-types.ts";
import type { WorkItem, WorkItemOf } from "../core/work-items.ts";
import type { Provider, ProviderAdmin } from "../provider.ts";
import { TagFilter } from "../core/queue-types.ts";

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Version written into test events. */
export const TEST_DUROXIDE_VERSION = "0.1.0";

// ---------------------------------------------------------------- events

/** An event with a full header. `kind` is the flattened kind, e.g. `{ type: "TimerCreated", fire_at_ms: 5 }`. */
export function event(
  instance: string,
  executionId: number,
  eventId: number,
  kind: EventKind,
  sourceEventId: number | null = null,
): Event {
  return {
    event_id: eventId,
    source_event_id: sourceEventId,
    instance_id: instance,
    execution_id: executionId,
    timestamp_ms: Date.now(),
    duroxide_version: TEST_DUROXIDE_VERSION,
    ...kind,
  } as Event;
}

export function startedEvent(
  instance: string,
  executionId = 1,
  opts: { name?: string; version?: string; input?: string; eventId?: number; parentInstance?: string | null; parentId?: number | null } = {},
): Event {
  return event(instance, executionId, opts.eventId ?? 1, {
    type: "OrchestrationStarted",
    name: opts.name ?? "TestOrch",
    version: opts.version ?? "1.0.0",
    input: opts.input ?? "{}",
    parent_instance: opts.parentInstance ?? null,
    parent_id: opts.parentId ?? null,
  });
}

export function activityScheduledEvent(
  instance: string,
  executionId: number,
  eventId: number,
  name = "TestActivity",
  input = "{}",
): Event {
  return event(instance, executionId, eventId, { type: "ActivityScheduled", name, input });
}

export function completedEvent(instance: string, executionId: number, eventId: number, output = "done"): Event {
  return event(instance, executionId, eventId, { type: "OrchestrationCompleted", output });
}

export function failedEvent(instance: string, executionId: number, eventId: number, message = "failed"): Event {
  return event(instance, executionId, eventId, {
    type: "OrchestrationFailed",
    details: appError(message),
  });
}

export function continuedAsNewEvent(instance: string, executionId: number, eventId: number, input = "{}"): Event {
  return event(instance, executionId, eventId, { type: "OrchestrationContinuedAsNew", input });
}

export function customStatusEvent(instance: string, executionId: number, eventId: number, status: string | null): Event {
  return event(instance, executionId, eventId, { type: "CustomStatusUpdated", status });
}

export function kvSetEvent(instance: string, executionId: number, eventId: number, key: string, value: string): Event {
  return event(instance, executionId, eventId, { type: "KeyValueSet", key, value, last_updated_at_ms: Date.now() });
}

export function kvClearedEvent(instance: string, executionId: number, eventId: number, key: string): Event {
  return event(instance, executionId, eventId, { type: "KeyValueCleared", key });
}

export function kvAllClearedEvent(instance: string, executionId: number, eventId: number): Event {
  return event(instance, executionId, eventId, { type: "KeyValuesCleared" });
}

export function appError(message: string): ErrorDetails {
  return { type: "Application", kind: "OrchestrationFailed", message, retryable: false };
}

// ---------------------------------------------------------------- work items

export function startItem(
  instance: string,
  opts: {
    orchestration?: string;
    input?: string;
    version?: string | null;
    parentInstance?: string | null;
    parentId?: number | null;
    executionId?: number;
  } = {},
): WorkItemOf<"StartOrchestration"> {
  return {
    type: "StartOrchestration",
    instance,
    orchestration: opts.orchestration ?? "TestOrch",
    input: opts.input ?? "{}",
    version: opts.version === undefined ? "1.0.0" : opts.version,
    parent_instance: opts.parentInstance ?? null,
    parent_id: opts.parentId ?? null,
    execution_id: opts.executionId ?? 1,
  };
}

export function activityItem(
  instance: string,
  id: number,
  opts: { executionId?: number; name?: string; input?: string; sessionId?: string; tag?: string } = {},
): WorkItemOf<"ActivityExecute"> {
  const item: WorkItemOf<"ActivityExecute"> = {
    type: "ActivityExecute",
    instance,
    execution_id: opts.executionId ?? 1,
    id,
    name: opts.name ?? "TestActivity",
    input: opts.input ?? "{}",
  };
  if (opts.sessionId !== undefined) item.session_id = opts.sessionId;
  if (opts.tag !== undefined) item.tag = opts.tag;
  return item;
}

export function activityCompletedItem(instance: string, id: number, result = "ok", executionId = 1): WorkItem {
  return { type: "ActivityCompleted", instance, execution_id: executionId, id, result };
}

export function timerFiredItem(instance: string, id: number, fireAtMs: number, executionId = 1): WorkItem {
  return { type: "TimerFired", instance, execution_id: executionId, id, fire_at_ms: fireAtMs };
}

export function externalRaisedItem(instance: string, name = "Evt", data = "{}"): WorkItem {
  return { type: "ExternalRaised", instance, name, data };
}

export function queueMessageItem(instance: string, name = "Q", data = "{}"): WorkItem {
  return { type: "QueueMessage", instance, name, data };
}

export function cancelInstanceItem(instance: string, reason = "test"): WorkItem {
  return { type: "CancelInstance", instance, reason };
}

export function continueAsNewItem(instance: string, opts: { orchestration?: string; input?: string; version?: string | null } = {}): WorkItem {
  return {
    type: "ContinueAsNew",
    instance,
    orchestration: opts.orchestration ?? "TestOrch",
    input: opts.input ?? "{}",
    version: opts.version === undefined ? "1.0.0" : opts.version,
    carry_forward_events: [],
  };
}

// ---------------------------------------------------------------- metadata

export function runningMeta(name = "TestOrch", version = "1.0.0", extra: ExecutionMetadata = {}): ExecutionMetadata {
  return { orchestration_name: name, orchestration_version: version, status: "Running", ...extra };
}

export function terminalMeta(
  status: "Completed" | "Failed" | "ContinuedAsNew",
  output: string,
  name = "TestOrch",
  version = "1.0.0",
): ExecutionMetadata {
  return { orchestration_name: name, orchestration_version: version, status, output };
}

// ---------------------------------------------------------------- flows

export const defaultTags = TagFilter.defaultOnly();

/** Fetch the orchestrator queue once and require a result. */
export async function fetchOrch(p: Provider, lockTimeoutMs: number): Promise<FetchedOrchestration> {
  const f = await p.fetchOrchestrationItem(lockTimeoutMs, 0);
  if (f === null) throw new Error("expected an orchestration item, fetch returned null");
  return f;
}

/** Fetch the worker queue once (no session, untagged); null when nothing is available. */
export function tryFetchWork(p: Provider, lockTimeoutMs: number): Promise<FetchedWorkItem | null> {
  return p.fetchWorkItem(lockTimeoutMs, 0, null, defaultTags);
}

/** Fetch the worker queue once (no session, untagged) and require a result. */
export async function fetchWork(p: Provider, lockTimeoutMs: number): Promise<FetchedWorkItem> {
  const f = await p.fetchWorkItem(lockTimeoutMs, 0, null, defaultTags);
  if (f === null) throw new Error("expected a work item, fetch returned null");
  return f;
}

/**
 * Creates a Running instance the way the runtime does: enqueue a Start, fetch it, ack with
 * OrchestrationStarted and name/version metadata. Extra delta events / items can be added.
 */
export async function createRunningInstance(
  p: Provider,
  instance: string,
  opts: {
    lockTimeoutMs?: number;
    name?: string;
    version?: string;
    executionId?: number;
    parentInstance?: string | null;
    extraEvents?: Event[];
    workerItems?: WorkItem[];
    orchestratorItems?: WorkItem[];
    metadata?: ExecutionMetadata;
  } = {},
): Promise<void> {
  const name = opts.name ?? "TestOrch";
  const version = opts.version ?? "1.0.0";
  await p.enqueueForOrchestrator(startItem(instance, { orchestration: name, version, parentInstance: opts.parentInstance ?? null }), null);
  const f = await fetchOrch(p, opts.lockTimeoutMs ?? 5000);
  expect(f.item.instance).toBe(instance);
  const exec = opts.executionId ?? 1;
  await p.ackOrchestrationItem(
    f.lockToken,
    exec,
    [startedEvent(instance, exec, { name, version, parentInstance: opts.parentInstance ?? null }), ...(opts.extraEvents ?? [])],
    opts.workerItems ?? [],
    opts.orchestratorItems ?? [],
    { ...runningMeta(name, version, opts.parentInstance ? { parent_instance_id: opts.parentInstance } : {}), ...opts.metadata },
    [],
  );
}

/** Creates an instance and completes it in a second turn. */
export async function createCompletedInstance(
  p: Provider,
  instance: string,
  opts: { status?: "Completed" | "Failed"; output?: string; parentInstance?: string | null; name?: string } = {},
): Promise<void> {
  const status = opts.status ?? "Completed";
  const output = opts.output ?? "done";
  const name = opts.name ?? "TestOrch";
  await p.enqueueForOrchestrator(startItem(instance, { orchestration: name, parentInstance: opts.parentInstance ?? null }), null);
  const f = await fetchOrch(p, 5000);
  const terminal = status === "Completed" ? completedEvent(instance, 1, 2, output) : failedEvent(instance, 1, 2, output);
  await p.ackOrchestrationItem(
    f.lockToken,
    1,
    [startedEvent(instance, 1, { name, parentInstance: opts.parentInstance ?? null }), terminal],
    [],
    [],
    { ...terminalMeta(status, output, name), ...(opts.parentInstance ? { parent_instance_id: opts.parentInstance } : {}) },
    [],
  );
}

/**
 * Creates many Completed root instances quickly: every Start enqueued first, then fetched and
 * completed by four concurrent loops (the order of creation is therefore not `ids` order).
 */
export async function createCompletedInstances(p: Provider, ids: readonly string[], lockTimeoutMs = 30_000): Promise<void> {
  for (const id of ids) await p.enqueueForOrchestrator(startItem(id), null);
  let left = ids.length;
  let idle = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (left > 0) {
        const f = await p.fetchOrchestrationItem(lockTimeoutMs, 0);
        if (f === null) {
          // Another loop holds the rest; give up only if nothing turns up for long.
          if (++idle > 10_000) throw new Error(`createCompletedInstances: ${left} starts never became fetchable`);
          await sleep(1);
          continue;
        }
        left--;
        const id = f.item.instance;
        await p.ackOrchestrationItem(f.lockToken, 1, [startedEvent(id, 1), completedEvent(id, 1, 2)], [], [], terminalMeta("Completed", "done"), []);
      }
    }),
  );
}

/**
 * Queues a setImmediate callback now and returns a probe that says whether it has run: checked
 * right after a long call returns, it tells whether the call let the event loop turn (other
 * work run) before returning.
 */
export function eventLoopTurned(): () => boolean {
  let turned = false;
  setImmediate(() => {
    turned = true;
  });
  return () => turned;
}

// ---------------------------------------------------------------- assertions

/**
 * Awaits `promise` and requires a ProviderError of one of `kinds`, permanent (every kind but
 * Unavailable is), with a message. The suite decides by kind only: providers word messages freely.
 */
export async function expectProviderError(
  promise: Promise<unknown>,
  kinds: ProviderErrorKind | readonly ProviderErrorKind[],
): Promise<ProviderError> {
  const allowed: readonly ProviderErrorKind[] = typeof kinds === "string" ? [kinds] : kinds;
  let caught: unknown = undefined;
  let threw = false;
  try {
    await promise;
  } catch (err) {
    threw = true;
    caught = err;
  }
  if (!threw) throw new Error(`expected the call to fail with a ProviderError of kind ${allowed.join(" or ")}, but it succeeded`);
  if (!(caught instanceof ProviderError)) {
    throw new Error(`expected a ProviderError, got ${caught instanceof Error ? `${caught.name}: ${caught.message}` : String(caught)}`);
  }
  if (!allowed.includes(caught.kind)) {
    throw new Error(`expected a ProviderError of kind ${allowed.join(" or ")}, got kind ${caught.kind}: ${caught.message}`);
  }
  if (caught.kind !== "Unavailable" && caught.retryable) throw new Error(`a ${caught.kind} error must not be retryable: ${caught.message}`);
  if (typeof caught.message !== "string" || caught.message.trim().length === 0) throw new Error(`a ${caught.kind} error needs a message saying what was wrong`);
  return caught;
}

/** Requires that the instance is gone from the management view (permanent "not found"). */
export async function expectGone(admin: ProviderAdmin, instance: string): Promise<void> {
  await expectProviderError(admin.getInstanceInfo(instance), "NotFound");
}

export function requireAdmin(p: Provider): ProviderAdmin {
  const admin = p.asManagementCapability();
  if (admin === null) throw new Error("this case requires the management capability");
  return admin;
}
