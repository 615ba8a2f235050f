/**
 * The verdict of a stress run (docs/stress-tests.md §9.2): each of the testing guide's performance
 * targets, per row and across rows, judged pass / fail / not applicable against the bound that
 * applies to the row's config (the worker ceiling 1000·W/(T·d), docs/stress-tests.md §5.2; Little's
 * law for latency), plus the warning signs of each row (warning-signs.ts). Pure: the input is the
 * rows' configs and figures, the output a data structure; verdict-format.ts renders it.
 *
 * Two of the guide's targets cannot be met as written by the configs it recommends, and the
 * verdict says so instead of failing them: with 20 instances in flight the mean per-instance
 * latency is at least 20 / throughput (Little's law: about 1 s at 1/1, never < 200 ms), and 50
 * orch/s at 2/2 is above the 40 orch/s ceiling of two worker slots with 5 tasks of 10 ms. The
 * figure the guide's own program printed as "Avg Latency" (total time / completed, that is
 * 1000 / orch/s) is shown beside the real latency, labelled, and never judged.
 */
import { ConfigurationError } from "../core/errors.ts";
import { configLabel, resolveConfig, workerCeilingOrchPerSec, type StressTestConfig } from "./config.ts";
import { detectWarningSigns, resolveWarningThresholds, type WarningSignCheck, type WarningSignInput, type WarningThresholds } from "./warning-signs.ts";

export type TargetId =
  | "success-rate"
  | "baseline-throughput"
  | "average-latency"
  | "scalability"
  | "high-throughput"
  | "high-latency"
  | "linear-scaling";

/** "minimum": the guide's minimum requirements (what `--fail-on target` gates); "high-performance": reported, never gated. */
export type TargetLevel = "minimum" | "high-performance";
export type TargetStatus = "pass" | "fail" | "not-applicable";

export interface TargetCheck {
  id: TargetId;
  level: TargetLevel;
  /** The guide's target in its words, e.g. "Baseline throughput >= 10 orch/s (file-based provider, 1/1)". */
  target: string;
  status: TargetStatus;
  /** The measured figure with its unit; null when there is nothing to measure. */
  measured: string | null;
  /** The same figure as a number (orch/s, ms, %, or a ratio); null when there is none. */
  value: number | null;
  /** The bound that applies to this config (worker ceiling, Little's law), or null. */
  bound: string | null;
  /** Why it failed or does not apply; what the figure means. */
  note: string | null;
  /** True when no run of this config can meet the target (a bound is past it). */
  impossible: boolean;
  /** For a target that does not apply or cannot be met: the config that would make it meaningful. */
  meaningfulWith: string | null;
}

/** How the row's provider stores its data: the guide's throughput targets are for a file-based (durable) provider. */
export type ProviderStorage = "durable" | "in-memory";

/** One row of a run as the verdict reads it (a StressTestResult plus how it ran). */
export interface VerdictRowInput extends WarningSignInput {
  /** The provider label (the table's Provider column). */
  name: string;
  config: StressTestConfig;
  /** Runtime processes sharing the store, each with the config's slots (docs/stress-tests.md §6). Default 1. */
  processes?: number;
  /** Default "durable" (a provider under test); "in-memory" rows are not held to the throughput targets. */
  storage?: ProviderStorage;
  /** The guide's targets are set for the parallel-orchestrations scenario; any other gets success and the warning signs only. Default "parallel-orchestrations". */
  scenario?: string;
}

export interface RowVerdict {
  name: string;
  configLabel: string;
  processes: number;
  storage: ProviderStorage;
  scenario: string;
  /** The row's targets: success, throughput and latency, minimum then high-performance. */
  targets: TargetCheck[];
  /** Every warning-sign detector's finding (status "warning" for the signs found). */
  warnings: WarningSignCheck[];
}

/** The cross-row targets of one provider: its 1/1 row against its 2/2 row. */
export interface ScalingVerdict {
  name: string;
  processes: number;
  targets: TargetCheck[];
}

export interface VerdictSummary {
  /** Counts over every target check of every row and scaling group. */
  pass: number;
  fail: number;
  notApplicable: number;
  /** Minimum targets that failed: what `--fail-on target` gates on. */
  minimumFailed: number;
  highPerformanceFailed: number;
  /** Warning signs found, over all rows. */
  warnings: number;
  /** "fail" when a minimum target failed, else "warning" when a warning sign was found, else "pass". */
  status: "pass" | "warning" | "fail";
}

export interface StressVerdict {
  rows: RowVerdict[];
  scaling: ScalingVerdict[];
  summary: VerdictSummary;
}

