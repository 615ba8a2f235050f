/**
 * The end of a turn: decide its outcome from what the code did, then produce the output — work for
 * the new schedules, breadcrumbs and cancellations for tasks no longer awaited, and, when the
 * execution ends, its terminal event and the message to its parent or next execution.
 */
import type { ErrorDetails } from "../../core/error-details.ts";
import type { Event, EventOf } from "../../core/events.ts";
import type { WorkItem } from "../../core/work-items.ts";
import { tryEncodePayload } from "../../core/payload.ts";
import type { Action } from "../actions.ts";
import type { TurnOutcome, TurnOutput } from "./turn-types.ts";
import { errorMessage, isInstance, messageOf } from "../../core/thrown-value.ts";
import { OrchestrationUsageError, TaskFailedError, type LeafTask } from "../tasks.ts";
import { COMPLETION_OF, DROPPED_FUTURE, SCHEDULE_EVENT, type TurnState } from "./turn-state.ts";

/** Unconsumed queue messages carried into the next execution at most. */
export const MAX_CARRY_FORWARD = 20;

type ActionOf<T extends Action["type"]> = Extract<Action, { type: T }>;

// ---------------------------------------------------------------- outcome

/** Errors whose throw from orchestration code means a bug (Rust's panic), not a business failure. */
function isCrash(err: unknown): boolean {
  return [TypeError, ReferenceError, RangeError, SyntaxError, OrchestrationUsageError].some((cls) => isInstance(err, cls));
}

/**
 * The failure message for what the code threw. A task failure it let through keeps the task's own
 * message (the activity's or child's failure, docs/runtime-semantics.md §5.2); any other Error keeps
 * its name and code (`ValidationError [E_INPUT]: ...`); non-Error values were already described
 * when they were caught (coroutine.ts). Never throws, whatever the Error's accessors do.
 */
function thrownMessage(err: Error): string {
  return isInstance(err, TaskFailedError) ? messageOf(err) : errorMessage(err);
}

function failed(message: string, kind: "OrchestrationFailed" | "Panicked"): TurnOutcome {
  return { type: "Failed", details: { type: "Application", kind, message, retryable: false } };
}

/** Aborts and cancellation override the code; continue-as-new overrides its return. */
export function decideOutcome(turn: TurnState): TurnOutcome {
  if (turn.abortDetails !== null) return { type: "Failed", details: turn.abortDetails };
  if (turn.cancelRequested !== null) return { type: "Cancelled", reason: turn.cancelRequested };
  if (turn.continueAsNew !== null) return { type: "ContinueAsNew", ...turn.continueAsNew };
  const r = turn.rootResult;
  if (r === null) return { type: "Continue" };
  if (r.ok) return completedWith(r.value);
  const err = r.error;
  if (isCrash(err)) return failed(`orchestration panicked: ${thrownMessage(err)}`, "Panicked");
  return failed(thrownMessage(err), "OrchestrationFailed");
}

function completedWith(value: unknown): TurnOutcome {
  const encoded = tryEncodePayload(value);
  return encoded.ok ? { type: "Completed", output: encoded.text } : failed(`orchestration output is ${encoded.problem}`, "Panicked");
}

// ---------------------------------------------------------------- output

/** The turn's output as it stands, with no outgoing work yet. */
export function turnOutput(turn: TurnState, outcome: TurnOutcome): TurnOutput {
  return {
    delta: turn.delta,
    workerItems: [],
    orchestratorItems: [],
    cancelledActivities: [],
    outcome,
    customStatus: turn.customStatus,
    kv: turn.kv,
    startedEvent: turn.started,
    pendingEvents: 0,
  };
}

export function finishTurn(turn: TurnState, outcome: TurnOutcome): TurnOutput {
  const out = turnOutput(turn, outcome);
  const terminal = outcome.type !== "Continue";
  dispatchNewWork(turn, terminal, out);
  if (codeDecided(turn, outcome)) recordDroppedFutures(turn, out);
  if (!terminal) {
    out.pendingEvents = pendingEvents(turn);
    return out;
  }
  closeOpenSchedules(turn, outcome, out);
  recordTerminal(turn, outcome, out);
  return out;
}

