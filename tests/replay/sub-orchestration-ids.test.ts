/**
 * § numbers in this file refer to docs/runtime-semantics.md.
 * Unit tests of child instance ids in the turn planner (`planTurn`): automatic ids per execution
 * (§3.6), child starts for an id that is already taken (§1.4.1 step 4, §3.6), and the parent link
 * of a child that continues as new (§3.7). Hand-built fetch results, no provider.
 */
import { describe, expect, test } from "bun:test";
import type { Event, EventKind, EventOf } from "../../src/core/events.ts";
import type { FetchedOrchestration } from "../../src/core/queue-types.ts";
import type { WorkItem, WorkItemOf } from "../../src/core/work-items.ts";
import { event } from "../../src/provider-tests/helpers.ts";
import type { OrchestrationContext } from "../../src/runtime/context.ts";
import { resolveRuntimeOptions } from "../../src/runtime/options.ts";
import { planTurn, type TurnDecision } from "../../src/runtime/orchestration-turn.ts";
import { OrchestrationRegistry } from "../../src/runtime/registry.ts";

const I = "kid";
const j = (v: unknown) => JSON.stringify(v);

const registry = OrchestrationRegistry.builder()
  /** Waits for "go", then returns its input. */
  .register("Kid", function* (ctx: OrchestrationContext, input: unknown) {
    yield* ctx.scheduleWait("go");
    return input;
  })
  /** Starts an auto-named child and returns its result. */
  .register("Parent", function* (ctx: OrchestrationContext) {
    return yield* ctx.scheduleSubOrchestration("Kid", "x");
  })
  /** Continues as new once, then completes. */
  .register("Looper", function* (ctx: OrchestrationContext, n: number) {
    if (n === 1) return yield* ctx.continueAsNew(2);
    return `done-${n}`;
  })
  .build();

const deps = () => ({ registry, options: resolveRuntimeOptions({ maxAttempts: 3, logLevel: "off" }), now: 1_700_000_000_000, runtimeVersion: "0.1.0" });

function fetched(opts: { instance?: string; history?: Event[]; messages: WorkItem[]; attempt?: number; historyError?: string }): FetchedOrchestration {
  const history = opts.history ?? [];
  return {
    item: {
      instance: opts.instance ?? I,
      orchestration_name: "Kid",
      execution_id: history[0]?.execution_id ?? 1,
      version: "1.0.0",
      history,
      messages: opts.messages,
      history_error: opts.historyError ?? null,
      kv_snapshot: {},
    },
    lockToken: "lock",
    attemptCount: opts.attempt ?? 1,
  };
}

/** A start of `I` by a client (no parent) or by `parent` = [instance, event id, execution id]. */
function start(parent?: [string, number, number?], name = "Kid"): WorkItemOf<"StartOrchestration"> {
  return {
    type: "StartOrchestration",
    instance: I,
    orchestration: name,
    input: j("in"),
    version: null,
    parent_instance: parent?.[0] ?? null,
    parent_id: parent?.[1] ?? null,
    ...(parent?.[2] !== undefined ? { parent_execution_id: parent[2] } : {}),
    execution_id: 1,
  };
}

function started(parent?: [string, number, number?], exec = 1, name = "Kid"): Event {
  return event(I, exec, 1, {
    type: "OrchestrationStarted",
    name,
    version: "1.0.0",
    input: j(1),
    parent_instance: parent?.[0] ?? null,
    parent_id: parent?.[1] ?? null,
    ...(parent?.[2] !== undefined ? { parent_execution_id: parent[2] } : {}),
  });
}
const ev = (id: number, kind: EventKind, exec = 1) => event(I, exec, id, kind);
const waiting = (exec = 1) => [started(undefined, exec), ev(2, { type: "ExternalSubscribed", name: "go" }, exec)];

function ack(d: TurnDecision): Extract<TurnDecision, { type: "ack" }> {
  if (d.type !== "ack") throw new Error(`expected an ack, got ${JSON.stringify(d)}`);
  return d;
}
const replies = (d: TurnDecision) => ack(d).orchestratorItems.filter((w): w is WorkItemOf<"SubOrchFailed"> => w.type === "SubOrchFailed");

describe("automatic child ids (§3.6)", () => {
  test("execution 1 names an auto child <parent>::sub::<event id>; later executions add the execution id", () => {
    const first = ack(planTurn(fetched({ instance: "p", messages: [{ ...start(), instance: "p", orchestration: "Parent" }] }), deps()));
    expect(first.orchestratorItems).toMatchObject([{ type: "StartOrchestration", instance: "p::sub::2", parent_instance: "p", parent_id: 2, parent_execution_id: 1 }]);

    const h1 = [event("p", 1, 1, { type: "OrchestrationStarted", name: "Parent", version: "1.0.0", input: "null", parent_instance: null, parent_id: null }), event("p", 1, 2, { type: "OrchestrationContinuedAsNew", input: "null" })];
    const can: WorkItem = { type: "ContinueAsNew", instance: "p", orchestration: "Parent", input: "null", version: null, carry_forward_events: [] };
    const second = ack(planTurn({ ...fetched({ instance: "p", history: h1, messages: [can] }) }, deps()));
    expect(second.executionId).toBe(2);
    expect(second.orchestratorItems).toMatchObject([{ type: "StartOrchestration", instance: "p::sub::2::2", parent_instance: "p", parent_id: 2, parent_execution_id: 2 }]);
  });

  test("replaying a history that recorded another id for an auto child keeps the recorded id, deterministically", () => {
    // Histories written before ids named the execution keep their ids: replay never recomputes them.
    const h = [
      event("p", 2, 1, { type: "OrchestrationStarted", name: "Parent", version: "1.0.0", input: "null", parent_instance: null, parent_id: null }),
      event("p", 2, 2, { type: "SubOrchestrationScheduled", name: "Kid", instance: "p::sub::2", input: j("x") }),
    ];
    const d = ack(planTurn(fetched({ instance: "p", history: h, messages: [{ type: "SubOrchCompleted", parent_instance: "p", parent_execution_id: 2, parent_id: 2, result: j("r") }] }), deps()));
    expect(d.outcome).toEqual({ type: "Completed", output: j("r") });
  });
});

