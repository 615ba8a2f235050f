// runtime.metrics() under real trouble (docs/runtime-semantics.md §9.2): a turn whose ack fails and
// is redone, a poisoned batch, an OpenTelemetry Meter whose instruments throw, and a user logger
// that throws (§10). Every count below is known exactly from the scenario.
import { expect, spyOn, test } from "bun:test";
import { ActivityRegistry, Client, ConfigurationError, OrchestrationRegistry, ProviderError, Runtime, metricValue } from "../../src/index.ts";
import { MemoryProvider } from "../../src/providers/memory.ts";
import type { Event } from "../../src/core/events.ts";

const OPTS = { logLevel: "off" as const, dispatcherPollIntervalMs: 10, orchestrationConcurrency: 1, workerConcurrency: 1 };

/**
 * Makes `ackOrchestrationItem` of `provider` fail while `failWhen(ackNumber, delta)` says so, the
 * way a lost lock fails it: the batch goes back to the queue (its delivery counted) and the ack
 * throws LockLost, so the dispatcher drops the turn and the redelivery runs it again at once.
 */
function failAcks(provider: MemoryProvider, failWhen: (ackNo: number, delta: Event[]) => boolean): { failed: () => number } {
  const ack = provider.ackOrchestrationItem.bind(provider);
  let acks = 0;
  let failed = 0;
  provider.ackOrchestrationItem = async (...args) => {
    acks++;
    if (failWhen(acks, args[2])) {
      failed++;
      await provider.abandonOrchestrationItem(args[0], null, false);
      throw ProviderError.lockLost("ackOrchestrationItem", "lock lost (test)");
    }
    return ack(...args);
  };
  return { failed: () => failed };
}

test("activity retries: a retry-scheduling turn whose ack failed and was redone counts the retry once", async () => {
  let calls = 0;
  const activities = ActivityRegistry.builder()
    .register("FlakyWork", async () => {
      if (++calls === 1) throw new Error("first attempt fails");
      return "ok";
    })
    .build();
  const orchestrations = OrchestrationRegistry.builder()
    .register("Flaky", function* (ctx) {
      return yield* ctx.scheduleActivityWithRetry<string>("FlakyWork", null, { maxAttempts: 3, backoff: { type: "None" } });
    })
    .build();
  const provider = await MemoryProvider.create();
  // Ack 1 starts the instance; ack 2 is the turn that schedules the retry: it fails, and the
  // redelivered batch runs that turn again (scheduling the same retry, not replaying it).
  const faults = failAcks(provider, (n) => n === 2);
  const rt = await Runtime.start(provider, activities, orchestrations, { ...OPTS, instanceCacheSize: 0 });
  try {
    const client = new Client(provider);
    await client.startOrchestration("flaky", "Flaky", null);
    expect(await client.waitForOrchestration("flaky", { timeoutMs: 10_000 })).toMatchObject({ status: "Completed", output: "ok" });
    expect(faults.failed()).toBe(1);
    const snap = await rt.metrics();
    // One retry was committed (the history has two ActivityScheduled); the redone turn must not count it again.
    const h = await client.readExecutionHistory("flaky");
    expect(h.filter((e) => e.type === "ActivityScheduled").length).toBe(2);
    expect(metricValue(snap, "duroxide_activity_retries_total", { activity_name: "FlakyWork" })).toBe(1);
  } finally {
    await rt.shutdown();
    provider.close();
  }
});

test("replays: a poisoned batch is failed without running the code, so it is not a replay", async () => {
  const activities = ActivityRegistry.builder().register("Work", async (_ctx, x: number) => x + 1).build();
  const orchestrations = OrchestrationRegistry.builder()
    .register("Seq", function* (ctx) {
      yield* ctx.scheduleActivity<number>("Work", 1);
      return yield* ctx.scheduleActivity<number>("Work", 2);
    })
    .build();
  const provider = await MemoryProvider.create();
  // Every ack after the first fails, unless it is the poison failure: deliveries 1..3 of turn 2 run
  // its code (replaying the history, the cache being off); delivery 4 exceeds maxAttempts 3.
  const poisoned = (delta: Event[]) => delta.some((e) => e.type === "OrchestrationFailed" && e.details.type === "Poison");
  failAcks(provider, (n, delta) => n >= 2 && !poisoned(delta));
  const rt = await Runtime.start(provider, activities, orchestrations, { ...OPTS, instanceCacheSize: 0, maxAttempts: 3 });
  try {
    const client = new Client(provider);
    await client.startOrchestration("p", "Seq", null);
    const status = await client.waitForOrchestration("p", { timeoutMs: 10_000 });
    expect(status).toMatchObject({ status: "Failed" });
    const snap = await rt.metrics();
    expect(metricValue(snap, "duroxide_orchestration_poison_total")).toBe(1);
    expect(metricValue(snap, "duroxide_orchestration_failures_total", { error_type: "poison" })).toBe(1);
    // Turns: the start, 3 deliveries that ran the code, the poison turn.
    expect(metricValue(snap, "duroxide_orchestration_turns_total")).toBe(5);
    // Replays: only the 3 deliveries that ran the code over a history.
    expect(metricValue(snap, "duroxide_orchestration_replays_total")).toBe(3);
  } finally {
    await rt.shutdown();
    provider.close();
  }
});

