/**
 * Minimal shape checking for the data model's JSON. Each union member is described by a field
 * spec; `checkFields` verifies a parsed object against it and names the first field that is wrong.
 * Kept tiny on purpose: it runs on every history event a fetch decodes.
 */
import { DecodeError } from "./errors.ts";

/** s: string, i: non-negative safe integer, b: boolean, any: any JSON value, x: custom check. */
export type FieldKind =
  | "s"
  | "s?" // string | null | absent
  | "s|null" // string | null, must be present
  | "i"
  | "i|null"
  | "i?" // non-negative integer | absent
  | "b"
  | "pairs?" // optional array of [string, string]
  | ((v: unknown) => string | null); // custom: returns an error message or null

export type FieldSpec = Readonly<Record<string, FieldKind>>;

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function isId(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

function checkOne(kind: FieldKind, v: unknown): string | null {
  switch (kind) {
    case "s":
      return typeof v === "string" ? null : "expected a string";
    case "s?":
      return v === undefined || v === null || typeof v === "string" ? null : "expected a string or null";
    case "s|null":
      return v === null || typeof v === "string" ? null : "expected a string or null";
    case "i":
      return isId(v) ? null : "expected a non-negative integer";
    case "i|null":
      return v === null || isId(v) ? null : "expected a non-negative integer or null";
    case "i?":
      return v === undefined || isId(v) ? null : "expected a non-negative integer or nothing";
    case "b":
      return typeof v === "boolean" ? null : "expected a boolean";
    case "pairs?":
      if (v === undefined || v === null) return null;
      if (!Array.isArray(v)) return "expected an array of [string, string] pairs";
      for (const p of v) {
        if (!Array.isArray(p) || p.length !== 2 || typeof p[0] !== "string" || typeof p[1] !== "string") {
          return "expected an array of [string, string] pairs";
        }
      }
      return null;
    default:
      return kind(v);
  }
}

export function checkFields(what: string, obj: Record<string, unknown>, spec: FieldSpec): void {
  for (const key in spec) {
    const problem = checkOne(spec[key]!, obj[key]);
    if (problem !== null) {
      throw new DecodeError(what, `field "${key}" of ${String(obj.type ?? what)}: ${problem}`);
    }
  }
}

export function parseJson(what: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new DecodeError(what, `not valid JSON (${(err as Error).message})`);
  }
}
