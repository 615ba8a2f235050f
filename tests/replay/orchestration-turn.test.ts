/**
 * § numbers in this file refer to docs/runtime-semantics.md ("§8 item N" is §8.N there).
 * Unit tests of the turn planner (`planTurn`, runtime-semantics §1.4.1, §5.3-§5.5): given one fetched
 * orchestration batch, decide poison / back off / drop / run-and-ack. Fake fetch results, real
 * registries and options, no provider.
 */
import { describe, expect, test } from "bun:test";
import type { ErrorDetails } from "../../src/core/error-details.ts";
import type { Event, EventKind, EventOf, EventType } from "../../src/core/events.ts";
import type { FetchedOrchestration, KvEntry } from "../../src/core/queue-types.ts";
import type { WorkItem, WorkItemOf } from "../../src/core/work-items.ts";
import { event } from "../../src/provider-tests/helpers.ts";
import type { OrchestrationContext } from "../../src/runtime/context.ts";
import { resolveRuntimeOptions, type RuntimeOptions } from "../../src/runtime/options.ts";
import { BAD_HISTORY_BACKOFF_MS, planTurn, POISON_EVENT_ID, type TurnDecision } from "../../src/runtime/orchestration-turn.ts";
import { OrchestrationRegistry } from "../../src/runtime/registry.ts";
import type { DurableTask } from "../../src/runtime/tasks.ts";

// ------------------------------------------------------------------------------------------ helpers

const I = "inst-1";
const NOW = 1_700_000_000_000;
const RUNTIME = "0.1.0";
const j = (v: unknown) => JSON.stringify(v);

type Body = (ctx: OrchestrationContext, input: any) => Generator<DurableTask<any>, any, any>;

/** Orch 1.0.0 schedules "A" and returns "v1:<result>"; Orch 2.0.0 schedules "B" and returns "v2:<result>". */
const v1: Body = function* (ctx, input) {
  return `v1:${yield* ctx.scheduleActivity("A", input)}`;
};
const v2: Body = function* (ctx, input) {
  return `v2:${yield* ctx.scheduleActivity("B", input)}`;
};

function registry(extra: (b: ReturnType<typeof OrchestrationRegistry.builder>) => void = () => {}) {
  const b = OrchestrationRegistry.builder().register("Orch", v1).registerVersioned("Orch", "2.0.0", v2);
  extra(b);
  return b.build();
}

function deps(reg = registry(), options: RuntimeOptions = {}) {
  return { registry: reg, options: resolveRuntimeOptions({ maxAttempts: 3, logLevel: "off", ...options }), now: NOW, runtimeVersion: RUNTIME };
}

function fetched(opts: { history?: Event[]; messages?: WorkItem[]; attempt?: number; historyError?: string; executionId?: number; kv?: Record<string, KvEntry> } = {}): FetchedOrchestration {
  const history = opts.history ?? [];
  return {
    item: {
      instance: I,
      orchestration_name: "Orch",
      execution_id: opts.executionId ?? history[0]?.execution_id ?? 1,
      version: "1.0.0",
      history,
      messages: opts.messages ?? [],
      history_error: opts.historyError ?? null,
      kv_snapshot: opts.kv ?? {},
    },
    lockToken: "lock-1",
    attemptCount: opts.attempt ?? 1,
  };
}

function started(opts: { version?: string; input?: unknown; exec?: number; parent?: [string, number, number] } = {}): Event {
  return event(I, opts.exec ?? 1, 1, {
    type: "OrchestrationStarted",
    name: "Orch",
    version: opts.version ?? "1.0.0",
    input: j(opts.input ?? "in"),
    parent_instance: opts.parent?.[0] ?? null,
    parent_id: opts.parent?.[1] ?? null,
    ...(opts.parent ? { parent_execution_id: opts.parent[2] } : {}),
  });
}
const ev = (id: number, kind: EventKind, source: number | null = null, exec = 1) => event(I, exec, id, kind, source);

