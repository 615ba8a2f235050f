/**
 * How one log line is written (docs/runtime-semantics.md §10): `pretty`, for people (timestamp,
 * level, message, then every field as `key=value`, coloured on a terminal), or `json`, for log
 * pipelines (one object per line: `timestamp`, `level`, `target`, `message`, then the fields).
 */
import pc from "picocolors";
import type { LogLevel } from "../options.ts";

export type LogFormat = "pretty" | "json";
export const LOG_FORMATS: readonly LogFormat[] = ["pretty", "json"];

/** The keys every JSON line starts with; a field of the same name cannot replace them. */
const CORE_KEYS = new Set(["timestamp", "level", "target", "message"]);

/** Renders a value for a line: Errors as their message, bigints as digits (JSON has neither). */
function plain(_key: string, v: unknown): unknown {
  if (typeof v === "bigint") return v.toString();
  if (v instanceof Error) return v.message;
  return v;
}

/** One JSON object, no newline. Never throws: an unserializable field is replaced by its String(). */
export function formatJsonLine(level: LogLevel, message: string, fields: Record<string, unknown> | undefined, now = new Date()): string {
  const o: Record<string, unknown> = { timestamp: now.toISOString(), level, target: "duroxide", message };
  try {
    if (fields) for (const k of Object.keys(fields)) if (!CORE_KEYS.has(k)) o[k] = fields[k];
    return JSON.stringify(o, plain);
  } catch {
    // A cycle, a throwing toJSON or getter in some field: keep the line and every field that
    // serializes; only the bad ones become their String() (docs/runtime-semantics.md §10.1).
    const safe: Record<string, unknown> = { timestamp: o.timestamp, level, target: "duroxide", message };
    let keys: string[] = [];
    try {
      keys = fields ? Object.keys(fields) : [];
    } catch {
      // fields is a hostile Proxy: write the line without them.
    }
    for (const k of keys) {
      if (CORE_KEYS.has(k)) continue;
      let read = false;
      let v: unknown;
      try {
        v = fields![k];
        read = true;
        JSON.stringify(v, plain);
        safe[k] = v;
      } catch {
        safe[k] = read ? safeString(v) : "[unreadable]";
      }
    }
    return JSON.stringify(safe, plain);
  }
}

type Colors = ReturnType<typeof pc.createColors>;
const COLORED = pc.createColors(true);
const PLAIN = pc.createColors(false);

const LEVEL_LABEL: Record<LogLevel, string> = { debug: "DEBUG", info: "INFO ", warn: "WARN ", error: "ERROR" };

function levelColor(c: Colors, level: LogLevel): (s: string) => string {
  switch (level) {
    case "debug":
      return c.gray;
    case "info":
      return c.green;
    case "warn":
      return c.yellow;
    default:
      return c.red;
  }
}

/** `2025-01-02T03:04:05.678Z INFO  duroxide message key=value ...`, with ANSI colours when `color`. */
export function formatPrettyLine(level: LogLevel, message: string, fields: Record<string, unknown> | undefined, color: boolean, now = new Date()): string {
  const c = color ? COLORED : PLAIN;
  let line = `${c.dim(now.toISOString())} ${levelColor(c, level)(LEVEL_LABEL[level])} ${c.dim("duroxide")} ${message}`;
  if (fields) {
    for (const k of Object.keys(fields)) {
      const v = fields[k];
      if (v === undefined) continue;
      line += ` ${c.cyan(k)}=${prettyValue(v)}`;
    }
  }
  return line;
}

/** Bare when unambiguous (numbers, simple words), JSON-quoted otherwise, so a line stays parseable. */
function prettyValue(v: unknown): string {
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return String(v);
  if (typeof v === "string") return /^[\w.:/@+-]+$/.test(v) ? v : JSON.stringify(v);
  if (v instanceof Error) return JSON.stringify(v.message);
  try {
    return JSON.stringify(v, plain) ?? String(v);
  } catch {
    return JSON.stringify(safeString(v));
  }
}

function safeString(v: unknown): string {
  try {
    return String(v);
  } catch {
    return "[unprintable]";
  }
}

/**
 * Whether pretty lines to a stream get colours: never when `NO_COLOR` is set to anything but ""
 * (no-color.org), else only when the stream is a terminal.
 */
export function colorWanted(stream: { isTTY?: boolean } | undefined, env: Record<string, string | undefined> = process.env): boolean {
  const noColor = env.NO_COLOR;
  if (noColor !== undefined && noColor !== "") return false;
  return stream?.isTTY === true;
}
