// Both dispatchers renew their lease until the work ends (docs/runtime-semantics.md §6, "Renewal
// interval"). A retryable renewal failure (a connection blip) must neither end the renewals nor
// wait a whole interval to try again: the lease would lapse under work that is merely slow, and
// the work would run a second time.
import { expect, test } from "bun:test";
import { ActivityRegistry, Client, OrchestrationRegistry, ProviderError, Runtime } from "../../src/index.ts";
import { MemoryProvider } from "../../src/providers/memory.ts";

test("renewOrchestrationItemLock: a retryable failure does not stop the renewals, so a slow ack keeps its lock and the turn runs once", async () => {
  const provider = await MemoryProvider.create();
  const renew = provider.renewOrchestrationItemLock.bind(provider);
  let renewals = 0;
  let renewedAfterFailure = 0;
  provider.renewOrchestrationItemLock = async (token, ms) => {
    renewals++;
    if (renewals === 1) throw ProviderError.unavailable("renewOrchestrationItemLock", "connection reset");
    renewedAfterFailure++;
    return renew(token, ms);
  };
  // The first ack takes 2.5 lock lifetimes (a slow commit): only renewal keeps the lock meanwhile.
  const ack = provider.ackOrchestrationItem.bind(provider);
  let acks = 0;
  provider.ackOrchestrationItem = async (...args) => {
    acks++;
    if (acks === 1) await Bun.sleep(2_500);
    return ack(...args);
  };
  let runs = 0;
  const orchestrations = OrchestrationRegistry.builder()
    .register("Quick", function* () {
      runs++;
      return "done";
    })
    .build();
  const rt = await Runtime.start(provider, ActivityRegistry.builder().build(), orchestrations, {
    logLevel: "off",
    orchestratorLockTimeoutMs: 1_000,
    dispatcherPollIntervalMs: 20,
  });
  try {
    const client = new Client(provider);
    await client.startOrchestration("slow-ack", "Quick", null);
    const s = await client.waitForOrchestration("slow-ack", { timeoutMs: 10_000 });
    expect(s).toMatchObject({ status: "Completed", output: "done" });
    expect(renewedAfterFailure).toBeGreaterThanOrEqual(2); // renewing went on after the failed one
    expect(runs).toBe(1); // the lock never lapsed: no second delivery re-ran the turn
    expect(acks).toBe(1);
  } finally {
    await rt.shutdown();
    provider.close();
  }
}, 15_000);

test("renewWorkItemLock: a retryable failure is retried before the lease lapses, so a long activity runs once", async () => {
  const provider = await MemoryProvider.create();
  const renew = provider.renewWorkItemLock.bind(provider);
  let renewals = 0;
  provider.renewWorkItemLock = async (token, ms) => {
    renewals++;
    if (renewals === 1) throw ProviderError.unavailable("renewWorkItemLock", "connection reset");
    return renew(token, ms);
  };
  let runs = 0;
  const activities = ActivityRegistry.builder()
    .register("Long", async () => {
      runs++;
      await Bun.sleep(2_500); // 2.5 lease lifetimes
      return "long done";
    })
    .build();
  const orchestrations = OrchestrationRegistry.builder()
    .register("RunsLong", function* (ctx) {
      return yield* ctx.scheduleActivity("Long", null);
    })
    .build();
  const rt = await Runtime.start(provider, activities, orchestrations, {
    logLevel: "off",
    workerLockTimeoutMs: 1_000,
    workerLockRenewalBufferMs: 500,
    sessionIdleTimeoutMs: 10_000,
    dispatcherPollIntervalMs: 20,
  });
  try {
    const client = new Client(provider);
    await client.startOrchestration("long-activity", "RunsLong", null);
    expect(await client.waitForOrchestration("long-activity", { timeoutMs: 10_000 })).toMatchObject({ status: "Completed", output: "long done" });
    expect(runs).toBe(1); // the lease held: the activity was neither redelivered nor cancelled
    expect(renewals).toBeGreaterThanOrEqual(3);
  } finally {
    await rt.shutdown();
    provider.close();
  }
}, 15_000);
