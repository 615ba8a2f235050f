/**
 * Scenario A, parallel orchestrations (docs/stress-tests.md §1), and the runner every scenario
 * shares.
 *
 * A launch pump keeps up to `maxConcurrent` instances in flight for `durationSecs`; each instance
 * is started, awaited with `client.waitForOrchestration` (woken in-process when its turn commits)
 * and classified; after the pump stops the runner drains what is still in flight (up to 120 s).
 * Latency is real: per instance, from the start call to the completion being observed.
 *
 * Deviation from the original's pump (it slept 1 ms after each launch and re-checked a full window
 * every 10 ms, i.e. at most ~1000 launches/s): here the pump fills the window at once and refills a
 * slot the moment an instance finishes (10 ms stays as a fallback re-check), so the window really
 * holds `maxConcurrent` instances and the launch rate never binds engine runs at 0 ms delay.
 * `launchIntervalMs: 1` restores the original's pacing. The drain is likewise woken by the last
 * completion instead of a 100 ms poll.
 *
 * RSS samples and progress callbacks are taken from the pump and from each completion as well as
 * from a timer: under sustained 0 ms load the dispatchers may run as one long chain of microtasks,
 * during which timers do not fire.
 */
import { Client } from "../client.ts";
import type { ErrorDetails } from "../core/error-details.ts";
import { ConfigurationError, DuroxideError } from "../core/errors.ts";
import { describe } from "../core/describe.ts";
import type { Provider } from "../provider.ts";
import type { ActivityHandler, OrchestrationHandler } from "../runtime/handler-types.ts";
import type { RuntimeOptions } from "../runtime/options.ts";
import { ActivityRegistry, OrchestrationRegistry } from "../runtime/registry.ts";
import { Runtime } from "../runtime/runtime.ts";
import { configLabel, resolveConfig, type ResolvedStressTestConfig, type StressTestConfig } from "./config.ts";
import { latencyHistogram, type LatencyHistogram } from "./latency-histogram.ts";
import { ResourceSampler, round2, summarizeLatencies, type LatencySummary } from "./metrics.ts";
import { TimelineRecorder, type TimelineSecond } from "./timeline.ts";

export const FANOUT_ORCHESTRATION = "FanoutOrchestration";
export const PROCESS_TASK = "ProcessTask";
/** The drain gives up after this long (docs/stress-tests.md §1.5). */
export const DRAIN_LIMIT_MS = 120_000;

// ------------------------------------------------------------------ scenario A's code

/** Counts activity executions of the built-in scenarios (the real activity rate, not orch/s × T). */
export interface ActivityCounter {
  count: number;
}

/** `ProcessTask`: sleeps `delayMs` on a timer, returns `processed: <input>`; never fails. */
export function createDefaultActivities(delayMs: number, counter?: ActivityCounter): ActivityRegistry {
  return ActivityRegistry.builder()
    .register(PROCESS_TASK, async (_ctx, input: unknown) => {
      if (delayMs > 0) await Bun.sleep(delayMs);
      if (counter !== undefined) counter.count++;
      return `processed: ${typeof input === "string" ? input : JSON.stringify(input)}`;
    })
    .build();
}

/** The body of `FanoutOrchestration`: schedules `task_count` ProcessTasks at once, joins them, counts successes. */
export const fanoutOrchestration: OrchestrationHandler = function* (ctx, input: unknown) {
  // The original receives a JSON string; accept that too. A parse error is an application failure.
  const parsed = typeof input === "string" ? (JSON.parse(input) as unknown) : input;
  const raw = (parsed as { task_count?: unknown } | null)?.task_count;
  const n = typeof raw === "number" && Number.isSafeInteger(raw) && raw >= 0 ? raw : 5;
  const tasks = [];
  for (let i = 0; i < n; i++) tasks.push(ctx.scheduleActivity<string>(PROCESS_TASK, `task-${i}`));
  const results = yield* ctx.allSettled(tasks);
  const ok = results.filter((r) => r.ok).length;
  return `Completed ${n} tasks (${ok} succeeded)`;
};

