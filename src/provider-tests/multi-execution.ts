/**
 * multi_execution: every execution (ContinueAsNew generation) of an instance keeps its own history,
 * `read` follows the highest execution, and the ack's executionId parameter creates executions.
 */
import { expect } from "bun:test";
import type { Event } from "../core/events.ts";
import type { ExecutionMetadata } from "../core/queue-types.ts";
import type { WorkItem } from "../core/work-items.ts";
import type { Provider } from "../provider.ts";
import type { ProviderModule } from "./harness.ts";
import {
  activityScheduledEvent,
  completedEvent,
  continueAsNewItem,
  createRunningInstance,
  externalRaisedItem,
  fetchOrch,
  startItem,
  startedEvent,
} from "./helpers.ts";

const INSTANCE = "instance-A";

/** Enqueue `item`, fetch its batch and ack it as `executionId` with the given delta and metadata. */
async function runTurn(
  p: Provider,
  lockTimeoutMs: number,
  item: WorkItem,
  executionId: number,
  delta: Event[],
  metadata: ExecutionMetadata = {},
): Promise<void> {
  await p.enqueueForOrchestrator(item, null);
  const f = await fetchOrch(p, lockTimeoutMs);
  expect(f.item.instance).toBe(INSTANCE);
  await p.ackOrchestrationItem(f.lockToken, executionId, delta, [], [], metadata, []);
}

function types(events: Event[]): string[] {
  return events.map((e) => e.type);
}

function activityNames(events: Event[]): string[] {
  return events.map((e) => (e.type === "ActivityScheduled" ? e.name : `<${e.type}>`));
}