const start = (opts: { version?: string | null; input?: unknown; parent?: [string, number, number]; name?: string; prior?: number } = {}): WorkItemOf<"StartOrchestration"> => ({
  type: "StartOrchestration",
  instance: I,
  orchestration: opts.name ?? "Orch",
  input: j(opts.input ?? "in"),
  version: opts.version === undefined ? null : opts.version,
  parent_instance: opts.parent?.[0] ?? null,
  parent_id: opts.parent?.[1] ?? null,
  ...(opts.parent ? { parent_execution_id: opts.parent[2] } : {}),
  execution_id: 1,
  ...(opts.prior !== undefined ? { prior_attempts: opts.prior } : {}),
});
const done = (id: number, value: unknown, exec = 1): WorkItem => ({ type: "ActivityCompleted", instance: I, execution_id: exec, id, result: j(value) });
const can = (opts: { version?: string | null; input?: unknown; carry?: [string, string][]; status?: string } = {}): WorkItemOf<"ContinueAsNew"> => ({
  type: "ContinueAsNew",
  instance: I,
  orchestration: "Orch",
  input: j(opts.input ?? "next"),
  version: opts.version === undefined ? null : opts.version,
  carry_forward_events: opts.carry ?? [],
  ...(opts.status !== undefined ? { initial_custom_status: opts.status } : {}),
});

type Ack = Extract<TurnDecision, { type: "ack" }>;
type Abandon = Extract<TurnDecision, { type: "abandon" }>;
function ack(d: TurnDecision): Ack {
  if (d.type !== "ack") throw new Error(`expected an ack, got ${JSON.stringify(d)}`);
  return d;
}
function abandon(d: TurnDecision): Abandon {
  if (d.type !== "abandon") throw new Error(`expected an abandon, got ${d.type} with outcome ${JSON.stringify(d.outcome)}`);
  return d;
}
const types = (events: Event[]) => events.map((e) => e.type);
const ofType = <T extends EventType>(events: Event[], t: T) => events.filter((e): e is EventOf<T> => e.type === t);

function failedDetails(d: Ack): ErrorDetails {
  expect(d.outcome.type).toBe("Failed");
  return (d.outcome as { details: ErrorDetails }).details;
}

/** Largest UTF-8 size of any string anywhere inside the events. */
function largestString(events: unknown): number {
  let max = 0;
  const walk = (v: unknown) => {
    if (typeof v === "string") max = Math.max(max, Buffer.byteLength(v));
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v !== null && typeof v === "object") Object.values(v).forEach(walk);
  };
  walk(events);
  return max;
}

// ------------------------------------------------------------------------------------------ first turn

