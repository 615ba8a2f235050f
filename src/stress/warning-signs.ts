/**
 * The testing guide's warning signs, detected on one run's figures and per-second timeline
 * (docs/stress-tests.md §9.3): success below 100 %, zero throughput (a stall of N seconds),
 * throughput falling from the first third to the last third of the run beyond noise, highly
 * variable latency (p99/p50 and coefficient of variation), and RSS growing through the run. Each
 * detector is a pure function of its input; each sign it reports carries the guide's likely causes
 * and what to do.
 */
import { ConfigurationError } from "../core/errors.ts";
import type { LatencySummary } from "./metrics.ts";
import type { TimelineSecond } from "./timeline.ts";

export type WarningSignId = "success-below-100" | "zero-throughput" | "decreasing-throughput" | "variable-latency" | "rss-growth";

/** "warning": the sign is there; "ok": checked and absent; "not-applicable": the run gives too little to check (see `note`). */
export type WarningSignStatus = "warning" | "ok" | "not-applicable";

export interface WarningSignCheck {
  id: WarningSignId;
  /** The guide's name for the sign. */
  sign: string;
  status: WarningSignStatus;
  /** What was measured, with units. */
  measured: string;
  /** The threshold it was held against. */
  threshold: string;
  /** Why it is not applicable, or which seconds show the sign. */
  note: string | null;
  /** Seconds of the timeline that show the sign, [first, last] inclusive; null when none. */
  seconds: [number, number] | null;
  /** The guide's likely causes (Troubleshooting). */
  likelyCauses: string[];
  /** What to do next (the guide's debug steps). */
  whatToDo: string[];
}

/** Where each detector draws the line (docs/stress-tests.md §9.3 says why these defaults). */
export interface WarningThresholds {
  /** A stall is at least this many whole seconds without a completion while instances are in flight. Default 3. */
  stallSeconds: number;
  /** Throughput counts as falling when the last third is below the first third by more than this fraction... Default 0.25. */
  throughputDropFraction: number;
  /** ...and by more than this many standard errors of the difference (per-second noise, Poisson at least). Default 2. */
  throughputDropSigmas: number;
  /** Latency is highly variable when p99 / p50 exceeds this. Default 4. */
  latencyP99OverP50: number;
  /** ...or when the coefficient of variation (standard deviation / mean) exceeds this. Default 1. */
  latencyCv: number;
  /** Fewer completed instances than this: the latency detector does not judge. Default 20. */
  latencyMinSamples: number;
  /** RSS grows when the last third's mean exceeds the first third's by at least this many MB... Default 16. */
  rssGrowthMb: number;
  /** ...and by at least this fraction of the first third's mean (and the last third's lowest sample is above the first third's highest). Default 0.2. */
  rssGrowthFraction: number;
}

export const DEFAULT_WARNING_THRESHOLDS: Readonly<WarningThresholds> = Object.freeze({
  stallSeconds: 3,
  throughputDropFraction: 0.25,
  throughputDropSigmas: 2,
  latencyP99OverP50: 4,
  latencyCv: 1,
  latencyMinSamples: 20,
  rssGrowthMb: 16,
  rssGrowthFraction: 0.2,
});

/** The figures of one run the detectors read (a StressTestResult has them all). */
export interface WarningSignInput {
  launched: number;
  completed: number;
  failed: number;
  successRate: number;
  orchThroughput: number;
  totalTimeMs: number;
  latency: LatencySummary;
  timeline: readonly TimelineSecond[];
}

