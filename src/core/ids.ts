/**
 * The rule for identifiers: instance ids (and session ids) and the names that are stored as keys
 * (orchestration, activity, event and queue names, KV keys, tags). Shared by the client, the
 * orchestration context and every provider's input validation (docs/runtime-semantics.md §5.7,
 * docs/provider-contract.md §8), so one id is refused or accepted the same way everywhere.
 *
 * Why: stores keep text as UTF-8. A lone UTF-16 surrogate has no UTF-8 form and is stored as
 * U+FFFD (SQLite) or refused (PostgreSQL), so "k\ud800" and "k\udc00" would become one instance;
 * PostgreSQL text cannot hold NUL. Ids are index keys, so their length is capped well below what
 * a PostgreSQL index entry holds (about 2,700 bytes); whitespace-only ids are always a mistake.
 */
import { describe } from "./describe.ts";

/** Longest instance or session id, in UTF-8 bytes. */
export const MAX_ID_BYTES = 1024;

/** A NUL, or a surrogate half without its partner: text no store keeps exactly. */
const MALFORMED = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** The ids a child gets by default add at most this many bytes. */
// The longest automatic suffix: `::sub::<execution id>::<event id>` (docs/runtime-semantics.md §3.6).
export const CHILD_ID_SUFFIX_BYTES = "::sub::".length + "::".length + 2 * String(Number.MAX_SAFE_INTEGER).length;

/** `s` shown in a message: JSON-quoted, so surrogates and NUL show as escapes; clipped. */
const show = (s: string): string => describe(s);

/** Why `s` is not well-formed text, or null. */
function malformed(s: string): string | null {
  const m = MALFORMED.exec(s);
  if (m === null) return null;
  const at = m.index;
  if (m[0] === "\u0000") return `${show(s)} contains a NUL character (at index ${at})`;
  const unit = `\\u${m[0].charCodeAt(0).toString(16)}`;
  return `${show(s)} contains an unpaired UTF-16 surrogate (${unit} at index ${at}), which storage would replace with U+FFFD and so merge with other ids`;
}

/**
 * Why `v` is not a valid instance or session id (non-empty, not only whitespace, well-formed
 * Unicode without NUL, at most MAX_ID_BYTES of UTF-8), as "... must be ..., got ...", or null.
 */
export function idProblem(what: string, v: unknown): string | null {
  if (typeof v !== "string" || v.length === 0) return `${what} must be a non-empty string, got ${describe(v)}`;
  if (v.trim().length === 0) return `${what} must not be only whitespace, got ${show(v)}`;
  const bad = malformed(v);
  if (bad !== null) return `${what} must be well-formed Unicode text without NUL: ${bad}`;
  const bytes = Buffer.byteLength(v, "utf8");
  if (bytes > MAX_ID_BYTES) return `${what} must be at most ${MAX_ID_BYTES} bytes of UTF-8, got ${bytes} bytes (${show(v)})`;
  return null;
}

/**
 * Longest name or key, in UTF-8 bytes. A KV key is indexed together with its instance id, so an id
 * and a key at their limits still fit a PostgreSQL index entry.
 */
export const MAX_NAME_BYTES = 1024;

/** Why `v` is not a valid name or key (non-empty, well-formed Unicode without NUL, at most MAX_NAME_BYTES), or null. */
export function nameProblem(what: string, v: unknown): string | null {
  if (typeof v !== "string" || v.length === 0) return `${what} must be a non-empty string, got ${describe(v)}`;
  const bad = malformed(v);
  if (bad !== null) return `${what} must be well-formed Unicode text without NUL: ${bad}`;
  const bytes = Buffer.byteLength(v, "utf8");
  if (bytes > MAX_NAME_BYTES) return `${what} must be at most ${MAX_NAME_BYTES} bytes of UTF-8, got ${bytes} bytes (${show(v)})`;
  return null;
}

/** True when `s` holds a NUL or an unpaired surrogate. */
export function isMalformedText(s: string): boolean {
  return MALFORMED.test(s);
}
