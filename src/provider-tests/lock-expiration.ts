/**
 * lock_expiration: orchestration and worker locks lapse after their timeout, are released at once
 * by ack/abandon, can be renewed only while live, and a lapsed lock can no longer commit.
 */
import { expect } from "bun:test";
import type { FetchedWorkItem } from "../core/queue-types.ts";
import type { WorkItem } from "../core/work-items.ts";
import type { Provider } from "../provider.ts";
import type { ProviderModule } from "./harness.ts";
import { activityCompletedItem, activityItem, createRunningInstance, defaultTags, expectProviderError, externalRaisedItem, fetchOrch, fetchWork, runningMeta, sleep, startItem, startedEvent, tryFetchWork } from "./helpers.ts";

/** The worker lock length the catalog hard-codes for its "1 s worker lock" cases. */
const ONE_SECOND_WORKER_LOCK = 1000;


/** Instance and activity id of a fetched worker item (fails if it is not an ActivityExecute). */
function activityOf(item: WorkItem): { instance: string; id: number } {
  if (item.type !== "ActivityExecute") throw new Error(`expected ActivityExecute, got ${item.type}`);
  return { instance: item.instance, id: item.id };
}

export const lockExpiration: ProviderModule = {
  name: "lock_expiration",
  cases: [
    {
      name: "after the lock timeout the instance is re-fetched with a new token and an ack with the old token fails permanently (test_lock_expires_after_timeout)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "instance-A";
        await p.enqueueForOrchestrator(startItem(id), null);
        const first = await fetchOrch(p, ctx.lockTimeoutMs);
        expect(await p.fetchOrchestrationItem(ctx.lockTimeoutMs, 0)).toBeNull();

        await sleep(ctx.lockTimeoutMs + 100);
        const second = await fetchOrch(p, ctx.lockTimeoutMs);
        expect(second.item.instance).toBe(id);
        expect(second.lockToken).not.toBe(first.lockToken);

        await expectProviderError(p.ackOrchestrationItem(first.lockToken, 1, [], [], [], {}, []), "LockLost");
        // The zombie ack neither released nor consumed the new holder's batch.
        expect(await p.fetchOrchestrationItem(ctx.lockTimeoutMs, 0)).toBeNull();
        await p.ackOrchestrationItem(second.lockToken, 1, [startedEvent(id)], [], [], runningMeta(), []);
        expect((await p.read(id)).map((e) => e.type)).toEqual(["OrchestrationStarted"]);
      },
    },
    {
      name: "abandon without delay releases the orchestration lock immediately (test_abandon_releases_lock_immediately)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "instance-A";
        await p.enqueueForOrchestrator(startItem(id), null);
        const first = await fetchOrch(p, ctx.lockTimeoutMs);
        expect(await p.fetchOrchestrationItem(ctx.lockTimeoutMs, 0)).toBeNull();

        await p.abandonOrchestrationItem(first.lockToken, null, false);
        const second = await fetchOrch(p, ctx.lockTimeoutMs);
        expect(second.item.instance).toBe(id);
        expect(second.item.messages).toEqual([startItem(id)]);
        expect(second.lockToken).not.toBe(first.lockToken);
      },
    },
    {
      name: "a message enqueued during the lock stays hidden until the ack and is fetchable right after it (test_lock_renewal_on_ack)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "instance-A";
        await p.enqueueForOrchestrator(startItem(id), null);
        const f = await fetchOrch(p, ctx.lockTimeoutMs);
        expect(await p.fetchOrchestrationItem(ctx.lockTimeoutMs, 0)).toBeNull();

        const late = externalRaisedItem(id, "Late", "late-data");
        await p.enqueueForOrchestrator(late, null);
        expect(await p.fetchOrchestrationItem(ctx.lockTimeoutMs, 0)).toBeNull();

        await p.ackOrchestrationItem(f.lockToken, 1, [startedEvent(id)], [], [], runningMeta(), []);
        const next = await fetchOrch(p, ctx.lockTimeoutMs);
        expect(next.item.instance).toBe(id);
        expect(next.item.messages).toEqual([late]);
      },
    },
    {
      name: "five staggered fetchers during a held lock all get null; once the lock expires a fetch succeeds (test_concurrent_lock_attempts_respect_expiration)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "instance-A";
        await p.enqueueForOrchestrator(startItem(id), null);
        await fetchOrch(p, ctx.lockTimeoutMs);
        const lockedAt = Date.now();

        const results = await Promise.all(
          [0, 1, 2, 3, 4].map(async (i) => {
            await sleep(i * 50);
            return p.fetchOrchestrationItem(ctx.lockTimeoutMs, 0);
          }),
        );
        expect(results).toEqual([null, null, null, null, null]);

        await sleep(Math.max(0, lockedAt + ctx.lockTimeoutMs + 100 - Date.now()));
        const after = await fetchOrch(p, ctx.lockTimeoutMs);
        expect(after.item.instance).toBe(id);
      },
    },
    {
      name: "renewing a live worker lock succeeds, the item stays invisible and the token still acks (test_worker_lock_renewal_success)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await p.enqueueForWorker(activityItem("test-instance", 1, { input: "test" }));
        const f = await fetchWork(p, ctx.lockTimeoutMs);
        expect(await tryFetchWork(p, ctx.lockTimeoutMs)).toBeNull();

        await p.renewWorkItemLock(f.lockToken, ctx.lockTimeoutMs);
        expect(await tryFetchWork(p, ctx.lockTimeoutMs)).toBeNull();
        await p.ackWorkItem(f.lockToken, activityCompletedItem("test-instance", 1, "done"));
        expect(await tryFetchWork(p, ctx.lockTimeoutMs)).toBeNull();
      },
    },
    {
      name: "renewing an unknown worker lock token fails permanently (test_worker_lock_renewal_invalid_token)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await expectProviderError(p.renewWorkItemLock("invalid-token-123", 30_000), "LockLost");
      },
    },
    {
      name: "renewing a 1 s worker lock after it lapsed fails permanently (test_worker_lock_renewal_after_expiration)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await p.enqueueForWorker(activityItem("test-instance", 1, { input: "test" }));
        const f = await fetchWork(p, ONE_SECOND_WORKER_LOCK);

        await sleep(ONE_SECOND_WORKER_LOCK + 100);
        await expectProviderError(p.renewWorkItemLock(f.lockToken, ctx.lockTimeoutMs), "LockLost");
      },
    },
    {
      name: "renewing a worker lock at 0.6×T for T keeps the item locked at 1.0×T (test_worker_lock_renewal_extends_timeout)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "test-lock-renewal-extends";
        const lock = ctx.lockTimeoutMs;
        await createRunningInstance(p, id, { workerItems: [activityItem(id, 1, { input: "test" })] });

        const f = await fetchWork(p, lock);
        expect(activityOf(f.item)).toEqual({ instance: id, id: 1 });
        const early = Math.round(lock * 0.6);
        await sleep(early);
        await p.renewWorkItemLock(f.lockToken, lock);
        // Now at >= 1.0×T: without the renewal the lock would have lapsed.
        await sleep(lock - early);
        expect(await tryFetchWork(p, lock)).toBeNull();
        await p.ackWorkItem(f.lockToken, activityCompletedItem(id, 1, "done"));
      },
    },
    {
      name: "renewing a worker lock after a successful ack fails permanently (test_worker_lock_renewal_after_ack)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await p.enqueueForWorker(activityItem("test-instance", 1, { input: "test" }));
        const f = await fetchWork(p, ctx.lockTimeoutMs);
        await p.ackWorkItem(f.lockToken, activityCompletedItem("test-instance", 1, "done"));

        await expectProviderError(p.renewWorkItemLock(f.lockToken, ctx.lockTimeoutMs), "LockLost");
      },
    },
    {
      name: "an abandoned work item is immediately re-fetchable with a new token (test_abandon_work_item_releases_lock)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "test-abandon-work";
        await p.enqueueForWorker(activityItem(id, 1, { input: "test" }));
        const first = await fetchWork(p, ctx.lockTimeoutMs);
        expect(activityOf(first.item)).toEqual({ instance: id, id: 1 });
        expect(await tryFetchWork(p, ctx.lockTimeoutMs)).toBeNull();

        await p.abandonWorkItem(first.lockToken, null, false);
        const second = await fetchWork(p, ctx.lockTimeoutMs);
        expect(activityOf(second.item)).toEqual({ instance: id, id: 1 });
        expect(second.lockToken).not.toBe(first.lockToken);
        await p.ackWorkItem(second.lockToken, activityCompletedItem(id, 1, "done"));
      },
    },
    {
      name: "a work item abandoned with a 500 ms delay stays hidden until the delay passes (test_abandon_work_item_with_delay)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "test-abandon-delay";
        await p.enqueueForWorker(activityItem(id, 1, { input: "test" }));
        const first = await fetchWork(p, ctx.lockTimeoutMs);

        await p.abandonWorkItem(first.lockToken, 500, false);
        expect(await tryFetchWork(p, ctx.lockTimeoutMs)).toBeNull();

        await sleep(600);
        const second = await fetchWork(p, ctx.lockTimeoutMs);
        expect(activityOf(second.item)).toEqual({ instance: id, id: 1 });
        await p.ackWorkItem(second.lockToken, activityCompletedItem(id, 1, "done"));
      },
    },
    {
      name: "a worker ack after the lock lapsed fails permanently, enqueues no completion, and the item is still fetchable (test_worker_ack_fails_after_lock_expiry)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "ack-expiry-test";
        await p.enqueueForWorker(activityItem(id, 1, { input: "test" }));
        const f = await fetchWork(p, ONE_SECOND_WORKER_LOCK);

        await sleep(ONE_SECOND_WORKER_LOCK + 200);
        await expectProviderError(p.ackWorkItem(f.lockToken, activityCompletedItem(id, 1, "done")), "LockLost");

        expect(await p.fetchOrchestrationItem(ctx.lockTimeoutMs, 0)).toBeNull();
        const again = await fetchWork(p, 5000);
        expect(activityOf(again.item)).toEqual({ instance: id, id: 1 });
      },
    },
    {
      name: "renewing an orchestration lock after it expired fails permanently (test_orchestration_lock_renewal_after_expiration)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await p.enqueueForOrchestrator(startItem("orch-renewal-expiry"), null);
        const f = await fetchOrch(p, ctx.lockTimeoutMs);

        await sleep(ctx.lockTimeoutMs + 100);
        await expectProviderError(p.renewOrchestrationItemLock(f.lockToken, ctx.lockTimeoutMs), "LockLost");
      },
    },
  ],
};