describe("first turn and metadata (§1.4.1 steps 5-6, 8)", () => {
  test("a start item writes OrchestrationStarted (event 1) and first-turn metadata with the pinned runtime version", () => {
    const d = ack(planTurn(fetched({ messages: [start({ input: "x" })] }), deps()));
    expect(d.executionId).toBe(1);
    expect(d.outcome).toEqual({ type: "Continue" });
    expect(d.delta[0]).toMatchObject({ type: "OrchestrationStarted", event_id: 1, execution_id: 1, name: "Orch", version: "2.0.0", input: j("x"), parent_instance: null, parent_id: null, duroxide_version: RUNTIME });
    expect(d.metadata).toEqual({ orchestration_name: "Orch", orchestration_version: "2.0.0", status: "Running", pinned_duroxide_version: { major: 0, minor: 1, patch: 0 } });
    expect(d.workerItems).toMatchObject([{ type: "ActivityExecute", id: 2, name: "B", input: j("x"), orchestration_name: "Orch", orchestration_version: "2.0.0" }]);
  });

  // §8 item 16
  test("a child's first turn records the parent link (instance, id, execution) in Started and metadata", () => {
    const d = ack(planTurn(fetched({ messages: [start({ version: "1.0.0", parent: ["parent-x", 4, 2] })] }), deps()));
    expect(d.delta[0]).toMatchObject({ type: "OrchestrationStarted", parent_instance: "parent-x", parent_id: 4, parent_execution_id: 2 });
    expect(d.metadata.parent_instance_id).toBe("parent-x");
  });

  // §8 item 27
  test("new starts use the registry policy (Latest, or Exact); an explicit version pins exactly", () => {
    const latest = ack(planTurn(fetched({ messages: [start()] }), deps()));
    expect(latest.metadata.orchestration_version).toBe("2.0.0");
    expect(latest.workerItems).toMatchObject([{ name: "B" }]);

    const pinned = ack(planTurn(fetched({ messages: [start({ version: "1.0.0" })] }), deps()));
    expect(pinned.metadata.orchestration_version).toBe("1.0.0");
    expect(pinned.workerItems).toMatchObject([{ name: "A" }]);

    const exactPolicy = registry((b) => b.setPolicy("Orch", { type: "Exact", version: "1.0.0" }));
    const exact = ack(planTurn(fetched({ messages: [start()] }), deps(exactPolicy)));
    expect(exact.delta[0]).toMatchObject({ version: "1.0.0" });
  });

  test("of duplicate start items in one batch the first wins", () => {
    const d = ack(planTurn(fetched({ messages: [start({ version: "1.0.0", input: "first" }), start({ version: "1.0.0", input: "second" })] }), deps()));
    expect(ofType(d.delta, "OrchestrationStarted")).toHaveLength(1);
    expect(d.delta[0]).toMatchObject({ input: j("first") });
  });

  test("a start item for an instance that already has history does not restart it", () => {
    const history = [started({ input: "orig" }), ev(2, { type: "ActivityScheduled", name: "A", input: j("orig") })];
    const d = ack(planTurn(fetched({ history, messages: [start({ version: "2.0.0", input: "new" }), done(2, "r")] }), deps()));
    expect(ofType(d.delta, "OrchestrationStarted")).toEqual([]);
    expect(d.outcome).toEqual({ type: "Completed", output: j("v1:r") });
  });

  test("terminal metadata: Completed carries the output, Failed the rendered error, Cancelled 'canceled: reason'", () => {
    const history = [started(), ev(2, { type: "ActivityScheduled", name: "A", input: j("in") })];
    const completed = ack(planTurn(fetched({ history, messages: [done(2, "r")] }), deps()));
    expect(completed.metadata).toEqual({ status: "Completed", output: j("v1:r") });

    const thrower = OrchestrationRegistry.builder().register("Orch", function* () { throw new Error("boom"); }).build();
    const failed = ack(planTurn(fetched({ messages: [start()] }), deps(thrower)));
    expect(failed.metadata).toMatchObject({ status: "Failed", output: "boom", orchestration_name: "Orch" });

    const cancelled = ack(planTurn(fetched({ history, messages: [{ type: "CancelInstance", instance: I, reason: "user" }] }), deps()));
    expect(cancelled.metadata).toEqual({ status: "Failed", output: "canceled: user" });
  });

  test("a later non-terminal turn sends no metadata", () => {
    const reg = OrchestrationRegistry.builder().register("Orch", function* (ctx) {
      yield* ctx.scheduleActivity("A");
      yield* ctx.scheduleActivity("A2");
    }).build();
    const history = [started(), ev(2, { type: "ActivityScheduled", name: "A", input: "null" })];
    const d = ack(planTurn(fetched({ history, messages: [done(2, 1)] }), deps(reg)));
    expect(d.outcome).toEqual({ type: "Continue" });
    expect(d.metadata).toEqual({});
  });

  test("a history that does not start with OrchestrationStarted fails as nondeterministic", () => {
    const d = ack(planTurn(fetched({ history: [ev(1, { type: "ActivityScheduled", name: "A", input: "null" })], messages: [done(1, 1)] }), deps()));
    expect(failedDetails(d)).toMatchObject({ type: "Configuration", kind: "Nondeterminism" });
    expect(JSON.stringify(failedDetails(d))).toContain("corrupted history");
    expect(d.metadata.status).toBe("Failed");
  });
});

// ------------------------------------------------------------------------------------------ versions

