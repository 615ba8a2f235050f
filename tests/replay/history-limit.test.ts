/**
 * § numbers in this file refer to docs/runtime-semantics.md.
 * The history limit (maxHistoryEvents, §5.5) counts what a turn leaves open: each outstanding
 * activity, timer, sub-orchestration and event wait is one event still to come. So the turn that
 * schedules past the limit fails at once and none of its work is sent, instead of every activity
 * running first and the completions failing the execution. Pure planTurn tests on hand-written
 * histories.
 */
import { describe, expect, test } from "bun:test";
import type { ErrorDetails } from "../../src/core/error-details.ts";
import type { Event, EventKind } from "../../src/core/events.ts";
import type { FetchedOrchestration } from "../../src/core/queue-types.ts";
import type { WorkItem } from "../../src/core/work-items.ts";
import { event } from "../../src/provider-tests/helpers.ts";
import type { OrchestrationContext } from "../../src/runtime/context.ts";
import { resolveRuntimeOptions } from "../../src/runtime/options.ts";
import { planTurn, type TurnDecision } from "../../src/runtime/orchestration-turn.ts";
import { OrchestrationRegistry } from "../../src/runtime/registry.ts";
import type { DurableTask } from "../../src/runtime/tasks.ts";

const I = "limit-1";
const NOW = 1_700_000_000_000;
type Body = (ctx: OrchestrationContext, input: unknown) => Generator<DurableTask<any>, any, any>;

const startItem: WorkItem = { type: "StartOrchestration", instance: I, orchestration: "Orch", input: "null", version: "1.0.0", parent_instance: null, parent_id: null, execution_id: 1 };
const started = event(I, 1, 1, { type: "OrchestrationStarted", name: "Orch", version: "1.0.0", input: "null", parent_instance: null, parent_id: null });
const ev = (id: number, kind: EventKind, source: number | null = null) => event(I, 1, id, kind, source);

function plan(body: Body, maxHistoryEvents: number, opts: { history?: Event[]; messages?: WorkItem[] } = {}): Extract<TurnDecision, { type: "ack" }> {
  const fetched: FetchedOrchestration = {
    item: { instance: I, orchestration_name: "Orch", execution_id: 1, version: "1.0.0", history: opts.history ?? [], messages: opts.messages ?? [startItem], history_error: null, kv_snapshot: {} },
    lockToken: "t",
    attemptCount: 1,
  };
  const registry = OrchestrationRegistry.builder().registerVersioned("Orch", "1.0.0", body).build();
  const d = planTurn(fetched, { registry, options: resolveRuntimeOptions({ maxHistoryEvents, logLevel: "off" }), now: NOW, runtimeVersion: "0.1.0" });
  if (d.type !== "ack") throw new Error(`expected an ack, got ${JSON.stringify(d)}`);
  return d;
}

function limitMessage(d: Extract<TurnDecision, { type: "ack" }>): string {
  expect(d.outcome.type).toBe("Failed");
  const details = (d.outcome as { details: ErrorDetails }).details;
  expect(details).toMatchObject({ type: "Application", kind: "OrchestrationFailed", retryable: false });
  // Nothing the turn scheduled leaves: no activity runs, no timer, no child starts.
  expect(d.workerItems).toEqual([]);
  expect(d.orchestratorItems).toEqual([]);
  expect(d.delta.some((e) => e.type === "ActivityScheduled")).toBe(false);
  expect(d.delta.at(-1)!.type).toBe("OrchestrationFailed");
  expect(d.metadata.status).toBe("Failed");
  return (details as { message: string }).message;
}

const fanOut = (n: number): Body =>
  function* (ctx) {
    return yield* ctx.all(Array.from({ length: n }, (_, i) => ctx.scheduleActivity("Work", i)));
  };

describe("maxHistoryEvents counts the events still to come (§5.5)", () => {
  test("a fan-out whose completions would cross the limit fails at the turn that schedules it; no activity is sent", () => {
    // 1 Started + 8 scheduled = 9 events now (under 12), + 8 completions to come = 17.
    const message = limitMessage(plan(fanOut(8), 12));
    expect(message).toContain("maxHistoryEvents 12");
    expect(message).toContain("17 events");
    expect(message).toContain("9 recorded");
    expect(message).toContain("8 still to come");
    expect(message).toContain("continue-as-new");
  });

  test("a fan-out that exactly fits runs", () => {
    // 1 + 5 + 5 completions = 11.
    const d = plan(fanOut(5), 11);
    expect(d.outcome).toEqual({ type: "Continue" });
    expect(d.workerItems).toHaveLength(5);
  });

  test("timers, sub-orchestrations, event waits and dequeues count one each; a detached start does not", () => {
    const body: Body = function* (ctx) {
      ctx.scheduleOrchestration("Other", "other-1", null); // no completion comes back
      const tasks = [ctx.scheduleTimer(1_000), ctx.scheduleSubOrchestration("Child", null, { instanceId: "child-1" }), ctx.scheduleWait("Approve"), ctx.dequeueEvent("Inbox")];
      return yield* ctx.all(tasks);
    };
    // 1 Started + 1 chained + 4 schedules = 6 now; 4 to come: 10.
    expect(plan(body, 10).outcome).toEqual({ type: "Continue" });
    const message = limitMessage(plan(body, 9));
    expect(message).toContain("10 events");
  });

  test("completed, satisfied and cancelled activities or waits are not counted; a later turn that schedules past the limit fails", () => {
    // Turn 2 of: race(activity Slow, timer) -> the timer fired, Slow is dropped (cancelled), then Next runs.
    const body: Body = function* (ctx) {
      yield* ctx.race([ctx.scheduleActivity("Slow", null), ctx.scheduleTimer(10)]);
      return yield* ctx.scheduleActivity("Next", null);
    };
    const history = [started, ev(2, { type: "ActivityScheduled", name: "Slow", input: "null" }), ev(3, { type: "TimerCreated", fire_at_ms: NOW + 10 })];
    const fired: WorkItem = { type: "TimerFired", instance: I, execution_id: 1, id: 3, fire_at_ms: NOW + 10 };
    // 3 persisted + TimerFired + ActivityScheduled(Next) + ActivityCancelRequested(Slow) = 6; Next's completion: 7.
    const ok = plan(body, 7, { history, messages: [fired] });
    expect(ok.outcome).toEqual({ type: "Continue" });
    expect(ok.delta.map((e) => e.type)).toEqual(["TimerFired", "ActivityScheduled", "ActivityCancelRequested"]);
    expect(ok.workerItems).toMatchObject([{ type: "ActivityExecute", name: "Next" }]);
    const message = limitMessage(plan(body, 6, { history, messages: [fired] }));
    expect(message).toContain("7 events");
  });

  test("a turn that ends the execution counts nothing still to come", () => {
    // Completes while 3 activities are in flight: they are cancelled, nothing more will be recorded.
    const body: Body = function* (ctx) {
      for (let i = 0; i < 3; i++) ctx.scheduleActivity("Background", i);
      return "done";
    };
    // Started + 3 scheduled + 3 cancel breadcrumbs + Completed = 8.
    const d = plan(body, 8);
    expect(d.outcome).toEqual({ type: "Completed", output: JSON.stringify("done") });
  });
});
