/**
 * long_polling: `pollTimeoutMs` is an upper bound. Short-poll providers return at once on an empty
 * queue; long-poll providers wait for work up to that long; neither may overrun it by much.
 */
import { expect } from "bun:test";
import type { ProviderModule } from "./harness.ts";
import { activityItem, defaultTags, expectProviderError, startItem } from "./helpers.ts";

/** Poll timeout the waiting cases pass; a short-poll provider must ignore it. */
const POLL_MS = 500;
/** Lock duration passed to the empty fetches; irrelevant since nothing is locked. */
const LOCK_MS = 30_000;

/** Runs `fetch` and returns its result with the elapsed wall time in ms. */
async function timed<T>(fetch: () => Promise<T>): Promise<{ result: T; elapsedMs: number }> {
  const start = performance.now();
  const result = await fetch();
  return { result, elapsedMs: performance.now() - start };
}

export const longPolling: ProviderModule = {
  name: "long_polling",
  cases: [
    {
      name: "an orchestration fetch on an empty queue returns null at once when it may not wait: a short-poll provider ignores the 500 ms poll timeout, a long-poll provider honours a 0 ms one (test_short_poll_returns_immediately)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const { result, elapsedMs } = await timed(() => p.fetchOrchestrationItem(LOCK_MS, ctx.longPolling ? 0 : POLL_MS));
        expect(result).toBeNull();
        expect(elapsedMs).toBeLessThan(ctx.shortPollThresholdMs);
      },
    },
    {
      name: "a long-poll provider's orchestration fetch on an empty queue waits the full 500 ms poll timeout before returning null (test_long_poll_waits_for_timeout)",
      requires: ["longPolling"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const { result, elapsedMs } = await timed(() => p.fetchOrchestrationItem(LOCK_MS, POLL_MS));
        expect(result).toBeNull();
        // Timers may fire a hair early; allow 5 ms of clock granularity.
        expect(elapsedMs).toBeGreaterThanOrEqual(POLL_MS - 5);
      },
    },
    {
      name: "an empty orchestration fetch with a 300 ms poll timeout returns within 500 ms, whatever the polling style (test_fetch_respects_timeout_upper_bound)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const { result, elapsedMs } = await timed(() => p.fetchOrchestrationItem(LOCK_MS, 300));
        expect(result).toBeNull();
        expect(elapsedMs).toBeLessThan(300 + 200);
      },
    },
    {
      name: "a worker fetch on an empty queue returns null at once when it may not wait: a short-poll provider ignores the 500 ms poll timeout, a long-poll provider honours a 0 ms one (test_short_poll_work_item_returns_immediately)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const { result, elapsedMs } = await timed(() => p.fetchWorkItem(LOCK_MS, ctx.longPolling ? 0 : POLL_MS, null, defaultTags));
        expect(result).toBeNull();
        expect(elapsedMs).toBeLessThan(ctx.shortPollThresholdMs);
      },
    },
    {
      name: "a long-poll provider's worker fetch on an empty queue waits the full 500 ms poll timeout before returning null (test_long_poll_work_item_waits_for_timeout)",
      requires: ["longPolling"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const { result, elapsedMs } = await timed(() => p.fetchWorkItem(LOCK_MS, POLL_MS, null, defaultTags));
        expect(result).toBeNull();
        expect(elapsedMs).toBeGreaterThanOrEqual(POLL_MS - 5);
      },
    },
    {
      name: "a long-poll orchestration fetch returns the message enqueued while it waits, well before its 3 s poll timeout",
      requires: ["longPolling"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const pending = timed(() => p.fetchOrchestrationItem(LOCK_MS, 3000));
        await Bun.sleep(50);
        await p.enqueueForOrchestrator(startItem("woken"), null);
        const { result, elapsedMs } = await pending;
        expect(result?.item.instance).toBe("woken");
        expect(elapsedMs).toBeLessThan(2000);
      },
    },
    {
      name: "a long-poll worker fetch returns the item enqueued while it waits, well before its 3 s poll timeout",
      requires: ["longPolling"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const pending = timed(() => p.fetchWorkItem(LOCK_MS, 3000, null, defaultTags));
        await Bun.sleep(50);
        await p.enqueueForWorker(activityItem("woken", 1));
        const { result, elapsedMs } = await pending;
        expect(result?.item).toMatchObject({ type: "ActivityExecute", instance: "woken", id: 1 });
        expect(elapsedMs).toBeLessThan(2000);
      },
    },
    {
      name: "closing a long-poll provider ends fetches waiting in a long poll with null (not an error), and later calls fail with kind Closed",
      requires: ["longPolling"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const close = (p as { close?: () => unknown }).close;
        if (typeof close !== "function") return; // close() is optional; nothing to check without it
        const orch = timed(() => p.fetchOrchestrationItem(LOCK_MS, 3000));
        const work = timed(() => p.fetchWorkItem(LOCK_MS, 3000, null, defaultTags));
        await Bun.sleep(50);
        await close.call(p);
        for (const { result, elapsedMs } of await Promise.all([orch, work])) {
          expect(result).toBeNull();
          expect(elapsedMs).toBeLessThan(2000);
        }
        await expectProviderError(p.enqueueForOrchestrator(startItem("after-close"), null), "Closed");
        await expectProviderError(p.fetchOrchestrationItem(LOCK_MS, 0), "Closed");
        await expectProviderError(p.fetchWorkItem(LOCK_MS, 0, null, defaultTags), "Closed");
      },
    },
    {
      name: "aborting a fetch's signal ends its idle long poll at once with null, and a fetch whose signal is already aborted claims nothing (a shutting-down runtime, docs/provider-contract.md §3.2)",
      requires: ["longPolling"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const stopOrch = new AbortController();
        const stopWork = new AbortController();
        const started = performance.now();
        const orch = p.fetchOrchestrationItem(LOCK_MS, 20_000, null, stopOrch.signal);
        const work = p.fetchWorkItem(LOCK_MS, 20_000, null, defaultTags, stopWork.signal);
        await new Promise((r) => setTimeout(r, 50));
        stopOrch.abort();
        stopWork.abort();
        expect(await orch).toBeNull();
        expect(await work).toBeNull();
        // Well under the 20 s poll timeout: the waits were cancelled, not waited out.
        expect(performance.now() - started).toBeLessThan(2_000);

        // Work is there, but an aborted fetch must not lock it: the next fetch gets it on its first delivery.
        await p.enqueueForOrchestrator(startItem("abort-inst"), null);
        await p.enqueueForWorker(activityItem("abort-inst", 1));
        expect(await p.fetchOrchestrationItem(LOCK_MS, 0, null, stopOrch.signal)).toBeNull();
        expect(await p.fetchWorkItem(LOCK_MS, 0, null, defaultTags, stopWork.signal)).toBeNull();
        const o = await p.fetchOrchestrationItem(LOCK_MS, 0);
        expect(o?.item.instance).toBe("abort-inst");
        expect(o?.attemptCount).toBe(1);
        const w = await p.fetchWorkItem(LOCK_MS, 0, null, defaultTags);
        expect(w?.attemptCount).toBe(1);
      },
    },
  ],
};
