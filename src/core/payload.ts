/**
 * The payload codec: inputs, outputs, event data and KV values travel and are stored as JSON text,
 * encoded once where they enter (client, orchestration context, activity worker, replay engine)
 * and decoded where they are handed back to user code.
 *
 * Encoding is strict (docs/runtime-semantics.md §5.6): a value JSON cannot carry exactly (NaN,
 * Infinity, a BigInt, a function, a symbol, a Map, a Set, an Error, a typed array, a cycle, ...) is
 * refused with the path of the offending part, instead of being stored as `null` or `{}` (what
 * plain `JSON.stringify` does) and handed back changed.
 */
import { describe } from "./describe.ts";
import { isError, messageOf } from "./thrown-value.ts";

/** The runtime's default `maxPayloadBytes` (docs/runtime-semantics.md §5.5); the client's default too. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1_048_576;

/** A value's JSON text, or why it has none: `problem` completes a sentence "<what> is ...". */
export type EncodedPayload = { ok: true; text: string } | { ok: false; problem: string };

/** UTF-8 size of a payload's text: what `maxPayloadBytes` limits. */
export function payloadBytes(text: string): number {
  return Buffer.byteLength(text, "utf8");
}

/** Thrown from the replacer to stop encoding at the first offending value. */
class NotJson {
  constructor(
    readonly path: string,
    readonly what: string,
  ) {}
}

/** Where each object being encoded sits: its holder and key, so a path is built only on error. */
type Links = Map<object, { holder: object; key: string }>;

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function step(holder: object, key: string): string {
  if (Array.isArray(holder)) return `[${key}]`;
  return IDENTIFIER.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

function pathOf(links: Links, root: string, holder: object, key: string): string {
  const parts: string[] = [];
  let h: object | undefined = holder;
  let k = key;
  for (;;) {
    const up: { holder: object; key: string } | undefined = links.get(h);
    if (up === undefined) break; // the wrapper JSON.stringify puts around the top-level value
    parts.push(step(h, k));
    h = up.holder;
    k = up.key;
  }
  return root + parts.reverse().join("");
}

/** True when `value` is already being encoded above `holder` (a cycle), not merely shared. */
function isAncestor(links: Links, value: object, holder: object): boolean {
  for (let h: object | undefined = holder; h !== undefined; h = links.get(h)?.holder) {
    if (h === value) return true;
  }
  return false;
}

/** "a Map", "an Error": the class name of `v` with its article. */
function kind(v: object): string {
  const name = v.constructor?.name || "object";
  return `${/^[AEIO]/.test(name) ? "an" : "a"} ${name}`; // "a Uint8Array", "an Int8Array"
}

/** Built-ins whose content JSON drops or reshapes (a Map becomes {}, an Error {}, a Uint8Array {"0":..}). */
function lossyBuiltin(v: object): string | null {
  if (v instanceof Map) return "a Map (JSON would store {}; convert it with Object.fromEntries or to an array of entries)";
  if (v instanceof Set) return "a Set (JSON would store {}; convert it to an array)";
  if (v instanceof WeakMap || v instanceof WeakSet || v instanceof WeakRef) return `${kind(v)} (JSON would store {})`;
  if (v instanceof Error) return `${kind(v)} (JSON would store {} and lose its message; pass { message: err.message } instead)`;
  if (v instanceof RegExp) return "a RegExp (JSON would store {}; pass its source as a string)";
  if (v instanceof Promise) return "a Promise (await it first)";
  if (ArrayBuffer.isView(v)) return `${kind(v)} (JSON would store an object of indices; convert it with Array.from)`;
  if (v instanceof ArrayBuffer || v instanceof SharedArrayBuffer) return `${kind(v)} (JSON would store {})`;
  if (typeof Blob !== "undefined" && v instanceof Blob) return "a Blob (JSON would store {}; read its content first)";
  return null;
}

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === null || proto === Object.prototype || Object.getPrototypeOf(proto) === null;
}

/** What is wrong with one value JSON.stringify is about to write (after its toJSON), or null. */
function problemOf(value: unknown, inArray: boolean): string | null {
  switch (typeof value) {
    case "number":
      return Number.isFinite(value) ? null : `${value} (JSON has no NaN or Infinity; it would be stored as null)`;
    case "bigint":
      return "a BigInt (JSON has no BigInt; convert it to a string or a number)";
    case "function":
      return `a function (JSON would ${inArray ? "store null" : "drop it"})`;
    case "symbol":
      return `a symbol (JSON would ${inArray ? "store null" : "drop it"})`;
    case "object": {
      if (value === null || Array.isArray(value) || isPlainObject(value)) return null;
      if (value instanceof Number) return problemOf(value.valueOf(), inArray);
      if (value instanceof String || value instanceof Boolean) return null;
      const lossy = lossyBuiltin(value);
      if (lossy !== null) return lossy;
      // A class instance keeps its own enumerable fields (its class is not kept); one without any
      // holds its data where JSON cannot see it (private fields, getters) and would become {}.
      if (Object.keys(value).length === 0) {
        return `an instance of ${value.constructor?.name || "a class"} with no enumerable fields (JSON would store {}; pass a plain object or give the class a toJSON method)`;
      }
      return null;
    }
    default:
      // string, boolean, and undefined (an absent field; null in an array, as JSON.stringify does).
      return null;
  }
}

