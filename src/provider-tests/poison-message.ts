/**
 * poison_message: attempt counts, which the runtime compares against max_attempts to poison a
 * message. Counts live per message, start at 1 on first delivery, grow on every redelivery
 * (abandon or lock expiry), shrink by one on an ignoreAttempt abandon (never below 0), and an
 * orchestration batch reports its highest count.
 */
import { expect } from "bun:test";
import type { FetchedWorkItem } from "../core/queue-types.ts";
import type { Provider } from "../provider.ts";
import type { ProviderModule } from "./harness.ts";
import { activityCompletedItem, activityItem, fetchOrch, fetchWork, sleep, startItem } from "./helpers.ts";

/** Fetches the next worker item and checks it is the expected activity. */
async function fetchActivity(p: Provider, lockTimeoutMs: number, instance: string, id: number): Promise<FetchedWorkItem> {
  const f = await fetchWork(p, lockTimeoutMs);
  expect(f.item).toMatchObject({ type: "ActivityExecute", instance, id });
  return f;
}

export const poisonMessage: ProviderModule = {
  name: "poison_message",
  cases: [
    {
      name: "the first fetch of an orchestration message reports attemptCount 1 (orchestration_attempt_count_starts_at_one)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await p.enqueueForOrchestrator(startItem("poison-test-1"), null);
        const f = await fetchOrch(p, ctx.lockTimeoutMs);
        expect(f.item.instance).toBe("poison-test-1");
        expect(f.attemptCount).toBe(1);
        await p.ackOrchestrationItem(f.lockToken, 1, [], [], [], {}, []);
      },
    },
    {
      name: "each fetch after an abandon raises the orchestration attemptCount: 1, 2, 3 (orchestration_attempt_count_increments_on_refetch)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await p.enqueueForOrchestrator(startItem("poison-test-2"), null);
        const counts: number[] = [];
        let token = "";
        for (let i = 0; i < 3; i++) {
          if (i > 0) await p.abandonOrchestrationItem(token, null, false);
          const f = await fetchOrch(p, ctx.lockTimeoutMs);
          expect(f.item.instance).toBe("poison-test-2");
          counts.push(f.attemptCount);
          token = f.lockToken;
        }
        expect(counts).toEqual([1, 2, 3]);
        await p.ackOrchestrationItem(token, 1, [], [], [], {}, []);
      },
    },
    {
      name: "the first fetch of a worker item reports attemptCount 1 (worker_attempt_count_starts_at_one)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await p.enqueueForWorker(activityItem("poison-test-3", 1));
        const f = await fetchActivity(p, ctx.lockTimeoutMs, "poison-test-3", 1);
        expect(f.attemptCount).toBe(1);
        await p.ackWorkItem(f.lockToken, activityCompletedItem("poison-test-3", 1, "done"));
      },
    },
    {
      name: "a worker item refetched after its 1 s lock lapsed reports attemptCount 2 (worker_attempt_count_increments_on_lock_expiry)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await p.enqueueForWorker(activityItem("poison-test-4", 1));
        const first = await fetchActivity(p, 1000, "poison-test-4", 1);
        expect(first.attemptCount).toBe(1);

        await sleep(1100);
        const second = await fetchActivity(p, 1000, "poison-test-4", 1);
        expect(second.attemptCount).toBe(2);
        await p.ackWorkItem(second.lockToken, activityCompletedItem("poison-test-4", 1, "done"));
      },
    },
    {
      name: "attempt counts are per message: two different worker items each report 1 (attempt_count_is_per_message)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await p.enqueueForWorker(activityItem("poison-test-5a", 1, { name: "Activity1" }));
        await p.enqueueForWorker(activityItem("poison-test-5b", 2, { name: "Activity2" }));

        const a = await fetchActivity(p, ctx.lockTimeoutMs, "poison-test-5a", 1);
        const b = await fetchActivity(p, ctx.lockTimeoutMs, "poison-test-5b", 2);
        expect([a.attemptCount, b.attemptCount]).toEqual([1, 1]);
        await p.ackWorkItem(a.lockToken, activityCompletedItem("poison-test-5a", 1, "done"));
        await p.ackWorkItem(b.lockToken, activityCompletedItem("poison-test-5b", 2, "done"));
      },
    },
    {
      name: "abandonWorkItem with ignoreAttempt undoes that delivery's increment: 1, abandon → 2, abandon(ignore) → 2 (abandon_work_item_ignore_attempt_decrements)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "poison-test-ignore-1";
        await p.enqueueForWorker(activityItem(id, 1));

        const f1 = await fetchActivity(p, ctx.lockTimeoutMs, id, 1);
        await p.abandonWorkItem(f1.lockToken, null, false);
        const f2 = await fetchActivity(p, ctx.lockTimeoutMs, id, 1);
        await p.abandonWorkItem(f2.lockToken, null, true);
        const f3 = await fetchActivity(p, ctx.lockTimeoutMs, id, 1);

        expect([f1.attemptCount, f2.attemptCount, f3.attemptCount]).toEqual([1, 2, 2]);
        await p.ackWorkItem(f3.lockToken, activityCompletedItem(id, 1, "done"));
      },
    },
    {
      name: "abandonOrchestrationItem with ignoreAttempt undoes that delivery's increment: 1, abandon → 2, abandon(ignore) → 2 (abandon_orchestration_item_ignore_attempt_decrements)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "poison-test-ignore-2";
        await p.enqueueForOrchestrator(startItem(id), null);

        const f1 = await fetchOrch(p, ctx.lockTimeoutMs);
        await p.abandonOrchestrationItem(f1.lockToken, null, false);
        const f2 = await fetchOrch(p, ctx.lockTimeoutMs);
        await p.abandonOrchestrationItem(f2.lockToken, null, true);
        const f3 = await fetchOrch(p, ctx.lockTimeoutMs);

        expect([f1, f2, f3].map((f) => f.item.instance)).toEqual([id, id, id]);
        expect([f1.attemptCount, f2.attemptCount, f3.attemptCount]).toEqual([1, 2, 2]);
        await p.ackOrchestrationItem(f3.lockToken, 1, [], [], [], {}, []);
      },
    },
    {
      name: "ignoreAttempt never takes a count below 0: worker 1, abandon(ignore) → 1, abandon(ignore) → 1 (ignore_attempt_never_goes_negative)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "poison-test-never-neg";
        await p.enqueueForWorker(activityItem(id, 1));

        const f1 = await fetchActivity(p, ctx.lockTimeoutMs, id, 1);
        await p.abandonWorkItem(f1.lockToken, null, true);
        const f2 = await fetchActivity(p, ctx.lockTimeoutMs, id, 1);
        await p.abandonWorkItem(f2.lockToken, null, true);
        const f3 = await fetchActivity(p, ctx.lockTimeoutMs, id, 1);

        expect([f1.attemptCount, f2.attemptCount, f3.attemptCount]).toEqual([1, 1, 1]);
        await p.ackWorkItem(f3.lockToken, activityCompletedItem(id, 1, "done"));
      },
    },
    {
      name: "an orchestration batch reports the highest attempt count of its messages: a 3rd-delivery Start plus a 1st-delivery completion → 3 (max_attempt_count_across_message_batch)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "poison-batch-test";
        await p.enqueueForOrchestrator(startItem(id), null);

        const f1 = await fetchOrch(p, ctx.lockTimeoutMs);
        expect(f1.item.messages).toHaveLength(1);
        expect(f1.attemptCount).toBe(1);
        await p.abandonOrchestrationItem(f1.lockToken, null, false);

        const f2 = await fetchOrch(p, ctx.lockTimeoutMs);
        expect(f2.attemptCount).toBe(2);
        // Arrives while the lock is held, so it is not part of this batch.
        await p.enqueueForOrchestrator(activityCompletedItem(id, 1, "activity result"), null);
        await p.abandonOrchestrationItem(f2.lockToken, null, false);

        const f3 = await fetchOrch(p, ctx.lockTimeoutMs);
        expect(f3.item.messages.map((m) => m.type)).toEqual(["StartOrchestration", "ActivityCompleted"]);
        expect(f3.attemptCount).toBe(3);
        await p.ackOrchestrationItem(f3.lockToken, 1, [], [], [], {}, []);
      },
    },
  ],
};
