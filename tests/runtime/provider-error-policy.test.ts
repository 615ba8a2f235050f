// The runtime's side of the provider error policy (docs/provider-contract.md §9): whatever a
// provider throws is classified as ProviderError.from would; only LockLost / NotFound means a
// lease or row is gone. A permanent failure that is not about the item (a read-only or corrupt
// store) must neither cancel running work nor drop a finished result silently.
import { expect, test } from "bun:test";
import { ActivityRegistry, Client, ClientError, OrchestrationRegistry, ProviderError, Runtime } from "../../src/index.ts";
import { keepLeaseAlive } from "../../src/runtime/lease-renewal.ts";
import { MemoryProvider } from "../../src/providers/memory.ts";

/** Resolves on the n-th call of the returned function. */
function counter(n: number): { hit: () => void; reached: Promise<void>; count: () => number } {
  let c = 0;
  let resolve!: () => void;
  const reached = new Promise<void>((r) => (resolve = r));
  return { hit: () => void (++c >= n && resolve()), reached, count: () => c };
}

test("keepLeaseAlive: a permanent failure that is not LockLost is reported and renewal goes on; LockLost ends it and tells the work", async () => {
  const calls = counter(3);
  let lost: ProviderError | null = null;
  const reported: string[] = [];
  let n = 0;
  const lease = keepLeaseAlive({
    operation: "renewWorkItemLock",
    everyMs: 15,
    renew: async () => {
      n++;
      calls.hit();
      if (n <= 2) throw new ProviderError("Internal", "renewWorkItemLock", "attempt to write a readonly database", { retryable: false });
      throw ProviderError.lockLost("renewWorkItemLock", "lock gone");
    },
    onRetryable: (pe) => reported.push(pe.kind),
    onLost: (pe) => (lost = pe),
  });
  try {
    await calls.reached;
    await Bun.sleep(60); // a lost lease: no further renewal may happen
    expect(reported).toEqual(["Internal", "Internal"]);
    expect(lost).not.toBeNull();
    expect(lost!.kind).toBe("LockLost");
    expect(n).toBe(3);
  } finally {
    lease.stop();
  }
});

test("keepLeaseAlive: Closed ends renewal quietly (the runtime is shutting down), without telling the work its lease is lost", async () => {
  const calls = counter(1);
  let lost = false;
  let n = 0;
  const lease = keepLeaseAlive({
    operation: "renewOrchestrationItemLock",
    everyMs: 15,
    renew: async () => {
      n++;
      calls.hit();
      throw ProviderError.closed("renewOrchestrationItemLock");
    },
    onRetryable: () => {},
    onLost: () => (lost = true),
  });
  await calls.reached;
  await Bun.sleep(60);
  lease.stop();
  expect(lost).toBe(false);
  expect(n).toBe(1);
});

test("a worker ack that fails permanently (not LockLost) is logged as an error and the item goes back to the queue: the activity runs again and the instance completes", async () => {
  const provider = await MemoryProvider.create();
  const ack = provider.ackWorkItem.bind(provider);
  let acks = 0;
  provider.ackWorkItem = async (token, completion) => {
    acks++;
    if (acks === 1) throw new ProviderError("Internal", "ackWorkItem", "attempt to write a readonly database", { retryable: false });
    return ack(token, completion);
  };
  const abandon = provider.abandonWorkItem.bind(provider);
  let abandons = 0;
  provider.abandonWorkItem = async (...args) => {
    abandons++;
    return abandon(...args);
  };
  const errors: string[] = [];
  let runs = 0;
  const activities = ActivityRegistry.builder().register("Work", async () => ++runs).build();
  const orchestrations = OrchestrationRegistry.builder()
    .register("One", function* (ctx) {
      return yield ctx.scheduleActivity("Work", null);
    })
    .build();
  const rt = await Runtime.start(provider, activities, orchestrations, {
    logger: { log: (level: string, message: string) => void (level === "error" && errors.push(message)) },
    dispatcherPollIntervalMs: 20,
  } as never);
  try {
    const client = new Client(provider);
    await client.startOrchestration("ro", "One", null);
    const s = await client.waitForOrchestration("ro", { timeoutMs: 10_000 });
    expect(s.status).toBe("Completed");
    expect(runs).toBe(2); // the first result could not be stored: the item ran again
    expect(abandons).toBeGreaterThanOrEqual(1);
    expect(errors.some((m) => m.includes("failed permanently") && m.includes("readonly"))).toBe(true);
  } finally {
    await rt.shutdown();
    provider.close();
  }
}, 15_000);

test("Client: a provider that throws a plain Error (not a ProviderError) gives a retryable ClientError \"Provider\" naming the operation", async () => {
  const provider = await MemoryProvider.create();
  provider.enqueueForOrchestrator = async () => {
    throw new Error("socket hang up");
  };
  const err = await new Client(provider).startOrchestration("x", "One", null).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ClientError);
  const ce = err as ClientError;
  expect(ce.code).toBe("Provider");
  expect(ce.retryable).toBe(true);
  expect(ce.message).toContain("socket hang up");
  expect(ce.message).toContain("startOrchestration");
  provider.close();
});

test("ProviderError: superseded marks a LockLost whose batch the provider sent back itself; it is refused on any other kind", () => {
  expect(new ProviderError("LockLost", "ackOrchestrationItem", "sent back", { superseded: true }).superseded).toBe(true);
  expect(ProviderError.lockLost("ackOrchestrationItem", "lapsed").superseded).toBe(false);
  expect(() => new ProviderError("Unavailable", "ackOrchestrationItem", "x", { superseded: true })).toThrow("superseded applies to LockLost only");
});