export function createDefaultOrchestrations(): OrchestrationRegistry {
  return OrchestrationRegistry.builder().register(FANOUT_ORCHESTRATION, fanoutOrchestration).build();
}

// ------------------------------------------------------------------ result and options

export type FailureCategory = "Infrastructure" | "Configuration" | "Application" | "Other";

export interface FailureSample {
  instanceId: string;
  category: FailureCategory;
  message: string;
}

export interface StressTestResult {
  /** The provider label given to runStressTest (the table's Provider column). */
  name: string;
  config: ResolvedStressTestConfig;
  launched: number;
  completed: number;
  /** All failures: the three categories plus start errors, wait timeouts and other outcomes. */
  failed: number;
  /** Failed with Infrastructure details (Poison counts here too). */
  failedInfrastructure: number;
  failedConfiguration: number;
  failedApplication: number;
  /** Failures with no category: start errors, wait timeouts, provider errors while waiting. */
  failedOther: number;
  /** Instances still running when the drain gave up (only in `launched`). */
  unfinished: number;
  /** Pump start to the end of the drain (excludes runtime start-up and shutdown), ms. */
  totalTimeMs: number;
  /** End of the launch window to the end of the drain, ms. */
  drainTimeMs: number;
  /** The count the pump launched (`launchLimit`), or null: the run had a launch window of `config.durationSecs`. */
  launchLimit: number | null;
  /** completed / total seconds. */
  orchThroughput: number;
  /** completed × activities per instance / total seconds (derived, as in the original). */
  activityThroughput: number;
  /** Activities the built-in scenario actually executed (all instances, failed ones too); null for custom activities. */
  activitiesExecuted: number | null;
  /** Per-instance latency of completed instances: start call to completion observed. */
  latency: LatencySummary;
  /** The same latencies binned, for the report's distribution chart (docs/stress-tests.md §10.1). */
  latencyHistogram: LatencyHistogram;
  /** Highest process RSS sampled during the run, MB; with external runtimes, plus the sum of their processes' peaks. */
  peakRssMb: number;
  /** This process's RSS in MB at each second of the run (index = second): growth over a long run shows here. */
  rssTimelineMb: number[];
  /** Per second of the run: launched, completed, failed, in flight, latency, RSS (docs/stress-tests.md §9.1). */
  timeline: TimelineSecond[];
  /** Process CPU time / wall time during the run, % of one core; with external runtimes, theirs added. */
  cpuPercent: number;
  /** completed / launched × 100 (0 when nothing was launched). */
  successRate: number;
  /** Up to 20 failures with their category and message. */
  failureSamples: FailureSample[];
}

export interface StressProgress {
  phase: "launching" | "draining" | "done";
  elapsedMs: number;
  launched: number;
  completed: number;
  failed: number;
  inFlight: number;
  /** completed / elapsed seconds so far. */
  orchPerSec: number;
}

type ActivitiesInput = ActivityRegistry | Record<string, ActivityHandler>;
type OrchestrationsInput = OrchestrationRegistry | Record<string, OrchestrationHandler>;

