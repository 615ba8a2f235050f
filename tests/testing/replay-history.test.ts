// duroxide/testing: replayHistory runs an orchestration over a hand-written history, no store.
import { describe, expect, test } from "bun:test";
import type { Event, EventKind } from "../../src/core/events.ts";
import { NondeterminismError, ValidationError } from "../../src/core/errors.ts";
import type { OrchestrationContext } from "../../src/runtime/context.ts";
import { ActivityRegistry, OrchestrationRegistry } from "../../src/runtime/registry.ts";
import { Runtime } from "../../src/runtime/runtime.ts";
import { Client } from "../../src/client.ts";
import { SqliteProvider } from "../../src/providers/sqlite.ts";
import { replayHistory } from "../../src/testing.ts";

const I = "order-1";
function history(kinds: EventKind[]): Event[] {
  return kinds.map((k, i) => ({
    event_id: i + 1,
    source_event_id: k.type === "ActivityCompleted" ? 2 : null,
    instance_id: I,
    execution_id: 1,
    timestamp_ms: 1_000 + i,
    duroxide_version: "0.1.0",
    ...k,
  })) as Event[];
}
const started: EventKind = { type: "OrchestrationStarted", name: "Order", version: "1.0.0", input: '"book"', parent_instance: null, parent_id: null } as EventKind;

function* order(ctx: OrchestrationContext, item: string) {
  const id = yield* ctx.scheduleActivity<string>("Reserve", item);
  return `reserved ${id}`;
}

