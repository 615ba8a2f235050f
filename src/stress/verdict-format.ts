/**
 * The verdict as text (docs/stress-tests.md §9.4): per row each of the guide's targets with
 * PASS / FAIL / N/A, the measured figure and the bound that applies, then the warning signs found
 * with the guide's likely causes; then the 1/1 -> 2/2 scaling targets and a one-line summary.
 * Coloured with picocolors when the stream is a terminal and NO_COLOR is not set; plain otherwise.
 */
import pc from "picocolors";
import type { RowVerdict, StressVerdict, TargetCheck } from "./verdict.ts";
import type { WarningSignCheck } from "./warning-signs.ts";

export const VERDICT_MARKER = "=== Verdict ===";

type Colors = ReturnType<typeof pc.createColors>;

/**
 * Whether to colour output written to `stream`: never with NO_COLOR (any value) or TERM=dumb,
 * always with FORCE_COLOR (other than "0"), else when the stream is a terminal.
 */
export function shouldColor(stream: { isTTY?: boolean }, env: Record<string, string | undefined> = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== "0") return true;
  if (env.TERM === "dumb") return false;
  return stream.isTTY === true;
}

export interface FormatVerdictOptions {
  /** Colour the status words and warnings (default false: plain text). */
  color?: boolean;
}

/** The verdict as lines of text (a leading blank line, the marker, the rows, scaling, the summary). */
export function formatVerdict(verdict: StressVerdict, options: FormatVerdictOptions = {}): string {
  const c = pc.createColors(options.color === true);
  const lines = ["", c.bold(VERDICT_MARKER) + c.dim("  (the testing guide's performance targets and warning signs; docs/stress-tests.md §9)")];
  for (const row of verdict.rows) lines.push(...formatRow(row, c));
  if (verdict.scaling.length > 0) {
    lines.push("", c.bold("Scaling 1/1 -> 2/2"));
    for (const s of verdict.scaling) {
      lines.push(`${s.name}${s.processes > 1 ? ` x${s.processes} proc` : ""}:`);
      for (const t of s.targets) lines.push(...formatTarget(t, c));
    }
  }
  const s = verdict.summary;
  const status = s.status === "pass" ? c.green(c.bold("PASS")) : s.status === "warning" ? c.yellow(c.bold("PASS WITH WARNINGS")) : c.red(c.bold("FAIL"));
  lines.push(
    "",
    `Verdict: ${status}: ${s.pass} pass, ${s.fail} fail (${s.minimumFailed} minimum, ${s.highPerformanceFailed} high-performance), ` +
      `${s.notApplicable} not applicable; ${s.warnings} warning sign${s.warnings === 1 ? "" : "s"}`,
  );
  lines.push(c.dim("(minimum targets are what --fail-on target gates; high-performance targets are reported only; N/A = does not apply to this row or cannot be met by its config)"));
  return lines.join("\n");
}

function formatRow(row: RowVerdict, c: Colors): string[] {
  const failed = row.targets.some((t) => t.status === "fail" && t.level === "minimum");
  const warned = row.warnings.filter((w) => w.status === "warning");
  const head = failed ? c.red("FAIL") : warned.length > 0 ? c.yellow("WARNINGS") : c.green("PASS");
  const lines = ["", `${c.bold(`${row.name} ${row.configLabel}`)}${row.processes > 1 ? ` (${row.processes} processes)` : ""}: ${head}`];
  for (const t of row.targets) lines.push(...formatTarget(t, c));
  if (warned.length === 0) {
    const skipped = row.warnings.filter((w) => w.status === "not-applicable").map((w) => `${w.sign.toLowerCase()} (${w.note ?? "not applicable"})`);
    lines.push(`  ${c.green("no warning signs")}${skipped.length > 0 ? c.dim(`; not checked: ${skipped.join("; ")}`) : ""}`);
  }
  for (const w of warned) lines.push(...formatWarning(w, c));
  return lines;
}

function formatTarget(t: TargetCheck, c: Colors): string[] {
  const tag = t.status === "pass" ? c.green("PASS ") : t.status === "fail" ? c.red("FAIL ") : c.dim("N/A  ");
  const level = t.level === "high-performance" ? c.dim(" [high-performance]") : "";
  const lines = [`  ${tag} ${t.target}${level}`];
  // A target that is simply not this row's (another config, another kind of store) needs only the why and the where:
  // its figure and bound are in the JSON. A judged or impossible one shows what was measured against what.
  const judged = t.status !== "not-applicable" || t.impossible;
  if (judged && t.measured !== null) lines.push(`        measured: ${t.measured}`);
  if (judged && t.bound !== null) lines.push(c.dim(`        bound: ${t.bound}`));
  if (t.note !== null) lines.push(`        ${t.status === "fail" ? c.red(t.note) : t.note}`);
  if (t.meaningfulWith !== null) lines.push(`        meaningful with: ${t.meaningfulWith}`);
  return lines;
}

function formatWarning(w: WarningSignCheck, c: Colors): string[] {
  const lines = [`  ${c.yellow(c.bold("WARNING"))} ${w.sign}: ${w.measured} ${c.dim(`(threshold: ${w.threshold})`)}`];
  if (w.note !== null) lines.push(`        ${w.note}`);
  lines.push(`        likely causes: ${w.likelyCauses.join("; ")}`);
  lines.push(`        what to do: ${w.whatToDo.join("; ")}`);
  return lines;
}