export interface RunStressTestOptions {
  /** Activities to register instead of ProcessTask (a registry, or name → handler). */
  activities?: ActivitiesInput;
  /** Orchestrations to register instead of FanoutOrchestration (a registry, or name → handler). */
  orchestrations?: OrchestrationsInput;
  /** The orchestration every instance starts. Default "FanoutOrchestration". */
  orchestrationName?: string;
  /** Instance input, or a function of the 1-based instance number. Default `{ task_count: tasksPerInstance }`. */
  input?: unknown | ((n: number) => unknown);
  /** Activities one instance runs, for Activity/sec. Default `tasksPerInstance`. */
  activitiesPerInstance?: number;
  /** Extra runtime options, applied over the stress defaults (concurrency from config, logLevel "warn"). */
  runtimeOptions?: RuntimeOptions;
  /**
   * What the runner's Runtime runs on, when not `provider` itself: e.g. a FaultInjectingProvider
   * around it (`--chaos`), so the runtime meets faults while the pump's client does not.
   */
  runtimeProvider?: Provider;
  /** Instance id prefix (ids are prefix + n, 1-based). Default "stress-test-". */
  instancePrefix?: string;
  /** Pause between two launches, ms. Default 0: fill the window at once, refill on each completion; 1 = the original's pacing. */
  launchIntervalMs?: number;
  /**
   * Launch exactly this many instances, however long that takes: the launch window is then not
   * `durationSecs` but this count (a positive integer). A run of fixed work, so that two runs can
   * be compared by timing the whole command (docs/stress-tests.md §1.3).
   */
  launchLimit?: number;
  /** Called every `progressIntervalMs` (default 250) while running, and once at the end. */
  onProgress?: (p: StressProgress) => void;
  progressIntervalMs?: number;
  /** Where result and failure lines go. Default: info to console.log, warn to console.warn. null = silent. */
  log?: ((level: "info" | "warn", line: string) => void) | null;
  /** How long the drain waits for in-flight instances, ms. Default 120 000. */
  drainLimitMs?: number;
  /** Counter the built-in scenario's activities increment (sets `activitiesExecuted`). */
  activityCounter?: ActivityCounter;
  /**
   * Runtimes that run elsewhere (e.g. `startRuntimeProcesses`: other processes on the same store).
   * When given, the runner starts no Runtime of its own (so `activities`, `orchestrations`,
   * `activityCounter` and `runtimeOptions` are unused: those runtimes have their own) and does not
   * stop them; it only pumps and measures through `provider`. docs/stress-tests.md §6.
   */
  externalRuntimes?: ExternalRuntimes;
}

/** What runtimes outside the runner have done so far (all of them together). */
export interface ExternalRuntimeSnapshot {
  /** Activities the built-in scenario's activities counted; null when not counted. */
  activitiesExecuted: number | null;
  /** Sum of each runtime process's peak RSS so far, MB. */
  peakRssMb: number;
  /** CPU time (user + system) they used so far, ms. */
  cpuMs: number;
}

/** Runtimes the runner does not own (RunStressTestOptions.externalRuntimes). */
export interface ExternalRuntimes {
  /** Their counts so far; rejects when they can no longer answer (a process died). */
  snapshot(): Promise<ExternalRuntimeSnapshot>;
  /** Aborted (with an Error naming the cause) when they can no longer run the scenario: the run then rejects with that reason. */
  readonly failure: AbortSignal;
}

/** Thrown by runStressTest when the success rate is below 100 %; `result` has every figure. */
export class StressTestFailedError extends DuroxideError {
  override name = "StressTestFailedError";
  constructor(readonly result: StressTestResult) {
    super(failureMessage(result));
  }
}

function failureMessage(r: StressTestResult): string {
  const parts = [
    `stress test "${r.name}" (${configLabel(r.config)}) failed: success ${r.successRate.toFixed(2)}% ` +
      `(completed ${r.completed} of ${r.launched} launched; failed ${r.failed}: infra ${r.failedInfrastructure}, ` +
      `config ${r.failedConfiguration}, app ${r.failedApplication}, other ${r.failedOther}; unfinished ${r.unfinished})`,
  ];
  for (const s of r.failureSamples.slice(0, 3)) parts.push(`  ${s.instanceId} [${s.category}] ${s.message}`);
  return parts.join("\n");
}

// ------------------------------------------------------------------ the runner

/**
 * Runs the parallel-orchestrations scenario (or the custom one in `options`) against `provider`,
 * which must be a fresh, empty store. Returns the result; throws StressTestFailedError (carrying
 * the result) when fewer than 100 % of the launched instances completed.
 */
export async function runStressTest(
  name: string,
  provider: Provider,
  config: StressTestConfig,
  options: RunStressTestOptions = {},
): Promise<StressTestResult> {
  const result = await measureStressTest(name, provider, config, options);
  if (result.successRate < 100 || result.failed > 0) throw new StressTestFailedError(result);
  return result;
}