describe("a child start for an id already taken is answered, not dropped (§3.6)", () => {
  test("held by a client-started running instance: the parent gets an application SubOrchFailed naming the id and the holder; the holder runs on", () => {
    const d = planTurn(fetched({ history: waiting(), messages: [start(["p", 4, 2]), { type: "ExternalRaised", instance: I, name: "go", data: j(1) }] }), deps());
    expect(ack(d).outcome).toEqual({ type: "Completed", output: j(1) });
    const [reply, ...more] = replies(d);
    expect(more).toEqual([]);
    expect(reply).toMatchObject({ parent_instance: "p", parent_execution_id: 2, parent_id: 4, details: { type: "Application", kind: "OrchestrationFailed", retryable: false } });
    const message = (reply!.details as { message: string }).message;
    expect(message).toContain(`instance id "kid" is already in use`);
    expect(message).toContain(`"Kid" not started by a parent orchestration`);
    // The holder completes to nobody: its own Started has no parent.
    expect(ack(d).orchestratorItems.filter((w) => w.type === "SubOrchCompleted")).toEqual([]);
  });

  test("held by a finished instance: the batch is still dropped, but the parent is answered", () => {
    const history = [started(["other", 7, 1]), ev(2, { type: "OrchestrationCompleted", output: j("r") })];
    const d = ack(planTurn(fetched({ history, messages: [start(["p", 4, 1])] }), deps()));
    expect(d.outcome).toEqual({ type: "Dropped" });
    expect(d.delta).toEqual([]);
    expect(replies(d)).toHaveLength(1);
    expect((replies(d)[0]!.details as { message: string }).message).toContain(`the child of "other" (execution 1, event 7)`);
  });

  test("two starts in one batch: the first starts the instance and a later child start is answered; a later client start is not", () => {
    const clientFirst = planTurn(fetched({ messages: [start(), start(["p", 4, 1]), start()] }), deps());
    expect(ack(clientFirst).delta[0]).toMatchObject({ type: "OrchestrationStarted", parent_instance: null });
    expect(replies(clientFirst)).toMatchObject([{ parent_instance: "p", parent_id: 4 }]);

    const childFirst = planTurn(fetched({ messages: [start(["p", 4, 1]), start()] }), deps());
    expect(ack(childFirst).delta[0]).toMatchObject({ type: "OrchestrationStarted", parent_instance: "p", parent_id: 4 });
    expect(replies(childFirst)).toEqual([]);
  });

  test("a redelivered start from the child's own parent is ignored, also when the link omits parent_execution_id (= 1)", () => {
    const own = [started(["p", 4, 1]), ev(2, { type: "ExternalSubscribed", name: "go" })];
    expect(replies(planTurn(fetched({ history: own, messages: [start(["p", 4, 1]), start(["p", 4])] }), deps()))).toEqual([]);
    // The same parent at another event or in another execution is a clash: that call has no child.
    const clashes = replies(planTurn(fetched({ history: own, messages: [start(["p", 5, 1]), start(["p", 4, 2])] }), deps()));
    expect(clashes.map((r) => [r.parent_id, r.parent_execution_id])).toEqual([[5, 1], [4, 2]]);
  });

  test("a parent naming itself as its child gets an error saying so", () => {
    const d = planTurn(fetched({ history: waiting(), messages: [start([I, 3, 1])] }), deps());
    expect((replies(d)[0]!.details as { message: string }).message).toContain("the calling orchestration itself");
  });

  test("a poisoned instance whose history cannot be read still answers child starts", () => {
    const d = planTurn(fetched({ messages: [start(["p", 4, 1])], historyError: "bad json", attempt: 4 }), deps());
    expect(ack(d).outcome).toMatchObject({ type: "Failed" });
    expect((replies(d)[0]!.details as { message: string }).message).toContain("cannot be read");
  });
});

describe("a child that continues as new keeps its parent link (§3.7)", () => {
  test("the next execution's Started carries the link and its end reports to the parent", () => {
    const h1 = [started(["p", 4, 2], 1, "Looper"), ev(2, { type: "OrchestrationContinuedAsNew", input: j(2) })];
    const can: WorkItem = { type: "ContinueAsNew", instance: I, orchestration: "Looper", input: j(2), version: null, carry_forward_events: [] };
    const d = ack(planTurn(fetched({ history: h1, messages: [can] }), deps()));
    expect(d.executionId).toBe(2);
    expect(d.delta[0] as EventOf<"OrchestrationStarted">).toMatchObject({ type: "OrchestrationStarted", execution_id: 2, parent_instance: "p", parent_id: 4, parent_execution_id: 2 });
    expect(d.orchestratorItems).toEqual([{ type: "SubOrchCompleted", parent_instance: "p", parent_execution_id: 2, parent_id: 4, result: j("done-2") }]);
  });
});
