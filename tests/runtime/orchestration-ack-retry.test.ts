// An orchestration ack that committed but lost its reply fails retryably; its retry then finds the
// lock released (LockLost). That is the expected outcome of a committed first try, not an error:
// it is logged at info, never at error (docs/runtime-semantics.md §1.4.1 step 9).
import { expect, test } from "bun:test";
import { ActivityRegistry, Client, OrchestrationRegistry, ProviderError, Runtime } from "../../src/index.ts";
import { MemoryProvider } from "../../src/providers/memory.ts";
import type { LogLevel } from "../../src/runtime/options.ts";

test("ackOrchestrationItem: a lock gone on the retry of an ack whose reply was lost is logged at info, not error", async () => {
  const provider = await MemoryProvider.create();
  const ack = provider.ackOrchestrationItem.bind(provider);
  let acks = 0;
  provider.ackOrchestrationItem = async (...args) => {
    acks++;
    const result = await ack(...args);
    if (acks === 1) throw ProviderError.unavailable("ackOrchestrationItem", "connection reset after commit");
    return result;
  };
  const lines: { level: LogLevel; message: string }[] = [];
  const orchestrations = OrchestrationRegistry.builder()
    .register("Quick", function* () {
      return "done";
    })
    .build();
  const rt = await Runtime.start(provider, ActivityRegistry.builder().build(), orchestrations, {
    logLevel: "debug",
    logger: { log: (level, message) => void lines.push({ level, message }) },
    dispatcherPollIntervalMs: 20,
  });
  try {
    const client = new Client(provider);
    await client.startOrchestration("lost-reply", "Quick", null);
    expect(await client.waitForOrchestration("lost-reply", { timeoutMs: 5_000 })).toMatchObject({ status: "Completed", output: "done" });
    // The retry's outcome is logged by the commit that is still finishing: wait for its line.
    for (let i = 0; i < 100 && acks < 2; i++) await Bun.sleep(10);
    await rt.shutdown();
    expect(acks).toBe(2);
    expect(lines.filter((l) => l.level === "error")).toEqual([]);
    expect(lines.some((l) => l.level === "info" && l.message.includes("lost-reply") && l.message.includes("most likely committed"))).toBe(true);
  } finally {
    await rt.shutdown();
    provider.close();
  }
});
