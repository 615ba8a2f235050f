/**
 * What to do with one fetched orchestration batch, decided without I/O: poison it, back off,
 * drop it, or run a replay turn and commit its result. The dispatcher only carries out the
 * decision (ack or abandon), so every rule here is unit-testable on hand-built fetch results.
 */
import { renderErrorDetails, type ErrorDetails } from "../core/error-details.ts";
import type { Event, EventOf } from "../core/events.ts";
import type { ExecutionMetadata, FetchedOrchestration, ScheduledActivityIdentifier } from "../core/queue-types.ts";
import { parseSemver } from "../core/semver.ts";
import { isTerminalEvent } from "../core/status.ts";
import type { WorkItem, WorkItemOf } from "../core/work-items.ts";
import type { OrchestrationHandler } from "./handler-types.ts";
import { unregisteredBackoffMs, type LogLevel, type ResolvedRuntimeOptions } from "./options.ts";
import type { OrchestrationRegistry } from "./registry.ts";
import { runTurn, type TurnOutcome, type TurnOutput } from "./replay-engine.ts";

/** Event id used for the failure appended to an unreadable history (append-only, never re-read). */
export const POISON_EVENT_ID = 99_999;
/** Back-off for batches that cannot be processed yet (unreadable history). */
export const BAD_HISTORY_BACKOFF_MS = 1_000;

export type TurnDecision =
  | {
      type: "ack";
      executionId: number;
      delta: Event[];
      workerItems: WorkItem[];
      orchestratorItems: WorkItem[];
      metadata: ExecutionMetadata;
      cancelledActivities: ScheduledActivityIdentifier[];
      /** What happened, for logs and tests; "dropped" = messages for a finished or unknown instance. */
      outcome: TurnOutcome | { type: "Dropped" };
    }
  | { type: "abandon"; delayMs: number; ignoreAttempt: boolean; reason: string };

export interface TurnDeps {
  registry: OrchestrationRegistry;
  options: ResolvedRuntimeOptions;
  now: number;
  runtimeVersion: string;
  log?: (level: LogLevel, message: string, fields: Record<string, unknown>) => void;
}

function dropped(executionId: number): TurnDecision {
  return { type: "ack", executionId, delta: [], workerItems: [], orchestratorItems: [], metadata: {}, cancelledActivities: [], outcome: { type: "Dropped" } };
}

function byteLength(s: string): number {
  return Buffer.byteLength(s, "utf8");
}

export function planTurn(fetched: FetchedOrchestration, deps: TurnDeps): TurnDecision {
  const { item, attemptCount } = fetched;
  const { options } = deps;

  if (attemptCount > options.maxAttempts) return poison(fetched, deps);
  if (item.history_error !== null) {
    return { type: "abandon", delayMs: BAD_HISTORY_BACKOFF_MS, ignoreAttempt: false, reason: `unreadable history: ${item.history_error}` };
  }

  // Which execution does this batch drive?
  const { startItem, canItem } = startMessages(item.messages);
  const target = targetExecution(item.execution_id, item.history, canItem);
  if (target === null) return dropped(item.execution_id);
  const { executionId, history } = target;
  if (history.length === 0 && canItem === undefined && startItem === undefined) return dropped(executionId);

  // Which code runs it? A running execution replays its pinned version exactly.
  let name: string;
  let version: string | null;
  let started: EventOf<"OrchestrationStarted"> | undefined;
  if (history.length > 0) {
    const first = history[0]!;
    if (first.type !== "OrchestrationStarted") {
      return fail(fetched, deps, executionId, history, undefined, { type: "Configuration", kind: "Nondeterminism", resource: item.orchestration_name, message: "corrupted history: the first event is not OrchestrationStarted" });
    }
    name = first.name;
    version = first.version;
  } else {
    const src = canItem ?? startItem!;
    name = src.orchestration;
    version = src.version;
  }
  const handler = resolveHandler(deps.registry, name, version);
  if (handler === null) {
    const delayMs = unregisteredBackoffMs(attemptCount, options.unregisteredBackoff);
    deps.log?.("warn", `orchestration "${name}"${version ? ` version ${version}` : ""} is not registered here; retrying in ${delayMs} ms`, { instance_id: item.instance, attempt: attemptCount });
    return { type: "abandon", delayMs, ignoreAttempt: false, reason: `unregistered orchestration ${name}` };
  }

  if (history.length === 0) {
    started = startedEventFor(item.instance, executionId, canItem ?? startItem!, handler.version, deps);
  }

  const messages = item.messages.filter((m) => m.type !== "StartOrchestration" && m.type !== "ContinueAsNew");
  const out = runTurn({
    instance: item.instance,
    executionId,
    history,
    ...(started ? { started } : {}),
    messages,
    handler: handler.handler,
    kvSnapshot: item.kv_snapshot,
    now: deps.now,
    runtimeVersion: deps.runtimeVersion,
    ...(deps.log ? { log: deps.log } : {}),
  });

  const violation = checkLimits(history.length, out, options);
  if (violation !== null) {
    deps.log?.("error", `instance ${item.instance} failed: ${violation}`, { instance_id: item.instance });
    return fail(fetched, deps, executionId, history, started && shrinkStarted(started, options), {
      type: "Application",
      kind: "OrchestrationFailed",
      message: violation,
      retryable: false,
    }, handler.handler);
  }
  return ackFor(executionId, out, started !== undefined, deps);
}

