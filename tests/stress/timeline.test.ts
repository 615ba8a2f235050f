// TimelineRecorder (src/stress/timeline.ts): the per-second timeline a stress run records.
import { describe, expect, test } from "bun:test";
import { TimelineRecorder } from "../../src/stress/index.ts";

describe("TimelineRecorder", () => {
  test("buckets launches, completions and failures by second since the start, with in flight, latency and RSS per second", () => {
    const t0 = 5_000; // performance.now() values are arbitrary offsets
    const rec = new TimelineRecorder(t0);
    rec.launched(t0 + 0);
    rec.launched(t0 + 10);
    rec.launched(t0 + 20);
    rec.completed(t0 + 400, 400);
    rec.completed(t0 + 900, 890);
    rec.launched(t0 + 1_100);
    rec.launched(t0 + 1_200);
    rec.pumpStopped(t0 + 2_000);
    rec.failed(t0 + 2_500);
    rec.completed(t0 + 3_200, 3_000);
    rec.completed(t0 + 3_300, 2_200);
    const tl = rec.finish(t0 + 3_400, [40, 41, 42]);

    expect(tl.map((s) => s.second)).toEqual([0, 1, 2, 3]);
    expect(tl.map((s) => s.launched)).toEqual([3, 2, 0, 0]);
    expect(tl.map((s) => s.completed)).toEqual([2, 0, 0, 2]);
    expect(tl.map((s) => s.failed)).toEqual([0, 0, 1, 0]);
    expect(tl.map((s) => s.inFlight)).toEqual([1, 3, 2, 0]);
    expect(tl[0]!.latencyP50Ms).toBe(400);
    expect(tl[0]!.latencyMaxMs).toBe(890);
    expect(tl[1]!.latencyP50Ms).toBeNull();
    expect(tl[3]!.latencyMaxMs).toBe(3_000);
    // the pump ran through seconds 0 and 1 only; the last second is partial (400 ms)
    expect(tl.map((s) => s.phase)).toEqual(["launching", "launching", "draining", "draining"]);
    expect(tl.map((s) => s.spanMs)).toEqual([1000, 1000, 1000, 400]);
    // RSS per second from the sampler's timeline; none sampled in second 3
    expect(tl.map((s) => s.rssMb)).toEqual([40, 41, 42, null]);
  });

  test("empty seconds are listed, and a run shorter than a second has one partial second", () => {
    const rec = new TimelineRecorder(0);
    rec.launched(0);
    rec.completed(2_500, 2_500);
    const tl = rec.finish(2_600);
    expect(tl.map((s) => s.completed)).toEqual([0, 0, 1]);
    expect(tl.map((s) => s.inFlight)).toEqual([1, 1, 0]);
    expect(tl.map((s) => s.phase)).toEqual(["launching", "launching", "launching"]); // the pump never stopped

    const short = new TimelineRecorder(0).finish(300);
    expect(short).toHaveLength(1);
    expect(short[0]).toMatchObject({ second: 0, spanMs: 300, completed: 0, inFlight: 0 });
  });
});
