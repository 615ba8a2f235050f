/**
 * The mixed workload: one orchestration that uses every kind of durable step (an activity fan-out,
 * a timer, a sub-orchestration and an external event), with an output that is a pure function of
 * its input, so a run can be checked after any amount of crashing or fault injection: every
 * instance completed with the right output, and its history records each scheduled item's
 * completion exactly once (docs/runtime-semantics.md §1.10). Used by scripts/crash_loop.ts and
 * scripts/fault_recovery.ts.
 */
import { Client } from "../client.ts";
import type { Event } from "../core/events.ts";
import type { Provider } from "../provider.ts";
import type { OrchestrationContext } from "../runtime/context.ts";
import type { RuntimeOptions } from "../runtime/options.ts";
import { ActivityRegistry, OrchestrationRegistry } from "../runtime/registry.ts";
import { Runtime } from "../runtime/runtime.ts";

export const MIXED_ORCHESTRATION = "MixedFlow";
export const MIXED_CHILD = "MixedChild";
export const MIXED_ACTIVITY = "MixedWork";
/** The mailbox the driver sends each instance's event to. */
export const MIXED_QUEUE = "go";
/** Activities per instance: the fan-out and the child's one. */
export const MIXED_FANOUT = 3;
export const MIXED_ACTIVITIES_PER_INSTANCE = MIXED_FANOUT + 1;

export interface MixedWorkInput {
  i: number;
  k: number;
}

export interface MixedOutput {
  i: number;
  fan: number[];
  child: number;
  event: string;
}

export interface MixedOptions {
  /** How long each activity sleeps, ms (default 0). */
  activityDelayMs?: number;
  /** Timer of instance i: `timerMs + (i % 3) * 10` ms (default 10). */
  timerMs?: number;
  /** Told about every activity execution as it starts (e.g. to count re-runs). */
  onActivity?: (instanceId: string, input: MixedWorkInput) => void;
}

export const mixedInstanceId = (prefix: string, i: number) => `${prefix}${i}`;

/** What MixedWork returns for `{ i, k }`. */
const work = (i: number, k: number) => i * 10 + k;

/** The output MixedFlow(i) completes with. */
export function expectedMixedOutput(i: number): MixedOutput {
  return { i, fan: Array.from({ length: MIXED_FANOUT }, (_, k) => work(i, k)), child: 2 * work(i, 9), event: mixedEventData(i) };
}

/** The event the driver sends instance i. */
export const mixedEventData = (i: number) => `go-${i}`;

export function createMixedActivities(options: MixedOptions = {}): ActivityRegistry {
  const delay = options.activityDelayMs ?? 0;
  return ActivityRegistry.builder()
    .register(MIXED_ACTIVITY, async (ctx, input: MixedWorkInput) => {
      options.onActivity?.(ctx.instanceId, input);
      if (delay > 0) await Bun.sleep(delay);
      return work(input.i, input.k);
    })
    .build();
}

export function createMixedOrchestrations(options: MixedOptions = {}): OrchestrationRegistry {
  const timerMs = options.timerMs ?? 10;
  return OrchestrationRegistry.builder()
    .register(MIXED_ORCHESTRATION, function* (ctx: OrchestrationContext, i: number) {
      const fan = yield* ctx.all(Array.from({ length: MIXED_FANOUT }, (_, k) => ctx.scheduleActivity<number>(MIXED_ACTIVITY, { i, k })));
      yield* ctx.scheduleTimer(timerMs + (i % 3) * 10);
      const child = yield* ctx.scheduleSubOrchestration<number>(MIXED_CHILD, i);
      const event = yield* ctx.dequeueEvent<string>(MIXED_QUEUE);
      return { i, fan: [...fan], child, event } satisfies MixedOutput;
    })
    .register(MIXED_CHILD, function* (ctx: OrchestrationContext, i: number) {
      const v = yield* ctx.scheduleActivity<number>(MIXED_ACTIVITY, { i, k: 9 });
      return 2 * v;
    })
    .build();
}

/** Starts MixedFlow(i) and sends its event (the mailbox keeps it until the instance dequeues it). */
export async function startMixedInstance(client: Client, prefix: string, i: number): Promise<void> {
  const id = mixedInstanceId(prefix, i);
  await client.startOrchestration(id, MIXED_ORCHESTRATION, i);
  await client.enqueueEvent(id, MIXED_QUEUE, mixedEventData(i));
}

/** Completion event type → the type of the event that scheduled it. */
const COMPLETES: Partial<Record<Event["type"], Event["type"]>> = {
  ActivityCompleted: "ActivityScheduled",
  ActivityFailed: "ActivityScheduled",
  TimerFired: "TimerCreated",
  SubOrchestrationCompleted: "SubOrchestrationScheduled",
  SubOrchestrationFailed: "SubOrchestrationScheduled",
};