function startMessages(messages: WorkItem[]): { startItem?: WorkItemOf<"StartOrchestration">; canItem?: WorkItemOf<"ContinueAsNew"> } {
  return {
    startItem: messages.find((m): m is WorkItemOf<"StartOrchestration"> => m.type === "StartOrchestration"),
    canItem: messages.find((m): m is WorkItemOf<"ContinueAsNew"> => m.type === "ContinueAsNew"),
  };
}

/**
 * The execution a batch drives: the current one while it runs; after a continue-as-new, the next
 * one (empty history) if the batch carries its ContinueAsNew; null when the execution is over and
 * the batch cannot start another (its messages are dropped).
 */
function targetExecution(executionId: number, history: Event[], canItem: WorkItemOf<"ContinueAsNew"> | undefined): { executionId: number; history: Event[] } | null {
  const last = history.at(-1);
  if (last === undefined || !isTerminalEvent(last)) return { executionId, history };
  if (last.type !== "OrchestrationContinuedAsNew" || canItem === undefined) return null;
  return { executionId: executionId + 1, history: [] };
}

function resolveHandler(registry: OrchestrationRegistry, name: string, version: string | null): { version: string; handler: OrchestrationHandler } | null {
  if (version !== null) {
    const h = registry.resolveExact(name, version);
    return h === undefined ? null : { version, handler: h };
  }
  return registry.resolve(name) ?? null;
}

function startedEventFor(
  instance: string,
  executionId: number,
  src: WorkItemOf<"StartOrchestration"> | WorkItemOf<"ContinueAsNew">,
  version: string,
  deps: TurnDeps,
): EventOf<"OrchestrationStarted"> {
  const e: EventOf<"OrchestrationStarted"> = {
    event_id: 1,
    source_event_id: null,
    instance_id: instance,
    execution_id: executionId,
    timestamp_ms: deps.now,
    duroxide_version: deps.runtimeVersion,
    type: "OrchestrationStarted",
    name: src.orchestration,
    version,
    input: src.input,
    parent_instance: src.type === "StartOrchestration" ? src.parent_instance : null,
    parent_id: src.type === "StartOrchestration" ? src.parent_id : null,
  };
  if (src.type === "StartOrchestration" && src.parent_execution_id !== undefined) e.parent_execution_id = src.parent_execution_id;
  if (src.type === "ContinueAsNew") {
    if (src.carry_forward_events.length > 0) e.carry_forward_events = src.carry_forward_events;
    if (src.initial_custom_status !== undefined) e.initial_custom_status = src.initial_custom_status;
  }
  return e;
}

