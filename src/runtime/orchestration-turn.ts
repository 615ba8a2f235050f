/**
 * What to do with one fetched orchestration batch, decided without I/O: poison it, back off,
 * drop it, or run a replay turn and commit its result. The dispatcher only carries out the
 * decision (ack or abandon), so every rule here is unit-testable on hand-built fetch results.
 */
import { kvValueBytes } from "./kv-limits.ts";
import { renderErrorDetails, type ErrorDetails } from "../core/error-details.ts";
import type { Event, EventOf } from "../core/events.ts";
import type { ExecutionMetadata, FetchedOrchestration, ScheduledActivityIdentifier } from "../core/queue-types.ts";
import { parseSemver } from "../core/semver.ts";
import { isTerminalEvent } from "../core/status.ts";
import type { WorkItem, WorkItemOf } from "../core/work-items.ts";
import type { OrchestrationHandler } from "./handler-types.ts";
import { unregisteredBackoffMs, type LogLevel, type ResolvedRuntimeOptions } from "./options.ts";
import type { OrchestrationRegistry } from "./registry.ts";
import { resumeTurn, runLiveTurn, runTurn, type LiveTurnResult, type TurnInput, type TurnOutcome, type TurnOutput } from "./replay-engine.ts";
import type { CachedInstance, InstanceCache } from "./instance-cache.ts";
import { refuseChildStarts } from "./replay/refused-child-starts.ts";

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
      /**
       * What happened, for logs and tests; "dropped" = messages for a finished or unknown instance;
       * "WaitingForHandler" = recorded that a new instance waits for an unregistered orchestration.
       */
      outcome: TurnOutcome | { type: "Dropped" } | { type: "WaitingForHandler" };
      /**
       * The live state to keep in the instance cache once this ack succeeds (it then stands for the
       * committed history); absent when the next turn must replay (docs/runtime-semantics.md §2.12).
       */
      sticky?: CachedInstance;
      /**
       * The turn ran the code over a stored history from the top (a full replay, not resumed from
       * the instance cache, §2.12): `duroxide_orchestration_replays_total` (§9.2). Absent when no
       * code ran over a history (a first turn, a poisoned or aborted batch, a cache hit).
       */
      replayed?: true;
      /**
       * The activity retries the code scheduled in this turn (scheduleActivityWithRetry, outside
       * replay), listed only when `collectActivityRetries` is set: counted when the ack commits, so
       * a turn that is redone after a failed ack does not count them twice (§9.2).
       */
      activityRetries?: { name: string; tag: string | undefined }[];
    }
  | { type: "abandon"; delayMs: number; ignoreAttempt: boolean; reason: string };

export interface TurnDeps {
  registry: OrchestrationRegistry;
  options: ResolvedRuntimeOptions;
  now: number;
  runtimeVersion: string;
  log?: (level: LogLevel, message: string, fields: Record<string, unknown>) => void;
  /**
   * Fail the execution with these details instead of running its code (the dispatcher's verdict
   * on a turn that cannot commit, e.g. one that outran its lock: docs/runtime-semantics.md §1.4.1).
   */
  abort?: ErrorDetails;
  /** Live states of instances whose last turn this runtime committed (instance-cache.ts, §2.12). */
  cache?: InstanceCache;
  /** List the activity retries the code schedules in `activityRetries` of the decision (metrics, §9.2). */
  collectActivityRetries?: boolean;
}

function dropped(executionId: number): TurnDecision {
  return { type: "ack", executionId, delta: [], workerItems: [], orchestratorItems: [], metadata: {}, cancelledActivities: [], outcome: { type: "Dropped" } };
}

function byteLength(s: string): number {
  return Buffer.byteLength(s, "utf8");
}

export function planTurn(fetched: FetchedOrchestration, deps: TurnDeps): TurnDecision {
  const decision = planBatch(fetched, deps);
  // Only a turn that leaves a live state keeps the instance cached; every other path forgets it.
  if (decision.type !== "ack" || decision.sticky === undefined) deps.cache?.evict(fetched.item.instance);
  return decision.type === "ack" ? answerRefusedChildStarts(fetched, decision, deps) : decision;
}

/**
 * Runs the turn: resumed from the instance cache when the fetched history proves the cached live
 * state current, else a full replay (docs/runtime-semantics.md §2.12).
 */
function runCachedTurn(input: TurnInput, kvSnapshot: FetchedOrchestration["item"]["kv_snapshot"], deps: TurnDeps): LiveTurnResult | { output: TurnOutput; live: null } {
  const cache = deps.cache;
  if (cache === undefined || !cache.enabled) return { output: runTurn(input), live: null };
  if (input.history.length > 0) {
    const entry = cache.take(input.instance, input.executionId, input.history, input.handler, kvSnapshot);
    if (entry !== null) {
      const resumed = resumeTurn(entry.live, input);
      if (resumed !== null) {
        cache.recordHit();
        return resumed;
      }
      cache.countMiss();
    }
  }
  return runLiveTurn(input);
}

