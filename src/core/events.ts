/**
 * History events. An event is a header (position, routing copies, time, writer version) plus one
 * kind, flattened with a `type` tag, exactly as it is persisted as JSON.
 */
import { checkErrorDetails, type ErrorDetails } from "./error-details.ts";
import { DecodeError } from "./errors.ts";
import { checkFields, isRecord, parseJson, type FieldSpec } from "./shape.ts";

export interface EventHeader {
  /** Position inside one execution; 1 = OrchestrationStarted. Increasing, not necessarily contiguous. */
  event_id: number;
  /** For completions and cancel requests: the event_id of the event that scheduled the work. */
  source_event_id: number | null;
  /** Denormalized copy; never used for routing. */
  instance_id: string;
  /** Denormalized copy; the ack's executionId parameter wins. */
  execution_id: number;
  timestamp_ms: number;
  duroxide_version: string;
}

export type EventKind =
  | {
      type: "OrchestrationStarted";
      name: string;
      version: string;
      input: string;
      parent_instance: string | null;
      parent_id: number | null;
      /** The parent's execution that scheduled this child (this port's addition; absent = 1). */
      parent_execution_id?: number;
      carry_forward_events?: [string, string][];
      initial_custom_status?: string;
    }
  | { type: "OrchestrationCompleted"; output: string }
  | { type: "OrchestrationFailed"; details: ErrorDetails }
  | { type: "OrchestrationContinuedAsNew"; input: string }
  | { type: "OrchestrationCancelRequested"; reason: string }
  | { type: "OrchestrationChained"; name: string; instance: string; input: string }
  | { type: "ActivityScheduled"; name: string; input: string; session_id?: string; tag?: string }
  | { type: "ActivityCompleted"; result: string }
  | { type: "ActivityFailed"; details: ErrorDetails }
  | { type: "ActivityCancelRequested"; reason: string }
  | { type: "TimerCreated"; fire_at_ms: number }
  | { type: "TimerFired"; fire_at_ms: number }
  | { type: "ExternalSubscribed"; name: string }
  | { type: "ExternalEvent"; name: string; data: string }
  | { type: "ExternalSubscribedCancelled"; reason: string }
  | { type: "ExternalSubscribedPersistent"; name: string }
  | { type: "ExternalEventPersistent"; name: string; data: string }
  | { type: "ExternalSubscribedPersistentCancelled"; reason: string }
  | { type: "SubOrchestrationScheduled"; name: string; instance: string; input: string }
  | { type: "SubOrchestrationCompleted"; result: string }
  | { type: "SubOrchestrationFailed"; details: ErrorDetails }
  | { type: "SubOrchestrationCancelRequested"; reason: string }
  | { type: "CustomStatusUpdated"; status: string | null }
  | { type: "KeyValueSet"; key: string; value: string; last_updated_at_ms?: number }
  | { type: "KeyValueCleared"; key: string }
  | { type: "KeyValuesCleared" };

export type Event = EventHeader & EventKind;
export type EventType = EventKind["type"];
/** The event of one kind, with its header: `EventOf<"TimerCreated">`. */
export type EventOf<T extends EventType> = EventHeader & Extract<EventKind, { type: T }>;

const details = checkErrorDetails;

/** Field specs of each kind, beyond the header. */
const KIND_FIELDS: Record<EventType, FieldSpec> = {
  OrchestrationStarted: {
    name: "s",
    version: "s",
    input: "s",
    parent_instance: "s?",
    parent_id: "i|null",
    parent_execution_id: "i?",
    carry_forward_events: "pairs?",
    initial_custom_status: "s?",
  },
  OrchestrationCompleted: { output: "s" },
  OrchestrationFailed: { details },
  OrchestrationContinuedAsNew: { input: "s" },
  OrchestrationCancelRequested: { reason: "s" },
  OrchestrationChained: { name: "s", instance: "s", input: "s" },
  ActivityScheduled: { name: "s", input: "s", session_id: "s?", tag: "s?" },
  ActivityCompleted: { result: "s" },
  ActivityFailed: { details },
  ActivityCancelRequested: { reason: "s" },
  TimerCreated: { fire_at_ms: "i" },
  TimerFired: { fire_at_ms: "i" },
  ExternalSubscribed: { name: "s" },
  ExternalEvent: { name: "s", data: "s" },
  ExternalSubscribedCancelled: { reason: "s" },
  ExternalSubscribedPersistent: { name: "s" },
  ExternalEventPersistent: { name: "s", data: "s" },
  ExternalSubscribedPersistentCancelled: { reason: "s" },
  SubOrchestrationScheduled: { name: "s", instance: "s", input: "s" },
  SubOrchestrationCompleted: { result: "s" },
  SubOrchestrationFailed: { details },
  SubOrchestrationCancelRequested: { reason: "s" },
  CustomStatusUpdated: { status: "s|null" },
  KeyValueSet: { key: "s", value: "s", last_updated_at_ms: (v) => (v === undefined || (typeof v === "number" && Number.isSafeInteger(v)) ? null : "expected an integer") },
  KeyValueCleared: { key: "s" },
  KeyValuesCleared: {},
};

const HEADER_FIELDS: FieldSpec = {
  event_id: "i",
  source_event_id: "i|null",
  instance_id: "s",
  execution_id: "i",
  timestamp_ms: "i",
  duroxide_version: "s",
};


/** Verifies that an in-memory value is a well-formed Event; throws DecodeError naming the problem. */
export function validateEvent(v: unknown): asserts v is Event {
  if (!isRecord(v)) throw new DecodeError("Event", "expected an object");
  const spec = KIND_FIELDS[v.type as EventType];
  if (spec === undefined || !Object.hasOwn(KIND_FIELDS, v.type as string)) {
    throw new DecodeError("Event", `unknown event type ${JSON.stringify(v.type)}`);
  }
  checkFields("Event", v, HEADER_FIELDS);
  checkFields("Event", v, spec);
}

export function encodeEvent(e: Event): string {
  return JSON.stringify(e);
}

export function decodeEvent(text: string): Event {
  const v = parseJson("Event", text);
  validateEvent(v);
  return v;
}
