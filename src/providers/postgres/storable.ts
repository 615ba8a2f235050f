/**
 * PostgreSQL `text` cannot hold NUL, and silently replaces an unpaired UTF-16 surrogate with
 * U+FFFD: two different ids ("a\ud800", "a\udbff") would then become one row, and a delete of one
 * would delete the other. Every string a call sends is checked first and refused with
 * InvalidArgument instead. Events and work items are JSON text (which escapes both) and the
 * free-text values are stored through text-codec.ts, so only ids, names, keys and tags can trip
 * this.
 */
import { ProviderError } from "../../core/errors.ts";
import { PackedTexts } from "./packed-texts.ts";

/** A NUL, or a surrogate half without its partner: what PostgreSQL text cannot hold exactly. */
export const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function unstorable(v: unknown, depth: number): string | null {
  if (typeof v === "string") return UNSTORABLE.test(v) ? v : null;
  // JSON text and type names: storable by construction (packed-texts.ts).
  if (depth > 3 || v === null || typeof v !== "object" || v instanceof PackedTexts) return null;
  for (const x of Array.isArray(v) ? v : Object.values(v)) {
    const bad = unstorable(x, depth + 1);
    if (bad !== null) return bad;
  }
  return null;
}

/** Throws InvalidArgument when a string in `values` (or in an array or object among them) cannot be stored exactly. */
export function checkStorable(op: string, values: readonly unknown[]): void {
  const bad = unstorable(values, 0);
  if (bad !== null) {
    throw ProviderError.invalidArgument(
      op,
      `${JSON.stringify(bad.slice(0, 80))} contains a NUL character or an unpaired UTF-16 surrogate, which PostgreSQL text cannot store exactly: ids, names, keys and tags must be well-formed Unicode without NUL`,
    );
  }
}