/** The cache entry a committed turn leaves, or undefined when its live state cannot serve the next turn. */
function stickyEntry(r: LiveTurnResult | { output: TurnOutput; live: null }, input: TurnInput, kvSnapshot: FetchedOrchestration["item"]["kv_snapshot"]): CachedInstance | undefined {
  const live = r.live;
  if (live === null || !live.resumable || r.output.outcome.type !== "Continue") return undefined;
  const started = r.output.startedEvent;
  const all = input.history.length + r.output.delta.length;
  if (started === null || all === 0) return undefined;
  const last = r.output.delta.at(-1) ?? input.history.at(-1)!;
  return {
    live,
    executionId: input.executionId,
    handler: input.handler,
    name: started.name,
    version: started.version,
    historyLen: all,
    lastEventId: last.event_id,
    // An empty delta proves nothing new: compare the history's own tail instead.
    ackedDelta: r.output.delta.length > 0 ? r.output.delta : input.history.slice(-4),
    kvSnapshot,
  };
}

/**
 * A parent waits for every child it starts, so a child start that starts nothing here (the id is
 * taken, docs/runtime-semantics.md §3.6) is answered in the same ack, whatever else the batch did.
 */
function answerRefusedChildStarts(fetched: FetchedOrchestration, decision: Extract<TurnDecision, { type: "ack" }>, deps: TurnDeps): TurnDecision {
  const { item } = fetched;
  if (!item.messages.some((m) => m.type === "StartOrchestration")) return decision;
  // Waiting for an unregistered orchestration (§5.3): the start went back to the queue; nothing holds the id yet.
  if (decision.outcome.type === "WaitingForHandler") return decision;
  // The instance's current Started: written by this batch, else the first event of its history.
  const fresh = decision.delta.find((e): e is EventOf<"OrchestrationStarted"> => e.type === "OrchestrationStarted");
  const stored = item.history[0]?.type === "OrchestrationStarted" ? item.history[0] : null;
  const holder = fresh ?? stored;
  const { startItem, canItem } = startMessages(item.messages);
  const startedBy = fresh !== undefined && item.history.length === 0 && canItem === undefined ? startItem : undefined;
  const refused = refuseChildStarts(item.instance, item.messages, holder, startedBy);
  if (refused.length === 0) return decision;
  for (const r of refused) deps.log?.("warn", `instance ${item.instance}: ${r.message}`, { instance_id: item.instance, parent_instance_id: r.reply.parent_instance });
  return { ...decision, orchestratorItems: [...decision.orchestratorItems, ...refused.map((r) => r.reply)] };
}

function planBatch(fetched: FetchedOrchestration, deps: TurnDeps): TurnDecision {
  const { item } = fetched;
  const { options } = deps;

  const attempts = attemptsOf(fetched);
  if (attempts > options.maxAttempts) return poison(fetched, deps, attempts);
  if (item.history_error !== null) {
    return { type: "abandon", delayMs: BAD_HISTORY_BACKOFF_MS, ignoreAttempt: false, reason: `unreadable history: ${item.history_error}` };
  }

  // Which execution does this batch drive?
  const { startItem, canItem } = startMessages(item.messages);
  const target = targetExecution(item.execution_id, item.history, canItem);
  if (target === null) return dropped(item.execution_id);
  const { executionId, history } = target;
  if (history.length === 0 && canItem === undefined && startItem === undefined) return waitForStart(item.instance, deps);

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
  if (handler === null) return unregistered(fetched, deps, { name, version, executionId, history, startItem, canItem, attempts });

  if (history.length === 0) {
    started = startedEventFor(item.instance, executionId, canItem ?? startItem!, handler.version, deps, item.history[0]);
  }
  if (deps.abort !== undefined) {
    deps.log?.("error", `instance ${item.instance} failed: ${renderErrorDetails(deps.abort)}`, { instance_id: item.instance });
    return fail(fetched, deps, executionId, history, started && shrinkStarted(started, options), deps.abort, handler.handler);
  }

  const messages = item.messages.filter((m) => m.type !== "StartOrchestration" && m.type !== "ContinueAsNew");
  const input: TurnInput = {
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
  };
  let retries: { name: string; tag: string | undefined }[] | undefined;
  if (deps.collectActivityRetries === true) input.onActivityRetry = (name, tag) => void (retries ??= []).push({ name, tag });
  const hitsBefore = deps.cache?.hitCount ?? 0;
  const result = runCachedTurn(input, item.kv_snapshot, deps);
  const out = result.output;
  // Code ran over the stored history from the top unless the instance cache resumed it (§2.12).
  const replayed = history.length > 0 && (deps.cache?.hitCount ?? 0) === hitsBefore;

  const violation = checkLimits(history.length, out, options);
  if (violation !== null) {
    deps.log?.("error", `instance ${item.instance} failed: ${violation}`, { instance_id: item.instance });
    const failed = fail(fetched, deps, executionId, history, started && shrinkStarted(started, options), {
      type: "Application",
      kind: "OrchestrationFailed",
      message: violation,
      retryable: false,
    }, handler.handler);
    // The code did run (and replayed, if it did) before the limit failed it; its retries are not committed.
    if (replayed && failed.type === "ack") failed.replayed = true;
    return failed;
  }
  const decision = ackFor(executionId, out, started !== undefined, deps) as Extract<TurnDecision, { type: "ack" }>;
  if (replayed) decision.replayed = true;
  if (retries !== undefined) decision.activityRetries = retries;
  const sticky = stickyEntry(result, input, item.kv_snapshot);
  return sticky === undefined ? decision : { ...decision, sticky };
}