/** runStressTest without the throw: always resolves with the result. */
export async function measureStressTest(
  name: string,
  provider: Provider,
  config: StressTestConfig,
  options: RunStressTestOptions = {},
): Promise<StressTestResult> {
  if (typeof name !== "string" || name.length === 0) throw new TypeError("runStressTest: name must be a non-empty string (the provider label)");
  const cfg = resolveConfig(config);
  const log = options.log === null ? () => {} : (options.log ?? defaultLog);
  const counter = options.activityCounter ?? (options.activities === undefined ? { count: 0 } : undefined);
  const activities = toActivityRegistry(options.activities) ?? createDefaultActivities(cfg.activityDelayMs, counter);
  const orchestrations = toOrchestrationRegistry(options.orchestrations) ?? createDefaultOrchestrations();
  const orchestrationName = options.orchestrationName ?? FANOUT_ORCHESTRATION;
  const prefix = options.instancePrefix ?? "stress-test-";
  const inputOf = typeof options.input === "function" ? (options.input as (n: number) => unknown) : undefined;
  const fixedInput = options.input === undefined ? { task_count: cfg.tasksPerInstance } : options.input;
  const perInstance = options.activitiesPerInstance ?? cfg.tasksPerInstance;
  const launchIntervalMs = options.launchIntervalMs ?? 0;
  const launchLimit = options.launchLimit;
  if (launchLimit !== undefined && (!Number.isSafeInteger(launchLimit) || launchLimit < 1)) {
    throw new ConfigurationError(`launchLimit must be a positive integer (instances to launch), got ${describe(launchLimit)}`);
  }
  const drainLimitMs = options.drainLimitMs ?? DRAIN_LIMIT_MS;
  const waitMs = Math.round(cfg.waitTimeoutSecs * 1000);

  const external = options.externalRuntimes;
  const failure = external?.failure;
  const runtime =
    external === undefined
      ? await Runtime.start(options.runtimeProvider ?? provider, activities, orchestrations, {
          orchestrationConcurrency: cfg.orchConcurrency,
          workerConcurrency: cfg.workerConcurrency,
          logLevel: "warn",
          ...options.runtimeOptions,
        })
      : null;
  const client = new Client(provider);
  /** Ends the run with the external runtimes' failure, if they reported one. */
  const checkExternal = () => {
    if (failure?.aborted === true) throw failure.reason;
  };

  let launched = 0;
  let completed = 0;
  let failed = 0;
  let infra = 0;
  let configErr = 0;
  let app = 0;
  let other = 0;
  let active = 0;
  let warnings = 0;
  const latencies: number[] = [];
  const samples: FailureSample[] = [];
  let slotFreed: (() => void) | null = null;
  let allDone: (() => void) | null = null;

  const recordFailure = (instanceId: string, category: FailureCategory, message: string) => {
    failed++;
    timeline.failed(performance.now());
    if (category === "Infrastructure") infra++;
    else if (category === "Configuration") configErr++;
    else if (category === "Application") app++;
    else other++;
    if (samples.length < 20) samples.push({ instanceId, category, message });
    if (++warnings <= 20) log("warn", `instance ${instanceId} failed [${category}]: ${message}`);
    else if (warnings === 21) log("warn", "more failures: not logging each one");
  };

  const runInstance = async (n: number): Promise<void> => {
    const id = `${prefix}${n}`;
    const t0 = performance.now();
    timeline.launched(t0);
    try {
      try {
        await client.startOrchestration(id, orchestrationName, inputOf ? inputOf(n) : fixedInput);
      } catch (err) {
        recordFailure(id, "Other", `start failed: ${(err as Error).message}`);
        return;
      }
      let status;
      try {
        status = await client.waitForOrchestration(id, { timeoutMs: waitMs });
      } catch (err) {
        recordFailure(id, "Other", `wait failed: ${(err as Error).message}`);
        return;
      }
      if (status.status === "Completed") {
        completed++;
        const now = performance.now();
        latencies.push(now - t0);
        timeline.completed(now, now - t0);
      } else if (status.status === "Failed") {
        recordFailure(id, categorize(status.details), status.message);
      } else {
        recordFailure(id, "Other", `unexpected status ${(status as { status: string }).status}`);
      }
    } finally {
      active--;
      tick();
      const wake = slotFreed;
      slotFreed = null;
      wake?.();
      if (active === 0) allDone?.();
    }
  };

  let externalBefore: ExternalRuntimeSnapshot | null = null;
  try {
    externalBefore = external === undefined ? null : await external.snapshot();
  } catch (err) {
    await runtime?.shutdown(1_000);
    throw err;
  }
  const sampler = new ResourceSampler();
  sampler.start();
  const start = performance.now();
  const timeline = new TimelineRecorder(start);
  // With a launch limit the window is the count, not the duration.
  const endAt = launchLimit === undefined ? start + cfg.durationSecs * 1000 : Number.POSITIVE_INFINITY;
  let phase: StressProgress["phase"] = "launching";
  const progress = (): StressProgress => {
    const elapsedMs = performance.now() - start;
    return { phase, elapsedMs, launched, completed, failed, inFlight: active, orchPerSec: elapsedMs > 0 ? completed / (elapsedMs / 1000) : 0 };
  };
  const progressEvery = options.progressIntervalMs ?? 250;
  let lastSample = start;
  let lastProgress = start;
  /** Samples RSS (every 100 ms) and reports progress (every progressEvery ms) when due. */
  function tick(): void {
    const now = performance.now();
    if (now - lastSample >= 100) {
      lastSample = now;
      sampler.sample();
    }
    if (options.onProgress !== undefined && phase !== "done" && now - lastProgress >= progressEvery) {
      lastProgress = now;
      try {
        options.onProgress(progress());
      } catch {
        // a broken progress callback must not break the run
      }
    }
  }
  const tickTimer = setInterval(tick, 50);

  try {
    // ---- launch pump
    let next = 0;
    let lastYield = performance.now();
    for (let now = performance.now(); now < endAt && (launchLimit === undefined || launched < launchLimit); now = performance.now()) {
      checkExternal();
      tick();
      if (now - lastYield >= 10) {
        // Let timers and I/O run between bursts (the refill wake-ups are microtasks).
        await new Promise<void>((r) => setImmediate(r));
        lastYield = performance.now();
        continue;
      }
      if (active >= cfg.maxConcurrent) {
        await waitFor((wake) => (slotFreed = wake), Math.min(10, endAt - now), failure);
        continue;
      }
      const n = ++next;
      launched++;
      active++;
      void runInstance(n);
      if (launchIntervalMs > 0) await Bun.sleep(launchIntervalMs);
    }

    // ---- drain
    phase = "draining";
    const drainStart = performance.now();
    timeline.pumpStopped(drainStart);
    let lastLog = drainStart;
    while (active > 0) {
      checkExternal();
      const elapsed = performance.now() - drainStart;
      if (elapsed >= drainLimitMs) {
        log("warn", `drain gave up after ${Math.round(elapsed / 1000)} s with ${active} instances still in flight`);
        break;
      }
      await waitFor((wake) => (allDone = wake), Math.min(1_000, drainLimitMs - elapsed), failure);
      allDone = null;
      if (performance.now() - lastLog >= 10_000 && active > 0) {
        lastLog = performance.now();
        log("info", `draining: ${active} instances still in flight after ${Math.round((lastLog - drainStart) / 1000)} s`);
      }
    }
    checkExternal();
    const end = performance.now();
    phase = "done";
    clearInterval(tickTimer);
    const usage = sampler.stop();
    const externalAfter = external === undefined ? null : await external.snapshot();
    options.onProgress?.(progress());

    const totalMs = end - start;
    const secs = totalMs / 1000;
    let activitiesExecuted = counter === undefined ? null : counter.count;
    let peakRssMb = usage.peakRssMb;
    let cpuPercent = usage.cpuPercent;
    if (externalBefore !== null && externalAfter !== null) {
      // The runtimes ran elsewhere: their activities, and their memory and CPU on top of this process's.
      const a0 = externalBefore.activitiesExecuted;
      const a1 = externalAfter.activitiesExecuted;
      activitiesExecuted = a1 === null ? null : a1 - (a0 ?? 0);
      peakRssMb = round2(peakRssMb + externalAfter.peakRssMb);
      if (totalMs > 0) cpuPercent = round2(cpuPercent + ((externalAfter.cpuMs - externalBefore.cpuMs) / totalMs) * 100);
    }
    const result: StressTestResult = {
      name,
      config: cfg,
      launched,
      completed,
      failed,
      failedInfrastructure: infra,
      failedConfiguration: configErr,
      failedApplication: app,
      failedOther: other,
      unfinished: active,
      totalTimeMs: round2(totalMs),
      drainTimeMs: round2(end - drainStart),
      launchLimit: launchLimit ?? null,
      orchThroughput: secs > 0 ? completed / secs : 0,
      activityThroughput: secs > 0 ? (completed * perInstance) / secs : 0,
      activitiesExecuted,
      latency: summarizeLatencies(latencies),
      latencyHistogram: latencyHistogram(latencies),
      peakRssMb,
      rssTimelineMb: usage.rssTimelineMb,
      timeline: timeline.finish(end, usage.rssTimelineMb),
      cpuPercent,
      successRate: launched > 0 ? (completed / launched) * 100 : 0,
      failureSamples: samples,
    };
    logResult(log, result);
    return result;
  } finally {
    phase = "done";
    clearInterval(tickTimer);
    sampler.stop();
    await runtime?.shutdown(1_000);
  }
}

