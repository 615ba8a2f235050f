// runTimelineOf (src/stress/run-timeline.ts) and latencyHistogram (src/stress/latency-histogram.ts).
import { describe, expect, test } from "bun:test";
import { latencyHistogram, niceStep } from "../../src/stress/latency-histogram.ts";
import { runTimelineOf } from "../../src/stress/run-timeline.ts";
import { TimelineRecorder } from "../../src/stress/timeline.ts";

describe("runTimelineOf", () => {
  test("takes the report's per-second series from the run's timeline; the last second's span ends the run", () => {
    const t = new TimelineRecorder(1000);
    t.launched(1000);
    t.launched(1001);
    t.launched(1002);
    t.completed(1500, 500);
    t.completed(2100, 1099);
    t.failed(3900);
    const r = runTimelineOf(t.finish(4200, []));
    expect(r).toEqual({
      launchedPerSec: [3, 0, 0, 0],
      completedPerSec: [1, 1, 0, 0],
      failedPerSec: [0, 0, 1, 0],
      inFlight: [2, 1, 0, 0],
      totalMs: 3200,
    });
  });
});

describe("latencyHistogram", () => {
  test("bins every sample on round edges between the fastest and the slowest", () => {
    const h = latencyHistogram([101, 104, 119, 139.9], 4);
    expect(h).toEqual({ fromMs: 100, binMs: 10, counts: [2, 1, 0, 1] });
    expect(h.counts.reduce((a, b) => a + b)).toBe(4);
    expect(latencyHistogram([])).toEqual({ fromMs: 0, binMs: 1, counts: [] });
    expect(latencyHistogram([5, 5, 5]).counts.reduce((a, b) => a + b)).toBe(3);
    expect(() => latencyHistogram([1], 0)).toThrow(RangeError);
  });
  test("niceStep rounds up to 1, 2, 2.5 or 5 times a power of ten", () => {
    expect([0.7, 1, 1.2, 2.2, 3, 7, 12].map(niceStep)).toEqual([1, 1, 2, 2.5, 5, 10, 20]);
  });
});
