// RunTimelineRecorder (src/stress/run-timeline.ts) and latencyHistogram (src/stress/latency-histogram.ts).
import { describe, expect, test } from "bun:test";
import { latencyHistogram, niceStep } from "../../src/stress/latency-histogram.ts";
import { RunTimelineRecorder } from "../../src/stress/run-timeline.ts";

describe("RunTimelineRecorder", () => {
  test("counts launches, completions and failures per second and keeps each second's last in-flight count", () => {
    const t = new RunTimelineRecorder();
    t.start(1000);
    t.count("launched", 1000);
    t.count("launched", 1001);
    t.observeInFlight(2, 1001);
    t.count("completed", 1500);
    t.observeInFlight(1, 1500);
    t.count("completed", 2100);
    t.count("failed", 3900);
    t.observeInFlight(0, 3900);
    const r = t.finish(4200);
    expect(r).toEqual({
      launchedPerSec: [2, 0, 0, 0],
      completedPerSec: [1, 1, 0, 0],
      failedPerSec: [0, 0, 1, 0],
      inFlight: [1, 1, 0, 0], // second 1 had no observation: carried over
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