/** Infra / Config / App from a failed status's details; Poison counts as Infrastructure. */
export function categorize(details: ErrorDetails | undefined): FailureCategory {
  switch (details?.type) {
    case "Infrastructure":
    case "Poison":
      return "Infrastructure";
    case "Configuration":
      return "Configuration";
    case "Application":
      return "Application";
    default:
      return "Other";
  }
}

/** The per-run INFO lines (docs/stress-tests.md §1.7): the original's, plus latency and resources. */
function logResult(log: (level: "info" | "warn", line: string) => void, r: StressTestResult): void {
  const l = r.latency;
  log("info", `=== ${r.name} ${configLabel(r.config)} ===`);
  log("info", `Total time: ${(r.totalTimeMs / 1000).toFixed(2)} s (drain ${(r.drainTimeMs / 1000).toFixed(2)} s)`);
  log("info", `Launched: ${r.launched}`);
  log("info", `Completed: ${r.completed}`);
  log("info", `Failed: ${r.failed} (infra: ${r.failedInfrastructure}, config: ${r.failedConfiguration}, app: ${r.failedApplication}, other: ${r.failedOther})`);
  log("info", `Success rate: ${r.successRate.toFixed(2)}%`);
  log("info", `Throughput: ${r.orchThroughput.toFixed(2)} orchestrations/sec`);
  log("info", `Activity throughput: ${r.activityThroughput.toFixed(2)} activities/sec`);
  log("info", `Latency (start -> completion observed): mean ${l.meanMs.toFixed(2)} ms, p50 ${l.p50Ms.toFixed(2)}, p95 ${l.p95Ms.toFixed(2)}, p99 ${l.p99Ms.toFixed(2)}, max ${l.maxMs.toFixed(2)}`);
  log("info", `Resources: peak RSS ${r.peakRssMb.toFixed(1)} MB, CPU ${r.cpuPercent.toFixed(1)}% of one core`);
}

function defaultLog(level: "info" | "warn", line: string): void {
  if (level === "warn") console.warn(line);
  else console.log(line);
}

/** Resolves when `arm`'s wake is called, after `ms`, or when `abort` fires, whichever is first. */
function waitFor(arm: (wake: () => void) => void, ms: number, abort?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, Math.max(0, ms));
    function done() {
      clearTimeout(timer);
      abort?.removeEventListener("abort", done);
      resolve();
    }
    abort?.addEventListener("abort", done, { once: true });
    arm(done);
  });
}

function toActivityRegistry(a: ActivitiesInput | undefined): ActivityRegistry | undefined {
  if (a === undefined || a instanceof ActivityRegistry) return a;
  const b = ActivityRegistry.builder();
  for (const [name, fn] of Object.entries(a)) b.register(name, fn);
  return b.build();
}

function toOrchestrationRegistry(o: OrchestrationsInput | undefined): OrchestrationRegistry | undefined {
  if (o === undefined || o instanceof OrchestrationRegistry) return o;
  const b = OrchestrationRegistry.builder();
  for (const [name, fn] of Object.entries(o)) b.register(name, fn);
  return b.build();
}