export interface JudgeOptions {
  /** Overrides of the warning-sign thresholds (warning-signs.ts). */
  thresholds?: Partial<WarningThresholds>;
}

/** The guide's figures (provider testing guide, "Performance Targets"). */
export const GUIDE_TARGETS = Object.freeze({
  minThroughputOrchPerSec: 10,
  maxAverageLatencyMs: 200,
  minScalingGain: 1.3,
  highThroughputOrchPerSec: 50,
  highMaxAverageLatencyMs: 100,
  /** "Linear" accepts 90 % of the slot ratio: per-second noise on a shared machine is larger than the last tenth. */
  linearScalingShare: 0.9,
});

/**
 * A quiet machine reaches 85-90 % of the worker ceiling (docs/stress-tests.md §6.2), a loaded one
 * less: a suggested config leaves 30 % for overhead and noise.
 */
const REACHABLE_SHARE = 0.7;

const PARALLEL = "parallel-orchestrations";

/** Judges every row and every 1/1 -> 2/2 pair against the guide's targets, and detects each row's warning signs. */
export function judgeStressRun(rows: readonly VerdictRowInput[], options: JudgeOptions = {}): StressVerdict {
  if (!Array.isArray(rows)) throw new ConfigurationError("judgeStressRun: rows must be an array of stress results");
  if (typeof options !== "object" || options === null) throw new ConfigurationError("judgeStressRun: options must be an object like { thresholds: { stallSeconds: 5 } }");
  const thresholds = resolveWarningThresholds(options.thresholds ?? {});
  const verdictRows = rows.map((r, i) => judgeRow(checkRow(r, i), thresholds));
  const scaling = judgeScaling(rows);
  const all = [...verdictRows.flatMap((r) => r.targets), ...scaling.flatMap((s) => s.targets)];
  const minimumFailed = all.filter((c) => c.status === "fail" && c.level === "minimum").length;
  const warnings = verdictRows.reduce((n, r) => n + r.warnings.filter((w) => w.status === "warning").length, 0);
  return {
    rows: verdictRows,
    scaling,
    summary: {
      pass: all.filter((c) => c.status === "pass").length,
      fail: all.filter((c) => c.status === "fail").length,
      notApplicable: all.filter((c) => c.status === "not-applicable").length,
      minimumFailed,
      highPerformanceFailed: all.filter((c) => c.status === "fail" && c.level === "high-performance").length,
      warnings,
      status: minimumFailed > 0 ? "fail" : warnings > 0 ? "warning" : "pass",
    },
  };
}

/** The kinds of finding `--fail-on` gates on. */
export type FailOn = "target" | "warning";

/** Why the run should fail under `failOn` (empty: it should not): one line per failed minimum target or warning sign. */
export function verdictGateFailures(verdict: StressVerdict, failOn: readonly FailOn[]): string[] {
  const out: string[] = [];
  if (failOn.includes("target")) {
    for (const r of verdict.rows) {
      for (const c of r.targets) if (c.status === "fail" && c.level === "minimum") out.push(`${r.name} ${r.configLabel}: ${c.target}: ${c.measured ?? "no figure"}`);
    }
    for (const s of verdict.scaling) {
      for (const c of s.targets) if (c.status === "fail" && c.level === "minimum") out.push(`${s.name}: ${c.target}: ${c.measured ?? "no figure"}`);
    }
  }
  if (failOn.includes("warning")) {
    for (const r of verdict.rows) {
      for (const w of r.warnings) if (w.status === "warning") out.push(`${r.name} ${r.configLabel}: warning sign "${w.sign}": ${w.measured}`);
    }
  }
  return out;
}

/**
 * The lowest mean per-instance latency a config allows, ms: by Little's law, with `maxConcurrent`
 * instances in flight the mean latency is maxConcurrent / throughput, so at least maxConcurrent /
 * ceiling; and one instance alone needs ceil(T / slots) rounds of d ms. 0 when there is no worker
 * bound (d or T is 0).
 */
export function latencyFloorMs(config: Pick<StressTestConfig, "maxConcurrent" | "tasksPerInstance" | "activityDelayMs" | "workerConcurrency">, processes = 1): number {
  const slots = config.workerConcurrency * processes;
  const ceiling = workerCeilingOrchPerSec({ ...config, workerConcurrency: slots });
  if (!Number.isFinite(ceiling)) return 0;
  const little = (config.maxConcurrent * 1000) / ceiling;
  const alone = Math.ceil(config.tasksPerInstance / slots) * config.activityDelayMs;
  return Math.max(little, alone);
}

// ------------------------------------------------------------------ rows

