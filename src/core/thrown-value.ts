/**
 * Thrown values as failure messages. JavaScript code may throw anything: a BigInt, a Symbol, a
 * null-prototype or cyclic object, a Proxy whose traps throw, an Error whose `message` getter
 * throws. The failure it causes must still say what was thrown, and turning the value into text
 * must never throw itself (docs/runtime-semantics.md §2.7): every read here is guarded.
 */
import { describe } from "./describe.ts";

/** `value instanceof Error`, false when even asking throws (a revoked Proxy). */
export function isError(value: unknown): value is Error {
  try {
    return value instanceof Error;
  } catch {
    return false;
  }
}

/** `value instanceof cls`, false when asking throws. */
export function isInstance<T>(value: unknown, cls: abstract new (...args: any[]) => T): value is T {
  try {
    return value instanceof cls;
  } catch {
    return false;
  }
}

/** A property read that cannot throw (getters and Proxy traps may). */
function read(obj: object, key: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: (obj as Record<string, unknown>)[key] };
  } catch {
    return { ok: false };
  }
}

/** What a thrown non-Error value was, e.g. `123n (bigint)`, `Symbol(x) (symbol)`, `{"a":1} (object)`. */
export function describeThrown(value: unknown): string {
  return `${describe(value)} (${kindOf(value)})`;
}

function kindOf(value: unknown): string {
  if (value === null) return "null";
  try {
    return Array.isArray(value) ? "array" : typeof value;
  } catch {
    return typeof value; // a revoked Proxy refuses even Array.isArray
  }
}

/** An Error's message, whatever its `message` property holds or does when read. */
export function messageOf(err: Error): string {
  const m = read(err, "message");
  return !m.ok ? "(its message could not be read)" : typeof m.value === "string" ? m.value : describe(m.value);
}

/**
 * The message of a thrown Error, with its name and `code` when they say more than "Error":
 * `ValidationError [E_INPUT]: bad order` (the shape Node uses for coded errors). A plain Error
 * keeps its message unchanged.
 */
export function errorMessage(err: Error): string {
  const message = messageOf(err);
  const n = read(err, "name");
  const name = n.ok && typeof n.value === "string" && n.value.length > 0 ? n.value : "Error";
  const c = read(err, "code");
  const code = c.ok && (typeof c.value === "string" || typeof c.value === "number" || typeof c.value === "bigint") ? String(c.value) : null;
  if (name === "Error" && code === null) return message;
  return `${name}${code !== null ? ` [${code}]` : ""}: ${message}`;
}

/**
 * The Error code should see for a thrown value: an Error as it is, a string as an Error with that
 * message, anything else as an Error describing it (the original kept as `cause`).
 * `who` names the thrower in that description ("orchestration", "activity").
 */
export function toError(value: unknown, who: string): Error {
  if (isError(value)) return value;
  if (typeof value === "string") return new Error(value);
  return new Error(`${who} threw a non-Error value: ${describeThrown(value)}`, { cause: value });
}
