/**
 * instance_locking: an orchestration fetch locks the whole instance; nobody else gets it until ack,
 * abandon or expiry, and an ack only consumes the messages that were part of the locked batch.
 */
import { expect } from "bun:test";
import { ProviderError } from "../core/errors.ts";
import type { FetchedOrchestration } from "../core/queue-types.ts";
import type { WorkItem } from "../core/work-items.ts";
import type { Provider } from "../provider.ts";
import type { ProviderModule } from "./harness.ts";
import {
  activityCompletedItem,
  createRunningInstance,
  expectProviderError,
  externalRaisedItem,
  fetchOrch,
  runningMeta,
  sleep,
  startItem,
} from "./helpers.ts";

/** Ids of the ActivityCompleted messages of a batch, in batch order. */
function completionIds(messages: readonly WorkItem[]): number[] {
  return messages.flatMap((m) => (m.type === "ActivityCompleted" ? [m.id] : []));
}

/**
 * One orchestration fetch as a contending dispatcher does it: retryable errors (busy database,
 * serialization conflicts) are retried until `deadlineMs`; permanent errors fail the case.
 */
async function fetchRetrying(p: Provider, lockTimeoutMs: number, deadlineMs = 5000): Promise<FetchedOrchestration | null> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    try {
      return await p.fetchOrchestrationItem(lockTimeoutMs, 0);
    } catch (err) {
      if (!(err instanceof ProviderError) || !err.retryable || Date.now() >= deadline) throw err;
      await sleep(10);
    }
  }
}

