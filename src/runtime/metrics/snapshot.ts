/**
 * The plain-data shape of `runtime.metrics()` (docs/runtime-semantics.md §9.1), and a helper to
 * read one value out of it. A snapshot is a copy: later activity does not change it.
 */
import { describe } from "../../core/describe.ts";
import { ValidationError } from "../../core/errors.ts";
import type { MetricType } from "./instruments.ts";

export interface MetricSeriesSnapshot {
  /** Label name → value; `{}` for a metric without labels. */
  labels: Record<string, string>;
  /** Counter or gauge value; for a histogram, its observation count (same as `count`). */
  value: number;
  /** Histograms only: cumulative counts per bucket, one per `buckets` bound, then +Inf. */
  bucketCounts?: number[];
  /** Histograms only: the sum of the observations. */
  sum?: number;
  /** Histograms only: the number of observations. */
  count?: number;
}

export interface MetricSnapshot {
  /** e.g. `duroxide_activity_executions_total`. */
  name: string;
  help: string;
  type: MetricType;
  labelNames: string[];
  /** Histograms only: bucket upper bounds (the +Inf bucket is implied). */
  buckets?: number[];
  series: MetricSeriesSnapshot[];
}

export interface MetricsSnapshot {
  /** When the snapshot was taken (epoch ms). */
  takenAtMs: number;
  /** False when the runtime was started with `metrics: false` (then `metrics` is empty). */
  enabled: boolean;
  metrics: MetricSnapshot[];
}

/**
 * The value of metric `name` in `snapshot`, summed over the series whose labels include every
 * entry of `labels` (all series when omitted); 0 when none match. For a histogram this sums
 * observation counts. Throws `ValidationError` for a name the snapshot does not have, so a typo
 * in a dashboard check does not read as a silent 0.
 */
export function metricValue(snapshot: MetricsSnapshot, name: string, labels: Record<string, string> = {}): number {
  if (snapshot === null || typeof snapshot !== "object" || !Array.isArray(snapshot.metrics)) {
    throw new ValidationError("metricValue needs a snapshot from runtime.metrics()");
  }
  if (typeof name !== "string") throw new ValidationError(`metricValue: the metric name must be a string like "duroxide_activity_executions_total", got ${describe(name)}`);
  if (labels === null || typeof labels !== "object" || Array.isArray(labels)) {
    throw new ValidationError(`metricValue: labels must be an object of label name -> value, got ${describe(labels)}`);
  }
  const m = snapshot.metrics.find((x) => x.name === name);
  if (m === undefined) {
    throw new ValidationError(`metricValue: no metric named "${name}" in this snapshot (known: duroxide_* names listed in docs/runtime-semantics.md §9.2)`);
  }
  const want = Object.entries(labels);
  let total = 0;
  for (const s of m.series) if (want.every(([k, v]) => s.labels[k] === v)) total += s.value;
  return total;
}
