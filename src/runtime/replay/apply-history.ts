/**
 * Applying history: each schedule event must match the next action the code emitted, binding its
 * task to that event id; each completion settles its bound task, which resumes the waiting code
 * before the next event is applied.
 */
import { renderErrorDetails } from "../../core/error-details.ts";
import type { Event } from "../../core/events.ts";
import { describeAction, describeEvent, METADATA_ACTIONS, type Action } from "../actions.ts";
import { decodePayload } from "../../core/payload.ts";
import { ActivityFailedError, SubOrchestrationFailedError } from "../tasks.ts";
import { COMPLETION_OF, DROPPED_FUTURE, SCHEDULE_EVENT, type TurnState } from "./turn-state.ts";

/**
 * Applies the turn's history in order from `from` (a resumed turn starts past the events its live
 * state already applied); stops at the first nondeterminism.
 */
export function replayHistory(turn: TurnState, from = 0): void {
  for (let i = from; i < turn.history.length && turn.nondeterminism === null; i++) {
    // Code resumed by a persisted event already ran in an earlier turn: it is replaying.
    turn.replaying = i < turn.persistedLen;
    apply(turn, turn.history[i]!);
  }
  turn.replaying = false;
}

function apply(turn: TurnState, e: Event): void {
  const actionType = SCHEDULE_EVENT[e.type];
  if (actionType !== undefined) return applySchedule(turn, e, actionType);
  const scheduleType = COMPLETION_OF[e.type];
  if (scheduleType !== undefined) return applyCompletion(turn, e, scheduleType);
  switch (e.type) {
    case "OrchestrationStarted":
      for (const [name, data] of e.carry_forward_events ?? []) turn.subscriptions.carryIn(name, data);
      return;
    case "ExternalEvent":
      turn.subscriptions.deliverEvent(e.name, e.data);
      return;
    case "ExternalEventPersistent":
      turn.subscriptions.enqueue(e.name, e.data);
      return;
    case "ActivityCancelRequested":
    case "SubOrchestrationCancelRequested":
    case "ExternalSubscribedCancelled":
    case "ExternalSubscribedPersistentCancelled":
      if (e.source_event_id !== null) {
        turn.cancelBreadcrumbs.set(e.source_event_id, e.reason);
        const s = turn.schedules.get(e.source_event_id);
        if (s?.task) turn.subscriptions.remove(s.task);
      }
      return;
    case "OrchestrationCancelRequested":
      turn.cancelRequested ??= e.reason;
      return;
    case "CustomStatusUpdated":
    case "KeyValueSet":
    case "KeyValueCleared":
    case "KeyValuesCleared":
      applyMetadata(turn, e);
      return;
    default:
      return;
  }
}

function applySchedule(turn: TurnState, e: Event, actionType: Action["type"]): void {
  const fifo = turn.fifo;
  // Metadata actions emitted before this schedule but not in history are tolerated: skip them.
  while (fifo.length > 0 && METADATA_ACTIONS.has(fifo[0]!.action.type)) fifo.shift();
  const front = fifo.shift();
  if (front === undefined) {
    turn.fail(`history has ${e.type} at event ${e.event_id} but the orchestration did not schedule anything there (code changed?)`, {
      eventId: e.event_id,
      historyHas: describeEvent(e),
      codeDid: "scheduled nothing more",
    });
  }
  const a = front.action;
  if (a.type !== actionType || !sameSchedule(a, e)) {
    turn.fail(`schedule mismatch at event ${e.event_id}: history has ${describeEvent(e)} but the orchestration scheduled ${describeAction(a)}`, {
      eventId: e.event_id,
      historyHas: describeEvent(e),
      codeDid: `scheduled ${describeAction(a)}`,
    });
  }
  turn.bindSchedule(a, front.task, e);
}

