/**
 * `formatPrometheus(snapshot)`: a metrics snapshot in the Prometheus text exposition format
 * (version 0.0.4), for a `/metrics` endpoint (docs/runtime-semantics.md §9.5). Every family gets
 * its `# HELP` and `# TYPE` lines; histograms expand to `_bucket{le=...}`, `_sum` and `_count`.
 */
import { ValidationError } from "../../core/errors.ts";
import type { MetricSeriesSnapshot, MetricsSnapshot } from "./snapshot.ts";

/** The Content-Type to serve the text with. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export function formatPrometheus(snapshot: MetricsSnapshot): string {
  if (snapshot === null || typeof snapshot !== "object" || !Array.isArray((snapshot as MetricsSnapshot).metrics)) {
    throw new ValidationError("formatPrometheus needs a snapshot from `await runtime.metrics()`");
  }
  const out: string[] = [];
  for (const m of snapshot.metrics) {
    out.push(`# HELP ${m.name} ${escapeHelp(m.help)}`);
    out.push(`# TYPE ${m.name} ${m.type}`);
    for (const s of m.series) {
      if (m.type !== "histogram") {
        out.push(`${m.name}${labelText(s.labels)} ${formatNumber(s.value)}`);
        continue;
      }
      const bounds = m.buckets ?? [];
      const cumulative = s.bucketCounts ?? [];
      bounds.forEach((b, i) => out.push(`${m.name}_bucket${labelText(s.labels, formatNumber(b))} ${formatNumber(cumulative[i] ?? 0)}`));
      out.push(`${m.name}_bucket${labelText(s.labels, "+Inf")} ${formatNumber(countOf(s))}`);
      out.push(`${m.name}_sum${labelText(s.labels)} ${formatNumber(s.sum ?? 0)}`);
      out.push(`${m.name}_count${labelText(s.labels)} ${formatNumber(countOf(s))}`);
    }
  }
  return out.length === 0 ? "" : out.join("\n") + "\n";
}

function countOf(s: MetricSeriesSnapshot): number {
  return s.count ?? s.value;
}

function labelText(labels: Record<string, string>, le?: string): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
  if (le !== undefined) parts.push(`le="${le}"`);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

/** Label values escape backslash, double quote and line feed (the exposition format's rule). */
export function escapeLabelValue(v: string): string {
  return v.replace(/[\\"\n]/g, (c) => (c === "\\" ? "\\\\" : c === '"' ? '\\"' : "\\n"));
}

/** HELP text escapes backslash and line feed. */
function escapeHelp(v: string): string {
  return v.replace(/[\\\n]/g, (c) => (c === "\\" ? "\\\\" : "\\n"));
}

function formatNumber(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Infinity) return "+Inf";
  if (n === -Infinity) return "-Inf";
  return String(n);
}
