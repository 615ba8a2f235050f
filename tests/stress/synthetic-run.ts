// Hand-made stress runs for the verdict and warning-sign tests: a timeline from completions per
// second, and the run's figures derived from it the way the runner derives them.
import type { LatencySummary, ResolvedStressTestConfig, TimelineSecond, VerdictRowInput } from "../../src/stress/index.ts";
import { PERFORMANCE_BASELINE } from "../../src/stress/index.ts";

export interface SyntheticRun {
  /** Completions in each second; the pump runs for `launchingSeconds` of them (default all but the last). */
  completed: number[];
  launchingSeconds?: number;
  inFlight?: number;
  rssMb?: (second: number) => number;
  latency?: Partial<LatencySummary>;
  config?: Partial<ResolvedStressTestConfig>;
  name?: string;
  failed?: number;
  /** Instances launched (default completed + failed: none left unfinished). */
  launched?: number;
}

/** A row whose timeline has `completed[i]` completions in second i, all seconds whole. */
export function syntheticRun(s: SyntheticRun): VerdictRowInput & { timeline: TimelineSecond[] } {
  const launching = s.launchingSeconds ?? s.completed.length - 1;
  const inFlight = s.inFlight ?? 20;
  const timeline: TimelineSecond[] = s.completed.map((c, i) => ({
    second: i,
    phase: i < launching ? "launching" : "draining",
    spanMs: 1000,
    launched: i < launching ? c : 0,
    completed: c,
    failed: 0,
    inFlight: i < s.completed.length - 1 ? inFlight : 0,
    latencyP50Ms: c > 0 ? 1000 : null,
    latencyMaxMs: c > 0 ? 1100 : null,
    rssMb: s.rssMb?.(i) ?? 60,
  }));
  const completed = s.completed.reduce((a, b) => a + b, 0);
  const failed = s.failed ?? 0;
  const launched = s.launched ?? completed + failed;
  const totalTimeMs = s.completed.length * 1000;
  return {
    name: s.name ?? "File SQLite",
    config: { ...PERFORMANCE_BASELINE, ...s.config },
    launched,
    completed,
    failed,
    successRate: launched > 0 ? (completed / launched) * 100 : 0,
    orchThroughput: completed / (totalTimeMs / 1000),
    totalTimeMs,
    latency: { meanMs: 1000, p50Ms: 1000, p95Ms: 1080, p99Ms: 1100, maxMs: 1150, stdDevMs: 60, count: completed, ...s.latency },
    timeline,
  };
}
