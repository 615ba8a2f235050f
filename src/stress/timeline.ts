/**
 * The per-second timeline of a stress run (docs/stress-tests.md §9.1): for each second since the
 * pump started, how many instances were launched, completed and failed, how many were in flight at
 * its end, the latency of the instances that completed in it, and the process RSS. The warning-sign
 * detectors (warning-signs.ts) read it: a stall, a throughput that falls through the run, and RSS
 * that keeps growing all show up second by second, not in the run's totals.
 */
import { percentile, round2 } from "./metrics.ts";

/** One second of a run. Second `i` covers [i, i+1) seconds after the pump started. */
export interface TimelineSecond {
  /** Index: seconds since the pump started. */
  second: number;
  /**
   * "launching" when the pump ran through the whole second (the window was kept full: the seconds
   * whose throughput is comparable), "draining" when any of it was after the pump stopped.
   */
  phase: "launching" | "draining";
  /** How long the second really is, ms: 1000, except the run's last, partial second. */
  spanMs: number;
  launched: number;
  completed: number;
  failed: number;
  /** Instances started and not finished at the end of the second (or of the run, for the last). */
  inFlight: number;
  /** Median latency of the instances that completed in this second, ms; null when none did. */
  latencyP50Ms: number | null;
  /** Slowest of them, ms; null when none completed. */
  latencyMaxMs: number | null;
  /** Process RSS sampled in this second, MB; null when no sample fell in it. */
  rssMb: number | null;
}

interface Bucket {
  launched: number;
  completed: number;
  failed: number;
  latencies: number[];
}

/**
 * Collects a run's events into one-second buckets. Times are `performance.now()` values; the
 * runner calls `launched`, `completed` and `failed` as things happen, `pumpStopped` when the launch
 * window closes and `finish` at the end of the drain.
 */
export class TimelineRecorder {
  private readonly buckets: Bucket[] = [];
  private pumpStoppedAt: number | null = null;

  constructor(private readonly startMs: number) {}

  launched(atMs: number): void {
    this.bucket(atMs).launched++;
  }

  completed(atMs: number, latencyMs: number): void {
    const b = this.bucket(atMs);
    b.completed++;
    b.latencies.push(latencyMs);
  }

  failed(atMs: number): void {
    this.bucket(atMs).failed++;
  }

  /** The pump stopped launching: seconds from here on are "draining". */
  pumpStopped(atMs: number): void {
    this.pumpStoppedAt ??= atMs;
  }

  /**
   * The timeline from the pump's start to `endMs`, one entry per second (empty seconds included),
   * with `rssTimelineMb[i]` (ResourceSampler's per-second RSS) as second i's RSS.
   */
  finish(endMs: number, rssTimelineMb: readonly number[] = []): TimelineSecond[] {
    const totalMs = Math.max(0, endMs - this.startMs);
    const seconds = Math.max(1, Math.ceil(totalMs / 1000), this.buckets.length);
    const pumpEnd = this.pumpStoppedAt === null ? Infinity : this.pumpStoppedAt - this.startMs;
    const out: TimelineSecond[] = [];
    let inFlight = 0;
    for (let i = 0; i < seconds; i++) {
      const b = this.buckets[i] ?? { launched: 0, completed: 0, failed: 0, latencies: [] };
      inFlight += b.launched - b.completed - b.failed;
      const sorted = b.latencies.slice().sort((x, y) => x - y);
      const secondEnd = Math.min((i + 1) * 1000, Math.max(totalMs, i * 1000));
      out.push({
        second: i,
        phase: (i + 1) * 1000 <= pumpEnd ? "launching" : "draining",
        spanMs: round2(Math.max(0, secondEnd - i * 1000)),
        launched: b.launched,
        completed: b.completed,
        failed: b.failed,
        inFlight,
        latencyP50Ms: sorted.length === 0 ? null : round2(percentile(sorted, 50)),
        latencyMaxMs: sorted.length === 0 ? null : round2(sorted[sorted.length - 1]!),
        rssMb: rssTimelineMb[i] ?? null,
      });
    }
    return out;
  }

  private bucket(atMs: number): Bucket {
    const i = Math.max(0, Math.floor((atMs - this.startMs) / 1000));
    while (this.buckets.length <= i) this.buckets.push({ launched: 0, completed: 0, failed: 0, latencies: [] });
    return this.buckets[i]!;
  }
}
