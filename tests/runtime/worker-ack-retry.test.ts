// A completion's ack that fails retryably (a database restart cut the connection) is tried again
// while the lease holds, so the finished activity is not run a second time; a permanent failure
// (the lease is gone) is not retried.
import { expect, test } from "bun:test";
import { ActivityRegistry, Client, OrchestrationRegistry, ProviderError, Runtime } from "../../src/index.ts";
import { MemoryProvider } from "../../src/providers/memory.ts";

async function run(failures: ProviderError[]): Promise<{ runs: number; acks: number; status: string }> {
  const provider = await MemoryProvider.create();
  const queue = [...failures];
  let acks = 0;
  const ackWorkItem = provider.ackWorkItem.bind(provider);
  provider.ackWorkItem = async (token, completion) => {
    acks++;
    const failure = queue.shift();
    if (failure !== undefined) throw failure;
    return ackWorkItem(token, completion);
  };
  let runs = 0;
  const activities = ActivityRegistry.builder()
    .register("Once", async () => {
      runs++;
      return "done";
    })
    .build();
  const orchestrations = OrchestrationRegistry.builder()
    .register("One", function* (ctx) {
      return yield* ctx.scheduleActivity<string>("Once", null);
    })
    .build();
  const rt = await Runtime.start(provider, activities, orchestrations, { logLevel: "off", workerLockTimeoutMs: 5_000 });
  const client = new Client(provider);
  await client.startOrchestration("ack-retry", "One", null);
  const s = await client.waitForOrchestration("ack-retry", { timeoutMs: 10_000 });
  await rt.shutdown();
  provider.close();
  return { runs, acks, status: s.status };
}

test("two retryable ack failures: the ack is tried again and the activity runs once", async () => {
  const r = await run([ProviderError.unavailable("ackWorkItem", "connection reset"), ProviderError.unavailable("ackWorkItem", "connection reset")]);
  expect(r).toEqual({ runs: 1, acks: 3, status: "Completed" });
});

test("a permanent ack failure (lease lost) is not retried: the item is redelivered when its lease expires", async () => {
  const r = await run([ProviderError.lockLost("ackWorkItem", "lease gone")]);
  expect(r.acks).toBe(2); // the lost one, then the redelivered run's
  expect(r.runs).toBe(2);
  expect(r.status).toBe("Completed");
}, 20_000);