function sameSchedule(a: Action, e: Event): boolean {
  switch (a.type) {
    case "CallActivity":
      return e.type === "ActivityScheduled" && e.name === a.name && e.input === a.input && (e.session_id ?? undefined) === a.sessionId && (e.tag ?? undefined) === a.tag;
    case "CreateTimer":
      return e.type === "TimerCreated";
    case "WaitExternal":
      return e.type === "ExternalSubscribed" && e.name === a.name;
    case "DequeueEvent":
      return e.type === "ExternalSubscribedPersistent" && e.name === a.name;
    case "StartSubOrchestration":
      return e.type === "SubOrchestrationScheduled" && e.name === a.name && e.input === a.input;
    case "StartOrchestrationDetached":
      return e.type === "OrchestrationChained" && e.name === a.name && e.instance === a.instance && e.input === a.input;
    default:
      return false;
  }
}

function applyCompletion(turn: TurnState, e: Event, scheduleType: Event["type"]): void {
  const source = e.source_event_id;
  const s = source === null ? undefined : turn.schedules.get(source);
  if (s === undefined || s.kind !== scheduleType || turn.completed.has(source!)) {
    turn.fail(`${e.type} at event ${e.event_id} completes event ${String(source)}, which is not an open ${scheduleType} (code changed?)`, {
      eventId: e.event_id,
      historyHas: `${e.type} completing event ${String(source)}`,
      codeDid: `has no open ${scheduleType} at event ${String(source)}`,
    });
  }
  turn.completed.add(source!);
  turn.unfinished.delete(source!);
  const task = s.task;
  if (task === null) return;
  switch (e.type) {
    case "ActivityCompleted":
      return task.settle({ ok: true, value: decodePayload(e.result) });
    case "ActivityFailed":
      return task.settle({ ok: false, error: new ActivityFailedError(renderErrorDetails(e.details), e.details) });
    case "TimerFired":
      return task.settle({ ok: true, value: undefined });
    case "SubOrchestrationCompleted":
      return task.settle({ ok: true, value: decodePayload(e.result) });
    case "SubOrchestrationFailed":
      return task.settle({ ok: false, error: new SubOrchestrationFailedError(renderErrorDetails(e.details), e.details) });
  }
}

function applyMetadata(turn: TurnState, e: Event): void {
  const front = turn.fifo[0];
  if (front === undefined) return;
  const a = front.action;
  const matches =
    (e.type === "CustomStatusUpdated" && a.type === "UpdateCustomStatus") ||
    (e.type === "KeyValueSet" && a.type === "SetKeyValue" && a.key === e.key) ||
    (e.type === "KeyValueCleared" && a.type === "ClearKeyValue" && a.key === e.key) ||
    (e.type === "KeyValuesCleared" && a.type === "ClearKeyValues");
  if (!matches) return;
  turn.fifo.shift();
  // On replay keep the recorded timestamp rather than this turn's clock.
  if (e.type === "KeyValueSet" && e.value === (a as { value: string }).value) {
    const cur = turn.kv.get(e.key);
    if (cur && cur.value === e.value) cur.updatedAtMs = e.last_updated_at_ms ?? cur.updatedAtMs;
  }
}

/** Persisted dropped-future breadcrumbs must be reproduced by the code (else it changed). */
export function checkDroppedFutures(turn: TurnState): void {
  const droppedNow = new Set<number>();
  for (const t of turn.cancelledTasks) if (t.eventId !== null) droppedNow.add(t.eventId);
  for (let i = 0; i < turn.persistedLen; i++) {
    const e = turn.history[i]!;
    if ((e.type === "ActivityCancelRequested" || e.type === "SubOrchestrationCancelRequested" || e.type === "ExternalSubscribedCancelled" || e.type === "ExternalSubscribedPersistentCancelled") && e.reason === DROPPED_FUTURE) {
      if (e.source_event_id !== null && !droppedNow.has(e.source_event_id)) {
        turn.diverge(`history records that the task of event ${e.source_event_id} was dropped, but the orchestration now keeps waiting for it (code changed?)`, {
          eventId: e.event_id,
          historyHas: `${e.type} (the task of event ${e.source_event_id} dropped)`,
          codeDid: `keeps waiting for the task of event ${e.source_event_id}`,
        });
        return;
      }
    }
  }
}