describe("versions and unregistered handlers (§3.11, §5.3)", () => {
  // §8 item 27
  test("a running execution replays its pinned version exactly, not the latest", () => {
    const history = [started({ version: "1.0.0" }), ev(2, { type: "ActivityScheduled", name: "A", input: j("in") })];
    const d = ack(planTurn(fetched({ history, messages: [done(2, "r")] }), deps()));
    expect(d.outcome).toEqual({ type: "Completed", output: j("v1:r") });
  });

  test("a pinned version this node lacks is abandoned with backoff, nothing written", () => {
    const history = [started({ version: "3.0.0" })];
    const d = abandon(planTurn(fetched({ history, messages: [done(2, "r")], attempt: 2 }), deps()));
    expect(d).toMatchObject({ delayMs: 2_000, ignoreAttempt: false });
    expect(d.reason).toContain("Orch");
  });

  // §8 item 28. The first delivery of a new instance records that it waits (tests/replay/unregistered-orchestration.test.ts);
  // its re-queued start (prior_attempts 1) then backs off by its total deliveries.
  test("an unregistered orchestration is abandoned with backoff 1 s, 2 s, 4 s, ... capped at 60 s", () => {
    const reg = registry();
    // A first delivery that cannot be recorded (an event came with the start) backs off 1 s.
    const raised: WorkItem = { type: "ExternalRaised", instance: I, name: "E", data: "1" };
    expect(abandon(planTurn(fetched({ messages: [start({ name: "Missing" }), raised], attempt: 1 }), deps(reg, { maxAttempts: 10 }))).delayMs).toBe(1_000);
    const delays = [1, 2, 3, 4, 5, 6, 7].map((attempt) => abandon(planTurn(fetched({ messages: [start({ name: "Missing", prior: 1 })], attempt }), deps(reg, { maxAttempts: 10 }))).delayMs);
    expect(delays).toEqual([2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]);
    const d = abandon(planTurn(fetched({ messages: [start({ name: "Missing", prior: 1 })] }), deps(reg)));
    expect(d.ignoreAttempt).toBe(false);
    expect(d.reason).toContain("Missing");
  });

  test("unregistered backoff follows the configured base and cap", () => {
    const d = (prior: number, attempt: number) => abandon(planTurn(fetched({ messages: [start({ name: "Missing", prior })], attempt }), deps(registry(), { maxAttempts: 10, unregisteredBackoff: { baseDelayMs: 100, maxDelayMs: 250 } }))).delayMs;
    expect([d(0, 1), d(1, 1), d(1, 2)]).toEqual([100, 200, 250]);
  });

  // §8 item 28
  test("registering the orchestration before maxAttempts lets it run normally", () => {
    const f = fetched({ messages: [start({ name: "Late", prior: 1 })], attempt: 2 });
    expect(planTurn(f, deps(registry())).type).toBe("abandon");
    const withLate = registry((b) => b.register("Late", function* () { return "here"; }));
    const d = ack(planTurn(f, deps(withLate)));
    expect(d.outcome).toEqual({ type: "Completed", output: j("here") });
  });

  test("continue-as-new to an unregistered version behaves like an unregistered orchestration", () => {
    const history = [started(), ev(2, { type: "OrchestrationContinuedAsNew", input: j("next") })];
    const d = abandon(planTurn(fetched({ history, messages: [can({ version: "9.9.9" })], attempt: 1 }), deps()));
    expect(d.delayMs).toBe(1_000);
  });
});

// ------------------------------------------------------------------------------------------ continue-as-new

