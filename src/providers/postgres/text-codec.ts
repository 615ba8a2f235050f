/**
 * PostgreSQL `text` cannot hold NUL, and silently replaces lone UTF-16 surrogates. Free-text
 * values a user controls (an execution's output, custom status, KV values) are stored as they
 * are when they are clean, and otherwise as a marker followed by their JSON encoding (which
 * escapes both), so every string round-trips exactly. A clean string that happens to start with
 * the marker is escaped too, so reading is never ambiguous.
 */
import { UNSTORABLE } from "./storable.ts";

const MARKER = "\u0001dx-json:";

export function encodeText(s: string): string;
export function encodeText(s: string | null): string | null;
export function encodeText(s: string | null): string | null {
  if (s === null) return null;
  return s.startsWith(MARKER) || UNSTORABLE.test(s) ? MARKER + JSON.stringify(s) : s;
}

export function decodeText(t: string): string;
export function decodeText(t: string | null): string | null;
export function decodeText(t: string | null): string | null {
  if (t === null || !t.startsWith(MARKER)) return t;
  return JSON.parse(t.slice(MARKER.length)) as string;
}
