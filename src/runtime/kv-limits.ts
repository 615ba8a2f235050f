/**
 * The KV store's default limits and how a value is measured against them
 * (docs/runtime-semantics.md §3.9, §5.5). The defaults are the original's, exported under its
 * names; `maxKvKeys` / `maxKvValueBytes` override them per runtime.
 */

/** Most user KV keys per instance, counted over the whole state after a turn. */
export const MAX_KV_KEYS = 150;

/** Largest KV value: 64 KiB, in UTF-8 bytes of the value as the code passed it (see kvValueBytes). */
export const MAX_KV_VALUE_BYTES = 64 * 1024;

/**
 * The size of a stored KV value (its JSON text) as the limit counts it: a string counts its own
 * UTF-8 bytes, not the quotes and escapes JSON wraps it in, so a 64 KiB string fits a 64 KiB limit
 * as it does in the original (whose values are strings); any other value counts its JSON text.
 */
export function kvValueBytes(encoded: string): number {
  if (encoded.startsWith('"')) {
    try {
      const text: unknown = JSON.parse(encoded);
      if (typeof text === "string") return Buffer.byteLength(text, "utf8");
    } catch {
      // Not JSON after all (cannot happen for values ctx.setValue encoded): count the text as is.
    }
  }
  return Buffer.byteLength(encoded, "utf8");
}
