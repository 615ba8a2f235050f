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
    case "StartSubOrchestration": {
      const id = turn.nextEventId;
      return turn.newEvent({ type: "SubOrchestrationScheduled", name: a.name, instance: a.instance ?? `${turn.instanceId}::sub::${id}`, input: a.input });
    }
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
