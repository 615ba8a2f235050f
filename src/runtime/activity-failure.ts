/**
 * How whatever an activity throws becomes the `ErrorDetails` its orchestration receives
 * (docs/runtime-semantics.md §1.5 step 6, §5.1). JavaScript lets code throw anything: an Error, a
 * string, a Symbol, a BigInt, an object with a null prototype or a throwing `toString`, a cyclic
 * object, a Proxy whose every trap throws. Describing the value must never throw itself: a throw
 * here would leave the activity neither acked nor abandoned, so its instance would hang until the
 * lease lapsed and then be poisoned.
 */
import { clip } from "../core/describe.ts";
import type { ErrorDetails, JsonValue, ThrownErrorFields } from "../core/error-details.ts";

/** Largest JSON rendering of a thrown value's extra properties kept as `data`; larger is left out. */
export const MAX_ERROR_DATA_BYTES = 16 * 1024;

/** Longest rendering of a non-Error value inside a message. */
const MAX_DESCRIPTION_CHARS = 200;

/** Properties carried by `message`, `error_name`, `code` (or noise), never copied into `data`. */
const NOT_DATA = new Set(["message", "name", "code", "stack"]);

type ApplicationDetails = Extract<ErrorDetails, { type: "Application" }>;

/** The ActivityFailed details for a thrown value: its message, and its name, code and data when present. */
export function activityFailureDetails(thrown: unknown): ApplicationDetails {
  try {
    return { type: "Application", kind: "ActivityFailed", retryable: false, ...describeThrown(thrown) };
  } catch {
    // A Proxy can throw from typeof-safe operations too (getPrototypeOf, ownKeys): say so, never throw.
    return { type: "Application", kind: "ActivityFailed", retryable: false, message: "activity threw a value that cannot be inspected (its property access throws)" };
  }
}

function describeThrown(thrown: unknown): { message: string } & ThrownErrorFields {
  if (typeof thrown === "string") return { message: thrown };
  if (typeof thrown !== "object" || thrown === null) {
    return { message: `activity threw a non-Error value: ${describePrimitive(thrown)}` };
  }
  const message = read(thrown, "message");
  const errorLike = thrown instanceof Error || typeof message === "string";
  const name = errorLike ? read(thrown, "name") : undefined;
  const errorName = typeof name === "string" && name !== "" ? name : undefined;
  const out: { message: string } & ThrownErrorFields = {
    message: !errorLike
      ? `activity threw a non-Error value: ${describeValue(thrown)}`
      : typeof message === "string"
        ? message
        : `activity threw ${errorName ?? "an Error"} without a readable message`,
  };
  if (errorName !== undefined) out.error_name = errorName;
  const code = read(thrown, "code");
  if (typeof code === "string" || (typeof code === "number" && Number.isFinite(code))) out.code = code;
  const data = extraProperties(thrown, errorLike);
  if (data !== undefined) out.data = data;
  return out;
}

/** The value's own enumerable properties other than message/name/code/stack, as JSON within the size cap. */
function extraProperties(thrown: object, errorLike: boolean): JsonValue | undefined {
  const picked: Record<string, unknown> = {};
  let any = false;
  for (const key of Object.keys(thrown)) {
    if (errorLike && NOT_DATA.has(key)) continue;
    if (!errorLike && key === "code") continue;
    picked[key] = read(thrown, key);
    any = true;
  }
  if (!any) return undefined;
  const text = safeJson(picked, thrown);
  if (text === undefined || Buffer.byteLength(text, "utf8") > MAX_ERROR_DATA_BYTES) return undefined;
  const value = JSON.parse(text) as JsonValue;
  return typeof value === "object" && value !== null && Object.keys(value).length === 0 ? undefined : value;
}

/**
 * JSON text of `value` that never throws: BigInts become strings, a reference back to an enclosing
 * object (or to `sameAsRoot`, the object `value` was copied from) becomes "[Circular]", and values
 * JSON drops (functions, symbols, undefined) are dropped.
 */
function safeJson(value: unknown, sameAsRoot?: object): string | undefined {
  const ancestors: object[] = [];
  try {
    return JSON.stringify(value, function (this: unknown, _key, v: unknown) {
      if (typeof v === "bigint") return `${v}n`;
      if (typeof v !== "object" || v === null) return v;
      // `this` is the object holding v: drop the finished siblings' subtrees from the path.
      while (ancestors.length > 0 && ancestors.at(-1) !== this) ancestors.pop();
      if (v === sameAsRoot || ancestors.includes(v)) return "[Circular]";
      ancestors.push(v);
      return v;
    });
  } catch {
    return undefined; // a toJSON or getter that throws
  }
}

function describePrimitive(v: unknown): string {
  switch (typeof v) {
    case "bigint":
      return `${v}n (a BigInt)`;
    case "symbol":
      return `${v.toString()} (a Symbol)`;
    case "function":
      return `a function ${v.name || "(anonymous)"}`;
    default:
      return String(v);
  }
}

/** A one-line rendering of any value, for messages. */
function describeValue(v: unknown): string {
  if (typeof v !== "object" || v === null) return typeof v === "string" ? JSON.stringify(v) : describePrimitive(v);
  const proto = Object.getPrototypeOf(v) as { constructor?: { name?: unknown } } | null;
  const ctor = proto === null ? null : ctorName(proto);
  const kind = ctor === null ? "an object with a null prototype" : ctor === "Object" ? "an object" : `an instance of ${ctor}`;
  const json = safeJson(v);
  return json === undefined || json === "{}" ? kind : `${kind} ${clip(json, MAX_DESCRIPTION_CHARS)}`;
}

function ctorName(proto: { constructor?: { name?: unknown } }): string {
  try {
    const name = proto.constructor?.name;
    return typeof name === "string" && name !== "" ? name : "Object";
  } catch {
    return "Object";
  }
}

/** `obj[key]`, or undefined when the getter (or a Proxy trap) throws. */
function read(obj: object, key: string): unknown {
  try {
    return (obj as Record<string, unknown>)[key];
  } catch {
    return undefined;
  }
}