/** A Meter whose instruments throw on every recording (a broken exporter, say). */
function throwingMeter() {
  const boom = () => {
    throw new Error("exporter down (test)");
  };
  return {
    createCounter: () => ({ add: boom }),
    createHistogram: () => ({ record: boom }),
    createObservableGauge: () => ({ addCallback: () => {} }),
  };
}

const seqRegistries = () => ({
  activities: ActivityRegistry.builder().register("Work", async (_ctx, x: number) => x + 1).build(),
  orchestrations: OrchestrationRegistry.builder()
    .register("Seq", function* (ctx) {
      let sum = 0;
      for (let i = 0; i < 3; i++) sum += yield* ctx.scheduleActivity<number>("Work", i);
      return sum;
    })
    .build(),
});

test("metrics.meter: instruments that throw do not break turns or activities; the snapshot still counts", async () => {
  const provider = await MemoryProvider.create();
  const { activities, orchestrations } = seqRegistries();
  const warnings: string[] = [];
  const logger = { log: (level: string, message: string) => void (level === "warn" && warnings.push(message)) };
  const rt = await Runtime.start(provider, activities, orchestrations, { ...OPTS, logLevel: "warn", logger, metrics: { meter: throwingMeter() } });
  try {
    const client = new Client(provider);
    await client.startOrchestration("m", "Seq", null);
    expect(await client.waitForOrchestration("m", { timeoutMs: 5_000 })).toMatchObject({ status: "Completed", output: 6 });
    // Said once, with what to check; not once per recording.
    expect(warnings.filter((w) => w.includes("metrics.meter"))).toEqual([expect.stringMatching(/threw while recording \(exporter down \(test\)\).*check the OpenTelemetry MeterProvider/)]);
    const snap = await rt.metrics();
    expect(metricValue(snap, "duroxide_orchestration_completions_total", { status: "success" })).toBe(1);
    expect(metricValue(snap, "duroxide_activity_executions_total", { outcome: "success" })).toBe(3);
    expect(metricValue(snap, "duroxide_orchestration_turns_total")).toBe(4);
  } finally {
    await rt.shutdown();
    provider.close();
  }
});

test("metrics.meter: a Meter whose create* throws or returns no instrument is refused at start with a ConfigurationError", async () => {
  const provider = await MemoryProvider.create();
  const { activities, orchestrations } = seqRegistries();
  const start = (meter: unknown) => Runtime.start(provider, activities, orchestrations, { ...OPTS, metrics: { meter: meter as never } });
  const ok = throwingMeter();
  const throwing = start({ ...ok, createCounter: () => { throw new Error("no counters here"); } });
  await expect(throwing).rejects.toThrow(ConfigurationError);
  await expect(throwing).rejects.toThrow(/metrics\.meter\.createCounter\("duroxide_[a-z_]+"\) threw: no counters here/);
  await expect(start({ ...ok, createHistogram: () => undefined })).rejects.toThrow(/metrics\.meter\.createHistogram\("duroxide_[a-z_]+"\) returned undefined, not an instrument with record\(\)/);
  await expect(start({ ...ok, createObservableGauge: () => ({}) })).rejects.toThrow(/createObservableGauge\("duroxide_[a-z_]+"\) returned .*, not an instrument with addCallback\(\)/);
  provider.close();
});

test("a user logger that throws breaks neither orchestrations (their traces) nor activities nor the runtime's own lines", async () => {
  const provider = await MemoryProvider.create();
  const activities = ActivityRegistry.builder()
    .register("Work", async (ctx, x: number) => {
      ctx.traceInfo(`working ${x}`);
      return x + 1;
    })
    .build();
  const orchestrations = OrchestrationRegistry.builder()
    .register("Traced", function* (ctx) {
      ctx.traceInfo("start");
      const a = yield* ctx.scheduleActivity<number>("Work", 1);
      ctx.traceWarn(`got ${a}`);
      return a;
    })
    .build();
  let calls = 0;
  const logger = {
    log() {
      calls++;
      throw new Error("log sink down (test)");
    },
  };
  const stderr: string[] = [];
  const spy = spyOn(console, "error").mockImplementation((t: unknown) => void stderr.push(String(t)));
  const rt = await Runtime.start(provider, activities, orchestrations, { ...OPTS, logLevel: "debug", logger });
  try {
    const client = new Client(provider);
    await client.startOrchestration("t", "Traced", null);
    expect(await client.waitForOrchestration("t", { timeoutMs: 5_000 })).toMatchObject({ status: "Completed", output: 2 });
    expect(calls).toBeGreaterThanOrEqual(3);
    // The broken logger is reported once, on stderr, with what to fix.
    expect(stderr).toEqual([expect.stringMatching(/the logger threw \(log sink down \(test\)\) and its line was dropped; fix the logger/)]);
  } finally {
    spy.mockRestore();
    await rt.shutdown();
    provider.close();
  }
});
