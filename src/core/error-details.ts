/**
 * ErrorDetails: the payload of every failure (activity, orchestration, poison). Providers store it
 * without interpreting it; the runtime renders it into status output.
 */
import { isId, isRecord } from "./shape.ts";

export type AppErrorKind =
  | "ActivityFailed"
  | "OrchestrationFailed"
  | "Panicked"
  | { Cancelled: { reason: string } };

export type PoisonMessageType =
  | { type: "Orchestration"; instance: string; execution_id: number }
  | { type: "Activity"; instance: string; execution_id: number; activity_name: string; activity_id: number }
  | { type: "FailedDeserialization"; instance: string; execution_id: number; error: string };

/** A value that survives JSON unchanged. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * What a failed activity threw, beyond its message (docs/runtime-semantics.md §5.1). All optional:
 * failures written before these fields existed, and failures that are not thrown errors, have none.
 */
export interface ThrownErrorFields {
  /** The thrown error's `name` ("TypeError", a custom class's name). */
  error_name?: string;
  /** The thrown error's `code` ("ECONNRESET", an HTTP status), when it is a string or a finite number. */
  code?: string | number;
  /** The thrown value's other own enumerable properties (or the thrown plain object), as JSON. */
  data?: JsonValue;
}

export type ErrorDetails =
  | { type: "Infrastructure"; operation: string; message: string; retryable: boolean }
  | { type: "Configuration"; kind: "Nondeterminism"; resource: string; message: string | null }
  | ({ type: "Application"; kind: AppErrorKind; message: string; retryable: boolean } & ThrownErrorFields)
  | {
      type: "Poison";
      attempt_count: number;
      max_attempts: number;
      message_type: PoisonMessageType;
      message: string;
    };

function checkAppKind(k: unknown): string | null {
  if (k === "ActivityFailed" || k === "OrchestrationFailed" || k === "Panicked") return null;
  if (isRecord(k) && isRecord(k.Cancelled) && typeof k.Cancelled.reason === "string") return null;
  return "unknown application error kind";
}

function checkPoisonType(m: unknown): string | null {
  if (!isRecord(m) || typeof m.instance !== "string" || !isId(m.execution_id)) {
    return "poison message_type needs instance and execution_id";
  }
  switch (m.type) {
    case "Orchestration":
      return null;
    case "Activity":
      return typeof m.activity_name === "string" && isId(m.activity_id) ? null : "bad Activity poison type";
    case "FailedDeserialization":
      return typeof m.error === "string" ? null : "bad FailedDeserialization poison type";
    default:
      return `unknown poison message type ${JSON.stringify(m.type)}`;
  }
}

function checkThrownFields(v: Record<string, unknown>): string | null {
  if (v.error_name !== undefined && typeof v.error_name !== "string") return "Application error_name must be a string";
  if (v.code !== undefined && typeof v.code !== "string" && !(typeof v.code === "number" && Number.isFinite(v.code))) {
    return "Application code must be a string or a finite number";
  }
  const t = typeof v.data;
  if (t === "function" || t === "symbol" || t === "bigint") return "Application data must be a JSON value";
  return null;
}

/** Returns null when `v` is a well-formed ErrorDetails, else what is wrong with it. */
export function checkErrorDetails(v: unknown): string | null {
  if (!isRecord(v)) return "ErrorDetails must be an object";
  switch (v.type) {
    case "Infrastructure":
      return typeof v.operation === "string" && typeof v.message === "string" && typeof v.retryable === "boolean"
        ? null
        : "Infrastructure needs operation, message, retryable";
    case "Configuration":
      return v.kind === "Nondeterminism" &&
        typeof v.resource === "string" &&
        (v.message === null || typeof v.message === "string")
        ? null
        : "Configuration needs kind Nondeterminism, resource, message";
    case "Application":
      return checkAppKind(v.kind) ??
        (typeof v.message === "string" && typeof v.retryable === "boolean"
          ? checkThrownFields(v)
          : "Application needs message and retryable");
    case "Poison":
      return isId(v.attempt_count) && isId(v.max_attempts) && typeof v.message === "string"
        ? checkPoisonType(v.message_type)
        : "Poison needs attempt_count, max_attempts, message_type, message";
    default:
      return `unknown ErrorDetails type ${JSON.stringify(v.type)}`;
  }
}

/** One-line human rendering, used for failed executions' output. */
export function renderErrorDetails(d: ErrorDetails): string {
  switch (d.type) {
    case "Infrastructure":
      return `infrastructure:${d.operation}: ${d.message}`;
    case "Configuration":
      return `nondeterministic: ${d.message ?? d.resource}`;
    case "Application":
      if (typeof d.kind === "object") return `canceled: ${d.kind.Cancelled.reason}`;
      return d.message;
    case "Poison":
      return `poison: ${d.message}`;
  }
}
