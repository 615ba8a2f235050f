/**
 * How error messages show values: the offending argument (`... must be a positive integer, got
 * ${describe(v)}`) and payload text (`activity "A" with input ${clip(input)}`).
 */

/** Longest rendering of a value before it is cut (error messages stay one readable line). */
const MAX_VALUE_CHARS = 80;

/**
 * A short rendering of any value: strings quoted, numbers and booleans as written, BigInts with
 * their `n`, functions and symbols by kind, Sets and Maps by size, anything else as (clipped) JSON.
 */
export function describe(value: unknown): string {
  try {
    return describeUnguarded(value);
  } catch {
    // A Proxy whose traps throw, an object whose toString/toJSON throws: still say something.
    return "an unprintable value";
  }
}

function describeUnguarded(value: unknown): string {
  switch (typeof value) {
    case "undefined":
      return "undefined";
    case "string":
      return clip(JSON.stringify(value), MAX_VALUE_CHARS);
    case "number":
    case "boolean":
      return String(value);
    case "bigint":
      return `${value}n`;
    case "function":
      return "a function";
    case "symbol":
      return value.toString();
  }
  if (value instanceof Set) return `Set(${value.size})`;
  if (value instanceof Map) return `Map(${value.size})`;
  try {
    return clip(JSON.stringify(value) ?? String(value), MAX_VALUE_CHARS);
  } catch {
    // Cyclic, a BigInt inside, or a throwing toJSON: its own toString, else its tag ("[object Object]").
    try {
      return clip(String(value), MAX_VALUE_CHARS);
    } catch {
      return Object.prototype.toString.call(value);
    }
  }
}

/** `text` cut to `max` characters, saying how long it was. */
export function clip(text: string, max = 120): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} chars)`;
}