describe("continue-as-new batches (§1.4.1 step 4, §3.7)", () => {
  // §8 items 15, 25, 37
  test("a ContinueAsNew item starts execution N+1 with Started carrying queue messages and custom status", () => {
    const reg = OrchestrationRegistry.builder().register("Orch", function* (ctx, input) {
      const q = yield* ctx.dequeueEvent("Q");
      return { input, q, status: ctx.getCustomStatus(), exec: ctx.executionId };
    }).build();
    const history = [started({ exec: 1 }), ev(2, { type: "OrchestrationContinuedAsNew", input: j("next") })];
    const carry: [string, string][] = [["Q", j("carried")]];
    const d = ack(planTurn(fetched({ history, messages: [can({ carry, status: "phase-2" }), { type: "QueueMessage", instance: I, name: "Q", data: j("new") }] }), deps(reg)));
    expect(d.executionId).toBe(2);
    expect(d.delta[0]).toMatchObject({ type: "OrchestrationStarted", event_id: 1, execution_id: 2, input: j("next"), version: "1.0.0", carry_forward_events: carry, initial_custom_status: "phase-2" });
    expect(d.delta.every((e) => e.execution_id === 2)).toBe(true);
    expect(d.outcome).toEqual({ type: "Completed", output: j({ input: "next", q: "carried", status: "phase-2", exec: 2 }) });
    expect(d.metadata).toMatchObject({ orchestration_name: "Orch", orchestration_version: "1.0.0", status: "Completed", pinned_duroxide_version: { major: 0, minor: 1, patch: 0 } });
  });

  // §8 item 27
  test("continue-as-new without a version uses the policy (Latest); with one it pins exactly", () => {
    const history = [started({ version: "1.0.0" }), ev(2, { type: "OrchestrationContinuedAsNew", input: j("next") })];
    const latest = ack(planTurn(fetched({ history, messages: [can()] }), deps()));
    expect(latest.delta[0]).toMatchObject({ version: "2.0.0" });
    expect(latest.workerItems).toMatchObject([{ name: "B", execution_id: 2 }]);
    const exact = ack(planTurn(fetched({ history, messages: [can({ version: "1.0.0" })] }), deps()));
    expect(exact.delta[0]).toMatchObject({ version: "1.0.0" });
  });

  // §8 item 26
  test("a completion for the previous execution delivered with the ContinueAsNew item is dropped", () => {
    const history = [started(), ev(2, { type: "ActivityScheduled", name: "A", input: j("in") }), ev(3, { type: "OrchestrationContinuedAsNew", input: j("next") })];
    const d = ack(planTurn(fetched({ history, messages: [can({ version: "1.0.0" }), done(2, "old", 1)] }), deps()));
    expect(d.executionId).toBe(2);
    expect(ofType(d.delta, "ActivityCompleted")).toEqual([]);
    expect(d.outcome).toEqual({ type: "Continue" });
  });
});

// ------------------------------------------------------------------------------------------ drop

describe("terminal and orphan batches are dropped (§1.4.1 step 3)", () => {
  // §8 item 21
  test.each([
    ["Completed", { type: "OrchestrationCompleted", output: j("x") } as EventKind],
    ["Failed", { type: "OrchestrationFailed", details: { type: "Application", kind: "OrchestrationFailed", message: "x", retryable: false } } as EventKind],
    ["ContinuedAsNew without a ContinueAsNew item", { type: "OrchestrationContinuedAsNew", input: j("x") } as EventKind],
  ])("messages for a %s execution are acked with an empty delta", (_label, terminal) => {
    const history = [started(), ev(2, terminal)];
    const messages: WorkItem[] = [done(9, 1), { type: "CancelInstance", instance: I, reason: "late" }, { type: "ExternalRaised", instance: I, name: "E", data: "1" }, start()];
    const d = ack(planTurn(fetched({ history, messages }), deps()));
    expect(d).toEqual({ type: "ack", executionId: 1, delta: [], workerItems: [], orchestratorItems: [], metadata: {}, cancelledActivities: [], outcome: { type: "Dropped" } });
  });

  // §5.3: providers deliver such a batch only when the instance row exists, i.e. for an instance
  // recorded as waiting for its unregistered orchestration (messages before any start are the
  // provider's to drop, provider-contract §3.2 step 5). Its messages wait for the start.
  test("a batch with no history and no start item is given back for later, attempts not counted", () => {
    const d = abandon(planTurn(fetched({ messages: [{ type: "QueueMessage", instance: I, name: "Q", data: "1" }, { type: "ExternalRaised", instance: I, name: "E", data: "2" }] }), deps()));
    expect(d).toMatchObject({ ignoreAttempt: true, delayMs: 1_000 });
  });
});

// ------------------------------------------------------------------------------------------ poison

