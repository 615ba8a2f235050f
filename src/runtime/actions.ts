/**
 * Actions: what orchestration code asks for, recorded at call time. The replay engine matches each
 * action against the next schedule event in history, or, past the end of history, turns it into a
 * new event and outgoing work.
 */
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

/** A payload shortened for error messages. */
export function clip(payload: string, max = 120): string {
  return payload.length <= max ? payload : `${payload.slice(0, max)}… (${payload.length} chars)`;
}

export function describeAction(a: Action): string {
  switch (a.type) {
    case "CallActivity":
      return `activity "${a.name}" with input ${clip(a.input)}${a.tag ? ` tagged "${a.tag}"` : ""}${a.sessionId ? ` on session "${a.sessionId}"` : ""}`;
    case "CreateTimer":
      return `timer`;
    case "WaitExternal":
      return `wait for event "${a.name}"`;
    case "DequeueEvent":
      return `dequeue from "${a.name}"`;
    case "StartSubOrchestration":
      return `sub-orchestration "${a.name}" with input ${clip(a.input)}`;
    case "StartOrchestrationDetached":
      return `detached orchestration "${a.name}" (${a.instance})`;
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