/**
 * Whether the outcome follows from running the code to its end. Only then do the code's pending
 * tasks tell what it stopped waiting for; an abort or nondeterminism cut it short.
 */
function codeDecided(turn: TurnState, outcome: TurnOutcome): boolean {
  if (outcome.type === "Continue") return true;
  if (outcome.type !== "Completed" && outcome.type !== "Failed") return false;
  return turn.rootResult !== null && turn.abortDetails === null && turn.nondeterminism === null;
}

/** Work for new schedules leaves only while the orchestration continues; detached starts always do. */
function dispatchNewWork(turn: TurnState, terminal: boolean, out: TurnOutput): void {
  for (const { action: a, event: e } of turn.newWork) {
    if (a.type === "StartOrchestrationDetached") out.orchestratorItems.push(detachedStart(a));
    else if (!terminal) dispatchScheduled(turn, a, e, out);
  }
}

function dispatchScheduled(turn: TurnState, a: Action, e: Event, out: TurnOutput): void {
  switch (a.type) {
    case "CallActivity":
      out.workerItems.push(activityExecute(turn, a, e));
      break;
    case "CreateTimer":
      if (e.type === "TimerCreated") out.orchestratorItems.push({ type: "TimerFired", instance: turn.instanceId, execution_id: turn.executionId, id: e.event_id, fire_at_ms: e.fire_at_ms });
      break;
    case "StartSubOrchestration":
      if (e.type === "SubOrchestrationScheduled") out.orchestratorItems.push(childStart(turn, a, e));
      break;
    default:
      break;
  }
}

function detachedStart(a: ActionOf<"StartOrchestrationDetached">): WorkItem {
  return { type: "StartOrchestration", instance: a.instance, orchestration: a.name, input: a.input, version: a.version, parent_instance: null, parent_id: null, execution_id: 1 };
}

function activityExecute(turn: TurnState, a: ActionOf<"CallActivity">, e: Event): WorkItem {
  const item: WorkItem = {
    type: "ActivityExecute",
    instance: turn.instanceId,
    execution_id: turn.executionId,
    id: e.event_id,
    name: a.name,
    input: a.input,
    orchestration_name: turn.orchestrationName,
    orchestration_version: turn.orchestrationVersion,
  };
  if (a.sessionId !== undefined) item.session_id = a.sessionId;
  if (a.tag !== undefined) item.tag = a.tag;
  return item;
}

function childStart(turn: TurnState, a: ActionOf<"StartSubOrchestration">, e: EventOf<"SubOrchestrationScheduled">): WorkItem {
  return {
    type: "StartOrchestration",
    instance: e.instance,
    orchestration: a.name,
    input: a.input,
    version: a.version,
    parent_instance: turn.instanceId,
    parent_id: e.event_id,
    parent_execution_id: turn.executionId, // child results are addressed to this execution
    execution_id: 1,
  };
}

// ---------------------------------------------------------------- cancellations

/** The breadcrumb reasons written when open schedules are cancelled. */
interface CancelReasons {
  activity: string;
  /** null: the child orchestration is left running. */
  subOrchestration: string | null;
  /** Sent to the child instance itself. */
  child: string;
  subscription: string;
}

const DROPPED_REASONS: CancelReasons = {
  activity: DROPPED_FUTURE,
  subOrchestration: DROPPED_FUTURE,
  child: "parent dropped sub-orchestration future",
  subscription: DROPPED_FUTURE,
};