/** A Started event whose input is too large to store keeps a placeholder instead. */
function shrinkStarted(s: EventOf<"OrchestrationStarted">, options: ResolvedRuntimeOptions): EventOf<"OrchestrationStarted"> {
  return byteLength(s.input) > options.maxPayloadBytes ? { ...s, input: "null" } : s;
}

function ackFor(executionId: number, out: TurnOutput, firstTurn: boolean, deps: TurnDeps): TurnDecision {
  const metadata: ExecutionMetadata = {};
  const started = out.startedEvent;
  if (firstTurn && started) {
    metadata.orchestration_name = started.name;
    metadata.orchestration_version = started.version;
    metadata.status = "Running";
    if (started.parent_instance !== null) metadata.parent_instance_id = started.parent_instance;
    metadata.pinned_duroxide_version = parseSemver(deps.runtimeVersion);
  }
  const o = out.outcome;
  switch (o.type) {
    case "Completed":
      metadata.status = "Completed";
      metadata.output = o.output;
      break;
    case "Failed":
      metadata.status = "Failed";
      metadata.output = renderErrorDetails(o.details);
      break;
    case "Cancelled":
      metadata.status = "Failed";
      metadata.output = `canceled: ${o.reason}`;
      break;
    case "ContinueAsNew":
      metadata.status = "ContinuedAsNew";
      metadata.output = o.input;
      break;
    case "Continue":
      break;
  }
  return {
    type: "ack",
    executionId,
    delta: out.delta,
    workerItems: out.workerItems,
    orchestratorItems: out.orchestratorItems,
    metadata,
    cancelledActivities: out.cancelledActivities,
    outcome: o,
  };
}

/** Ends the execution with `details` through the engine's abort path (breadcrumbs, parent notice). */
function fail(
  fetched: FetchedOrchestration,
  deps: TurnDeps,
  executionId: number,
  history: Event[],
  started: EventOf<"OrchestrationStarted"> | undefined,
  details: ErrorDetails,
  handler?: OrchestrationHandler,
): TurnDecision {
  const out = runTurn({
    instance: fetched.item.instance,
    executionId,
    history,
    ...(started ? { started } : {}),
    messages: [],
    handler: handler ?? function* () {},
    kvSnapshot: fetched.item.kv_snapshot,
    now: deps.now,
    runtimeVersion: deps.runtimeVersion,
    abort: details,
  });
  return ackFor(executionId, out, started !== undefined, deps);
}

/** The batch was delivered more than maxAttempts times: fail the instance for good. */
function poison(fetched: FetchedOrchestration, deps: TurnDeps): TurnDecision {
  const { item, attemptCount } = fetched;
  const max = deps.options.maxAttempts;
  deps.log?.("error", `instance ${item.instance} poisoned after ${attemptCount} deliveries`, { instance_id: item.instance });
  if (item.history_error !== null) {
    // The history cannot be read: append the failure without touching existing rows.
    const details: ErrorDetails = {
      type: "Poison",
      attempt_count: attemptCount,
      max_attempts: max,
      message_type: { type: "FailedDeserialization", instance: item.instance, execution_id: item.execution_id, error: item.history_error },
      message: `history deserialization failed for ${item.instance}: ${item.history_error} (after ${attemptCount} attempts, max ${max})`,
    };
    const e: Event = {
      event_id: POISON_EVENT_ID,
      source_event_id: null,
      instance_id: item.instance,
      execution_id: item.execution_id,
      timestamp_ms: deps.now,
      duroxide_version: deps.runtimeVersion,
      type: "OrchestrationFailed",
      details,
    };
    return {
      type: "ack",
      executionId: item.execution_id,
      delta: [e],
      workerItems: [],
      orchestratorItems: [],
      metadata: { status: "Failed", output: renderErrorDetails(details) },
      cancelledActivities: [],
      outcome: { type: "Failed", details },
    };
  }
  // A poisoned start of the next execution fails that execution; anything else is already over.
  const { startItem, canItem } = startMessages(item.messages);
  const target = targetExecution(item.execution_id, item.history, canItem);
  if (target === null) return dropped(item.execution_id);
  const { executionId, history } = target;
  const details: ErrorDetails = {
    type: "Poison",
    attempt_count: attemptCount,
    max_attempts: max,
    message_type: { type: "Orchestration", instance: item.instance, execution_id: executionId },
    message: `orchestration ${item.instance} exceeded ${max} attempts (attempt ${attemptCount})`,
  };
  let started: EventOf<"OrchestrationStarted"> | undefined;
  if (history.length === 0) {
    const src = canItem ?? startItem;
    if (src === undefined) return dropped(executionId);
    started = shrinkStarted(startedEventFor(item.instance, executionId, src, src.version ?? item.version, deps), deps.options);
  }
  return fail(fetched, deps, executionId, history, started, details);
}