function checkRow(r: VerdictRowInput, i: number): VerdictRowInput {
  const bad = (what: string) => new ConfigurationError(`judgeStressRun: rows[${i}] ${what} (pass the StressTestResult of runStressTest / measureStressTest)`);
  if (typeof r !== "object" || r === null) throw bad("is not an object");
  if (typeof r.name !== "string") throw bad("has no name");
  if (typeof r.config !== "object" || r.config === null) throw bad("has no config");
  try {
    resolveConfig(r.config);
  } catch (err) {
    throw bad(`has a bad config: ${(err as Error).message}`);
  }
  for (const k of ["launched", "completed", "failed", "successRate", "orchThroughput", "totalTimeMs"] as const) {
    if (typeof r[k] !== "number" || !Number.isFinite(r[k]) || r[k] < 0) throw bad(`.${k} must be a number >= 0, got ${String(r[k])}`);
  }
  if (typeof r.latency !== "object" || r.latency === null) throw bad("has no latency summary");
  if (!Array.isArray(r.timeline)) throw bad("has no timeline (results of this version of duroxide/stress carry one)");
  if (r.processes !== undefined && (!Number.isSafeInteger(r.processes) || r.processes < 1)) throw bad(`.processes must be an integer >= 1, got ${String(r.processes)}`);
  if (r.storage !== undefined && r.storage !== "durable" && r.storage !== "in-memory") throw bad(`.storage must be "durable" or "in-memory", got ${String(r.storage)}`);
  return r;
}

function judgeRow(r: VerdictRowInput, thresholds: WarningThresholds): RowVerdict {
  const processes = r.processes ?? 1;
  const storage = r.storage ?? "durable";
  const scenario = r.scenario ?? PARALLEL;
  const targets = [successTarget(r)];
  if (scenario === PARALLEL) {
    targets.push(
      throughputTarget(r, processes, storage, "minimum"),
      latencyTarget(r, processes, "minimum"),
      throughputTarget(r, processes, storage, "high-performance"),
      latencyTarget(r, processes, "high-performance"),
    );
  } else {
    for (const [id, level, target] of [
      ["baseline-throughput", "minimum", "Baseline throughput"],
      ["average-latency", "minimum", "Average latency"],
      ["high-throughput", "high-performance", "High throughput"],
      ["high-latency", "high-performance", "Low latency"],
    ] as const) {
      targets.push(notApplicable(id, level, target, null, `the guide sets this target for the parallel-orchestrations scenario, not ${scenario}`, "the parallel-orchestrations scenario"));
    }
  }
  return { name: r.name, configLabel: configLabel(r.config), processes, storage, scenario, targets, warnings: detectWarningSigns(r, thresholds) };
}

function successTarget(r: VerdictRowInput): TargetCheck {
  const measured = `${r.successRate.toFixed(2)}% (${r.completed} of ${r.launched})`;
  const base = { id: "success-rate", level: "minimum", target: "Success rate 100%", measured, value: r.successRate, bound: null, impossible: false, meaningfulWith: null } as const;
  if (r.launched === 0) return { ...base, status: "fail", note: "nothing was launched" };
  const ok = r.successRate >= 100 && r.failed === 0;
  return { ...base, status: ok ? "pass" : "fail", note: ok ? null : `${r.failed} failed, ${r.launched - r.completed - r.failed} unfinished: see the failure samples` };
}

function throughputTarget(r: VerdictRowInput, processes: number, storage: ProviderStorage, level: TargetLevel): TargetCheck {
  const minimum = level === "minimum";
  const goal = minimum ? GUIDE_TARGETS.minThroughputOrchPerSec : GUIDE_TARGETS.highThroughputOrchPerSec;
  const slots = minimum ? 1 : 2;
  const id: TargetId = minimum ? "baseline-throughput" : "high-throughput";
  const target = `${minimum ? "Baseline throughput" : "High throughput"} >= ${goal} orch/s (file-based provider, ${slots}/${slots})`;
  const measured = `${r.orchThroughput.toFixed(2)} orch/s`;
  const c = r.config;
  const ceiling = workerCeilingOrchPerSec({ ...c, workerConcurrency: c.workerConcurrency * processes });
  const bound = Number.isFinite(ceiling)
    ? `worker ceiling 1000*W/(T*d) = ${ceiling.toFixed(2)} orch/s${processes > 1 ? ` (W = ${processes} x ${c.workerConcurrency} slots)` : ""}; measured ${((r.orchThroughput / ceiling) * 100).toFixed(1)}% of it`
    : "no worker ceiling (0 ms activities or 0 tasks)";
  const preset = minimum ? "--preset baseline" : "--preset concurrency";
  if (storage !== "durable") {
    return notApplicable(id, level, target, measured, "the guide sets it for a file-based provider; an in-memory store is not judged", `a file-based provider at ${slots}/${slots} (${preset} --provider sqlite-file)`, r.orchThroughput, bound);
  }
  if (c.orchConcurrency !== slots || c.workerConcurrency !== slots || processes !== 1) {
    return notApplicable(id, level, target, measured, `the guide sets it for the ${slots}/${slots} config in one runtime; this row is ${configLabel(c)}${processes > 1 ? ` x ${processes} processes` : ""}`, `${slots}/${slots} (${preset})`, r.orchThroughput, bound);
  }
  if (ceiling < goal) {
    return {
      id,
      level,
      target,
      status: "not-applicable",
      measured,
      value: r.orchThroughput,
      bound,
      note: `impossible for this config: the worker ceiling ${ceiling.toFixed(2)} orch/s is below ${goal}`,
      impossible: true,
      meaningfulWith: throughputSuggestion(c, slots, goal),
    };
  }
  const ok = r.orchThroughput >= goal;
  return { id, level, target, status: ok ? "pass" : "fail", measured, value: r.orchThroughput, bound, note: ok ? null : `${(goal - r.orchThroughput).toFixed(2)} orch/s short`, impossible: false, meaningfulWith: null };
}