/** Writes the cancel breadcrumb for a schedule and cancels its work where that runs elsewhere. */
function cancelSchedule(turn: TurnState, event: Event, reasons: CancelReasons, out: TurnOutput): void {
  const id = event.event_id;
  switch (event.type) {
    case "ActivityScheduled":
      turn.newEvent({ type: "ActivityCancelRequested", reason: reasons.activity }, id);
      out.cancelledActivities.push({ instance: turn.instanceId, execution_id: turn.executionId, activity_id: id });
      break;
    case "SubOrchestrationScheduled":
      if (reasons.subOrchestration === null) break;
      turn.newEvent({ type: "SubOrchestrationCancelRequested", reason: reasons.subOrchestration }, id);
      // `from` lets the child tell its parent's cancel from a stray one (docs/runtime-semantics.md §3.10).
      out.orchestratorItems.push({ type: "CancelInstance", instance: event.instance, reason: reasons.child, from: { instance: turn.instanceId, execution_id: turn.executionId, event_id: id } });
      break;
    case "ExternalSubscribed":
      turn.newEvent({ type: "ExternalSubscribedCancelled", reason: reasons.subscription }, id);
      break;
    case "ExternalSubscribedPersistent":
      turn.newEvent({ type: "ExternalSubscribedPersistentCancelled", reason: reasons.subscription }, id);
      break;
    default:
      break;
  }
}

/** Tasks the code stopped waiting for, in event order. */
function droppedTasks(turn: TurnState): LeafTask<unknown>[] {
  const dropped = new Set<LeafTask<unknown>>(turn.cancelledTasks);
  // When the code has returned, nothing can wait any more: every pending task is dropped.
  if (turn.rootResult !== null) for (const s of turn.schedules.values()) if (s.task && !s.task.settled && s.kind !== "TimerCreated") dropped.add(s.task);
  return [...dropped].filter((t) => t.eventId !== null).sort((a, b) => a.eventId! - b.eventId!);
}

function recordDroppedFutures(turn: TurnState, out: TurnOutput): void {
  for (const t of droppedTasks(turn)) {
    const id = t.eventId!;
    const s = turn.schedules.get(id);
    if (s === undefined || turn.completed.has(id) || turn.cancelBreadcrumbs.has(id)) continue;
    cancelSchedule(turn, s.event, DROPPED_REASONS, out);
    turn.cancelBreadcrumbs.set(id, DROPPED_FUTURE);
  }
}

/**
 * Schedules with neither a completion nor a cancel breadcrumb, read from the events themselves
 * (not from replay state), so this also holds when the turn ended before replaying.
 */
function openSchedules(turn: TurnState): Event[] {
  const all = new Set<Event>([...turn.history, ...turn.delta]);
  const closed = new Set<number>();
  for (const e of all) {
    if (e.source_event_id !== null && (COMPLETION_OF[e.type] !== undefined || e.type.endsWith("Cancelled") || e.type.endsWith("CancelRequested"))) closed.add(e.source_event_id);
  }
  const open: Event[] = [];
  for (const e of all) {
    if (SCHEDULE_EVENT[e.type] === undefined || closed.has(e.event_id)) continue;
    if (e.type === "ExternalSubscribed" || e.type === "ExternalSubscribedPersistent") {
      // Deliveries carry no source id: only replay state knows whether a subscription is satisfied.
      const task = turn.schedules.get(e.event_id)?.task;
      if (!task || task.settled) continue;
    }
    open.push(e);
  }
  return open.sort((a, b) => a.event_id - b.event_id);
}

/**
 * How many events the execution's open schedules will still append, one each: an activity until
 * it completes or is cancelled (its worker row is deleted); a timer until it fires (a dropped timer
 * still fires); a sub-orchestration until it reports (a cancelled child still reports its end); an
 * event wait or dequeue while it waits (its event is recorded on arrival). The history limit
 * counts these so a turn that schedules past it fails before any of the work starts
 * (docs/runtime-semantics.md §5.5).
 */
