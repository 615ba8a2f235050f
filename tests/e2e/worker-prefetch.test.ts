// docs/runtime-semantics.md §6.4: a worker slot claims its next activity while its current one
// runs; the claimed item waits at most workerPrefetchHoldMs and then goes back to the queue for
// other runtimes; shutdown hands it back at once; workerPrefetch: false turns it off.
import { expect, test } from "bun:test";
import { Client, ConfigurationError, type ActivityContext, type OrchestrationContext } from "../../src/index.ts";
import { deferred, describeEachProvider, within } from "./harness.ts";

/** Two activities scheduled at once: "Block" waits for the test, "Quick" records who ran it. */
function scenario() {
  const release = deferred();
  const blockStarted = deferred();
  const quickRan = deferred<string>();
  const activities = (label: string) => ({
    Block: async () => {
      blockStarted.resolve();
      await release.promise;
      return "blocked";
    },
    Quick: (ctx: ActivityContext) => {
      quickRan.resolve(`${label}:${ctx.attempt}`);
      return "quick";
    },
  });
  const orchestrations = {
    Pair: function* (ctx: OrchestrationContext) {
      const block = ctx.scheduleActivity<string>("Block", null);
      const quick = ctx.scheduleActivity<string>("Quick", null);
      return yield* ctx.all([block, quick]);
    },
  };
  return { release, blockStarted, quickRan, activities, orchestrations };
}

/** Resolves once no activity is waiting unclaimed in the worker queue. */
async function workerQueueEmpty(client: Client): Promise<void> {
  while ((await client.getQueueDepths()).worker_queue > 0) await Bun.sleep(10);
}

describeEachProvider("worker prefetch", (e2e) => {
  test("an activity prefetched behind a long one goes back to the queue after workerPrefetchHoldMs and another runtime runs it (attempt 1)", async () => {
    const s = scenario();
    // A has one worker slot: it runs Block and prefetches Quick (scheduled right after it).
    const a = await e2e.start({ activities: s.activities("A"), orchestrations: s.orchestrations }, { workerConcurrency: 1, workerPrefetchHoldMs: 300 });
    await a.client.startOrchestration("pf-hold", "Pair", null);
    await within("Block to start on A", s.blockStarted.promise);
    await within("A to claim Quick ahead (no activity left queued)", workerQueueEmpty(a.client));
    // B joins only now, so Quick can only reach it through A's hand-back, after the hold.
    const joined = performance.now();
    const b = await e2e.start({ activities: s.activities("B"), orchestrations: s.orchestrations }, { workerConcurrency: 1 }, a.provider);
    expect(await within("Quick to run somewhere while Block still blocks", s.quickRan.promise, 10_000)).toBe("B:1");
    expect(performance.now() - joined).toBeGreaterThan(150); // not before A's 300 ms hold ran out (generous bound)
    s.release.resolve();
    const done = await a.client.waitForOrchestration("pf-hold", { timeoutMs: 10_000 });
    expect(done.status).toBe("Completed");
    if (done.status === "Completed") expect(done.output).toEqual(["blocked", "quick"]);
    await b.shutdown();
  });

  test("with workerPrefetch: false nothing is claimed ahead: the waiting activity is fetchable by others at once", async () => {
    const s = scenario();
    const a = await e2e.start(
      { activities: s.activities("A"), orchestrations: s.orchestrations },
      { workerConcurrency: 1, workerPrefetch: false, workerPrefetchHoldMs: 60_000 },
    );
    await a.client.startOrchestration("pf-off", "Pair", null);
    await within("Block to start on A", s.blockStarted.promise);
    const b = await e2e.start({ activities: s.activities("B"), orchestrations: s.orchestrations }, { workerConcurrency: 1 }, a.provider);
    // Had A prefetched Quick, the 60 s hold would keep it from B for the whole test.
    expect(await within("Quick to run on B", s.quickRan.promise, 5_000)).toBe("B:1");
    s.release.resolve();
    expect((await a.client.waitForOrchestration("pf-off", { timeoutMs: 10_000 })).status).toBe("Completed");
    await b.shutdown();
  });

  test("shutdown hands a prefetched activity back at once, without counting its attempt", async () => {
    const s = scenario();
    const a = await e2e.start(
      { activities: s.activities("A"), orchestrations: s.orchestrations },
      { workerConcurrency: 1, workerPrefetchHoldMs: 60_000, activityCancellationGracePeriodMs: 0 },
    );
    await a.client.startOrchestration("pf-shutdown", "Pair", null);
    await within("Block to start on A", s.blockStarted.promise);
    await within("A to claim Quick ahead (no activity left queued)", workerQueueEmpty(a.client));
    await a.shutdown();
    const b = await e2e.start({ activities: s.activities("B"), orchestrations: s.orchestrations }, { workerConcurrency: 2 }, a.provider);
    // Within the 60 s hold, only the hand-back at shutdown explains B getting Quick; attempt 1 shows it was not counted.
    expect(await within("Quick to run on B", s.quickRan.promise, 10_000)).toBe("B:1");
    s.release.resolve();
    expect((await b.client.waitForOrchestration("pf-shutdown", { timeoutMs: 15_000 })).status).toBe("Completed");
  });
});

test("workerPrefetch must be a boolean and workerPrefetchHoldMs a positive integer", async () => {
  const { resolveRuntimeOptions } = await import("../../src/runtime/options.ts");
  expect(resolveRuntimeOptions({}).workerPrefetch).toBe(true);
  expect(resolveRuntimeOptions({}).workerPrefetchHoldMs).toBe(1000);
  expect(() => resolveRuntimeOptions({ workerPrefetch: "yes" as never })).toThrow(ConfigurationError);
  expect(() => resolveRuntimeOptions({ workerPrefetch: "yes" as never })).toThrow(/workerPrefetch must be a boolean/);
  expect(() => resolveRuntimeOptions({ workerPrefetchHoldMs: 0 })).toThrow(/workerPrefetchHoldMs/);
});
