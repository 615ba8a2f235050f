/**
 * The comparison table (docs/stress-tests.md §1.7): the seed's columns, left-aligned, fixed widths,
 * one space apart, then this port's extras: real per-instance latency percentiles and peak RSS. The
 * original's "Avg Latency" (total time / completions, i.e. 1000 / Orch/sec) is not printed.
 */
import { configLabel } from "./config.ts";
import type { StressTestResult } from "./scenario-parallel.ts";

export const TABLE_MARKER = "=== Comparison Table ===";

interface Column {
  header: string;
  width: number;
  value: (r: StressTestResult) => string;
}

export const TABLE_COLUMNS: readonly Column[] = [
  { header: "Provider", width: 20, value: (r) => r.name },
  { header: "Config", width: 10, value: (r) => configLabel(r.config) },
  { header: "Completed", width: 10, value: (r) => String(r.completed) },
  { header: "Failed", width: 10, value: (r) => String(r.failed) },
  { header: "Infra", width: 8, value: (r) => String(r.failedInfrastructure) },
  { header: "Config", width: 8, value: (r) => String(r.failedConfiguration) },
  { header: "App", width: 8, value: (r) => String(r.failedApplication) },
  { header: "Success %", width: 10, value: (r) => r.successRate.toFixed(2) },
  { header: "Orch/sec", width: 15, value: (r) => r.orchThroughput.toFixed(2) },
  { header: "Activity/sec", width: 15, value: (r) => r.activityThroughput.toFixed(2) },
  { header: "p50 lat ms", width: 11, value: (r) => r.latency.p50Ms.toFixed(2) },
  { header: "p95 lat ms", width: 11, value: (r) => r.latency.p95Ms.toFixed(2) },
  { header: "p99 lat ms", width: 11, value: (r) => r.latency.p99Ms.toFixed(2) },
  { header: "Peak RSS MB", width: 11, value: (r) => r.peakRssMb.toFixed(1) },
];

function row(cells: string[]): string {
  return cells.map((c, i) => c.padEnd(TABLE_COLUMNS[i]!.width)).join(" ").trimEnd();
}

/** The header row as printed. */
export function tableHeader(): string {
  return row(TABLE_COLUMNS.map((c) => c.header));
}

/**
 * The table as text: a blank line, the marker, the header, a rule of dashes (at least 150, as
 * wide as the header), one row per result, and a legend line for the extra columns.
 */
export function formatComparisonTable(results: readonly StressTestResult[]): string {
  const header = tableHeader();
  const lines = ["", TABLE_MARKER, header, "-".repeat(Math.max(150, header.length))];
  for (const r of results) lines.push(row(TABLE_COLUMNS.map((c) => c.value(r))));
  lines.push("(Config = orch/worker slots; Infra/Config/App = failures by category; lat = per-instance latency, start call -> completion observed; Peak RSS = process)");
  return lines.join("\n");
}

/** Prints formatComparisonTable(results) to stdout. */
export function printComparisonTable(results: readonly StressTestResult[]): void {
  console.log(formatComparisonTable(results));
}