function pendingEvents(turn: TurnState): number {
  // Only called after the code ran to the end of history (outcome Continue): every schedule of
  // history and delta is bound in turn.schedules, every completion applied (turn.completed), and
  // every cancel breadcrumb, persisted or new, is in turn.cancelBreadcrumbs.
  let n = 0;
  for (const id of turn.unfinished) {
    const s = turn.schedules.get(id);
    const cancelled = turn.cancelBreadcrumbs.has(id);
    switch (s?.kind) {
      case "ActivityScheduled":
        if (cancelled) turn.unfinished.delete(id); // its worker row is deleted: it appends nothing
        else n++;
        break;
      case "TimerCreated":
      case "SubOrchestrationScheduled":
        n++;
        break;
      case "ExternalSubscribed":
      case "ExternalSubscribedPersistent":
        // Deliveries carry no source id: only replay state knows whether a wait is satisfied.
        if (cancelled || !s.task || s.task.settled) turn.unfinished.delete(id); // settled or cancelled for good
        else n++;
        break;
      default:
        turn.unfinished.delete(id); // a detached start appends nothing
        break;
    }
  }
  return n;
}

/** A finished execution waits for nothing; only a cancelled one takes its children down with it. */
function closeOpenSchedules(turn: TurnState, outcome: TurnOutcome, out: TurnOutput): void {
  const suffix = outcome.type === "Completed" ? "completed" : outcome.type === "ContinueAsNew" ? "continued_as_new" : "failed";
  const reasons: CancelReasons = {
    activity: `orchestration_terminal_${suffix}`,
    subOrchestration: outcome.type === "Cancelled" ? "parent canceled" : null,
    child: "parent canceled",
    subscription: "orchestration_terminal",
  };
  for (const e of openSchedules(turn)) cancelSchedule(turn, e, reasons, out);
}

// ---------------------------------------------------------------- terminal

function recordTerminal(turn: TurnState, outcome: TurnOutcome, out: TurnOutput): void {
  const parent = parentAddress(turn);
  switch (outcome.type) {
    case "Completed":
      turn.newEvent({ type: "OrchestrationCompleted", output: outcome.output });
      if (parent !== null) out.orchestratorItems.push({ type: "SubOrchCompleted", ...parent, result: outcome.output });
      break;
    case "Failed":
    case "Cancelled": {
      const details: ErrorDetails = outcome.type === "Failed" ? outcome.details : { type: "Application", kind: { Cancelled: { reason: outcome.reason } }, message: `canceled: ${outcome.reason}`, retryable: false };
      turn.newEvent({ type: "OrchestrationFailed", details });
      if (parent !== null) out.orchestratorItems.push({ type: "SubOrchFailed", ...parent, details });
      break;
    }
    case "ContinueAsNew":
      turn.newEvent({ type: "OrchestrationContinuedAsNew", input: outcome.input });
      out.orchestratorItems.push(nextExecution(turn, outcome));
      break;
    default:
      break;
  }
}

/** Where a sub-orchestration reports its end; null for a top-level orchestration. */
function parentAddress(turn: TurnState): { parent_instance: string; parent_execution_id: number; parent_id: number } | null {
  const parent = turn.started?.parent_instance ?? null;
  const parentId = turn.started?.parent_id ?? null;
  if (parent === null || parentId === null) return null;
  return { parent_instance: parent, parent_execution_id: turn.started?.parent_execution_id ?? 1, parent_id: parentId };
}

function nextExecution(turn: TurnState, outcome: Extract<TurnOutcome, { type: "ContinueAsNew" }>): WorkItem {
  const carry = turn.subscriptions.unconsumed();
  if (carry.length > MAX_CARRY_FORWARD) turn.log("warn", `continue-as-new: ${carry.length - MAX_CARRY_FORWARD} unconsumed queue messages dropped (max ${MAX_CARRY_FORWARD})`);
  const item: WorkItem = {
    type: "ContinueAsNew",
    instance: turn.instanceId,
    orchestration: turn.orchestrationName,
    input: outcome.input,
    version: outcome.version,
    carry_forward_events: carry.slice(0, MAX_CARRY_FORWARD),
  };
  if (turn.customStatus !== null) item.initial_custom_status = turn.customStatus;
  return item;
}