describe("poison and unreadable history (§5.4, §8 items 44, 48)", () => {
  // §8 item 44
  test("attempt > maxAttempts on a new instance synthesizes Started and fails it with Poison, without needing the handler", () => {
    const d = ack(planTurn(fetched({ messages: [start({ name: "Missing", version: "1.0.0" })], attempt: 4 }), deps()));
    expect(types(d.delta)).toEqual(["OrchestrationStarted", "OrchestrationFailed"]);
    expect(d.delta[0]).toMatchObject({ event_id: 1, name: "Missing", version: "1.0.0" });
    const details = failedDetails(d);
    expect(details).toMatchObject({ type: "Poison", attempt_count: 4, max_attempts: 3, message_type: { type: "Orchestration", instance: I, execution_id: 1 } });
    expect((ofType(d.delta, "OrchestrationFailed")[0]!).details).toEqual(details);
    expect(d.metadata).toMatchObject({ status: "Failed", orchestration_name: "Missing" });
    expect(d.metadata.output).toStartWith("poison:");
    expect(d.workerItems).toEqual([]);
  });

  test("attempt == maxAttempts still runs the turn normally", () => {
    const d = ack(planTurn(fetched({ messages: [start({ version: "1.0.0" })], attempt: 3 }), deps()));
    expect(d.outcome).toEqual({ type: "Continue" });
  });

  // §8 item 44
  test("a poisoned child notifies its parent with SubOrchFailed(Poison)", () => {
    const d = ack(planTurn(fetched({ messages: [start({ version: "1.0.0", parent: ["parent-x", 5, 2] })], attempt: 4 }), deps()));
    const details = failedDetails(d);
    expect(d.orchestratorItems).toEqual([{ type: "SubOrchFailed", parent_instance: "parent-x", parent_execution_id: 2, parent_id: 5, details }]);
  });

  test("poisoning a running instance cancels its in-flight activities before the failure and notifies the parent", () => {
    const history = [started({ parent: ["parent-x", 3, 1] }), ev(2, { type: "ActivityScheduled", name: "A", input: j("in") })];
    const d = ack(planTurn(fetched({ history, messages: [done(2, "r")], attempt: 4 }), deps()));
    expect(types(d.delta)).toEqual(["ActivityCancelRequested", "OrchestrationFailed"]);
    expect(d.delta[0]).toMatchObject({ source_event_id: 2, reason: "orchestration_terminal_failed" });
    expect(d.cancelledActivities).toEqual([{ instance: I, execution_id: 1, activity_id: 2 }]);
    expect(failedDetails(d)).toMatchObject({ type: "Poison", attempt_count: 4 });
    expect(d.orchestratorItems).toMatchObject([{ type: "SubOrchFailed", parent_instance: "parent-x", parent_id: 3 }]);
    expect(d.metadata.status).toBe("Failed");
  });

  test("a poisoned ContinueAsNew batch fails the new execution instead of leaving the instance between executions", () => {
    const history = [started(), ev(2, { type: "OrchestrationContinuedAsNew", input: j("next") })];
    const d = ack(planTurn(fetched({ history, messages: [can({ version: "9.9.9" })], attempt: 4 }), deps()));
    expect(d.executionId).toBe(2);
    expect(types(d.delta)).toEqual(["OrchestrationStarted", "OrchestrationFailed"]);
    expect(d.delta.every((e) => e.execution_id === 2)).toBe(true);
    expect(failedDetails(d)).toMatchObject({ type: "Poison", message_type: { type: "Orchestration", execution_id: 2 } });
    expect(d.metadata.status).toBe("Failed");
  });

  test("poison on a terminal execution just drops the messages", () => {
    const history = [started(), ev(2, { type: "OrchestrationCompleted", output: j("x") })];
    const d = ack(planTurn(fetched({ history, messages: [done(9, 1)], attempt: 99 }), deps()));
    expect(d.outcome).toEqual({ type: "Dropped" });
    expect(d.delta).toEqual([]);
  });

  // §8 item 48
  test("an unreadable history is abandoned for 1 s, attempts counted", () => {
    const d = abandon(planTurn(fetched({ historyError: "bad json at row 3", messages: [done(2, 1)], attempt: 2 }), deps()));
    expect(d).toMatchObject({ delayMs: BAD_HISTORY_BACKOFF_MS, ignoreAttempt: false });
    expect(BAD_HISTORY_BACKOFF_MS).toBe(1_000);
    expect(d.reason).toContain("bad json at row 3");
  });

  // §8 item 48
  test("an unreadable history past maxAttempts appends OrchestrationFailed(Poison) as event 99999", () => {
    const d = ack(planTurn(fetched({ historyError: "bad json at row 3", messages: [done(2, 1)], attempt: 4, executionId: 3 }), deps()));
    expect(d.executionId).toBe(3);
    expect(d.delta).toHaveLength(1);
    expect(POISON_EVENT_ID).toBe(99_999);
    expect(d.delta[0]).toMatchObject({ type: "OrchestrationFailed", event_id: 99_999, execution_id: 3 });
    expect(failedDetails(d)).toMatchObject({ type: "Poison", attempt_count: 4, max_attempts: 3, message_type: { type: "FailedDeserialization", instance: I, execution_id: 3, error: "bad json at row 3" } });
    expect(d.metadata.status).toBe("Failed");
    expect(d.metadata.output).toStartWith("poison:");
  });
});