/** A config whose ceiling clears `goal` with room for overhead: a shorter activity delay, or none. */
function throughputSuggestion(c: StressTestConfig, slots: number, goal: number): string {
  const t = Math.max(1, c.tasksPerInstance);
  const d = Math.floor((1000 * slots * REACHABLE_SHARE) / (t * goal));
  if (d >= 1) {
    const ceiling = (1000 * slots) / (t * d);
    return `--delay-ms ${d} (worker ceiling ${ceiling.toFixed(2)} orch/s at ${slots}/${slots}), or --delay-ms 0 (no worker bound)`;
  }
  return "--delay-ms 0 (no worker bound: the engine and the provider themselves)";
}

function latencyTarget(r: VerdictRowInput, processes: number, level: TargetLevel): TargetCheck {
  const minimum = level === "minimum";
  const goal = minimum ? GUIDE_TARGETS.maxAverageLatencyMs : GUIDE_TARGETS.highMaxAverageLatencyMs;
  const id: TargetId = minimum ? "average-latency" : "high-latency";
  const target = `${minimum ? "Average latency" : "Low latency"} < ${goal} ms per orchestration`;
  const c = r.config;
  const guideFigure = r.completed > 0 ? r.totalTimeMs / r.completed : null;
  const measured =
    r.completed === 0
      ? "no instance completed"
      : `mean ${r.latency.meanMs.toFixed(1)} ms per instance (start -> completion); the guide's program printed ${guideFigure!.toFixed(1)} ms = total time / completed = 1000 / orch/s, not a latency`;
  const floor = latencyFloorMs(c, processes);
  const littleNow = r.orchThroughput > 0 ? (c.maxConcurrent * 1000) / r.orchThroughput : null;
  const bound =
    `Little's law: mean latency = in flight / throughput` +
    (floor > 0 ? `, at least ${floor.toFixed(0)} ms for this config (${c.maxConcurrent} in flight at the worker ceiling, or one instance's own ${Math.ceil(c.tasksPerInstance / (c.workerConcurrency * processes))} x ${c.activityDelayMs} ms)` : "") +
    (littleNow !== null ? `; ${c.maxConcurrent} / ${r.orchThroughput.toFixed(2)} orch/s = ${littleNow.toFixed(0)} ms at the measured rate` : "");
  if (floor >= goal) {
    return {
      id,
      level,
      target,
      status: "not-applicable",
      measured,
      value: r.completed > 0 ? r.latency.meanMs : null,
      bound,
      note: `impossible for this config: with ${c.maxConcurrent} in flight, once the window is full, the mean latency cannot go below ${floor.toFixed(0)} ms`,
      impossible: true,
      meaningfulWith: latencySuggestion(c, processes, goal),
    };
  }
  if (r.completed === 0) {
    return { id, level, target, status: "fail", measured, value: null, bound, note: "no instance completed", impossible: false, meaningfulWith: null };
  }
  const ok = r.latency.meanMs < goal;
  return { id, level, target, status: ok ? "pass" : "fail", measured, value: r.latency.meanMs, bound, note: ok ? null : `${(r.latency.meanMs - goal).toFixed(1)} ms over`, impossible: false, meaningfulWith: null };
}

