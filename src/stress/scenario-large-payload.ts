/**
 * Scenario B, large payload (docs/stress-tests.md §2): stresses memory, history size and
 * serialization with the same runner. Each top-level instance runs Small/Medium/Large activities
 * one at a time, then fans out to child orchestrations, then 10 more small activities, and returns
 * a large result. With the defaults that is 40 activities across 6 instances and about 3.8 MB of
 * stored payload.
 */
import { ConfigurationError } from "../core/errors.ts";
import type { Provider } from "../provider.ts";
import type { OrchestrationHandler } from "../runtime/handler-types.ts";
import { ActivityRegistry, OrchestrationRegistry } from "../runtime/registry.ts";
import { DEFAULT_WAIT_TIMEOUT_SECS, type StressTestConfig } from "./config.ts";
import {
  FANOUT_ORCHESTRATION,
  runStressTest,
  type ActivityCounter,
  type RunStressTestOptions,
  type StressTestResult,
} from "./scenario-parallel.ts";

export const LARGE_PAYLOAD_ORCHESTRATION = "LargePayloadOrchestration";
export const LARGE_PAYLOAD_SUB_ORCHESTRATION = "LargePayloadSubOrchestration";
export const SMALL_PAYLOAD_TASK = "SmallPayloadTask";
export const MEDIUM_PAYLOAD_TASK = "MediumPayloadTask";
export const LARGE_PAYLOAD_TASK = "LargePayloadTask";

/** Activities in phase 5 (after the children). */
const FINAL_SMALL_TASKS = 10;

export interface LargePayloadConfig {
  /** The runner config; `tasksPerInstance` is unused by the orchestration. */
  base: StressTestConfig;
  smallPayloadKb: number;
  mediumPayloadKb: number;
  largePayloadKb: number;
  /** Activities in phases 1-3 (a third small, a third medium, the rest large). */
  activityCount: number;
  /** Child orchestrations in phase 4. */
  subOrchCount: number;
}

/** Defaults: base 5/10/1/5/1/1/120; payloads 10/50/100 KB; 20 activities; 5 children. */
export const DEFAULT_LARGE_PAYLOAD_CONFIG: Readonly<LargePayloadConfig> = Object.freeze({
  base: Object.freeze({
    maxConcurrent: 5,
    durationSecs: 10,
    tasksPerInstance: 1,
    activityDelayMs: 5,
    orchConcurrency: 1,
    workerConcurrency: 1,
    waitTimeoutSecs: 120,
  }),
  smallPayloadKb: 10,
  mediumPayloadKb: 50,
  largePayloadKb: 100,
  activityCount: 20,
  subOrchCount: 5,
});

/** The original's CI variant: base 2/1/1/5/1/1/60; payloads 5/10/20 KB; 10 activities; 2 children. */
export const MINIMAL_LARGE_PAYLOAD_CONFIG: Readonly<LargePayloadConfig> = Object.freeze({
  base: Object.freeze({
    maxConcurrent: 2,
    durationSecs: 1,
    tasksPerInstance: 1,
    activityDelayMs: 5,
    orchConcurrency: 1,
    workerConcurrency: 1,
    waitTimeoutSecs: DEFAULT_WAIT_TIMEOUT_SECS,
  }),
  smallPayloadKb: 5,
  mediumPayloadKb: 10,
  largePayloadKb: 20,
  activityCount: 10,
  subOrchCount: 2,
});

const PATTERN = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!@#$%^&*()";

/** Exactly `kb`·1024 ASCII bytes of a repeating 72-character pattern (nothing JSON must escape). */
export function generatePayload(kb: number): string {
  const bytes = Math.max(0, Math.floor(kb * 1024));
  return PATTERN.repeat(Math.ceil(bytes / PATTERN.length)).slice(0, bytes);
}

/** Activities one top-level instance runs: phases 1-3, two per child, and the final small ones. */
export function activitiesPerLargePayloadInstance(c: Pick<LargePayloadConfig, "activityCount" | "subOrchCount">): number {
  return c.activityCount + 2 * c.subOrchCount + FINAL_SMALL_TASKS;
}

export function createLargePayloadActivities(c: LargePayloadConfig, counter?: ActivityCounter): ActivityRegistry {
  const delay = c.base.activityDelayMs;
  const task = (kb: number) => async (_ctx: unknown, input: unknown) => {
    if (delay > 0) await Bun.sleep(delay);
    if (counter !== undefined) counter.count++;
    return { input, payload: generatePayload(kb), size_kb: kb };
  };
  return ActivityRegistry.builder()
    .register(SMALL_PAYLOAD_TASK, task(c.smallPayloadKb))
    .register(MEDIUM_PAYLOAD_TASK, task(c.mediumPayloadKb))
    .register(LARGE_PAYLOAD_TASK, task(c.largePayloadKb))
    .build();
}

