/**
 * atomicity: an orchestration ack commits history, new work and the lock release together, or
 * none of it.
 */
import { expect } from "bun:test";
import { ProviderError } from "../core/errors.ts";
import type { Event } from "../core/events.ts";
import type { WorkItem } from "../core/work-items.ts";
import type { ProviderModule } from "./harness.ts";
import {
  activityItem,
  activityScheduledEvent,
  customStatusEvent,
  defaultTags,
  event,
  expectProviderError,
  externalRaisedItem,
  fetchOrch,
  fetchWork,
  runningMeta,
  sleep,
  startItem,
  startedEvent,
  timerFiredItem,
} from "./helpers.ts";

function typesOf(events: readonly Event[]): string[] {
  return events.map((e) => e.type);
}

function activityIdOf(item: WorkItem): number {
  if (item.type !== "ActivityExecute") throw new Error(`expected ActivityExecute, got ${item.type}`);
  return item.id;
}

export const atomicity: ProviderModule = {
  name: "atomicity",
  cases: [
    {
      name: "a failed ack (duplicate event_id) rolls back history, queues and custom status and keeps the instance locked (test_atomicity_failure_rollback)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "instance-A";
        await p.enqueueForOrchestrator(startItem(id), null);
        const first = await fetchOrch(p, 30_000);
        await p.ackOrchestrationItem(first.lockToken, 1, [startedEvent(id)], [], [], runningMeta(), []);
        expect(typesOf(await p.read(id))).toEqual(["OrchestrationStarted"]);

        const late = externalRaisedItem(id, "Evt", "payload");
        await p.enqueueForOrchestrator(late, null);
        const second = await fetchOrch(p, 30_000);
        expect(second.item.messages).toEqual([late]);

        // event_id 1 already exists: the whole turn must be refused, including its other effects.
        await expectProviderError(
          p.ackOrchestrationItem(
            second.lockToken,
            1,
            [event(id, 1, 1, { type: "ActivityScheduled", name: "Dup", input: "{}" }), customStatusEvent(id, 1, 2, "leaked")],
            [activityItem(id, 2)],
            [externalRaisedItem(id, "FromFailedAck", "x")],
            runningMeta(),
            [],
          ),
          "Conflict",
        );

        const history = await p.read(id);
        expect(history.map((e) => [e.event_id, e.type])).toEqual([[1, "OrchestrationStarted"]]);
        expect(await p.getCustomStatus(id, 0)).toBeNull();
        expect(await p.fetchWorkItem(30_000, 0, null, defaultTags)).toBeNull();
        // Still locked by the second fetch.
        expect(await p.fetchOrchestrationItem(30_000, 0)).toBeNull();

        // The lock is still the second fetch's, and its batch was not consumed.
        await p.abandonOrchestrationItem(second.lockToken, null, false);
        const again = await fetchOrch(p, 30_000);
        expect(again.item.instance).toBe(id);
        expect(again.item.messages).toEqual([late]);
      },
    },
    {
      name: "one ack persists all its history events, worker items and orchestrator items together (test_multi_operation_atomic_ack)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "instance-A";
        await p.enqueueForOrchestrator(startItem(id), null);
        const f = await fetchOrch(p, 30_000);

        // A fire time in the past, so the TimerFired is visible as soon as the ack commits.
        const fireAt = Date.now() - 1000;
        const delta: Event[] = [
          startedEvent(id),
          activityScheduledEvent(id, 1, 2, "Activity1", "input1"),
          activityScheduledEvent(id, 1, 3, "Activity2", "input2"),
          activityScheduledEvent(id, 1, 4, "Activity3", "input3"),
          event(id, 1, 5, { type: "TimerCreated", fire_at_ms: fireAt }),
        ];
        const workerItems = [1, 2, 3].map((n) => activityItem(id, n, { name: `Activity${n}`, input: `input${n}` }));
        const timer = timerFiredItem(id, 5, fireAt);
        const raised = externalRaisedItem(id, "TestEvent", "test-data");
        await p.ackOrchestrationItem(f.lockToken, 1, delta, workerItems, [timer, raised], runningMeta(), []);

        const history = await p.read(id);
        expect(history.map((e) => e.event_id)).toEqual([1, 2, 3, 4, 5]);
        expect(typesOf(history)).toEqual([
          "OrchestrationStarted",
          "ActivityScheduled",
          "ActivityScheduled",
          "ActivityScheduled",
          "TimerCreated",
        ]);

        const ids: number[] = [];
        for (let i = 0; i < 3; i++) ids.push(activityIdOf((await fetchWork(p, 30_000)).item));
        expect(ids).toEqual([1, 2, 3]);
        expect(await p.fetchWorkItem(30_000, 0, null, defaultTags)).toBeNull();

        const next = await fetchOrch(p, 30_000);
        expect(next.item.instance).toBe(id);
        expect(next.item.messages).toEqual([timer, raised]);
        expect(next.item.history).toHaveLength(5);
      },
    },
    {
      name: "an ack with a bogus lock token fails and does not release the real lock; the instance is fetchable only after the lock expires (test_lock_released_only_on_successful_ack)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "instance-A";
        await p.enqueueForOrchestrator(startItem(id), null);
        const f = await fetchOrch(p, ctx.lockTimeoutMs);
        expect(await p.fetchOrchestrationItem(ctx.lockTimeoutMs, 0)).toBeNull();

        await expectProviderError(
          p.ackOrchestrationItem("invalid-lock-token", 1, [startedEvent(id)], [], [], runningMeta(), []),
          "LockLost",
        );
        expect(await p.fetchOrchestrationItem(ctx.lockTimeoutMs, 0)).toBeNull();
        expect(await p.read(id)).toEqual([]);

        await sleep(ctx.lockTimeoutMs + 100);
        const again = await fetchOrch(p, ctx.lockTimeoutMs);
        expect(again.item.instance).toBe(id);
        expect(again.lockToken).not.toBe(f.lockToken);
        expect(again.item.messages).toEqual([startItem(id)]);
      },
    },
    {
      name: "two concurrent acks with the same lock token: exactly one succeeds and the turn is written once (test_concurrent_ack_prevention)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "instance-A";
        await p.enqueueForOrchestrator(startItem(id), null);
        const f = await fetchOrch(p, 30_000);

        const ack = () => p.ackOrchestrationItem(f.lockToken, 1, [startedEvent(id)], [], [], runningMeta(), []);
        const results = await Promise.allSettled([ack(), ack()]);
        const ok = results.filter((r) => r.status === "fulfilled");
        const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
        expect(ok).toHaveLength(1);
        expect(failed).toHaveLength(1);
        expect(failed[0]!.reason).toBeInstanceOf(ProviderError);

        expect(typesOf(await p.read(id))).toEqual(["OrchestrationStarted"]);
        // The token was consumed by the winner.
        await expectProviderError(
          p.ackOrchestrationItem(f.lockToken, 1, [], [], [], {}, []),
          "LockLost",
        );
      },
    },
  ],
};
