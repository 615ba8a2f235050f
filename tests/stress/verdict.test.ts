// The verdict (src/stress/verdict.ts, verdict-format.ts, presets.ts) on hand-made runs: each of the
// guide's targets judged pass / fail / not applicable against the bound of the row's config.
import { describe, expect, test } from "bun:test";
import { ConfigurationError } from "../../src/core/errors.ts";
import {
  CONCURRENCY_STRESS,
  PERFORMANCE_BASELINE,
  QUICK_VALIDATION,
  STRESS_PRESET_NAMES,
  formatVerdict,
  judgeStressRun,
  latencyFloorMs,
  shouldColor,
  stressPreset,
  verdictGateFailures,
  type StressVerdict,
  type TargetCheck,
  type TargetId,
} from "../../src/stress/index.ts";
import { syntheticRun } from "./synthetic-run.ts";

const STEADY = (perSec: number, seconds = 10) => [...Array.from({ length: seconds }, () => perSec), Math.round(perSec / 2)];

function target(v: StressVerdict, row: number, id: TargetId): TargetCheck {
  const t = v.rows[row]!.targets.find((c) => c.id === id);
  if (t === undefined) throw new Error(`no target ${id}`);
  return t;
}

describe("judgeStressRun", () => {
  test("the guide's baseline on a file provider: success and >= 10 orch/s pass against the 20 orch/s ceiling; < 200 ms is impossible by Little's law, shown beside the guide's own figure", () => {
    const v = judgeStressRun([syntheticRun({ completed: STEADY(18), config: PERFORMANCE_BASELINE })]);
    expect(target(v, 0, "success-rate").status).toBe("pass");
    const tp = target(v, 0, "baseline-throughput");
    expect(tp.status).toBe("pass");
    expect(tp.bound).toContain("worker ceiling 1000*W/(T*d) = 20.00 orch/s");
    const lat = target(v, 0, "average-latency");
    expect(lat.status).toBe("not-applicable");
    expect(lat.impossible).toBe(true);
    expect(lat.bound).toContain("Little's law");
    expect(lat.bound).toContain("at least 1000 ms");
    // the guide's program printed total time / completed, which here is 11000 ms / 189 = 58.2 ms
    expect(lat.measured).toContain("mean 1000.0 ms per instance");
    expect(lat.measured).toContain("the guide's program printed 58.2 ms = total time / completed");
    expect(lat.meaningfulWith).toBe("--max-concurrent 2 (latency floor 100 ms)");
    // high throughput is the 2/2 config's target
    expect(target(v, 0, "high-throughput")).toMatchObject({ status: "not-applicable", impossible: false, meaningfulWith: "2/2 (--preset concurrency)" });
    expect(v.summary).toMatchObject({ pass: 2, fail: 0, minimumFailed: 0, warnings: 0, status: "pass" });
  });

  test("a file provider below 10 orch/s at 1/1 fails the minimum target, and the run fails", () => {
    const v = judgeStressRun([syntheticRun({ completed: STEADY(7), config: PERFORMANCE_BASELINE })]);
    const tp = target(v, 0, "baseline-throughput");
    expect(tp.status).toBe("fail");
    expect(tp.note).toMatch(/orch\/s short/);
    expect(v.summary.status).toBe("fail");
    expect(v.summary.minimumFailed).toBe(1);
  });

  test("Quick Validation cannot reach 10 orch/s (ceiling 6.67): not applicable, impossible, with the config that makes it meaningful", () => {
    const v = judgeStressRun([syntheticRun({ completed: STEADY(6), config: QUICK_VALIDATION })]);
    const tp = target(v, 0, "baseline-throughput");
    expect(tp).toMatchObject({ status: "not-applicable", impossible: true });
    expect(tp.note).toContain("worker ceiling 6.67 orch/s is below 10");
    expect(tp.meaningfulWith).toContain("--delay-ms");
    expect(v.summary.minimumFailed).toBe(0);
  });

  test("the Concurrency Stress Test cannot reach 50 orch/s at 2/2 (ceiling 40): impossible, and a shorter delay is suggested", () => {
    const v = judgeStressRun([syntheticRun({ completed: STEADY(36), config: CONCURRENCY_STRESS })]);
    const high = target(v, 0, "high-throughput");
    expect(high).toMatchObject({ status: "not-applicable", impossible: true, level: "high-performance" });
    expect(high.note).toContain("worker ceiling 40.00 orch/s is below 50");
    expect(high.meaningfulWith).toBe("--delay-ms 5 (worker ceiling 80.00 orch/s at 2/2), or --delay-ms 0 (no worker bound)");
    // 10 orch/s is the 1/1 config's target
    expect(target(v, 0, "baseline-throughput").status).toBe("not-applicable");
  });

  test("a config with a low latency floor is judged on the real mean latency, never on total time / completed", () => {
    const config = { ...PERFORMANCE_BASELINE, maxConcurrent: 1, tasksPerInstance: 2, activityDelayMs: 10 };
    expect(latencyFloorMs(config)).toBe(20);
    const fast = judgeStressRun([syntheticRun({ completed: STEADY(40), config, latency: { meanMs: 25, p50Ms: 25, p99Ms: 30, stdDevMs: 2 } })]);
    expect(target(fast, 0, "average-latency").status).toBe("pass");
    expect(target(fast, 0, "high-latency").status).toBe("pass");
    // a mean of 250 ms fails although total time / completed (25 ms) would have passed
    const slow = judgeStressRun([syntheticRun({ completed: STEADY(40), config, latency: { meanMs: 250, p50Ms: 250, p99Ms: 300, stdDevMs: 20 } })]);
    expect(target(slow, 0, "average-latency")).toMatchObject({ status: "fail", value: 250 });
    expect(target(slow, 0, "high-latency").status).toBe("fail");
    expect(slow.summary).toMatchObject({ minimumFailed: 1, highPerformanceFailed: 1 });
  });

  test("an in-memory store is not held to the file-based throughput targets; a row of another scenario gets success and warnings only", () => {
    const v = judgeStressRun([
      { ...syntheticRun({ completed: STEADY(3), config: PERFORMANCE_BASELINE, name: "In-Memory SQLite" }), storage: "in-memory" },
      { ...syntheticRun({ completed: STEADY(1), config: PERFORMANCE_BASELINE, name: "Big" }), scenario: "large-payload" },
    ]);
    expect(target(v, 0, "baseline-throughput").status).toBe("not-applicable");
    expect(target(v, 0, "baseline-throughput").note).toContain("file-based");
    expect(v.rows[1]!.targets.filter((t) => t.status !== "not-applicable").map((t) => t.id)).toEqual(["success-rate"]);
    expect(v.rows[1]!.warnings).toHaveLength(5);
    expect(v.summary.minimumFailed).toBe(0);
  });

  test("1/1 -> 2/2 of one provider: +30 % passes the minimum, 1.8 x is needed for linear; a lone row makes both not applicable", () => {
    const one = syntheticRun({ completed: STEADY(18), config: PERFORMANCE_BASELINE });
    const two = (perSec: number) => syntheticRun({ completed: STEADY(perSec), config: CONCURRENCY_STRESS });
    const good = judgeStressRun([one, two(36)]);
    expect(good.scaling).toHaveLength(1);
    expect(good.scaling[0]!.targets.map((t) => [t.id, t.status])).toEqual([
      ["scalability", "pass"],
      ["linear-scaling", "pass"],
    ]);
    expect(good.scaling[0]!.targets[0]!.bound).toContain("20.00 -> 40.00 orch/s (2.00 x)");
    const meh = judgeStressRun([one, two(25)]);
    expect(meh.scaling[0]!.targets.map((t) => t.status)).toEqual(["pass", "fail"]);
    expect(meh.summary.status).toBe("pass"); // high-performance failures are reported, not gated
    const flat = judgeStressRun([one, two(20)]);
    expect(flat.scaling[0]!.targets[0]!.status).toBe("fail");
    expect(flat.summary.status).toBe("fail");
    const lone = judgeStressRun([one]);
    expect(lone.scaling[0]!.targets[0]).toMatchObject({ status: "not-applicable", meaningfulWith: "--config 1/1,2/2 (e.g. --preset baseline --config 1/1,2/2)" });
  });

  test("warning signs count in the summary: a stalled row makes the run 'warning' without failing a target", () => {
    const v = judgeStressRun([syntheticRun({ completed: [18, 18, 18, 0, 0, 0, 0, 18, 18, 18, 5], config: PERFORMANCE_BASELINE })]);
    expect(v.summary).toMatchObject({ warnings: 1, minimumFailed: 0, status: "warning" });
    expect(v.rows[0]!.warnings.find((w) => w.status === "warning")!.id).toBe("zero-throughput");
  });

  test("bad input is a ConfigurationError saying what to pass", () => {
    expect(() => judgeStressRun("x" as never)).toThrow(ConfigurationError);
    expect(() => judgeStressRun([{ name: "x" } as never])).toThrow(/rows\[0\] has no config/);
    const { timeline: _, ...old } = syntheticRun({ completed: STEADY(18) });
    expect(() => judgeStressRun([old as never])).toThrow(/has no timeline/);
    expect(() => judgeStressRun([{ ...syntheticRun({ completed: STEADY(18) }), orchThroughput: Number.NaN }])).toThrow(/orchThroughput must be a number/);
    expect(() => judgeStressRun([{ ...syntheticRun({ completed: STEADY(18) }), storage: "disk" as never }])).toThrow(/storage must be "durable" or "in-memory"/);
    expect(() => judgeStressRun([], { thresholds: { latencyCv: -1 } })).toThrow(ConfigurationError);
    expect(() => judgeStressRun([], null as never)).toThrow(ConfigurationError);
    const noTasks = syntheticRun({ completed: STEADY(18) });
    expect(() => judgeStressRun([{ ...noTasks, config: { ...noTasks.config, tasksPerInstance: -1 } }])).toThrow(/bad config: StressTestConfig.tasksPerInstance must be an integer >= 0/);
  });
});