describe("replayHistory", () => {
  test("a completed activity in history lets the orchestration finish with its result", () => {
    const out = replayHistory(order, history([started, { type: "ActivityScheduled", name: "Reserve", input: '"book"' }, { type: "ActivityCompleted", result: '"r-7"' }]));
    expect(out.outcome).toEqual({ type: "Completed", output: JSON.stringify("reserved r-7") });
    expect(out.delta.map((e) => e.type)).toEqual(["OrchestrationCompleted"]);
  });

  test("a fresh start schedules the first activity and waits", () => {
    const out = replayHistory(order, history([started]));
    expect(out.outcome).toEqual({ type: "Continue" });
    expect(out.workerItems).toMatchObject([{ type: "ActivityExecute", name: "Reserve", input: '"book"' }]);
  });

  test("a changed orchestration that no longer matches its history throws NondeterminismError naming the event, the history and the code", () => {
    function* changed(ctx: OrchestrationContext) {
      return yield* ctx.scheduleTimer(10);
    }
    let err: unknown;
    try {
      replayHistory(changed, history([started, { type: "ActivityScheduled", name: "Reserve", input: '"book"' }]));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NondeterminismError);
    const nd = err as NondeterminismError;
    expect(nd).toMatchObject({ instanceId: I, executionId: 1, orchestrationName: "Order", orchestrationVersion: "1.0.0", eventId: 2 });
    expect(nd.historyHas).toBe('activity "Reserve" with input "book"');
    expect(nd.codeDid).toBe("scheduled a timer");
    expect(nd.message).toContain('at event 2: history has activity "Reserve" with input "book", but the code scheduled a timer');
  });

  test("code that stops short of a recorded schedule diverges at that event", () => {
    function* shorter(_ctx: OrchestrationContext) {
      return "nothing to do";
    }
    expect(() => replayHistory(shorter, history([started, { type: "ActivityScheduled", name: "Reserve", input: '"book"' }]))).toThrow(
      /at event 2: history has activity "Reserve" with input "book", but the code scheduled nothing more/,
    );
  });

  test("a registry picks the handler by the recorded name and version; a missing one is a divergence at event 1", () => {
    function* v2(ctx: OrchestrationContext, item: string) {
      return yield* ctx.scheduleTimer(item.length);
    }
    const registry = OrchestrationRegistry.builder().register("Order", order).registerVersioned("Order", "2.0.0", v2).build();
    // Recorded on 1.0.0: replays on 1.0.0 even though 2.0.0 is the latest.
    const out = replayHistory(registry, history([started, { type: "ActivityScheduled", name: "Reserve", input: '"book"' }, { type: "ActivityCompleted", result: '"r-1"' }]));
    expect(out.outcome).toEqual({ type: "Completed", output: JSON.stringify("reserved r-1") });
    const v3 = { ...started, version: "3.0.0" } as EventKind;
    expect(() => replayHistory(registry, history([v3]))).toThrow(/at event 1: history has orchestration "Order" version 3.0.0, but the code has no version 3.0.0 of "Order" \(registered: 1.0.0, 2.0.0\)/);
    expect(() => replayHistory({ Shipping: order }, history([started]))).toThrow(/has no orchestration named "Order" \(registered: Shipping\)/);
    // A plain object has no versions: its handler replays the history's.
    expect(replayHistory({ Order: order }, history([started])).outcome).toEqual({ type: "Continue" });
  });

  test("a finished history must end the same way: same output, not going on", () => {
    const done = history([
      started,
      { type: "ActivityScheduled", name: "Reserve", input: '"book"' },
      { type: "ActivityCompleted", result: '"r-7"' },
      { type: "OrchestrationCompleted", output: JSON.stringify("reserved r-7") },
    ]);
    expect(replayHistory(order, done).outcome).toEqual({ type: "Completed", output: JSON.stringify("reserved r-7") });
    function* reworded(ctx: OrchestrationContext, item: string) {
      const id = yield* ctx.scheduleActivity<string>("Reserve", item);
      return `booked ${id}`;
    }
    expect(() => replayHistory(reworded, done)).toThrow(/at event 4: history has a completion with output "reserved r-7", but the code completed with output "booked r-7"/);
    function* longer(ctx: OrchestrationContext, item: string) {
      const id = yield* ctx.scheduleActivity<string>("Reserve", item);
      yield* ctx.scheduleActivity("Notify", id);
      return `reserved ${id}`;
    }
    expect(() => replayHistory(longer, done)).toThrow(/at event 4: .* but the code goes on instead of ending: scheduled activity "Notify" with input "r-7"/);
    expect(() => replayHistory(order, done, { messages: [{ type: "ExternalRaised", instance: I, name: "x", data: "1" }] })).toThrow(/finished history takes no messages/);
  });

  test("a history recorded by a runtime replays on the same code and is refused by a deliberately changed one", async () => {
    function* checkout(ctx: OrchestrationContext, cart: string) {
      const total = yield* ctx.scheduleActivity<number>("Price", cart);
      yield* ctx.scheduleTimer(1);
      const paid = yield* ctx.scheduleActivity<string>("Charge", total);
      return { total, paid };
    }
    // The deliberate change: a fraud check inserted before charging.
    function* checkoutWithFraudCheck(ctx: OrchestrationContext, cart: string) {
      const total = yield* ctx.scheduleActivity<number>("Price", cart);
      yield* ctx.scheduleTimer(1);
      yield* ctx.scheduleActivity("FraudCheck", total);
      const paid = yield* ctx.scheduleActivity<string>("Charge", total);
      return { total, paid };
    }
    const provider = await SqliteProvider.inMemory();
    const activities = ActivityRegistry.builder()
      .register("Price", async (_c, cart: string) => cart.length * 10)
      .register("Charge", async (_c, total: number) => `paid ${total}`)
      .build();
    const recorded = OrchestrationRegistry.builder().register("Checkout", checkout).build();
    const rt = await Runtime.start(provider, activities, recorded);
    try {
      const client = new Client(provider);
      await client.startOrchestration("cart-1", "Checkout", "abc");
      await client.waitForOrchestration("cart-1", { timeoutMs: 10_000 });
      const events = await client.readExecutionHistory("cart-1");
      expect(replayHistory(recorded, events).outcome).toEqual({ type: "Completed", output: JSON.stringify({ total: 30, paid: "paid 30" }) });
      const changed = OrchestrationRegistry.builder().register("Checkout", checkoutWithFraudCheck).build();
      const charge = events.find((e) => e.type === "ActivityScheduled" && e.name === "Charge")!;
      expect(() => replayHistory(changed, events)).toThrow(NondeterminismError);
      expect(() => replayHistory(changed, events)).toThrow(`at event ${charge.event_id}: history has activity "Charge" with input 30, but the code scheduled activity "FraudCheck" with input 30`);
    } finally {
      await rt.shutdown();
      provider.close();
    }
  });

  test("bad input is refused with a ValidationError saying what is wrong", () => {
    expect(() => replayHistory(order, [])).toThrow(ValidationError);
    expect(() => replayHistory("order" as never, history([started]))).toThrow(/generator function/);
    expect(() => replayHistory({ Order: "order" } as never, history([started]))).toThrow(/orchestrations.Order must be a generator function/);
    expect(() => replayHistory(order, [...history([started]), { ...history([started])[0]!, event_id: 9, execution_id: 2 }])).toThrow(/executions 1, 2; pass one execution/);
    expect(() => replayHistory(order, [{ type: "Nope" } as never])).toThrow(/history\[0\] is not an event/);
    expect(() => replayHistory(order, history([{ type: "ActivityScheduled", name: "X", input: "1" } as EventKind]))).toThrow(/OrchestrationStarted/);
    expect(() => replayHistory(order, history([started]), null as never)).toThrow(ValidationError);
    expect(() => replayHistory(order, history([started]), { messages: "done" as never })).toThrow(/messages/);
    // A completion without its result is malformed, not a silent null.
    expect(() => replayHistory(order, history([started]), { messages: [{ type: "ActivityCompleted", instance: I, execution_id: 1, id: 2 } as never] })).toThrow(/result/);
  });
});
