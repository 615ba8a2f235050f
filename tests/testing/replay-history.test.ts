// duroxide/testing: replayHistory runs an orchestration over a hand-written history, no store.
import { describe, expect, test } from "bun:test";
import type { Event, EventKind } from "../../src/core/events.ts";
import { ValidationError } from "../../src/core/errors.ts";
import type { OrchestrationContext } from "../../src/runtime/context.ts";
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

  test("a changed orchestration that no longer matches its history fails as nondeterministic", () => {
    function* changed(ctx: OrchestrationContext) {
      return yield* ctx.scheduleTimer(10);
    }
    const out = replayHistory(changed, history([started, { type: "ActivityScheduled", name: "Reserve", input: '"book"' }]));
    expect(out.outcome.type).toBe("Failed");
    if (out.outcome.type === "Failed") expect(out.outcome.details).toMatchObject({ type: "Configuration", kind: "Nondeterminism" });
  });

  test("bad input is refused with a ValidationError saying what is wrong", () => {
    expect(() => replayHistory(order, [])).toThrow(ValidationError);
    expect(() => replayHistory("order" as never, history([started]))).toThrow(/generator function/);
    expect(() => replayHistory(order, history([{ type: "ActivityScheduled", name: "X", input: "1" } as EventKind]))).toThrow(/OrchestrationStarted/);
    expect(() => replayHistory(order, history([started]), null as never)).toThrow(ValidationError);
    expect(() => replayHistory(order, history([started]), { messages: "done" as never })).toThrow(/messages/);
    // A completion without its result is malformed, not a silent null.
    expect(() => replayHistory(order, history([started]), { messages: [{ type: "ActivityCompleted", instance: I, execution_id: 1, id: 2 } as never] })).toThrow(/result/);
  });
});
