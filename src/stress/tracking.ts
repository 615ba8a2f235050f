/**
 * Result tracking (docs/stress-tests.md §4.2): prepends a run to `stress-test-results.md` (newest
 * first) with the commit, the commits since the last tracked entry, and the table. Git is only
 * read.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { writeTrendChart } from "./report/trend-chart.ts";
import { TABLE_MARKER } from "./table.ts";

export const RESULTS_FILE = "stress-test-results.md";
export const RESULTS_TITLE = "# Duroxide Stress Test Results";
const DESCRIPTION =
  "Parallel-orchestrations runs recorded by `bun run scripts/parallel_orchestrations.ts --track`, newest first.";

export interface TrackingEntry {
  commit: string;
  /** `<sha> <subject>` lines, or the text "No commits since last test". */
  changes: string;
  /** The table as printed (marker and blank lines are dropped). */
  table: string;
  /** Extra line shown above the table (e.g. the config), optional. */
  note?: string;
  date?: Date;
}

/** "YYYY-MM-DD HH:MM:SS UTC". */
export function utcTimestamp(d: Date): string {
  return `${d.toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

/** The table lines after the marker, without ANSI codes and blank lines. */
export function extractTable(output: string): string {
  const i = output.indexOf(TABLE_MARKER);
  const text = i >= 0 ? output.slice(i + TABLE_MARKER.length) : output;
  return text
    .replace(/\x1b\[[0-9;]*m/g, "")
    .split("\n")
    .filter((l) => l.trim().length > 0)
    .join("\n");
}

/** The commit of the newest entry: the third space-separated field of the first `## Commit:` line. */
export function lastTrackedCommit(fileText: string): string | null {
  const line = fileText.split("\n").find((l) => l.startsWith("## Commit:"));
  return line?.split(" ")[2] ?? null;
}

export function formatEntry(e: TrackingEntry): string {
  const parts = [
    "",
    "---",
    "",
    `## Commit: ${e.commit} - Timestamp: ${utcTimestamp(e.date ?? new Date())}`,
    "",
    "### Changes Since Last Test",
    "```",
    e.changes.trimEnd(),
    "```",
    "",
    "### Test Results",
  ];
  if (e.note !== undefined) parts.push(e.note, "");
  parts.push("```", e.table.trimEnd(), "```", "");
  return parts.join("\n");
}

/** Puts `entry` under the title block (title line + 3 lines) of `existing`, or starts a new file. */
export function prependEntry(existing: string | null, entry: string): string {
  const header = [RESULTS_TITLE, "", DESCRIPTION, ""];
  if (existing === null || existing.trim() === "") return `${header.join("\n")}\n${entry}`;
  const lines = existing.split("\n");
  const t = lines.findIndex((l) => l.startsWith(RESULTS_TITLE));
  if (t < 0) return `${header.join("\n")}\n${entry}${existing}`;
  const top = lines.slice(0, t + 4).join("\n");
  const rest = lines.slice(t + 4).join("\n");
  return `${top}\n${entry}${rest}`;
}

/** HEAD's short sha in `root`, or null outside a git checkout. */
export function shortHead(root: string): string | null {
  return git(root, ["rev-parse", "--short", "HEAD"]);
}

function git(root: string, args: string[]): string | null {
  try {
    const r = Bun.spawnSync(["git", "-C", root, ...args], { stdout: "pipe", stderr: "pipe" });
    return r.exitCode === 0 ? r.stdout.toString().trim() : null;
  } catch {
    return null;
  }
}

/**
 * Prepends one entry to `<root>/stress-test-results.md`: HEAD's short sha, `git log LAST..HEAD`
 * (the last 20 commits for a first entry) and `tableOutput`'s table, then redraws the trend chart
 * beside it (`stress-test-results-trend.svg`, linked from the file; docs/stress-tests.md §10.4).
 * Returns the file path.
 */
export function trackResults(root: string, tableOutput: string, options: { note?: string; file?: string } = {}): string {
  const path = join(root, options.file ?? RESULTS_FILE);
  const existing = existsSync(path) ? readFileSync(path, "utf8") : null;
  const commit = git(root, ["rev-parse", "--short", "HEAD"]) ?? "unknown";
  const last = existing === null ? null : lastTrackedCommit(existing);
  const log =
    last === null
      ? git(root, ["log", "-20", "--pretty=%h %s"])
      : git(root, ["log", "--pretty=%h %s", `${last}..HEAD`]);
  let changes = log === null || log === "" ? "No commits since last test" : log;
  const dirty = git(root, ["status", "--porcelain", "--untracked-files=no"]);
  if (dirty !== null && dirty !== "") changes += "\n(plus uncommitted changes in the working tree)";
  const entry = formatEntry({ commit, changes, table: extractTable(tableOutput), ...(options.note === undefined ? {} : { note: options.note }) });
  writeFileSync(path, prependEntry(existing, entry));
  writeTrendChart(path);
  return path;
}
