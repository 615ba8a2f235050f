// The warning-sign detectors (src/stress/warning-signs.ts) on hand-made timelines: a healthy run, a
// stalled run, a degrading run, a run with a long latency tail, a run whose memory keeps growing.
import { describe, expect, test } from "bun:test";
import { ConfigurationError } from "../../src/core/errors.ts";
import {
  DEFAULT_WARNING_THRESHOLDS,
  detectDecreasingThroughput,
  detectRssGrowth,
  detectSuccessBelow100,
  detectVariableLatency,
  detectWarningSigns,
  detectZeroThroughput,
  resolveWarningThresholds,
} from "../../src/stress/index.ts";
import { syntheticRun } from "./synthetic-run.ts";

/** 10 launching seconds of 17-19 completions (per-second noise), then a second of drain. */
const HEALTHY = [16, 18, 19, 17, 18, 19, 18, 17, 19, 18, 20];

describe("detectWarningSigns", () => {
  test("a healthy run shows no warning sign, and every detector says what it measured against what", () => {
    const signs = detectWarningSigns(syntheticRun({ completed: HEALTHY, rssMb: (s) => 60 + (s % 2) }));
    expect(signs.map((s) => s.id)).toEqual(["success-below-100", "zero-throughput", "decreasing-throughput", "variable-latency", "rss-growth"]);
    for (const s of signs) {
      expect(s.status).toBe("ok");
      expect(s.measured.length).toBeGreaterThan(0);
      expect(s.threshold.length).toBeGreaterThan(0);
      expect(s.likelyCauses.length).toBeGreaterThan(0);
    }
  });

  test("a failed instance is the guide's first warning sign, with its likely causes", () => {
    const run = syntheticRun({ completed: HEALTHY, failed: 2 });
    const sign = detectSuccessBelow100(run);
    expect(sign.status).toBe("warning");
    expect(sign.measured).toContain(`${run.completed} of ${run.launched}`);
    expect(sign.likelyCauses.join(" ")).toContain("non-atomic commits");
  });

  test("thresholds are validated: an unknown name or a non-positive value is a ConfigurationError", () => {
    expect(() => resolveWarningThresholds({ stallSecs: 3 } as never)).toThrow(ConfigurationError);
    expect(() => resolveWarningThresholds({ stallSeconds: 0 })).toThrow(/stallSeconds must be a number > 0/);
    expect(resolveWarningThresholds({ stallSeconds: 5 })).toEqual({ ...DEFAULT_WARNING_THRESHOLDS, stallSeconds: 5 });
  });
});

describe("detectZeroThroughput", () => {
  test("a run that stalls for 4 s with instances in flight is a zero-throughput warning naming the seconds", () => {
    const sign = detectZeroThroughput(syntheticRun({ completed: [18, 18, 18, 0, 0, 0, 0, 18, 18, 18, 5] }));
    expect(sign.status).toBe("warning");
    expect(sign.seconds).toEqual([3, 6]);
    expect(sign.note).toContain("seconds 3-6");
    expect(sign.likelyCauses.join(" ")).toContain("lock not released");
  });

  test("a run that never completes anything is a warning even when it is short", () => {
    const sign = detectZeroThroughput(syntheticRun({ completed: [0, 0], launchingSeconds: 1, launched: 20 }));
    expect(sign.status).toBe("warning");
    expect(sign.measured).toContain("0 of 20 launched instances completed");
  });

  test("2 empty seconds are below the 3 s default; a slow config's long gaps are not a stall", () => {
    expect(detectZeroThroughput(syntheticRun({ completed: [18, 18, 0, 0, 18, 18, 18, 5] })).status).toBe("ok");
    // one completion every 4 s (0.25 orch/s on average): the gap is the config, not a stall
    const slow = syntheticRun({ completed: [0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0], inFlight: 1 });
    expect(detectZeroThroughput(slow).status).toBe("ok");
    // ...but 3 s is a stall with a stricter threshold choice only when the rate says so
    expect(detectZeroThroughput(syntheticRun({ completed: [18, 18, 0, 0, 18, 18, 18, 5] }), { ...DEFAULT_WARNING_THRESHOLDS, stallSeconds: 2 }).status).toBe("warning");
  });
});

