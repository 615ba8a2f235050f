/**
 * Work items: the messages of the orchestrator and worker queues, flattened with a `type` tag.
 */
import { checkErrorDetails, type ErrorDetails } from "./error-details.ts";
import { DecodeError } from "./errors.ts";
import { checkFields, isId, isRecord, parseJson, type FieldSpec } from "./shape.ts";

/**
 * Who sends a parent's CancelInstance to its child: the parent link the child's
 * OrchestrationStarted must carry for the cancel to apply (docs/runtime-semantics.md §3.10).
 */
export interface CancelSender {
  /** The parent instance. */
  instance: string;
  /** The parent execution that scheduled the child. */
  execution_id: number;
  /** event_id of the parent's SubOrchestrationScheduled (the child's `parent_id`). */
  event_id: number;
}

export type WorkItem =
  | {
      type: "StartOrchestration";
      instance: string;
      orchestration: string;
      input: string;
      version: string | null;
      parent_instance: string | null;
      parent_id: number | null;
      /** For a child: the parent execution to report to (this port's addition; absent = 1). */
      parent_execution_id?: number;
      execution_id: number;
      /**
       * Deliveries this start already had before the runtime put it back in the queue to record that
       * its orchestration is not registered (this port's addition; docs/runtime-semantics.md §5.3).
       * They count toward maxAttempts; absent = none.
       */
      prior_attempts?: number;
    }
  | {
      type: "ActivityExecute";
      instance: string;
      execution_id: number;
      /** event_id of the ActivityScheduled event. */
      id: number;
      name: string;
      input: string;
      session_id?: string;
      tag?: string;
      /** The scheduling orchestration, for the activity's context (this port's addition; optional). */
      orchestration_name?: string;
      orchestration_version?: string;
    }
  | { type: "ActivityCompleted"; instance: string; execution_id: number; id: number; result: string }
  | { type: "ActivityFailed"; instance: string; execution_id: number; id: number; details: ErrorDetails }
  | { type: "TimerFired"; instance: string; execution_id: number; id: number; fire_at_ms: number }
  | { type: "ExternalRaised"; instance: string; name: string; data: string }
  | { type: "QueueMessage"; instance: string; name: string; data: string }
  | {
      type: "SubOrchCompleted";
      parent_instance: string;
      parent_execution_id: number;
      parent_id: number;
      result: string;
    }
  | {
      type: "SubOrchFailed";
      parent_instance: string;
      parent_execution_id: number;
      parent_id: number;
      details: ErrorDetails;
    }
  | {
      type: "CancelInstance";
      instance: string;
      reason: string;
      /** Set by a parent cancelling its child (this port's addition); absent for a client's cancel. */
      from?: CancelSender;
    }
  | {
      type: "ContinueAsNew";
      instance: string;
      orchestration: string;
      input: string;
      version: string | null;
      carry_forward_events: [string, string][];
      initial_custom_status?: string;
    };

export type WorkItemType = WorkItem["type"];
export type WorkItemOf<T extends WorkItemType> = Extract<WorkItem, { type: T }>;

const details = checkErrorDetails;

/** The optional `from` of a CancelInstance: absent, or a complete sender. */
function checkCancelSender(v: unknown): string | null {
  if (v === undefined) return null;
  const expected = "expected {instance: non-empty string, execution_id: integer >= 1, event_id: integer >= 1} or nothing";
  if (!isRecord(v)) return expected;
  if (typeof v.instance !== "string" || v.instance.length === 0) return `${expected}; instance is ${JSON.stringify(v.instance)}`;
  for (const k of ["execution_id", "event_id"] as const) {
    if (!isId(v[k]) || v[k] < 1) return `${expected}; ${k} is ${JSON.stringify(v[k])}`;
  }
  return null;
}

const FIELDS: Record<WorkItemType, FieldSpec> = {
  StartOrchestration: {
    instance: "s",
    orchestration: "s",
    input: "s",
    version: "s|null",
    parent_instance: "s|null",
    parent_id: "i|null",
    parent_execution_id: "i?",
    execution_id: "i",
    prior_attempts: "i?",
  },
  ActivityExecute: {
    instance: "s",
    execution_id: "i",
    id: "i",
    name: "s",
    input: "s",
    session_id: "s?",
    tag: "s?",
    orchestration_name: "s?",
    orchestration_version: "s?",
  },
  ActivityCompleted: { instance: "s", execution_id: "i", id: "i", result: "s" },
  ActivityFailed: { instance: "s", execution_id: "i", id: "i", details },
  TimerFired: { instance: "s", execution_id: "i", id: "i", fire_at_ms: "i" },
  ExternalRaised: { instance: "s", name: "s", data: "s" },
  QueueMessage: { instance: "s", name: "s", data: "s" },
  SubOrchCompleted: { parent_instance: "s", parent_execution_id: "i", parent_id: "i", result: "s" },
  SubOrchFailed: { parent_instance: "s", parent_execution_id: "i", parent_id: "i", details },
  CancelInstance: { instance: "s", reason: "s", from: checkCancelSender },
  ContinueAsNew: {
    instance: "s",
    orchestration: "s",
    input: "s",
    version: "s|null",
    carry_forward_events: "pairs?",
    initial_custom_status: "s?",
  },
};

/** Verifies that an in-memory value is a well-formed WorkItem; throws DecodeError naming the problem. */
export function validateWorkItem(v: unknown): asserts v is WorkItem {
  if (!isRecord(v)) throw new DecodeError("WorkItem", "expected an object");
  if (typeof v.type !== "string" || !Object.hasOwn(FIELDS, v.type)) {
    throw new DecodeError("WorkItem", `unknown work item type ${JSON.stringify(v.type)}`);
  }
  checkFields("WorkItem", v, FIELDS[v.type as WorkItemType]);
  const routing = workItemInstance(v as WorkItem);
  if (routing.length === 0) throw new DecodeError("WorkItem", `${v.type} has an empty instance id`);
}

/** The instance whose queue the item belongs to. Sub-orchestration results go to the parent. */
export function workItemInstance(item: WorkItem): string {
  return item.type === "SubOrchCompleted" || item.type === "SubOrchFailed" ? item.parent_instance : item.instance;
}

export function encodeWorkItem(item: WorkItem): string {
  return JSON.stringify(item);
}

export function decodeWorkItem(text: string): WorkItem {
  const v = parseJson("WorkItem", text);
  validateWorkItem(v);
  return v;
}