const CAUSES: Record<WarningSignId, { sign: string; likelyCauses: string[]; whatToDo: string[] }> = {
  "success-below-100": {
    sign: "Success rate < 100%",
    likelyCauses: [
      "non-atomic commits: ackOrchestrationItem must be one transaction",
      "lock expiration: the provider releases locks prematurely",
      "queue semantics: messages lost or duplicated",
      "database errors: deadlocks, connection failures, constraint violations",
    ],
    whatToDo: [
      "read the failure samples above (category and message of each failed instance)",
      "run the correctness suite (duroxide/provider-tests) first",
      "verify transaction boundaries; test with lower concurrency (--config 1/1)",
    ],
  },
  "zero-throughput": {
    sign: "Throughput = 0",
    likelyCauses: [
      "work not committed: the provider does not write to its queues correctly",
      "lock not released: messages stay locked indefinitely",
      "queue not polling: fetchOrchestrationItem does not return work",
    ],
    whatToDo: [
      "inspect the store's queues while it is stalled",
      "check that fetchOrchestrationItem returns items and ackOrchestrationItem completes",
      "run the correctness suite's queue-semantics and lock-expiration modules",
    ],
  },
  "decreasing-throughput": {
    sign: "Decreasing throughput",
    likelyCauses: [
      "resource exhaustion: connections, file handles or memory running out as the run goes on",
      "contention that grows with the data: a table scanned on every fetch (missing index) or locks held longer as tables grow",
      "a machine busy with other work (compare with an in-memory run in the same sitting)",
    ],
    whatToDo: [
      "run longer (--duration, or more --instances) and see whether the fall continues",
      "profile the provider's queries; check for missing indexes",
      "watch RSS and connection counts during the run",
    ],
  },
  "variable-latency": {
    sign: "Highly variable latency",
    likelyCauses: [
      "lock contention: too many workers competing for the same locks",
      "database bottleneck: an insufficient connection pool or slow queries",
      "missing indexes: full table scans on large tables",
    ],
    whatToDo: [
      "reduce concurrency to isolate contention (--config 1/1)",
      "profile the database queries; check for missing indexes",
      "verify the connection pool size",
    ],
  },
  "rss-growth": {
    sign: "Memory growing through the run",
    likelyCauses: [
      "history not cleaned: old executions accumulate (in memory, for an in-memory store)",
      "connection leak: connections not pooled or not closed",
      "large payloads: work items carry excessive data",
    ],
    whatToDo: [
      "run longer (--duration, or more --instances) and see whether RSS levels off",
      "check the history table's size and the pool's limits",
      "inspect work item sizes",
    ],
  },
};

/** Every detector on one run, in the guide's order. */
export function detectWarningSigns(run: WarningSignInput, thresholds: Partial<WarningThresholds> = {}): WarningSignCheck[] {
  const t = resolveWarningThresholds(thresholds);
  return [
    detectSuccessBelow100(run),
    detectZeroThroughput(run, t),
    detectDecreasingThroughput(run, t),
    detectVariableLatency(run, t),
    detectRssGrowth(run, t),
  ];
}

/** The defaults with `overrides` on top; a ConfigurationError naming a field that is not a positive number. */
export function resolveWarningThresholds(overrides: Partial<WarningThresholds> = {}): WarningThresholds {
  if (typeof overrides !== "object" || overrides === null) throw new ConfigurationError("warning thresholds must be an object like { stallSeconds: 3 }");
  const out = { ...DEFAULT_WARNING_THRESHOLDS };
  for (const [key, value] of Object.entries(overrides)) {
    if (!(key in DEFAULT_WARNING_THRESHOLDS)) {
      throw new ConfigurationError(`unknown warning threshold "${key}" (thresholds: ${Object.keys(DEFAULT_WARNING_THRESHOLDS).join(", ")})`);
    }
    if (value === undefined) continue;
    if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
      throw new ConfigurationError(`warning threshold ${key} must be a number > 0, got ${String(value)}`);
    }
    (out as Record<string, number>)[key] = value;
  }
  return out;
}

function check(id: WarningSignId, fields: Omit<WarningSignCheck, "id" | "sign" | "likelyCauses" | "whatToDo">): WarningSignCheck {
  const c = CAUSES[id];
  return { id, sign: c.sign, ...fields, likelyCauses: c.likelyCauses, whatToDo: c.whatToDo };
}

/** The guide's first warning sign: fewer than all launched instances completed. */
export function detectSuccessBelow100(run: Pick<WarningSignInput, "launched" | "completed" | "failed" | "successRate">): WarningSignCheck {
  const measured = `${run.successRate.toFixed(2)}% (${run.completed} of ${run.launched} launched completed, ${run.failed} failed)`;
  if (run.launched === 0) {
    return check("success-below-100", { status: "not-applicable", measured, threshold: "100%", note: "nothing was launched", seconds: null });
  }
  const bad = run.successRate < 100 || run.failed > 0;
  return check("success-below-100", { status: bad ? "warning" : "ok", measured, threshold: "100%", note: null, seconds: null });
}