export const multiExecution: ProviderModule = {
  name: "multi_execution",
  cases: [
    {
      name: "each execution keeps its own history and read() returns the latest execution's events (test_execution_isolation)",
      async run(ctx) {
        const p = await ctx.createProvider();
        // Empty metadata on purpose: histories must be kept per execution even without an instance row.
        await runTurn(p, ctx.lockTimeoutMs, startItem(INSTANCE, { executionId: 1 }), 1, [
          startedEvent(INSTANCE, 1),
          activityScheduledEvent(INSTANCE, 1, 2, "Activity1", "input1"),
          completedEvent(INSTANCE, 1, 3, "result1"),
        ]);
        await runTurn(p, ctx.lockTimeoutMs, startItem(INSTANCE, { executionId: 2 }), 2, [
          startedEvent(INSTANCE, 2),
          completedEvent(INSTANCE, 2, 2, "result2"),
        ]);

        const h1 = await p.readWithExecution(INSTANCE, 1);
        expect(types(h1)).toEqual(["OrchestrationStarted", "ActivityScheduled", "OrchestrationCompleted"]);
        expect(h1.map((e) => e.event_id)).toEqual([1, 2, 3]);
        const done1 = h1[2];
        expect(done1?.type === "OrchestrationCompleted" ? done1.output : null).toBe("result1");

        const h2 = await p.readWithExecution(INSTANCE, 2);
        expect(types(h2)).toEqual(["OrchestrationStarted", "OrchestrationCompleted"]);
        const done2 = h2[1];
        expect(done2?.type === "OrchestrationCompleted" ? done2.output : null).toBe("result2");

        const latest = await p.read(INSTANCE);
        expect(types(latest)).toEqual(["OrchestrationStarted", "OrchestrationCompleted"]);
        const latestDone = latest[1];
        expect(latestDone?.type === "OrchestrationCompleted" ? latestDone.output : null).toBe("result2");
      },
    },
    {
      name: "read() returns the highest execution's history while readWithExecution(…, 1) still returns the first (test_latest_execution_detection)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await runTurn(p, ctx.lockTimeoutMs, startItem(INSTANCE, { executionId: 1 }), 1, [
          activityScheduledEvent(INSTANCE, 1, 1, "A", ""),
        ]);
        await runTurn(p, ctx.lockTimeoutMs, startItem(INSTANCE, { executionId: 2 }), 2, [
          activityScheduledEvent(INSTANCE, 2, 1, "B", ""),
        ]);

        expect(activityNames(await p.read(INSTANCE))).toEqual(["B"]);
        expect(activityNames(await p.readWithExecution(INSTANCE, 1))).toEqual(["A"]);
        expect(activityNames(await p.readWithExecution(INSTANCE, 2))).toEqual(["B"]);
      },
    },
    {
      name: "acking with executionId 2 makes 2 the current execution that the next fetch reports (test_execution_id_sequencing)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const meta = { orchestration_name: "TestOrch", orchestration_version: "1.0.0" };

        await p.enqueueForOrchestrator(startItem(INSTANCE, { executionId: 1 }), null);
        const f1 = await fetchOrch(p, ctx.lockTimeoutMs);
        expect(f1.item.execution_id).toBe(1);
        await p.ackOrchestrationItem(f1.lockToken, 1, [startedEvent(INSTANCE, 1)], [], [], meta, []);

        // The provider reports the current execution (1); the runtime decides to ack as 2.
        await p.enqueueForOrchestrator(startItem(INSTANCE, { executionId: 2 }), null);
        const f2 = await fetchOrch(p, ctx.lockTimeoutMs);
        expect(f2.item.execution_id).toBe(1);
        await p.ackOrchestrationItem(f2.lockToken, 2, [startedEvent(INSTANCE, 2)], [], [], meta, []);

        await p.enqueueForOrchestrator(startItem(INSTANCE, { executionId: 3 }), null);
        const f3 = await fetchOrch(p, ctx.lockTimeoutMs);
        expect(f3.item.execution_id).toBe(2);
        // The fetched history is the current execution's: only execution 2's Started event.
        expect(f3.item.history.map((e) => [e.type, e.event_id])).toEqual([["OrchestrationStarted", 1]]);
      },
    },
    {
      name: "a ContinueAsNew batch acked as execution 2 creates execution 2, which later fetches and read() report (test_continue_as_new_creates_new_execution)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await createRunningInstance(p, INSTANCE, { lockTimeoutMs: ctx.lockTimeoutMs });

        await p.enqueueForOrchestrator(continueAsNewItem(INSTANCE, { input: "new-input" }), null);
        const f = await fetchOrch(p, ctx.lockTimeoutMs);
        expect(f.item.execution_id).toBe(1);
        expect(f.item.messages.map((m) => m.type)).toEqual(["ContinueAsNew"]);
        await p.ackOrchestrationItem(
          f.lockToken,
          2,
          [startedEvent(INSTANCE, 2, { input: "new-input" })],
          [],
          [],
          { orchestration_name: "TestOrch", orchestration_version: "1.0.0", status: "Running" },
          [],
        );

        // Nothing is queued now, so there is nothing to fetch.
        expect(await p.fetchOrchestrationItem(ctx.lockTimeoutMs, 0)).toBeNull();

        await p.enqueueForOrchestrator(externalRaisedItem(INSTANCE, "Poke", "{}"), null);
        const later = await fetchOrch(p, ctx.lockTimeoutMs);
        expect(later.item.execution_id).toBe(2);
        expect(later.item.history).toHaveLength(1);
        const started = later.item.history[0];
        expect(started?.type === "OrchestrationStarted" ? started.input : null).toBe("new-input");

        const latest = await p.read(INSTANCE);
        expect(latest.map((e) => e.execution_id)).toEqual([2]);
        expect(types(await p.readWithExecution(INSTANCE, 1))).toEqual(["OrchestrationStarted"]);
      },
    },
    {
      name: "three executions with one event each stay independent and read() returns execution 3 (test_execution_history_persistence)",
      async run(ctx) {
        const p = await ctx.createProvider();
        for (const exec of [1, 2, 3]) {
          await runTurn(p, ctx.lockTimeoutMs, startItem(INSTANCE, { executionId: exec }), exec, [
            activityScheduledEvent(INSTANCE, exec, 1, `Activity-${exec}`, `input-${exec}`),
          ]);
        }
        for (const exec of [1, 2, 3]) {
          const h = await p.readWithExecution(INSTANCE, exec);
          expect(activityNames(h)).toEqual([`Activity-${exec}`]);
          const e = h[0];
          expect(e?.type === "ActivityScheduled" ? e.input : null).toBe(`input-${exec}`);
        }
        expect(activityNames(await p.read(INSTANCE))).toEqual(["Activity-3"]);
      },
    },
  ],
};
