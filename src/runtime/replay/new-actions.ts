/**
 * New actions: whatever the code emitted beyond the end of history becomes new events of this
 * turn; scheduling ones are bound to their task and queued as work for the turn's output.
 */
import type { Event, EventKind } from "../../core/events.ts";
import type { Action } from "../actions.ts";
import { SCHEDULE_EVENT, type TurnState } from "./turn-state.ts";

/** Bounds a turn whose code keeps scheduling without end (each dequeue match can resume it). */
const MAX_NEW_ACTIONS = 1_000_000;

/** Everything still in the FIFO is new: give it an event id and (maybe) outgoing work. */
export function convertNewActions(turn: TurnState): void {
  let guard = 0;
  while (turn.fifo.length > 0) {
    if (++guard > MAX_NEW_ACTIONS) {
      turn.abortDetails = { type: "Infrastructure", operation: "quiescence_loop", message: "orchestration kept scheduling work without end in one turn", retryable: false };
      return;
    }
    const { action: a, task } = turn.fifo.shift()!;
    const e = actionEvent(turn, a);
    if (SCHEDULE_EVENT[e.type] !== undefined) {
      turn.newWork.push({ action: a, event: e });
      turn.bindSchedule(a, task, e); // a dequeue may resume code, which may emit more actions: handled by this loop
    } else if (task) {
      task.eventId = e.event_id;
    }
  }
}

function actionEvent(turn: TurnState, a: Action): Event {
  switch (a.type) {
    case "CallActivity": {
      const kind: EventKind = { type: "ActivityScheduled", name: a.name, input: a.input };
      if (a.sessionId !== undefined) kind.session_id = a.sessionId;
      if (a.tag !== undefined) kind.tag = a.tag;
      return turn.newEvent(kind);
    }
    case "CreateTimer":
      return turn.newEvent({ type: "TimerCreated", fire_at_ms: turn.input.now + a.delayMs });
    case "WaitExternal":
      return turn.newEvent({ type: "ExternalSubscribed", name: a.name });
    case "DequeueEvent":
      return turn.newEvent({ type: "ExternalSubscribedPersistent", name: a.name });
    case "StartSubOrchestration":
      return turn.newEvent({ type: "SubOrchestrationScheduled", name: a.name, instance: a.instance ?? autoChildId(turn.instanceId, turn.executionId, turn.nextEventId), input: a.input });
    case "StartOrchestrationDetached":
      return turn.newEvent({ type: "OrchestrationChained", name: a.name, instance: a.instance, input: a.input });
    case "UpdateCustomStatus":
      return turn.newEvent({ type: "CustomStatusUpdated", status: a.status });
    case "SetKeyValue":
      return turn.newEvent({ type: "KeyValueSet", key: a.key, value: a.value, last_updated_at_ms: a.timestampMs });
    case "ClearKeyValue":
      return turn.newEvent({ type: "KeyValueCleared", key: a.key });
    case "ClearKeyValues":
      return turn.newEvent({ type: "KeyValuesCleared" });
    case "ContinueAsNew":
      throw new Error("unreachable: continue-as-new is not queued");
  }
}

/**
 * The id of a child started without an explicit one (docs/runtime-semantics.md §3.6). Event ids
 * restart at 1 in every execution, so from execution 2 on the id also names the execution: else
 * execution 2 would ask for the id of execution 1's child and its start would be ignored. Execution
 * 1 keeps the original `<parent>::sub::<event id>` form. Built only from the turn's own data, so
 * every replay derives the same id (and replay never compares it: the recorded event keeps it).
 */
export function autoChildId(parent: string, executionId: number, eventId: number): string {
  return executionId === 1 ? `${parent}::sub::${eventId}` : `${parent}::sub::${executionId}::${eventId}`;
}