/** The largest window whose latency floor is below `goal` (with room for overhead), or a shorter delay with one in flight. */
function latencySuggestion(c: StressTestConfig, processes: number, goal: number): string {
  for (let m = Math.min(c.maxConcurrent - 1, 1000); m >= 1; m--) {
    const f = latencyFloorMs({ ...c, maxConcurrent: m }, processes);
    if (f <= goal * REACHABLE_SHARE) return `--max-concurrent ${m} (latency floor ${f.toFixed(0)} ms)`;
  }
  const rounds = Math.ceil(Math.max(1, c.tasksPerInstance) / (c.workerConcurrency * processes));
  const d = Math.floor((goal * REACHABLE_SHARE) / Math.max(rounds, c.tasksPerInstance / (c.workerConcurrency * processes)));
  return d >= 1 ? `--max-concurrent 1 --delay-ms ${d}` : "--max-concurrent 1 --delay-ms 0";
}

// ------------------------------------------------------------------ scaling (1/1 -> 2/2)

function judgeScaling(rows: readonly VerdictRowInput[]): ScalingVerdict[] {
  const groups = new Map<string, VerdictRowInput[]>();
  for (const r of rows) {
    if ((r.scenario ?? PARALLEL) !== PARALLEL) continue;
    const key = `${r.name}\u0000${r.processes ?? 1}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const out: ScalingVerdict[] = [];
  for (const group of groups.values()) {
    const one = group.find((r) => r.config.orchConcurrency === 1 && r.config.workerConcurrency === 1);
    const two = group.find((r) => r.config.orchConcurrency === 2 && r.config.workerConcurrency === 2 && (one === undefined || sameWorkload(one.config, r.config)));
    const first = group[0]!;
    out.push({ name: first.name, processes: first.processes ?? 1, targets: [scalingTarget(one, two, "minimum"), scalingTarget(one, two, "high-performance")] });
  }
  return out;
}

function sameWorkload(a: StressTestConfig, b: StressTestConfig): boolean {
  return a.maxConcurrent === b.maxConcurrent && a.tasksPerInstance === b.tasksPerInstance && a.activityDelayMs === b.activityDelayMs;
}

function scalingTarget(one: VerdictRowInput | undefined, two: VerdictRowInput | undefined, level: TargetLevel): TargetCheck {
  const minimum = level === "minimum";
  const id: TargetId = minimum ? "scalability" : "linear-scaling";
  const want = minimum ? GUIDE_TARGETS.minScalingGain : 2 * GUIDE_TARGETS.linearScalingShare;
  const target = minimum
    ? `Scalability: 2/2 throughput >= 1.3 x 1/1 (+30%)`
    : `Linear scaling: 2/2 throughput = 2 x 1/1 (accepted from ${want.toFixed(2)} x, ${GUIDE_TARGETS.linearScalingShare * 100}% of linear)`;
  if (one === undefined || two === undefined) {
    const missing = one === undefined && two === undefined ? "1/1 and 2/2 rows" : one === undefined ? "a 1/1 row" : "a 2/2 row";
    return notApplicable(id, level, target, null, `needs ${missing} of the same provider with the same workload (in flight, tasks, delay)`, "--config 1/1,2/2 (e.g. --preset baseline --config 1/1,2/2)");
  }
  const ratio = one.orchThroughput > 0 ? two.orchThroughput / one.orchThroughput : 0;
  const measured = `${ratio.toFixed(2)} x (${one.orchThroughput.toFixed(2)} -> ${two.orchThroughput.toFixed(2)} orch/s)`;
  const c1 = workerCeilingOrchPerSec(one.config);
  const c2 = workerCeilingOrchPerSec(two.config);
  const bound = Number.isFinite(c1) && Number.isFinite(c2) ? `worker ceilings ${c1.toFixed(2)} -> ${c2.toFixed(2)} orch/s (${(c2 / c1).toFixed(2)} x)` : "no worker ceiling: engine-bound, on one JS thread (docs/stress-tests.md §5.1)";
  if (one.orchThroughput === 0) {
    return { id, level, target, status: "fail", measured, value: null, bound, note: "the 1/1 row completed nothing", impossible: false, meaningfulWith: null };
  }
  const ok = ratio >= want;
  return { id, level, target, status: ok ? "pass" : "fail", measured, value: ratio, bound, note: ok ? null : `below ${want.toFixed(2)} x`, impossible: false, meaningfulWith: null };
}

function notApplicable(
  id: TargetId,
  level: TargetLevel,
  target: string,
  measured: string | null,
  note: string,
  meaningfulWith: string,
  value: number | null = null,
  bound: string | null = null,
): TargetCheck {
  return { id, level, target, status: "not-applicable", measured, value, bound, note, impossible: false, meaningfulWith };
}