/**
 * Zero throughput: nothing completed at all, or a stall of at least `stallSeconds` whole seconds
 * with no completion while instances were in flight. A slow config completes rarely without
 * stalling, so the stall must also be 3 times the mean gap between completions (1 / orch/s).
 */
export function detectZeroThroughput(run: WarningSignInput, t: WarningThresholds = DEFAULT_WARNING_THRESHOLDS): WarningSignCheck {
  const seconds = run.timeline;
  if (run.launched > 0 && run.completed === 0) {
    const last = Math.max(0, seconds.length - 1);
    return check("zero-throughput", {
      status: "warning",
      measured: `0 of ${run.launched} launched instances completed in ${(run.totalTimeMs / 1000).toFixed(1)} s`,
      threshold: "any completion",
      note: "the run never completed an instance",
      seconds: [0, last],
    });
  }
  const minStall = run.orchThroughput > 0 ? Math.max(t.stallSeconds, Math.ceil(3 / run.orchThroughput)) : t.stallSeconds;
  const threshold = `${minStall} s without a completion while instances are in flight`;
  if (seconds.length === 0) {
    return check("zero-throughput", { status: "not-applicable", measured: "no timeline", threshold, note: "the run recorded no per-second timeline", seconds: null });
  }
  let best: [number, number] | null = null;
  let runStart = -1;
  for (let i = 0; i <= seconds.length; i++) {
    const s = seconds[i];
    // In flight during second i: at its start (the previous second's end) or at its end.
    const busy = s !== undefined && s.spanMs >= 1000 && s.completed === 0 && (s.inFlight > 0 || (seconds[i - 1]?.inFlight ?? 0) > 0);
    if (busy) {
      if (runStart < 0) runStart = i;
      continue;
    }
    if (runStart >= 0 && (best === null || i - 1 - runStart > best[1] - best[0])) best = [runStart, i - 1];
    runStart = -1;
  }
  const longest = best === null ? 0 : best[1] - best[0] + 1;
  const measured = `longest stall ${longest} s (completions/s ${run.orchThroughput.toFixed(2)} on average)`;
  if (best !== null && longest >= minStall) {
    return check("zero-throughput", {
      status: "warning",
      measured,
      threshold,
      note: `no instance completed in seconds ${best[0]}-${best[1]} while ${seconds[best[0]]!.inFlight} or more were in flight`,
      seconds: best,
    });
  }
  return check("zero-throughput", { status: "ok", measured, threshold, note: null, seconds: null });
}

/**
 * Decreasing throughput: completions per second over the steady part of the run (whole seconds
 * while the pump kept the window full, after the first second with a completion: the window
 * filling is not a trend), first third against last third. A warning needs both a fall of more
 * than `throughputDropFraction` and more than `throughputDropSigmas` standard errors, the
 * per-second variance taken as at least the mean (counting noise), so a short noisy run does not
 * cry wolf.
 */
export function detectDecreasingThroughput(run: WarningSignInput, t: WarningThresholds = DEFAULT_WARNING_THRESHOLDS): WarningSignCheck {
  const threshold = `last third below the first by > ${pct(t.throughputDropFraction)} and > ${t.throughputDropSigmas} standard errors`;
  const firstCompletion = run.timeline.findIndex((s) => s.completed > 0);
  const steady = run.timeline.filter((s) => s.phase === "launching" && s.spanMs >= 1000 && firstCompletion >= 0 && s.second > firstCompletion);
  if (steady.length < 3) {
    return check("decreasing-throughput", {
      status: "not-applicable",
      measured: `${steady.length} steady second${steady.length === 1 ? "" : "s"}`,
      threshold,
      note: "needs at least 3 whole seconds of launching after the first completion: run for 5 s or more (--duration, or more --instances)",
      seconds: null,
    });
  }
  const k = Math.floor(steady.length / 3);
  const first = steady.slice(0, k).map((s) => s.completed);
  const last = steady.slice(steady.length - k).map((s) => s.completed);
  const m1 = mean(first);
  const m2 = mean(last);
  const se = Math.sqrt(Math.max(variance(first), m1) / k + Math.max(variance(last), m2) / k);
  const fall = m1 - m2;
  const measured = `${m1.toFixed(1)} -> ${m2.toFixed(1)} completions/s (seconds ${steady[0]!.second}-${steady[k - 1]!.second} vs ${steady[steady.length - k]!.second}-${steady[steady.length - 1]!.second})`;
  const warn = m1 > 0 && fall > t.throughputDropFraction * m1 && fall > t.throughputDropSigmas * se;
  return check("decreasing-throughput", {
    status: warn ? "warning" : "ok",
    measured,
    threshold,
    note: warn ? `throughput fell by ${pct(fall / m1)} (${(fall / Math.max(se, 1e-9)).toFixed(1)} standard errors)` : null,
    seconds: warn ? [steady[0]!.second, steady[steady.length - 1]!.second] : null,
  });
}

