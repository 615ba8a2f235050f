/**
 * queue_semantics: FIFO order, peek-lock, atomic worker ack, delayed visibility, redelivery of
 * lost locks, and dropping QueueMessages for instances that never started.
 */
import { expect } from "bun:test";
import type { FetchedWorkItem } from "../core/queue-types.ts";
import type { WorkItem } from "../core/work-items.ts";
import type { Provider } from "../provider.ts";
import type { ProviderModule } from "./harness.ts";
import { activityCompletedItem, activityItem, createRunningInstance, defaultTags, fetchOrch, fetchWork, queueMessageItem, sleep, timerFiredItem, tryFetchWork } from "./helpers.ts";


/** The activity id and name of a fetched worker item (fails if it is not an ActivityExecute). */
function activityOf(item: WorkItem): { id: number; name: string } {
  if (item.type !== "ActivityExecute") throw new Error(`expected ActivityExecute, got ${item.type}`);
  return { id: item.id, name: item.name };
}

export const queueSemantics: ProviderModule = {
  name: "queue_semantics",
  cases: [
    {
      name: "worker items are fetched in enqueue order, then the queue is empty (test_worker_queue_fifo_ordering)",
      async run(ctx) {
        const p = await ctx.createProvider();
        for (let i = 1; i <= 5; i++) {
          await p.enqueueForWorker(activityItem("instance-A", i, { name: `Activity${i}`, input: `input${i}` }));
        }
        const seen: { id: number; name: string }[] = [];
        for (let i = 1; i <= 5; i++) seen.push(activityOf((await fetchWork(p, ctx.lockTimeoutMs)).item));
        expect(seen).toEqual([1, 2, 3, 4, 5].map((i) => ({ id: i, name: `Activity${i}` })));
        expect(await tryFetchWork(p, ctx.lockTimeoutMs)).toBeNull();
      },
    },
    {
      name: "a fetched worker item is invisible to other fetches while locked and gone after ack (test_worker_peek_lock_semantics)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await p.enqueueForWorker(activityItem("instance-A", 1, { name: "Activity1", input: "input1" }));
        const f = await fetchWork(p, 30_000);
        expect(activityOf(f.item)).toEqual({ id: 1, name: "Activity1" });
        expect(await tryFetchWork(p, 30_000)).toBeNull();

        await p.ackWorkItem(f.lockToken, activityCompletedItem("instance-A", 1, "result1"));
        expect(await tryFetchWork(p, 30_000)).toBeNull();
      },
    },
    {
      name: "a worker ack with a completion removes the item and enqueues exactly that completion for the orchestrator (test_worker_ack_atomicity)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await createRunningInstance(p, "instance-A", { lockTimeoutMs: ctx.lockTimeoutMs });
        await p.enqueueForWorker(activityItem("instance-A", 1, { name: "Activity1", input: "input1" }));
        const f = await fetchWork(p, ctx.lockTimeoutMs);
        await p.ackWorkItem(f.lockToken, activityCompletedItem("instance-A", 1, "result1"));

        expect(await tryFetchWork(p, ctx.lockTimeoutMs)).toBeNull();
        const o = await fetchOrch(p, ctx.lockTimeoutMs);
        expect(o.item.instance).toBe("instance-A");
        expect(o.item.messages).toEqual([activityCompletedItem("instance-A", 1, "result1")]);
      },
    },
    {
      name: "a TimerFired enqueued with a 5 s delay is invisible until the delay passes, then fetchable (test_timer_delayed_visibility)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await createRunningInstance(p, "instance-A", { lockTimeoutMs: ctx.lockTimeoutMs });
        // enqueueForOrchestrator uses the delay argument, not fire_at_ms.
        const timer = timerFiredItem("instance-A", 1, 0);
        await p.enqueueForOrchestrator(timer, 5000);
        expect(await p.fetchOrchestrationItem(ctx.lockTimeoutMs, 0)).toBeNull();

        await sleep(5100);
        const o = await fetchOrch(p, ctx.lockTimeoutMs);
        expect(o.item.instance).toBe("instance-A");
        expect(o.item.messages).toEqual([timer]);
      },
    },
    {
      name: "a worker item whose lock token was lost (never acked) is redelivered after the lock expires (test_lost_lock_token_handling)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await p.enqueueForWorker(activityItem("instance-A", 1, { name: "Activity1" }));
        const first = await fetchWork(p, ctx.lockTimeoutMs);
        expect(first.attemptCount).toBe(1);
        expect(await tryFetchWork(p, ctx.lockTimeoutMs)).toBeNull();

        await sleep(ctx.lockTimeoutMs + 100);
        const again = await fetchWork(p, ctx.lockTimeoutMs);
        expect(activityOf(again.item)).toEqual({ id: 1, name: "Activity1" });
        expect(again.lockToken).not.toBe(first.lockToken);
        expect(again.attemptCount).toBe(2);
      },
    },
    {
      name: "a freshly enqueued worker item is fetchable immediately (test_worker_item_immediate_visibility)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const item = activityItem("test-immediate-vis", 1, { name: "TestActivity", input: "test" });
        await p.enqueueForWorker(item);
        const f = await tryFetchWork(p, ctx.lockTimeoutMs);
        expect(f).not.toBeNull();
        expect(f?.item).toEqual(item);
        await p.ackWorkItem(f!.lockToken, activityCompletedItem("test-immediate-vis", 1, "done"));
      },
    },
    {
      name: "a worker item abandoned with a delay is skipped (not blocking later items) until the delay passes (test_worker_delayed_visibility_skips_future_items)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await p.enqueueForWorker(activityItem("test-delayed-vis", 1, { name: "Activity1", input: "first" }));
        await p.enqueueForWorker(activityItem("test-delayed-vis", 2, { name: "Activity2", input: "second" }));

        const f1 = await fetchWork(p, ctx.lockTimeoutMs);
        expect(activityOf(f1.item).id).toBe(1);
        await p.abandonWorkItem(f1.lockToken, 500, false);

        // Item 1 is unlocked but not yet visible: the next fetch must pass over it.
        const f2 = await fetchWork(p, ctx.lockTimeoutMs);
        expect(activityOf(f2.item).id).toBe(2);
        expect(await tryFetchWork(p, ctx.lockTimeoutMs)).toBeNull();

        await sleep(600);
        const f3 = await fetchWork(p, ctx.lockTimeoutMs);
        expect(activityOf(f3.item).id).toBe(1);
        expect(f3.attemptCount).toBe(2);

        await p.ackWorkItem(f2.lockToken, activityCompletedItem("test-delayed-vis", 2, "done"));
        await p.ackWorkItem(f3.lockToken, activityCompletedItem("test-delayed-vis", 1, "done"));
      },
    },
    {
      name: "QueueMessages for a never-started instance are deleted by fetch, while one for an existing instance is delivered (test_orphan_queue_messages_dropped)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await p.enqueueForOrchestrator(queueMessageItem("orphan-test", "ConfigUpdate", "v1"), null);
        await p.enqueueForOrchestrator(queueMessageItem("orphan-test", "ConfigUpdate", "v2"), null);

        expect(await p.fetchOrchestrationItem(ctx.lockTimeoutMs, 0)).toBeNull();
        // Left in the queue they would come back on every fetch.
        expect(await p.fetchOrchestrationItem(ctx.lockTimeoutMs, 0)).toBeNull();

        await createRunningInstance(p, "orphan-test-existing", { lockTimeoutMs: ctx.lockTimeoutMs });
        const kept = queueMessageItem("orphan-test-existing", "ConfigUpdate", "v3");
        await p.enqueueForOrchestrator(kept, null);
        const o = await fetchOrch(p, ctx.lockTimeoutMs);
        expect(o.item.instance).toBe("orphan-test-existing");
        expect(o.item.messages).toEqual([kept]);
        await p.ackOrchestrationItem(o.lockToken, o.item.execution_id, [], [], [], {}, []);

        // The orphans were deleted, not merely skipped: nothing at all is left.
        expect(await p.fetchOrchestrationItem(ctx.lockTimeoutMs, 0)).toBeNull();
      },
    },
  ],
};