export const instanceLocking: ProviderModule = {
  name: "instance_locking",
  cases: [
    {
      name: "a locked instance cannot be fetched again until its lock expires; the re-fetch gets a different token (test_exclusive_instance_lock)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await p.enqueueForOrchestrator(startItem("instance-A"), null);
        const first = await fetchOrch(p, ctx.lockTimeoutMs);
        expect(first.item.instance).toBe("instance-A");
        expect(await p.fetchOrchestrationItem(ctx.lockTimeoutMs, 0)).toBeNull();

        await sleep(ctx.lockTimeoutMs + 100);
        const second = await fetchOrch(p, ctx.lockTimeoutMs);
        expect(second.item.instance).toBe("instance-A");
        expect(second.lockToken).not.toBe(first.lockToken);
      },
    },
    {
      name: "every fetch mints a distinct lock token (five instances, five tokens) (test_lock_token_uniqueness)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const ids = [0, 1, 2, 3, 4].map((i) => `inst-${i}`);
        for (const id of ids) await p.enqueueForOrchestrator(startItem(id), null);

        const fetched: FetchedOrchestration[] = [];
        for (let i = 0; i < 5; i++) fetched.push(await fetchOrch(p, 30_000));
        expect(new Set(fetched.map((f) => f.lockToken)).size).toBe(5);
        expect(fetched.map((f) => f.item.instance).sort()).toEqual(ids);
        expect(await p.fetchOrchestrationItem(30_000, 0)).toBeNull();
      },
    },
    {
      name: "ack and abandon with an unknown lock token both fail permanently and the real lock stays held (test_invalid_lock_token_rejection)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await p.enqueueForOrchestrator(startItem("instance-A"), null);
        const f = await fetchOrch(p, 30_000);

        await expectProviderError(p.ackOrchestrationItem("invalid-token", 1, [], [], [], {}, []), "LockLost");
        await expectProviderError(p.abandonOrchestrationItem("invalid-token", null, false), "LockLost");
        expect(await p.fetchOrchestrationItem(30_000, 0)).toBeNull();

        // The real token is untouched and still commits.
        await p.ackOrchestrationItem(f.lockToken, 1, [], [], [], {}, []);
      },
    },
    {
      name: "10 concurrent fetches over 10 queued instances each get a different instance (test_concurrent_instance_fetching)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const ids = Array.from({ length: 10 }, (_, i) => `inst-${i}`);
        for (const id of ids) await p.enqueueForOrchestrator(startItem(id), null);

        // Slightly staggered, as dispatchers are; a remote store may still see overlapping claims.
        const results = await Promise.all(
          ids.map(async (_, i) => {
            await sleep(i * 30);
            return fetchRetrying(p, 30_000);
          }),
        );
        expect(results.every((r) => r !== null)).toBe(true);
        const got = results.map((r) => r!.item.instance);
        expect(new Set(got).size).toBe(10);
        expect([...got].sort()).toEqual([...ids].sort());
        expect(new Set(results.map((r) => r!.lockToken)).size).toBe(10);
      },
    },
    {
      name: "messages arriving while an instance is locked are not fetchable; after expiry one batch holds the Start and the 3 completions in order (test_completions_arriving_during_lock_blocked)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "instance-A";
        await p.enqueueForOrchestrator(startItem(id), null);
        const first = await fetchOrch(p, ctx.lockTimeoutMs);
        expect(first.item.messages).toEqual([startItem(id)]);

        for (const n of [1, 2, 3]) await p.enqueueForOrchestrator(activityCompletedItem(id, n, `result-${n}`), null);
        expect(await p.fetchOrchestrationItem(ctx.lockTimeoutMs, 0)).toBeNull();

        await sleep(ctx.lockTimeoutMs + 100);
        const second = await fetchOrch(p, ctx.lockTimeoutMs);
        expect(second.item.instance).toBe(id);
        expect(second.item.messages).toEqual([
          startItem(id),
          activityCompletedItem(id, 1, "result-1"),
          activityCompletedItem(id, 2, "result-2"),
          activityCompletedItem(id, 3, "result-3"),
        ]);
      },
    },
    {
      name: "a lock on one instance does not block another: B is fetched, acked and fetched again while A stays locked (test_cross_instance_lock_isolation)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await createRunningInstance(p, "instance-A");
        await createRunningInstance(p, "instance-B");
        await p.enqueueForOrchestrator(externalRaisedItem("instance-A", "EvtA"), null);
        await p.enqueueForOrchestrator(externalRaisedItem("instance-B", "EvtB"), null);

        const a = await fetchOrch(p, 30_000);
        expect(a.item.instance).toBe("instance-A");
        const b = await fetchOrch(p, 30_000);
        expect(b.item.instance).toBe("instance-B");
        await p.ackOrchestrationItem(b.lockToken, 1, [], [], [], runningMeta(), []);

        const late = activityCompletedItem("instance-B", 1, "done");
        await p.enqueueForOrchestrator(late, null);
        const b2 = await fetchOrch(p, 30_000);
        expect(b2.item.instance).toBe("instance-B");
        expect(b2.item.messages).toEqual([late]);

        // A is still locked by the first fetch.
        expect(await p.fetchOrchestrationItem(30_000, 0)).toBeNull();
        await p.ackOrchestrationItem(a.lockToken, 1, [], [], [], {}, []);
      },
    },
    {
      name: "an ack deletes only the messages of its batch; a message enqueued during the lock is the whole next batch (test_message_tagging_during_lock)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "instance-A";
        await createRunningInstance(p, id);
        await p.enqueueForOrchestrator(activityCompletedItem(id, 1, "msg1"), null);
        await p.enqueueForOrchestrator(activityCompletedItem(id, 2, "msg2"), null);

        const f = await fetchOrch(p, 30_000);
        expect(f.item.instance).toBe(id);
        expect(completionIds(f.item.messages)).toEqual([1, 2]);
        expect(f.item.messages).toHaveLength(2);

        await p.enqueueForOrchestrator(activityCompletedItem(id, 3, "msg3"), null);
        await p.ackOrchestrationItem(f.lockToken, 1, [], [], [], {}, []);

        const next = await fetchOrch(p, 30_000);
        expect(next.item.instance).toBe(id);
        expect(next.item.messages).toEqual([activityCompletedItem(id, 3, "msg3")]);
      },
    },
    {
      name: "after acking a one-message batch, the next batch is exactly the two messages that arrived during the lock, in order (test_ack_only_affects_locked_messages)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "instance-A";
        await createRunningInstance(p, id);
        await p.enqueueForOrchestrator(activityCompletedItem(id, 1, "msg1"), null);

        const f = await fetchOrch(p, 30_000);
        expect(completionIds(f.item.messages)).toEqual([1]);
        expect(f.item.messages).toHaveLength(1);

        await p.enqueueForOrchestrator(activityCompletedItem(id, 2, "msg2"), null);
        await p.enqueueForOrchestrator(activityCompletedItem(id, 3, "msg3"), null);
        expect(await p.fetchOrchestrationItem(30_000, 0)).toBeNull();
        await p.ackOrchestrationItem(f.lockToken, 1, [], [], [], {}, []);

        const next = await fetchOrch(p, 30_000);
        expect(next.item.instance).toBe(id);
        expect(completionIds(next.item.messages)).toEqual([2, 3]);
        expect(next.item.messages).toHaveLength(2);
      },
    },
    {
      name: "of 10 concurrent fetchers of one instance exactly one wins and a further fetch returns null (test_multi_threaded_lock_contention)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await p.enqueueForOrchestrator(startItem("contention-instance"), null);

        const results = await Promise.all(Array.from({ length: 10 }, () => fetchRetrying(p, 30_000)));
        const winners = results.filter((r): r is FetchedOrchestration => r !== null);
        expect(winners).toHaveLength(1);
        expect(winners[0]!.item.instance).toBe("contention-instance");
        expect(await p.fetchOrchestrationItem(30_000, 0)).toBeNull();
      },
    },
    {
      name: "40 concurrent fetchers over 20 instances (retryable errors retried) never receive the same instance twice, and no instance is lost (test_multi_threaded_no_duplicate_processing)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const ids = Array.from({ length: 20 }, (_, i) => `dup-test-${i}`);
        for (const id of ids) await p.enqueueForOrchestrator(startItem(id), null);

        const results = await Promise.all(
          Array.from({ length: 40 }, async (_, i) => {
            await sleep((i * 3) % 50);
            return fetchRetrying(p, 30_000);
          }),
        );
        const concurrent = results.flatMap((r) => (r === null ? [] : [r.item.instance]));
        expect(concurrent.length).toBeGreaterThan(0);
        expect(new Set(concurrent).size).toBe(concurrent.length);

        // Losers of a claim race may get null; whatever was not handed out must still be fetchable,
        // and nothing handed out (still locked) may come back.
        const rest: string[] = [];
        for (;;) {
          const f = await fetchRetrying(p, 30_000);
          if (f === null) break;
          rest.push(f.item.instance);
        }
        const all = [...concurrent, ...rest];
        expect(new Set(all).size).toBe(all.length);
        expect(all.sort()).toEqual([...ids].sort());
      },
    },
    {
      name: "a held, un-acked lock blocks a fetch at +200 ms, and a fetch after lock timeout + 100 ms recovers the instance (test_multi_threaded_lock_expiration_recovery)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "expiration-instance";
        await p.enqueueForOrchestrator(startItem(id), null);
        const lock = ctx.lockTimeoutMs;

        // Holder (never acks, like a crashed dispatcher), an early contender, a late contender.
        const [held, early, late] = await Promise.all([
          fetchOrch(p, lock),
          sleep(200).then(() => p.fetchOrchestrationItem(lock, 0)),
          sleep(lock + 100).then(() => p.fetchOrchestrationItem(lock, 0)),
        ]);
        expect(held.item.instance).toBe(id);
        expect(early).toBeNull();
        expect(late).not.toBeNull();
        expect(late!.item.instance).toBe(id);
        expect(late!.lockToken).not.toBe(held.lockToken);
        expect(late!.item.messages).toEqual([startItem(id)]);
      },
    },
  ],
};
