/**
 * Actions: what orchestration code asks for, recorded at call time. The replay engine matches each
 * action against the next schedule event in history, or, past the end of history, turns it into a
 * new event and outgoing work.
 */
import { clip } from "../core/describe.ts";
import type { Event } from "../core/events.ts";


export type Action =
  | { type: "CallActivity"; name: string; input: string; sessionId?: string; tag?: string }
  | { type: "CreateTimer"; delayMs: number }
  | { type: "WaitExternal"; name: string }
  | { type: "DequeueEvent"; name: string }
  | { type: "StartSubOrchestration"; name: string; version: string | null; instance: string | null; input: string }
  | { type: "StartOrchestrationDetached"; name: string; version: string | null; instance: string; input: string }
  | { type: "ContinueAsNew"; input: string; version: string | null }
  | { type: "UpdateCustomStatus"; status: string | null }
  | { type: "SetKeyValue"; key: string; value: string; timestampMs: number }
  | { type: "ClearKeyValue"; key: string }
  | { type: "ClearKeyValues" };

export type ActionType = Action["type"];

/** Actions recorded for bookkeeping only: matched if present in history, tolerated if absent. */
export const METADATA_ACTIONS: ReadonlySet<ActionType> = new Set(["UpdateCustomStatus", "SetKeyValue", "ClearKeyValue", "ClearKeyValues"]);

/** How nondeterminism messages name what the code scheduled (an action). */
export function describeAction(a: Action): string {
  switch (a.type) {
    case "CallActivity":
      return describeActivity(a.name, a.input, a.tag, a.sessionId);
    case "CreateTimer":
      return "a timer";
    case "WaitExternal":
      return `wait for event "${a.name}"`;
    case "DequeueEvent":
      return `dequeue from "${a.name}"`;
    case "StartSubOrchestration":
      return describeSubOrchestration(a.name, a.input);
    case "StartOrchestrationDetached":
      return describeDetached(a.name, a.instance);
    case "ContinueAsNew":
      return "continue-as-new";
    case "UpdateCustomStatus":
      return "custom status update";
    case "SetKeyValue":
      return `set value "${a.key}"`;
    case "ClearKeyValue":
      return `clear value "${a.key}"`;
    case "ClearKeyValues":
      return "clear all values";
  }
}

/** How nondeterminism messages name what history recorded (the schedule event an action must match). */
export function describeEvent(e: Event): string {
  switch (e.type) {
    case "ActivityScheduled":
      return describeActivity(e.name, e.input, e.tag, e.session_id);
    case "TimerCreated":
      return "a timer";
    case "ExternalSubscribed":
      return `a wait for event "${e.name}"`;
    case "ExternalSubscribedPersistent":
      return `a dequeue from "${e.name}"`;
    case "SubOrchestrationScheduled":
      return describeSubOrchestration(e.name, e.input);
    case "OrchestrationChained":
      return describeDetached(e.name, e.instance);
    default:
      return e.type;
  }
}

function describeActivity(name: string, input: string, tag: string | undefined, sessionId: string | undefined): string {
  return `activity "${name}" with input ${clip(input)}${tag ? ` tagged "${tag}"` : ""}${sessionId ? ` on session "${sessionId}"` : ""}`;
}

function describeSubOrchestration(name: string, input: string): string {
  return `sub-orchestration "${name}" with input ${clip(input)}`;
}

function describeDetached(name: string, instance: string): string {
  return `detached orchestration "${name}" (${instance})`;
}
