/**
 * Reads back the entries `--track` wrote to stress-test-results.md (docs/stress-tests.md §4.2),
 * for the trend chart: each entry's commit, time, config note, subject and table rows. The table
 * is read by its header: the columns present are found by name, and since every cell after the
 * Provider is one word, a row's last cells are those columns and the rest is the Provider label
 * (which may contain spaces). Lines that are not rows (the rule, the legend) are skipped.
 */
import { TABLE_COLUMNS } from "../table.ts";

export interface TrackedRow {
  provider: string;
  /** orch/worker slots, e.g. "1/1". */
  config: string;
  /** Figures by table header ("Orch/sec", "p95 lat ms", "Peak RSS MB", ...; the second "Config" column as "Config failures"); a column the entry lacks is absent. */
  figures: Record<string, number>;
}

export interface TrackedEntry {
  /** Short sha as written in the `## Commit:` line. */
  commit: string;
  /** "YYYY-MM-DD HH:MM:SS UTC". */
  timestamp: string;
  /** The commit's subject, when the changes list starts with it. */
  subject: string | null;
  /** The line above the table (e.g. "Config: max_concurrent=20 ..."), or null. */
  note: string | null;
  rows: TrackedRow[];
}

const ENTRY_HEAD = /^## Commit: (\S+) - Timestamp: (.+)$/;

/** The entries of a results file, in file order (newest first). */
export function parseResultsFile(text: string): TrackedEntry[] {
  const lines = text.split("\n");
  const entries: TrackedEntry[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = ENTRY_HEAD.exec(lines[i]!);
    if (m === null) continue;
    let end = lines.findIndex((l, j) => j > i && ENTRY_HEAD.test(l));
    if (end < 0) end = lines.length;
    entries.push(parseEntry(m[1]!, m[2]!.trim(), lines.slice(i + 1, end)));
    i = end - 1;
  }
  return entries;
}

function parseEntry(commit: string, timestamp: string, body: string[]): TrackedEntry {
  const fences = (from: number): [number, number] | null => {
    const a = body.findIndex((l, j) => j >= from && l.startsWith("```"));
    const b = a < 0 ? -1 : body.findIndex((l, j) => j > a && l.startsWith("```"));
    return a < 0 || b < 0 ? null : [a, b];
  };
  const changesAt = body.findIndex((l) => l.startsWith("### Changes Since Last Test"));
  const changes = changesAt < 0 ? null : fences(changesAt);
  const firstChange = changes === null ? undefined : body[changes[0] + 1];
  const subject = firstChange !== undefined && firstChange.split(" ")[0] === commit ? firstChange.slice(commit.length + 1).trim() : null;
  const resultsAt = body.findIndex((l) => l.startsWith("### Test Results"));
  const table = resultsAt < 0 ? null : fences(resultsAt);
  const noteLine = resultsAt < 0 ? undefined : body.slice(resultsAt + 1, table?.[0] ?? body.length).find((l) => l.trim() !== "");
  return {
    commit,
    timestamp,
    subject,
    note: noteLine === undefined ? null : noteLine.trim(),
    rows: table === null ? [] : parseTable(body.slice(table[0] + 1, table[1])),
  };
}

/** Rows of a table block (header first). */
export function parseTable(lines: readonly string[]): TrackedRow[] {
  const header = lines[0];
  if (header === undefined || !header.startsWith("Provider")) return [];
  // The headers after Provider that this table has, in order (the two "Config" columns included).
  const present: string[] = [];
  let at = "Provider".length;
  for (const c of TABLE_COLUMNS.slice(1)) {
    const k = header.indexOf(c.header, at);
    if (k < 0) continue;
    present.push(c.header);
    at = k + c.header.length;
  }
  const rows: TrackedRow[] = [];
  for (const line of lines.slice(1)) {
    if (line.trim() === "" || /^-+$/.test(line.trim()) || line.startsWith("(")) continue;
    const cells = line.trim().split(/\s+/);
    if (cells.length < present.length + 1) continue;
    const tail = cells.slice(cells.length - present.length);
    const provider = cells.slice(0, cells.length - present.length).join(" ");
    const figures: Record<string, number> = {};
    let config = "";
    present.forEach((h, i) => {
      const v = tail[i]!;
      if (i === 0 && h === "Config") config = v;
      else if (Number.isFinite(Number(v))) figures[h === "Config" ? "Config failures" : h] = Number(v);
    });
    if (!/^\d+\/\d+$/.test(config)) continue;
    rows.push({ provider, config, figures });
  }
  return rows;
}