/**
 * The common case, checked fast: only finite numbers, strings, booleans, null, undefined, arrays
 * and plain objects without toJSON, no cycles. Then JSON.stringify writes exactly this value, and
 * the path-tracking encoder (several times slower) is not needed. False means "look closer",
 * not "refused".
 */
function plainJson(v: unknown, ancestors: Set<object>, depth: number): boolean {
  switch (typeof v) {
    case "number":
      return Number.isFinite(v);
    case "string":
    case "boolean":
    case "undefined":
      return true;
    case "object": {
      if (v === null) return true;
      if (depth > 512 || ancestors.has(v) || typeof (v as { toJSON?: unknown }).toJSON === "function") return false;
      const isArray = Array.isArray(v);
      if (!isArray && !isPlainObject(v)) return false;
      ancestors.add(v);
      let ok = true;
      if (isArray) {
        for (let i = 0; ok && i < v.length; i++) ok = plainJson(v[i], ancestors, depth + 1);
      } else {
        for (const k of Object.keys(v)) {
          if (!plainJson((v as Record<string, unknown>)[k], ancestors, depth + 1)) {
            ok = false;
            break;
          }
        }
      }
      ancestors.delete(v);
      return ok;
    }
    default:
      return false;
  }
}

/**
 * JSON-encodes a payload, strictly. `undefined` at the top (an omitted argument, a void result) is
 * encoded as null, so the receiver gets null rather than a missing value; inside a value it means
 * "absent" (an object field is left out, an array slot becomes null), as in JSON.stringify. A
 * `toJSON` method (Date, for one) is honoured. Anything else JSON cannot represent exactly is
 * refused, naming its path from `root`: `value.items[3] is NaN (...)`.
 */
export function tryEncodePayload(value: unknown, root = "value"): EncodedPayload {
  let plain = false;
  try {
    plain = plainJson(value, new Set(), 0);
  } catch {
    // A getter threw: the path-tracking encoder below reports it.
  }
  if (plain) return { ok: true, text: JSON.stringify(value === undefined ? null : value) };
  const links: Links = new Map();
  function strict(this: unknown, key: string, v: unknown): unknown {
    const holder = this as object;
    let problem = problemOf(v, Array.isArray(holder));
    // An invalid Date's toJSON returns null: the original value is still on its holder.
    if (v === null && problem === null && (holder as Record<string, unknown>)[key] instanceof Date) problem = "an invalid Date (JSON would store null)";
    if (problem !== null) throw new NotJson(pathOf(links, root, holder, key), problem);
    if (typeof v === "object" && v !== null) {
      if (links.has(v) && isAncestor(links, v, holder)) {
        throw new NotJson(pathOf(links, root, holder, key), `a reference back to ${pathOf(links, root, links.get(v)!.holder, links.get(v)!.key)} (a cycle)`);
      }
      links.set(v, { holder, key });
    }
    return v;
  }
  let text: string | undefined;
  try {
    text = JSON.stringify(value === undefined ? null : value, strict);
  } catch (err) {
    if (err instanceof NotJson) return { ok: false, problem: `not JSON-serializable: ${err.path} is ${err.what}` };
    // A toJSON may throw anything; saying what must not throw in turn.
    return { ok: false, problem: `not JSON-serializable: ${isError(err) ? messageOf(err) : describe(err)}` };
  }
  // Unreachable for the values problemOf lets through; kept so a missed case is refused, not stored.
  return text === undefined ? { ok: false, problem: `not JSON-serializable (${typeof value})` } : { ok: true, text };
}

/**
 * `tryEncodePayload` for entry points that refuse bad input by throwing: the error is built by
 * `toError` from a message "<what> is not JSON-serializable: <root>.path is ...".
 */
export function encodePayload(value: unknown, what: string, toError: (message: string) => Error, root?: string): string {
  const r = tryEncodePayload(value, root);
  if (!r.ok) throw toError(`${what} is ${r.problem}`);
  return r.text;
}

/** Decodes a stored payload; text that is not JSON (written by other tools) is returned as the raw string. */
export function decodePayload(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