/**
 * Null when `history` is one clean, completed execution: event ids 1..n, one OrchestrationStarted
 * first and one terminal event last, and every completion pointing at a scheduling event of the
 * right kind with no scheduled item completed twice and none left without a completion.
 * Otherwise a sentence saying what is wrong.
 */
export function historyProblem(history: Event[]): string | null {
  const ids = history.map((e) => e.event_id);
  if (ids.some((id, k) => id !== k + 1)) return `event ids are not 1..${history.length}: ${ids.join(",")}`;
  const count = (t: Event["type"]) => history.filter((e) => e.type === t).length;
  if (history[0]?.type !== "OrchestrationStarted" || count("OrchestrationStarted") !== 1) return "expected exactly one OrchestrationStarted, first";
  const terminal = history.filter((e) => e.type === "OrchestrationCompleted" || e.type === "OrchestrationFailed");
  if (terminal.length !== 1 || history.at(-1) !== terminal[0]) return `expected exactly one terminal event, last (found ${terminal.length})`;
  const byId = new Map(history.map((e) => [e.event_id, e]));
  const completedOnce = new Set<number>();
  for (const e of history) {
    const want = COMPLETES[e.type];
    if (want === undefined) continue;
    const source = e.source_event_id === null ? undefined : byId.get(e.source_event_id);
    if (source === undefined || source.type !== want) return `${e.type} (event ${e.event_id}) points at ${e.source_event_id}, which is not a ${want}`;
    if (completedOnce.has(source.event_id)) return `${want} ${source.event_id} has two completions (the second is event ${e.event_id})`;
    completedOnce.add(source.event_id);
  }
  const pending = history.filter((e) => Object.values(COMPLETES).includes(e.type) && !completedOnce.has(e.event_id));
  if (pending.length > 0) return `${pending.map((e) => `${e.type} ${e.event_id}`).join(", ")} never completed`;
  return null;
}

export interface MixedBatchOptions extends MixedOptions {
  /** The store, as the client (starting, waiting, checking) sees it. */
  provider: Provider;
  /** What the runtime runs on (default `provider`): e.g. a FaultInjectingProvider around it. */
  runtimeProvider?: Provider;
  instances: number;
  /** Instance id prefix (default "mixed-"). */
  prefix?: string;
  runtimeOptions?: RuntimeOptions;
  /** Per-instance wait limit, ms (default 60 000). */
  waitMs?: number;
}

export interface MixedBatchResult {
  /** From the first start to the last completion observed, ms. */
  elapsedMs: number;
  completed: number;
  /** Instances that did not complete with the expected output, or whose history is not clean: "id: why". */
  problems: string[];
  /** Activity executions (more than instances × 4 means some ran again). */
  activityRuns: number;
}

/**
 * Starts a runtime on `runtimeProvider`, runs `instances` MixedFlow instances to completion,
 * checks every output and history, and stops the runtime.
 */
export async function runMixedBatch(o: MixedBatchOptions): Promise<MixedBatchResult> {
  const prefix = o.prefix ?? "mixed-";
  let activityRuns = 0;
  const handlerOptions: MixedOptions = {
    ...o,
    onActivity: (id, input) => {
      activityRuns++;
      o.onActivity?.(id, input);
    },
  };
  const runtime = await Runtime.start(o.runtimeProvider ?? o.provider, createMixedActivities(handlerOptions), createMixedOrchestrations(handlerOptions), {
    logLevel: "off",
    ...o.runtimeOptions,
  });
  const client = new Client(o.provider);
  const problems: string[] = [];
  let completed = 0;
  try {
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: o.instances }, async (_, i) => {
        const id = mixedInstanceId(prefix, i);
        try {
          await startMixedInstance(client, prefix, i);
          const s = await client.waitForOrchestration(id, { timeoutMs: o.waitMs ?? 60_000 });
          if (s.status !== "Completed") problems.push(`${id}: ended ${s.status}: ${s.message}`);
          else if (!Bun.deepEquals(s.output, expectedMixedOutput(i))) problems.push(`${id}: output ${JSON.stringify(s.output)}, expected ${JSON.stringify(expectedMixedOutput(i))}`);
          else completed++;
        } catch (err) {
          problems.push(`${id}: ${(err as Error).message}`);
        }
      }),
    );
    const elapsedMs = performance.now() - t0;
    for (let i = 0; i < o.instances; i++) {
      const id = mixedInstanceId(prefix, i);
      const p = historyProblem(await client.readExecutionHistory(id));
      if (p !== null) problems.push(`${id}: ${p}`);
    }
    return { elapsedMs, completed, problems, activityRuns };
  } finally {
    await runtime.shutdown(1_000);
  }
}
