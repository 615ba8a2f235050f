/**
 * The payload codec: inputs, outputs, event data and KV values travel and are stored as JSON text,
 * encoded once where they enter (client, orchestration context, activity worker, replay engine)
 * and decoded where they are handed back to user code.
 */
import { describe } from "./describe.ts";
import { isError, messageOf } from "./thrown-value.ts";

/** A value's JSON text, or why it has none: `problem` completes a sentence "<what> is ...". */
export type EncodedPayload = { ok: true; text: string } | { ok: false; problem: string };

/**
 * JSON-encodes a payload. `undefined` (an omitted argument, a void result) is encoded as null, so
 * the receiver gets null rather than a missing value; values JSON cannot represent (functions,
 * symbols, BigInts, cycles) are refused rather than silently stored as something else.
 */
export function tryEncodePayload(value: unknown): EncodedPayload {
  let text: string | undefined;
  try {
    text = JSON.stringify(value === undefined ? null : value);
  } catch (err) {
    // A toJSON may throw anything; saying what must not throw in turn.
    return { ok: false, problem: `not JSON-serializable: ${isError(err) ? messageOf(err) : describe(err)}` };
  }
  return text === undefined ? { ok: false, problem: `not JSON-serializable (${typeof value})` } : { ok: true, text };
}

/**
 * `tryEncodePayload` for entry points that refuse bad input by throwing: the error is built by
 * `toError` from a message "<what> is not JSON-serializable ...".
 */
export function encodePayload(value: unknown, what: string, toError: (message: string) => Error): string {
  const r = tryEncodePayload(value);
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