/** Deliveries of this batch, plus those its start had before it was re-queued as waiting (§5.3). */
function attemptsOf(fetched: FetchedOrchestration): number {
  const { item, attemptCount } = fetched;
  if (item.history.length > 0 || item.history_error !== null) return attemptCount;
  let prior = 0;
  for (const m of item.messages) if (m.type === "StartOrchestration" && m.prior_attempts !== undefined) prior = Math.max(prior, m.prior_attempts);
  return attemptCount + prior;
}

/** `orchestration "Name" version V` / `orchestration "Name" (any version)`, for messages. */
function orchestrationLabel(name: string, version: string | null): string {
  return `orchestration ${JSON.stringify(name)} ${version !== null ? `version ${version}` : "(any version)"}`;
}

/**
 * Messages for an instance with neither history nor a start in the batch. Providers deliver these
 * only when the instance row exists, and without history that means the instance waits for an
 * unregistered orchestration, its start backing off (§5.3): the messages are given back, their
 * attempts not counted, to be delivered with (or after) that start rather than dropped.
 */
function waitForStart(instance: string, deps: TurnDeps): TurnDecision {
  const delayMs = deps.options.unregisteredBackoff.baseDelayMs;
  deps.log?.("debug", `instance ${instance} has messages but no start yet (its orchestration is not registered); looking again in ${delayMs} ms`, { instance_id: instance });
  return { type: "abandon", delayMs, ignoreAttempt: true, reason: `instance ${instance} waits for its start` };
}

interface UnregisteredTarget {
  name: string;
  version: string | null;
  executionId: number;
  history: Event[];
  startItem: WorkItemOf<"StartOrchestration"> | undefined;
  canItem: WorkItemOf<"ContinueAsNew"> | undefined;
  attempts: number;
}

/**
 * No handler here for the orchestration the batch needs (docs/runtime-semantics.md §5.3). The
 * first such delivery of a new instance records that it waits: an ack that creates the instance row
 * and a Running execution with no history, whose output names the missing orchestration (clients
 * show it instead of NotFound), and puts the batch back in the queue, each start marked with the
 * deliveries it already had so they still count toward poison. Only a batch of starts (and
 * cancels) is re-queued like this: re-queued events could overtake ones that arrived meanwhile.
 * Every other delivery backs off, writing nothing.
 */
function unregistered(fetched: FetchedOrchestration, deps: TurnDeps, t: UnregisteredTarget): TurnDecision {
  const { item } = fetched;
  const what = orchestrationLabel(t.name, t.version);
  // Not yet recorded: no start of the batch carries prior_attempts (a re-queued one does).
  const recordable =
    t.history.length === 0 &&
    t.canItem === undefined &&
    t.startItem !== undefined &&
    item.messages.every((m) => m.type === "CancelInstance" || (m.type === "StartOrchestration" && m.prior_attempts === undefined));
  if (recordable) {
    deps.log?.("warn", `${what} is not registered here; instance ${item.instance} is recorded as waiting for it`, { instance_id: item.instance, attempt: t.attempts });
    return waitingForHandler(fetched, deps, t, t.startItem!);
  }
  const delayMs = unregisteredBackoffMs(t.attempts, deps.options.unregisteredBackoff);
  deps.log?.("warn", `${what} is not registered here; retrying in ${delayMs} ms`, { instance_id: item.instance, attempt: t.attempts });
  return { type: "abandon", delayMs, ignoreAttempt: false, reason: `unregistered ${what}` };
}