// ------------------------------------------------------------------------------------------ limits

describe("limits checked before ack (§5.5)", () => {
  function expectLimitFailure(d: TurnDecision, optionName: string): Ack {
    const a = ack(d);
    const details = failedDetails(a);
    expect(details).toMatchObject({ type: "Application", kind: "OrchestrationFailed" });
    expect((details as { message: string }).message).toContain(optionName);
    expect(a.delta.at(-1)!.type).toBe("OrchestrationFailed");
    expect(a.workerItems).toEqual([]);
    expect(a.metadata.status).toBe("Failed");
    expect(a.metadata.output).toContain(optionName);
    return a;
  }

  test("a turn that would exceed maxHistoryEvents fails the instance and writes none of its events", () => {
    const reg = OrchestrationRegistry.builder().register("Orch", function* (ctx) {
      return yield* ctx.all(Array.from({ length: 10 }, (_, i) => ctx.scheduleActivity("A", i)));
    }).build();
    const a = expectLimitFailure(planTurn(fetched({ messages: [start()] }), deps(reg, { maxHistoryEvents: 5 })), "maxHistoryEvents");
    expect(types(a.delta)).toEqual(["OrchestrationStarted", "OrchestrationFailed"]);
  });

  test("an oversized start input fails the instance without storing the input", () => {
    const big = "x".repeat(2_000);
    const a = expectLimitFailure(planTurn(fetched({ messages: [start({ input: big })] }), deps(registry(), { maxPayloadBytes: 1_024 })), "maxPayloadBytes");
    expect(largestString(a.delta)).toBeLessThanOrEqual(1_024);
    expect(types(a.delta)).toEqual(["OrchestrationStarted", "OrchestrationFailed"]);
  });

  test("an oversized activity result fails the instance without storing the result; the activity is closed", () => {
    const history = [started(), ev(2, { type: "ActivityScheduled", name: "A", input: j("in") })];
    const a = expectLimitFailure(planTurn(fetched({ history, messages: [done(2, "y".repeat(2_000))] }), deps(registry(), { maxPayloadBytes: 1_024 })), "maxPayloadBytes");
    expect(largestString(a.delta)).toBeLessThanOrEqual(1_024);
    expect(ofType(a.delta, "ActivityCompleted")).toEqual([]);
  });

  test("an oversized output or activity input fails the instance without storing it", () => {
    const big = "z".repeat(2_000);
    const bigOutput = OrchestrationRegistry.builder().register("Orch", function* () { return big; }).build();
    const out = expectLimitFailure(planTurn(fetched({ messages: [start()] }), deps(bigOutput, { maxPayloadBytes: 1_024 })), "maxPayloadBytes");
    expect(ofType(out.delta, "OrchestrationCompleted")).toEqual([]);
    expect(largestString(out.delta)).toBeLessThanOrEqual(1_024);

    const bigInput = OrchestrationRegistry.builder().register("Orch", function* (ctx) { return yield* ctx.scheduleActivity("A", big); }).build();
    const inp = expectLimitFailure(planTurn(fetched({ messages: [start()] }), deps(bigInput, { maxPayloadBytes: 1_024 })), "maxPayloadBytes");
    expect(largestString(inp.delta)).toBeLessThanOrEqual(1_024);
  });

  // §8 item 40
  test("the key after maxKvKeys fails the instance; the write is not stored", () => {
    const reg = OrchestrationRegistry.builder().register("Orch", function* (ctx) {
      ctx.setValue("k4", 4);
      yield* ctx.scheduleTimer(1);
    }).build();
    const kv = { k1: { value: "1", last_updated_at_ms: 1 }, k2: { value: "2", last_updated_at_ms: 1 }, k3: { value: "3", last_updated_at_ms: 1 } };
    const a = expectLimitFailure(planTurn(fetched({ messages: [start()], kv }), deps(reg, { maxKvKeys: 3 })), "maxKvKeys");
    expect(ofType(a.delta, "KeyValueSet")).toEqual([]);
    expect(a.orchestratorItems).toEqual([]);
  });

  // §8 item 40
  test("clearing a key frees capacity for a new one", () => {
    const reg = OrchestrationRegistry.builder().register("Orch", function* (ctx) {
      ctx.clearValue("k1");
      ctx.setValue("k4", 4);
      return ctx.getKeys();
    }).build();
    const kv = { k1: { value: "1", last_updated_at_ms: 1 }, k2: { value: "2", last_updated_at_ms: 1 }, k3: { value: "3", last_updated_at_ms: 1 } };
    const d = ack(planTurn(fetched({ messages: [start()], kv }), deps(reg, { maxKvKeys: 3 })));
    expect(d.outcome).toEqual({ type: "Completed", output: j(["k2", "k3", "k4"]) });
  });

  // §8 item 40
  test("a KV value over maxKvValueBytes fails the instance; the value is not stored", () => {
    const reg = OrchestrationRegistry.builder().register("Orch", function* (ctx) {
      ctx.setValue("big", "v".repeat(200));
      return "never";
    }).build();
    const a = expectLimitFailure(planTurn(fetched({ messages: [start()] }), deps(reg, { maxKvValueBytes: 100 })), "maxKvValueBytes");
    expect(ofType(a.delta, "KeyValueSet")).toEqual([]);
    expect(largestString(a.delta)).toBeLessThan(200);
  });

  // §8 item 37
  test("a custom status over maxCustomStatusBytes fails the instance; the status is not stored", () => {
    const reg = OrchestrationRegistry.builder().register("Orch", function* (ctx) {
      ctx.setCustomStatus("s".repeat(300));
      yield* ctx.scheduleTimer(1);
    }).build();
    const a = expectLimitFailure(planTurn(fetched({ messages: [start()] }), deps(reg, { maxCustomStatusBytes: 256 })), "maxCustomStatusBytes");
    expect(ofType(a.delta, "CustomStatusUpdated")).toEqual([]);
    expect(a.orchestratorItems).toEqual([]);
  });

  test("an activity tag over maxTagBytes (default 256) fails the instance; nothing is dispatched", () => {
    const reg = OrchestrationRegistry.builder().register("Orch", function* (ctx) {
      return yield* ctx.scheduleActivity("A").withTag("t".repeat(300));
    }).build();
    const a = expectLimitFailure(planTurn(fetched({ messages: [start()] }), deps(reg)), "maxTagBytes");
    expect(ofType(a.delta, "ActivityScheduled")).toEqual([]);
  });

  test("a child failing a limit notifies its parent with the limit message", () => {
    const reg = OrchestrationRegistry.builder().register("Orch", function* (ctx) {
      ctx.setCustomStatus("s".repeat(300));
      yield* ctx.scheduleTimer(1);
    }).build();
    const a = expectLimitFailure(planTurn(fetched({ messages: [start({ parent: ["parent-x", 6, 1] })] }), deps(reg, { maxCustomStatusBytes: 256 })), "maxCustomStatusBytes");
    expect(a.orchestratorItems).toHaveLength(1);
    expect(a.orchestratorItems[0]).toMatchObject({ type: "SubOrchFailed", parent_instance: "parent-x", parent_id: 6, details: { type: "Application" } });
    expect(JSON.stringify(a.orchestratorItems[0])).toContain("maxCustomStatusBytes");
  });

  test("a limit failure on a running instance cancels its in-flight activities", () => {
    const reg = OrchestrationRegistry.builder().register("Orch", function* (ctx) {
      const slow = ctx.scheduleActivity("Slow");
      yield* ctx.scheduleActivity("A");
      ctx.setCustomStatus("s".repeat(300));
      return yield* slow;
    }).build();
    const history = [started(), ev(2, { type: "ActivityScheduled", name: "Slow", input: "null" }), ev(3, { type: "ActivityScheduled", name: "A", input: "null" })];
    const a = expectLimitFailure(planTurn(fetched({ history, messages: [done(3, 1)] }), deps(reg, { maxCustomStatusBytes: 256 })), "maxCustomStatusBytes");
    expect(a.cancelledActivities.map((c) => c.activity_id)).toContain(2);
    expect(a.delta.at(-1)!.type).toBe("OrchestrationFailed");
  });
});