/** The first limit this turn breaks, as a message for the instance's failure; null if none. */
function checkLimits(persistedLen: number, out: TurnOutput, o: ResolvedRuntimeOptions): string | null {
  if (out.outcome.type === "Failed" && out.delta.some((e) => e.type === "OrchestrationFailed")) {
    // Already failing: still refuse to store oversized payloads, but don't re-fail for history size.
  } else {
    // What the execution waits for counts too (one event each), so the turn that schedules past
    // the limit fails before its work starts, not after all of it ran (docs/runtime-semantics.md §5.5).
    const recorded = persistedLen + out.delta.length;
    const projected = recorded + out.pendingEvents;
    if (projected > o.maxHistoryEvents) return historyLimitMessage(recorded, out.pendingEvents, o.maxHistoryEvents);
  }
  for (const e of out.delta) {
    const payload =
      "input" in e ? e.input : "output" in e ? e.output : "result" in e ? e.result : "data" in e ? e.data : null;
    if (typeof payload === "string" && byteLength(payload) > o.maxPayloadBytes) {
      return `payload too large: ${e.type} carries ${byteLength(payload)} bytes (maxPayloadBytes ${o.maxPayloadBytes})`;
    }
    if (e.type === "ActivityScheduled" && e.tag !== undefined && byteLength(e.tag) > o.maxTagBytes) {
      return `activity tag too long: ${byteLength(e.tag)} bytes (maxTagBytes ${o.maxTagBytes})`;
    }
    if (e.type === "KeyValueSet" && byteLength(e.value) > o.maxKvValueBytes) {
      return `value of key "${e.key}" too large: ${byteLength(e.value)} bytes (maxKvValueBytes ${o.maxKvValueBytes})`;
    }
    if (e.type === "CustomStatusUpdated" && e.status !== null && byteLength(e.status) > o.maxCustomStatusBytes) {
      return `custom status too large: ${byteLength(e.status)} bytes (maxCustomStatusBytes ${o.maxCustomStatusBytes})`;
    }
  }
  if (out.kv.size > o.maxKvKeys) return `too many keys: ${out.kv.size} (maxKvKeys ${o.maxKvKeys}); clear keys to free capacity`;
  for (const w of out.workerItems) {
    if (w.type === "ActivityExecute" && byteLength(w.input) > o.maxPayloadBytes) return `activity input too large (maxPayloadBytes ${o.maxPayloadBytes})`;
  }
  return null;
}

function historyLimitMessage(recorded: number, pending: number, max: number): string {
  const projected = recorded + pending;
  const breakdown = pending > 0 ? ` (${recorded} recorded after this turn + ${pending} still to come from the activities, timers, sub-orchestrations and event waits it has open)` : "";
  return (
    `history limit exceeded: the execution would reach ${projected} events${breakdown}, over maxHistoryEvents ${max}; ` +
    `nothing this turn scheduled was started. Use continue-as-new to start a fresh history (e.g. every few hundred iterations or per batch of work), ` +
    `split large fan-outs into sub-orchestrations, or raise maxHistoryEvents`
  );
}
