/**
 * The per-second series the HTML report draws (docs/stress-tests.md §10), taken from the run's
 * one timeline (`result.timeline`, recorded by TimelineRecorder in timeline.ts, which the verdict
 * reads too): instances launched, completed and failed in each second, and how many were in
 * flight at its end.
 */
import type { TimelineSecond } from "./timeline.ts";

/** Per-second counts of one run; index i covers [i s, i+1 s) from the pump's start. */
export interface RunTimeline {
  /** Instances started in each second. */
  launchedPerSec: number[];
  /** Instances observed completed in each second. */
  completedPerSec: number[];
  /** Instances that failed (any category) in each second. */
  failedPerSec: number[];
  /** Instances in flight at the end of each second. */
  inFlight: number[];
  /** Length of the run, ms: the last second is partial, `totalMs - 1000 * (length - 1)` long. */
  totalMs: number;
}

/** The report's series of a run's timeline. */
export function runTimelineOf(seconds: readonly TimelineSecond[]): RunTimeline {
  let totalMs = 0;
  for (const s of seconds) totalMs += s.spanMs;
  return {
    launchedPerSec: seconds.map((s) => s.launched),
    completedPerSec: seconds.map((s) => s.completed),
    failedPerSec: seconds.map((s) => s.failed),
    inFlight: seconds.map((s) => s.inFlight),
    totalMs: Math.round(totalMs * 100) / 100,
  };
}
