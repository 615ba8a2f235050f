/**
 * What a stress run did second by second (docs/stress-tests.md §9.1): instances launched,
 * completed and failed in each second of the run, and how many were in flight. It is what the
 * HTML report draws as throughput and in-flight charts. Recording costs a few array slots per
 * second of the run, nothing per instance: the runner already counts each outcome, this only
 * adds one to the current second's slot.
 */

/** Per-second counts of one run; index i covers [i s, i+1 s) from the pump's start. */
export interface RunTimeline {
  /** Instances started in each second. */
  launchedPerSec: number[];
  /** Instances observed completed in each second. */
  completedPerSec: number[];
  /** Instances that failed (any category) in each second. */
  failedPerSec: number[];
  /** Instances in flight at the last observation of each second (carried over a second without one). */
  inFlight: number[];
  /** Length of the run, ms: the last second is partial, `totalMs - 1000 * (length - 1)` long. */
  totalMs: number;
}

type Counter = "launchedPerSec" | "completedPerSec" | "failedPerSec";

/** Accumulates a RunTimeline; `start` sets second 0, each `count`/`observeInFlight` lands in the current second. */
export class RunTimelineRecorder {
  private t0 = 0;
  private readonly data: Omit<RunTimeline, "totalMs"> = { launchedPerSec: [], completedPerSec: [], failedPerSec: [], inFlight: [] };

  start(now = performance.now()): void {
    this.t0 = now;
    for (const a of Object.values(this.data)) a.length = 0;
  }

  /** One more launch, completion or failure in the current second. */
  count(what: "launched" | "completed" | "failed", now = performance.now()): void {
    const key: Counter = `${what}PerSec`;
    const s = this.second(now);
    this.data[key][s] = (this.data[key][s] ?? 0) + 1;
  }

  /** The number of instances in flight now (the second's last observation wins). */
  observeInFlight(n: number, now = performance.now()): void {
    this.data.inFlight[this.second(now)] = n;
  }

  /** The timeline up to `end`: every array as long as the run has seconds, holes filled. */
  finish(end = performance.now()): RunTimeline {
    const totalMs = Math.max(0, end - this.t0);
    const seconds = Math.max(1, Math.ceil(totalMs / 1000));
    const fill = (a: number[]) => Array.from({ length: seconds }, (_, i) => a[i] ?? 0);
    let last = 0;
    const inFlight = Array.from({ length: seconds }, (_, i) => (last = this.data.inFlight[i] ?? last));
    return {
      launchedPerSec: fill(this.data.launchedPerSec),
      completedPerSec: fill(this.data.completedPerSec),
      failedPerSec: fill(this.data.failedPerSec),
      inFlight,
      totalMs: Math.round(totalMs * 100) / 100,
    };
  }

  private second(now: number): number {
    return Math.max(0, Math.floor((now - this.t0) / 1000));
  }
}