/** The ack that records a new instance as waiting for its unregistered orchestration (§5.3). */
function waitingForHandler(fetched: FetchedOrchestration, deps: TurnDeps, t: UnregisteredTarget, start: WorkItemOf<"StartOrchestration">): TurnDecision {
  const { item } = fetched;
  const metadata: ExecutionMetadata = {
    orchestration_name: t.name,
    // The instance row needs a version; without a requested one it is not known until a runtime that has the orchestration picks one.
    orchestration_version: t.version ?? "unknown",
    status: "Running",
    output: waitingNote(t.name, t.version, deps.options.maxAttempts),
    // No pinned runtime version: any runtime that has the orchestration may take the instance.
  };
  if (start.parent_instance !== null) metadata.parent_instance_id = start.parent_instance; // written once, at row creation
  return {
    type: "ack",
    executionId: t.executionId,
    delta: [],
    workerItems: [],
    orchestratorItems: item.messages.map((m) => (m.type === "StartOrchestration" ? { ...m, prior_attempts: t.attempts } : m)),
    metadata,
    cancelledActivities: [],
    outcome: { type: "WaitingForHandler" },
  };
}

/** What a waiting instance's status says (the client shows it as the Running status's message). */
export function waitingNote(name: string, version: string | null, maxAttempts: number): string {
  return (
    `waiting for ${orchestrationLabel(name, version)}, which is not registered on any runtime that fetched this instance. ` +
    `Register it on a runtime that uses this store; after ${maxAttempts} deliveries without it the instance fails (poison)`
  );
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
  previous: Event | undefined,
): EventOf<"OrchestrationStarted"> {
  // A continued child keeps its parent link, so its last execution reports to the parent (§3.7).
  const link = src.type === "StartOrchestration" ? src : previous?.type === "OrchestrationStarted" ? previous : null;
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
    parent_instance: link?.parent_instance ?? null,
    parent_id: link?.parent_id ?? null,
  };
  if (link?.parent_execution_id !== undefined) e.parent_execution_id = link.parent_execution_id;
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
function poison(fetched: FetchedOrchestration, deps: TurnDeps, attemptCount: number): TurnDecision {
  const { item } = fetched;
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
  const src = history.length === 0 ? (canItem ?? startItem) : undefined;
  if (history.length === 0 && src === undefined) return dropped(executionId);
  const first = history[0];
  const name = first?.type === "OrchestrationStarted" ? first.name : (src?.orchestration ?? item.orchestration_name);
  const version = first?.type === "OrchestrationStarted" ? first.version : (src?.version ?? null);
  const details: ErrorDetails = {
    type: "Poison",
    attempt_count: attemptCount,
    max_attempts: max,
    message_type: { type: "Orchestration", instance: item.instance, execution_id: executionId },
    message: poisonMessage(item.instance, name, version, resolveHandler(deps.registry, name, version) !== null, attemptCount, max),
  };
  let started: EventOf<"OrchestrationStarted"> | undefined;
  if (src !== undefined) started = shrinkStarted(startedEventFor(item.instance, executionId, src, src.version ?? item.version, deps, item.history[0]), deps.options);
  return fail(fetched, deps, executionId, history, started, details);
}

/**
 * Why an instance was poisoned. When this runtime lacks its orchestration (the usual reason a
 * batch is redelivered until poisoned, §5.3), say which one and how to fix it.
 */
function poisonMessage(instance: string, name: string, version: string | null, registered: boolean, attempts: number, max: number): string {
  if (registered) return `instance ${instance} of ${orchestrationLabel(name, version)} exceeded ${max} attempts (attempt ${attempts})`;
  return (
    `${orchestrationLabel(name, version)} is not registered: no runtime that fetched instance ${instance} had it in ${attempts} deliveries (maxAttempts ${max}). ` +
    `Register it (OrchestrationRegistry.builder().register${version !== null ? "Versioned" : ""}(...)) on a runtime that uses this store, then start the instance again`
  );
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
    if (e.type === "KeyValueSet" && kvValueBytes(e.value) > o.maxKvValueBytes) {
      return `value of key "${e.key}" too large: ${kvValueBytes(e.value)} bytes (maxKvValueBytes ${o.maxKvValueBytes}); store large data elsewhere and keep a reference in KV`;
    }
    if (e.type === "CustomStatusUpdated" && e.status !== null && byteLength(e.status) > o.maxCustomStatusBytes) {
      return `custom status too large: ${byteLength(e.status)} bytes (maxCustomStatusBytes ${o.maxCustomStatusBytes})`;
    }
  }
  if (out.kv.size > o.maxKvKeys) return `too many KV keys: ${out.kv.size} (maxKvKeys ${o.maxKvKeys}); clear keys to free capacity`;
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