describe("verdictGateFailures", () => {
  const stalledSlow = judgeStressRun([syntheticRun({ completed: [7, 7, 7, 0, 0, 0, 0, 7, 7, 7, 2], config: PERFORMANCE_BASELINE })]);
  const healthy = judgeStressRun([syntheticRun({ completed: STEADY(18), config: PERFORMANCE_BASELINE })]);

  test("--fail-on target names each failed minimum target; --fail-on warning each warning sign; nothing for a healthy run", () => {
    expect(verdictGateFailures(stalledSlow, ["target"])).toEqual([expect.stringContaining("File SQLite 1/1: Baseline throughput >= 10 orch/s")]);
    expect(verdictGateFailures(stalledSlow, ["warning"])).toEqual([expect.stringContaining('warning sign "Throughput = 0"')]);
    expect(verdictGateFailures(stalledSlow, ["target", "warning"])).toHaveLength(2);
    expect(verdictGateFailures(stalledSlow, [])).toEqual([]);
    expect(verdictGateFailures(healthy, ["target", "warning"])).toEqual([]);
  });
});

describe("formatVerdict", () => {
  const v = judgeStressRun([syntheticRun({ completed: [7, 7, 7, 0, 0, 0, 0, 7, 7, 7, 2], config: PERFORMANCE_BASELINE })]);

  test("plain text: the marker, PASS / FAIL / N/A per target with measured figure and bound, the warning with its likely causes, the summary", () => {
    const text = formatVerdict(v);
    expect(text).not.toContain("\x1b[");
    expect(text).toContain("=== Verdict ===");
    expect(text).toContain("FAIL  Baseline throughput >= 10 orch/s (file-based provider, 1/1)");
    expect(text).toContain("bound: worker ceiling 1000*W/(T*d) = 20.00 orch/s");
    expect(text).toContain("N/A   Average latency < 200 ms per orchestration");
    expect(text).toContain("meaningful with: --max-concurrent 2");
    expect(text).toContain("WARNING Throughput = 0");
    expect(text).toContain("likely causes: work not committed");
    expect(text).toMatch(/Verdict: FAIL: 1 pass, 1 fail \(1 minimum, 0 high-performance\), \d+ not applicable; 1 warning sign$/m);
  });

  test("colour only when asked; shouldColor honours NO_COLOR, FORCE_COLOR, TERM=dumb and whether the stream is a terminal", () => {
    expect(formatVerdict(v, { color: true })).toContain("\x1b[");
    expect(shouldColor({ isTTY: true }, {})).toBe(true);
    expect(shouldColor({ isTTY: false }, {})).toBe(false);
    expect(shouldColor({ isTTY: true }, { NO_COLOR: "1" })).toBe(false);
    expect(shouldColor({ isTTY: true }, { TERM: "dumb" })).toBe(false);
    expect(shouldColor({ isTTY: false }, { FORCE_COLOR: "1" })).toBe(true);
    expect(shouldColor({ isTTY: false }, { FORCE_COLOR: "1", NO_COLOR: "1" })).toBe(false);
  });
});

describe("stressPreset", () => {
  test("the guide's three configurations, exactly; any other name is a ConfigurationError listing them", () => {
    expect(STRESS_PRESET_NAMES).toEqual(["quick", "baseline", "concurrency"]);
    expect(stressPreset("quick").config).toMatchObject({ maxConcurrent: 10, durationSecs: 30, tasksPerInstance: 3, activityDelayMs: 50, orchConcurrency: 1, workerConcurrency: 1 });
    expect(stressPreset("baseline").config).toMatchObject({ maxConcurrent: 20, durationSecs: 10, tasksPerInstance: 5, activityDelayMs: 10, orchConcurrency: 1, workerConcurrency: 1 });
    expect(stressPreset("concurrency").config).toMatchObject({ maxConcurrent: 20, durationSecs: 10, tasksPerInstance: 5, activityDelayMs: 10, orchConcurrency: 2, workerConcurrency: 2 });
    expect(() => stressPreset("fast")).toThrow(/unknown stress preset "fast": the presets are quick, baseline, concurrency/);
    expect(() => stressPreset(undefined as never)).toThrow(ConfigurationError);
  });
});