/** Highly variable latency: p99 / p50 or the coefficient of variation above its threshold. */
export function detectVariableLatency(run: Pick<WarningSignInput, "latency">, t: WarningThresholds = DEFAULT_WARNING_THRESHOLDS): WarningSignCheck {
  const l = run.latency;
  const threshold = `p99/p50 > ${t.latencyP99OverP50} or CV > ${t.latencyCv}`;
  if (l.count < t.latencyMinSamples || l.p50Ms <= 0 || l.meanMs <= 0) {
    return check("variable-latency", {
      status: "not-applicable",
      measured: `${l.count} completed instance${l.count === 1 ? "" : "s"}`,
      threshold,
      note: `needs at least ${t.latencyMinSamples} completed instances`,
      seconds: null,
    });
  }
  const ratio = l.p99Ms / l.p50Ms;
  const cv = (l.stdDevMs ?? 0) / l.meanMs;
  const measured = `p99/p50 ${ratio.toFixed(2)} (${l.p99Ms.toFixed(1)} / ${l.p50Ms.toFixed(1)} ms), CV ${cv.toFixed(2)}`;
  const warn = ratio > t.latencyP99OverP50 || cv > t.latencyCv;
  return check("variable-latency", { status: warn ? "warning" : "ok", measured, threshold, note: null, seconds: null });
}

/**
 * RSS growing through the run: the last third of the per-second RSS samples (second 0, start-up,
 * left out) against the first third. A warning needs a rise of at least `rssGrowthMb` and
 * `rssGrowthFraction`, and every sample of the last third above every sample of the first (a
 * garbage-collection spike is not growth).
 */
export function detectRssGrowth(run: Pick<WarningSignInput, "timeline">, t: WarningThresholds = DEFAULT_WARNING_THRESHOLDS): WarningSignCheck {
  const threshold = `last third above the first by >= ${t.rssGrowthMb} MB and >= ${pct(t.rssGrowthFraction)}`;
  const points = run.timeline.filter((s) => s.second > 0 && s.rssMb !== null) as (TimelineSecond & { rssMb: number })[];
  if (points.length < 3) {
    return check("rss-growth", {
      status: "not-applicable",
      measured: `${points.length} RSS sample${points.length === 1 ? "" : "s"} after start-up`,
      threshold,
      note: "needs RSS for at least 3 seconds after the first: run for 4 s or more (--duration, or more --instances)",
      seconds: null,
    });
  }
  const k = Math.floor(points.length / 3);
  const first = points.slice(0, k).map((p) => p.rssMb);
  const last = points.slice(points.length - k).map((p) => p.rssMb);
  const m1 = mean(first);
  const m2 = mean(last);
  const growth = m2 - m1;
  const secs = points[points.length - 1]!.second - points[0]!.second;
  const measured = `${m1.toFixed(1)} -> ${m2.toFixed(1)} MB (${growth >= 0 ? "+" : ""}${growth.toFixed(1)} MB, ${secs > 0 ? (growth / secs).toFixed(2) : "0"} MB/s)`;
  const warn = growth >= t.rssGrowthMb && growth >= t.rssGrowthFraction * m1 && Math.min(...last) > Math.max(...first);
  return check("rss-growth", {
    status: warn ? "warning" : "ok",
    measured,
    threshold,
    note: warn ? "RSS kept rising: a longer run tells a leak from a warm-up" : null,
    seconds: warn ? [points[0]!.second, points[points.length - 1]!.second] : null,
  });
}

function mean(xs: readonly number[]): number {
  return xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Sample variance (n - 1); 0 for fewer than 2 values. */
function variance(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return xs.reduce((a, x) => a + (x - m) * (x - m), 0) / (xs.length - 1);
}

function pct(fraction: number): string {
  return `${Math.round(fraction * 100)}%`;
}
