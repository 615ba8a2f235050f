// The dispatcher and the instance cache (docs/runtime-semantics.md §2.12): a live state is cached
// only after its ack succeeded, and a failed ack forgets it before the batch is redelivered, so
// the redelivery replays in full; Runtime.instanceCacheStats() reports what happened.
import { expect, test } from "bun:test";
import { ActivityRegistry, Client, OrchestrationRegistry, ProviderError, Runtime } from "../../src/index.ts";
import { MemoryProvider } from "../../src/providers/memory.ts";

const activities = ActivityRegistry.builder().register("Work", async (_ctx, x: number) => x + 1).build();
const orchestrations = OrchestrationRegistry.builder()
  .register("Seq", function* (ctx, n: number) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += yield* ctx.scheduleActivity<number>("Work", i);
    return sum;
  })
  .build();
const OPTS = { logLevel: "off" as const, dispatcherPollIntervalMs: 10, orchestrationConcurrency: 1, workerConcurrency: 1 };

test("instanceCacheStats: every turn after the first resumes from the cache", async () => {
  const provider = await MemoryProvider.create();
  const rt = await Runtime.start(provider, activities, orchestrations, { ...OPTS, instanceCacheSize: 4 });
  try {
    const client = new Client(provider);
    await client.startOrchestration("seq", "Seq", 10);
    expect(await client.waitForOrchestration("seq", { timeoutMs: 5_000 })).toMatchObject({ status: "Completed", output: 55 });
    // Turns: start (a new execution: nothing to look up), then 10 completions, one each, all resumed.
    expect(rt.instanceCacheStats()).toMatchObject({ hits: 10, misses: 0, invalidations: 0, size: 0, capacity: 4 });
  } finally {
    await rt.shutdown();
    provider.close();
  }
});

test("a failed ack leaves no cached state: the redelivered batch replays in full and the orchestration ends right", async () => {
  const provider = await MemoryProvider.create();
  const ack = provider.ackOrchestrationItem.bind(provider);
  let acks = 0;
  let failed = 0;
  provider.ackOrchestrationItem = async (...args) => {
    acks++;
    // The 4th turn's ack fails every retry (not committed): the dispatcher abandons the batch.
    if (acks >= 4 && failed < 6) {
      failed++;
      throw ProviderError.unavailable("ackOrchestrationItem", "store unavailable (test)");
    }
    return ack(...args);
  };
  const rt = await Runtime.start(provider, activities, orchestrations, { ...OPTS, instanceCacheSize: 4 });
  try {
    const client = new Client(provider);
    await client.startOrchestration("seq-fail", "Seq", 6);
    expect(await client.waitForOrchestration("seq-fail", { timeoutMs: 10_000 })).toMatchObject({ status: "Completed", output: 21 });
    expect(failed).toBe(6);
    const stats = rt.instanceCacheStats();
    // The redelivery after the failed ack found nothing cached: the one miss.
    expect(stats.misses).toBe(1);
    expect(stats.invalidations).toBe(0);
    // Resumed: completions 1-3 (the 3rd is the turn whose ack failed) and 4-6 after the redelivery.
    expect(stats.hits).toBe(6);
    const h = await client.readExecutionHistory("seq-fail");
    expect(h.filter((e) => e.type === "ActivityScheduled").length).toBe(6);
  } finally {
    await rt.shutdown();
    provider.close();
  }
});

test("with the cache on, resumed code runs each step once: isReplaying() stays false and every trace line is logged once", async () => {
  const provider = await MemoryProvider.create();
  const seen: [string, boolean][] = [];
  const traces: string[] = [];
  const observer = OrchestrationRegistry.builder()
    .register("Observer", function* (ctx) {
      seen.push(["start", ctx.isReplaying()]);
      ctx.traceInfo("step start");
      yield* ctx.scheduleActivity("Work", 1);
      seen.push(["afterA", ctx.isReplaying()]);
      ctx.traceInfo("step A");
      yield* ctx.scheduleActivity("Work", 2);
      seen.push(["afterB", ctx.isReplaying()]);
      ctx.traceInfo("step B");
      return "done";
    })
    .build();
  const rt = await Runtime.start(provider, activities, observer, {
    ...OPTS,
    logLevel: "info",
    logger: { log: (_level, message) => void (message.startsWith("step ") && traces.push(message)) },
    instanceCacheSize: 4,
  });
  try {
    const client = new Client(provider);
    await client.startOrchestration("obs", "Observer", null);
    expect(await client.waitForOrchestration("obs", { timeoutMs: 5_000 })).toMatchObject({ status: "Completed", output: "done" });
    // Without the cache the code re-runs from the top each turn (start true, afterA true, ...: §2.10).
    expect(seen).toEqual([
      ["start", false],
      ["afterA", false],
      ["afterB", false],
    ]);
    expect(traces).toEqual(["step start", "step A", "step B"]);
  } finally {
    await rt.shutdown();
    provider.close();
  }
});
