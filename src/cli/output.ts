/**
 * How the CLI writes (docs/cli.md "Output"): text made safe for a terminal (ids and payloads come
 * from whoever started an instance, so an ANSI escape or a carriage return in them is shown, never
 * obeyed), colour only on a terminal and never under NO_COLOR, aligned columns, and JSON that a
 * script can parse with the same control characters escaped.
 */
import picocolors from "picocolors";

export type Colors = ReturnType<typeof picocolors.createColors>;

/** Where a command writes, and how (tests and the entry point pass their own). */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  env: Record<string, string | undefined>;
  /** stdout is a terminal: colour is on unless NO_COLOR says otherwise. */
  isTTY: boolean;
}

/**
 * Colour on a terminal, or when FORCE_COLOR asks for it; never when NO_COLOR is set (any value,
 * https://no-color.org) or for JSON output.
 */
export function colorsFor(io: CliIo, json: boolean): Colors {
  const env = io.env;
  const noColor = env.NO_COLOR !== undefined && env.NO_COLOR !== "";
  const force = env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== "" && env.FORCE_COLOR !== "0";
  return picocolors.createColors(!json && !noColor && (io.isTTY || force));
}

/**
 * What safe() and toJson() escape: C0 and C1 controls, DEL, the bidirectional marks (ALM, LRM,
 * RLM), embeddings, overrides and isolates, and the line and paragraph separators. One list, so
 * `--json` escapes exactly what the text output does (docs/cli.md "Output").
 */
// eslint-disable-next-line no-control-regex
const BIDI_AND_CONTROLS = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
/** The same without C0, which JSON.stringify already escapes. */
const JSON_UNESCAPED = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * Text a terminal shows as written: C0 and C1 controls, DEL, and the bidirectional overrides
 * that reorder what follows them become visible escapes (`\x1b`, `\u202e`).
 */
export function safe(text: string): string {
  return text.replace(BIDI_AND_CONTROLS, (c) => {
    const code = c.charCodeAt(0);
    if (c === "\n") return "\\n";
    if (c === "\t") return "\\t";
    if (c === "\r") return "\\r";
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

/** `text` shortened to `max` characters (payloads in tables and timelines), saying how long it was. */
export function shorten(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max)}… (${text.length} chars)`;
}

/** A payload (stored JSON text) for one line: made safe and shortened. */
export function payload(text: string | null | undefined, max = 60): string {
  if (text === null || text === undefined) return "";
  return safe(shorten(text, max));
}

/**
 * JSON for scripts: indented, and with DEL, C1 controls and the bidirectional marks escaped too
 * (JSON.stringify escapes only C0), so piping it to a terminal is as safe as the text output.
 */
export function toJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(JSON_UNESCAPED, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** Width of a string as shown, without colour escapes. */
function visibleLength(s: string): number {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\x1b\[[0-9;]*m/g, "").length;
}

/**
 * Rows as aligned columns under a header. Cells must already be safe; colour escapes do not
 * count towards a column's width.
 */
export function table(c: Colors, header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => visibleLength(r[i] ?? ""))));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell + " ".repeat(widths[i]! - visibleLength(cell))))
      .join("  ")
      .trimEnd();
  return [c.bold(line(header)), ...rows.map(line)].join("\n");
}

/** "key  value" lines with the keys aligned. */
export function fields(c: Colors, pairs: [string, string][]): string {
  const w = Math.max(0, ...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${c.dim(k.padEnd(w))}  ${v}`).join("\n");
}

/** A status word in its colour. */
export function statusColor(c: Colors, status: string): string {
  switch (status) {
    case "Completed":
      return c.green(status);
    case "Failed":
      return c.red(status);
    case "Running":
      return c.cyan(status);
    case "ContinuedAsNew":
      return c.blue(status);
    default:
      return c.yellow(status);
  }
}

/** A time in ms as "2024-05-01 12:00:03Z" (UTC, one width for aligned columns). */
export function timestamp(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "-";
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return "-";
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

/** A span in ms as "+0.004s", "+12.5s", "+3m04s", "+2h05m", "+3d04h". */
export function offset(ms: number): string {
  const sign = ms < 0 ? "-" : "+";
  const a = Math.abs(ms);
  if (a < 10_000) return `${sign}${(a / 1000).toFixed(3)}s`;
  if (a < 60_000) return `${sign}${(a / 1000).toFixed(1)}s`;
  const s = Math.floor(a / 1000);
  if (s < 3600) return `${sign}${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  if (s < 86_400) return `${sign}${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, "0")}m`;
  return `${sign}${Math.floor(s / 86_400)}d${String(Math.floor(s / 3600) % 24).padStart(2, "0")}h`;
}