describe("detectDecreasingThroughput", () => {
  test("throughput falling from ~19/s to ~6/s through the run is a warning", () => {
    const sign = detectDecreasingThroughput(syntheticRun({ completed: [15, 20, 19, 18, 15, 12, 10, 8, 6, 5, 3] }));
    expect(sign.status).toBe("warning");
    expect(sign.measured).toMatch(/^19\.0 -> 6\.3 completions\/s/);
    expect(sign.likelyCauses.join(" ")).toContain("resource exhaustion");
  });

  test("per-second noise and the drain's tail are not a trend", () => {
    // the last launching seconds dip by 3 (under 25 %); the drain second (2) is left out
    expect(detectDecreasingThroughput(syntheticRun({ completed: [10, 19, 18, 19, 18, 18, 17, 16, 16, 16, 2] })).status).toBe("ok");
    // a drop of 30 % but over single seconds of few completions: within counting noise
    expect(detectDecreasingThroughput(syntheticRun({ completed: [2, 10, 9, 7, 7, 1] })).status).toBe("ok");
  });

  test("a run too short to have 3 steady seconds is not judged, and says how long to run", () => {
    const sign = detectDecreasingThroughput(syntheticRun({ completed: [18, 18, 18, 2] }));
    expect(sign.status).toBe("not-applicable");
    expect(sign.note).toContain("--duration");
  });
});

describe("detectVariableLatency", () => {
  test("a long tail (p99 6 x p50) is highly variable latency; a tight distribution is not", () => {
    const tail = detectVariableLatency(syntheticRun({ completed: HEALTHY, latency: { p50Ms: 100, p99Ms: 600, meanMs: 130, stdDevMs: 90 } }));
    expect(tail.status).toBe("warning");
    expect(tail.measured).toContain("p99/p50 6.00");
    expect(tail.likelyCauses.join(" ")).toContain("lock contention");
    const cv = detectVariableLatency(syntheticRun({ completed: HEALTHY, latency: { p50Ms: 100, p99Ms: 300, meanMs: 100, stdDevMs: 150 } }));
    expect(cv.status).toBe("warning");
    expect(cv.measured).toContain("CV 1.50");
    expect(detectVariableLatency(syntheticRun({ completed: HEALTHY })).status).toBe("ok");
  });

  test("fewer than 20 completed instances are not judged", () => {
    const sign = detectVariableLatency({ latency: { meanMs: 10, p50Ms: 10, p95Ms: 90, p99Ms: 90, maxMs: 90, stdDevMs: 30, count: 5 } });
    expect(sign.status).toBe("not-applicable");
  });
});

describe("detectRssGrowth", () => {
  test("RSS climbing 5 MB a second through the run is a warning; a GC spike is not", () => {
    const growing = detectRssGrowth(syntheticRun({ completed: HEALTHY, rssMb: (s) => 60 + 5 * s }));
    expect(growing.status).toBe("warning");
    expect(growing.likelyCauses.join(" ")).toContain("connection leak");
    const spike = detectRssGrowth(syntheticRun({ completed: HEALTHY, rssMb: (s) => (s === 9 ? 140 : 60) }));
    expect(spike.status).toBe("ok");
  });

  test("start-up (second 0) is left out, and fewer than 3 later samples are not judged", () => {
    expect(detectRssGrowth(syntheticRun({ completed: HEALTHY, rssMb: (s) => (s === 0 ? 20 : 70) })).status).toBe("ok");
    expect(detectRssGrowth(syntheticRun({ completed: [5, 5, 5] })).status).toBe("not-applicable");
  });
});