export function createLargePayloadOrchestrations(c: LargePayloadConfig): OrchestrationRegistry {
  const { smallPayloadKb: s, mediumPayloadKb: m, largePayloadKb: l, activityCount, subOrchCount } = c;

  const parent: OrchestrationHandler = function* (ctx, input: unknown) {
    if (typeof input === "string") JSON.parse(input); // the original validates that the input is JSON
    let ok = 0;
    let childrenOk = 0;
    const third = Math.floor(activityCount / 3);
    const phases: [string, number, (i: number) => unknown][] = [
      [SMALL_PAYLOAD_TASK, third, (i) => ({ index: i, data: generatePayload(s) })],
      [MEDIUM_PAYLOAD_TASK, third, (i) => ({ index: i, data: generatePayload(m / 2) })],
      [LARGE_PAYLOAD_TASK, activityCount - 2 * third, (i) => ({ index: i, data: generatePayload(l / 4) })],
    ];
    for (const [name, count, inputOf] of phases) {
      for (let i = 0; i < count; i++) {
        try {
          yield* ctx.scheduleActivity(name, inputOf(i));
          ok++;
        } catch {
          // counted, never thrown
        }
      }
    }
    const children = [];
    for (let i = 0; i < subOrchCount; i++) {
      children.push(ctx.scheduleSubOrchestration(LARGE_PAYLOAD_SUB_ORCHESTRATION, { index: i, payload: generatePayload(m) }));
    }
    for (const r of yield* ctx.allSettled(children)) if (r.ok) childrenOk++;
    for (let i = 0; i < FINAL_SMALL_TASKS; i++) {
      try {
        yield* ctx.scheduleActivity(SMALL_PAYLOAD_TASK, `final-task-${i}`);
        ok++;
      } catch {
        // counted, never thrown
      }
    }
    return {
      activities_succeeded: ok,
      sub_orchestrations_succeeded: childrenOk,
      estimated_event_count: 2 * (activityCount + FINAL_SMALL_TASKS) + 4 * subOrchCount,
      result_payload: generatePayload(l),
      result_size_kb: l,
    };
  };

  const child: OrchestrationHandler = function* (ctx, input: { index?: number } | null) {
    yield* ctx.scheduleActivity(SMALL_PAYLOAD_TASK, { index: input?.index ?? 0, data: generatePayload(s) });
    yield* ctx.scheduleActivity(MEDIUM_PAYLOAD_TASK, { index: input?.index ?? 0, data: generatePayload(m / 2) });
    return { success: true, payload: generatePayload(m) };
  };

  return OrchestrationRegistry.builder()
    .register(FANOUT_ORCHESTRATION, parent)
    .register(LARGE_PAYLOAD_ORCHESTRATION, parent)
    .register(LARGE_PAYLOAD_SUB_ORCHESTRATION, child)
    .build();
}

/** Fills `config` from the defaults (a partial `base` is merged field by field) and checks the payload fields. */
export function resolveLargePayloadConfig(config: Partial<Omit<LargePayloadConfig, "base">> & { base?: Partial<StressTestConfig> } = {}): LargePayloadConfig {
  const d = DEFAULT_LARGE_PAYLOAD_CONFIG;
  const c: LargePayloadConfig = {
    base: { ...d.base, ...config.base },
    smallPayloadKb: config.smallPayloadKb ?? d.smallPayloadKb,
    mediumPayloadKb: config.mediumPayloadKb ?? d.mediumPayloadKb,
    largePayloadKb: config.largePayloadKb ?? d.largePayloadKb,
    activityCount: config.activityCount ?? d.activityCount,
    subOrchCount: config.subOrchCount ?? d.subOrchCount,
  };
  for (const key of ["smallPayloadKb", "mediumPayloadKb", "largePayloadKb", "activityCount", "subOrchCount"] as const) {
    const v = c[key];
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
      throw new ConfigurationError(`LargePayloadConfig.${key} must be an integer >= 0, got ${String(v)}`);
    }
  }
  return c;
}

/**
 * Runs the large-payload scenario through runStressTest. `provider` must be a fresh store.
 * Activity/sec counts the real activities per instance (40 with the defaults), not tasksPerInstance.
 */
export async function runLargePayloadTest(
  name: string,
  provider: Provider,
  config: Partial<Omit<LargePayloadConfig, "base">> & { base?: Partial<StressTestConfig> } = {},
  options: Omit<RunStressTestOptions, "activities" | "orchestrations" | "orchestrationName" | "input" | "activitiesPerInstance"> = {},
): Promise<StressTestResult> {
  const c = resolveLargePayloadConfig(config);
  const counter: ActivityCounter = options.activityCounter ?? { count: 0 };
  return runStressTest(name, provider, c.base, {
    ...options,
    activities: createLargePayloadActivities(c, counter),
    orchestrations: createLargePayloadOrchestrations(c),
    orchestrationName: LARGE_PAYLOAD_ORCHESTRATION,
    input: { activity_count: c.activityCount, sub_orch_count: c.subOrchCount },
    activitiesPerInstance: activitiesPerLargePayloadInstance(c),
    activityCounter: counter,
  });
}
