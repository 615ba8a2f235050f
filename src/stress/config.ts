/**
 * Stress-test configuration: the fields of the original's `StressTestConfig`, the presets of the
 * provider testing guide, and validation (a bad config is a ConfigurationError naming the field).
 */
import { describe } from "../core/describe.ts";
import { ConfigurationError } from "../core/errors.ts";

export interface StressTestConfig {
  /** Size of the in-flight window: at most this many instances are running at once. */
  maxConcurrent: number;
  /** How long the launch pump starts new instances (seconds; fractions allowed). The drain comes after. */
  durationSecs: number;
  /** Fan-out width of FanoutOrchestration; also the multiplier of Activity/sec. */
  tasksPerInstance: number;
  /** How long each ProcessTask activity sleeps (ms). */
  activityDelayMs: number;
  /** Runtime option orchestrationConcurrency: orchestration dispatcher slots. */
  orchConcurrency: number;
  /** Runtime option workerConcurrency: activity worker slots. */
  workerConcurrency: number;
  /** Per-instance wait limit (seconds); an instance not finished by then counts as failed. Default 60. */
  waitTimeoutSecs?: number;
}

export type ResolvedStressTestConfig = Required<StressTestConfig>;

export const DEFAULT_WAIT_TIMEOUT_SECS = 60;

/** The original's `Default`: 20/10/5/10/2/2/60. */
export const DEFAULT_CONFIG: Readonly<ResolvedStressTestConfig> = Object.freeze({
  maxConcurrent: 20,
  durationSecs: 10,
  tasksPerInstance: 5,
  activityDelayMs: 10,
  orchConcurrency: 2,
  workerConcurrency: 2,
  waitTimeoutSecs: DEFAULT_WAIT_TIMEOUT_SECS,
});

/** Testing guide, "Performance Baseline (10 seconds)": 20/10/5/10/1/1. */
export const PERFORMANCE_BASELINE: Readonly<ResolvedStressTestConfig> = Object.freeze({
  ...DEFAULT_CONFIG,
  orchConcurrency: 1,
  workerConcurrency: 1,
});

/** Testing guide, "Concurrency Stress Test (10 seconds)": 20/10/5/10/2/2. */
export const CONCURRENCY_STRESS: Readonly<ResolvedStressTestConfig> = Object.freeze({ ...DEFAULT_CONFIG });

/** Testing guide, "Quick Validation": 10/30/3/50/1/1. */
export const QUICK_VALIDATION: Readonly<ResolvedStressTestConfig> = Object.freeze({
  maxConcurrent: 10,
  durationSecs: 30,
  tasksPerInstance: 3,
  activityDelayMs: 50,
  orchConcurrency: 1,
  workerConcurrency: 1,
  waitTimeoutSecs: DEFAULT_WAIT_TIMEOUT_SECS,
});

/** The original's CI validation test: 1/1/2/5/1/1/60. */
export const CI_MINIMAL: Readonly<ResolvedStressTestConfig> = Object.freeze({
  maxConcurrent: 1,
  durationSecs: 1,
  tasksPerInstance: 2,
  activityDelayMs: 5,
  orchConcurrency: 1,
  workerConcurrency: 1,
  waitTimeoutSecs: DEFAULT_WAIT_TIMEOUT_SECS,
});

const FIELDS = [
  "maxConcurrent",
  "durationSecs",
  "tasksPerInstance",
  "activityDelayMs",
  "orchConcurrency",
  "workerConcurrency",
  "waitTimeoutSecs",
] as const;

/** Checks every field and fills in `waitTimeoutSecs`; throws ConfigurationError naming the first bad field. */
export function resolveConfig(config: StressTestConfig): ResolvedStressTestConfig {
  if (typeof config !== "object" || config === null) {
    throw new ConfigurationError(
      "StressTestConfig must be an object like { maxConcurrent: 20, durationSecs: 10, tasksPerInstance: 5, activityDelayMs: 10, orchConcurrency: 1, workerConcurrency: 1 }",
    );
  }
  for (const key of Object.keys(config)) {
    if (!(FIELDS as readonly string[]).includes(key)) {
      throw new ConfigurationError(`unknown StressTestConfig field "${key}" (fields: ${FIELDS.join(", ")})`);
    }
  }
  const c = config as unknown as Record<string, unknown>;
  const int = (key: string, min: number): number => {
    const v = c[key];
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) {
      throw new ConfigurationError(`StressTestConfig.${key} must be an integer >= ${min}, got ${describe(v)}`);
    }
    return v;
  };
  const positive = (key: string, value: unknown): number => {
    if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
      throw new ConfigurationError(`StressTestConfig.${key} must be a number of seconds > 0, got ${describe(value)}`);
    }
    return value;
  };
  return {
    maxConcurrent: int("maxConcurrent", 1),
    durationSecs: positive("durationSecs", c.durationSecs),
    tasksPerInstance: int("tasksPerInstance", 0),
    activityDelayMs: int("activityDelayMs", 0),
    orchConcurrency: int("orchConcurrency", 1),
    workerConcurrency: int("workerConcurrency", 1),
    waitTimeoutSecs: positive("waitTimeoutSecs", c.waitTimeoutSecs ?? DEFAULT_WAIT_TIMEOUT_SECS),
  };
}

/** `{orch}/{worker}`, e.g. "1/1": the table's Config column. */
export function configLabel(config: Pick<StressTestConfig, "orchConcurrency" | "workerConcurrency">): string {
  return `${config.orchConcurrency}/${config.workerConcurrency}`;
}

/** One line with every field, e.g. "max_concurrent=20 duration=10s tasks=5 delay=10ms orch/worker=1/1 wait=60s". */
export function describeConfig(config: StressTestConfig): string {
  return (
    `max_concurrent=${config.maxConcurrent} duration=${config.durationSecs}s tasks=${config.tasksPerInstance} ` +
    `delay=${config.activityDelayMs}ms orch/worker=${configLabel(config)} wait=${config.waitTimeoutSecs ?? DEFAULT_WAIT_TIMEOUT_SECS}s`
  );
}

/**
 * The worker-bound ceiling (docs/stress-tests.md §5.2): W slots each finish at most 1000/d
 * activities a second, and an instance needs T of them, so orch/s <= 1000·W/(T·d). Infinity when d
 * or T is 0 (no worker bound).
 */
export function workerCeilingOrchPerSec(config: Pick<StressTestConfig, "workerConcurrency" | "tasksPerInstance" | "activityDelayMs">): number {
  const { workerConcurrency: w, tasksPerInstance: t, activityDelayMs: d } = config;
  return t === 0 || d === 0 ? Infinity : (1000 * w) / (t * d);
}
