// FaultInjectingProvider (duroxide/testing, duroxide/provider-tests): each fault mode does what it
// says to the store, the schedule is reproducible from its seed, per-method rates and mode weights
// are honoured, options are validated, and with no faults it is a faithful Provider (the
// correctness suite passes through it, management and capabilities() are forwarded).
import { describe, expect, test } from "bun:test";
import { ConfigurationError, ProviderError } from "../../src/core/errors.ts";
import type { WorkItem } from "../../src/core/work-items.ts";
import { instanceSignals } from "../../src/instance-signals.ts";
import type { Provider } from "../../src/provider.ts";
import { modules, registerModules } from "../../src/provider-tests/index.ts";
import { MemoryProvider, memorySuiteFactory } from "../../src/providers/memory.ts";
import { SqliteProvider } from "../../src/providers/sqlite.ts";
import { FaultInjectingProvider as FromTesting } from "../../src/testing.ts";
import { FaultInjectingProvider as FromProviderTests } from "../../src/provider-tests/index.ts";
import { FaultInjectingProvider, type FaultInjectingOptions } from "../../src/testing/fault-injecting-provider.ts";

const start = (instance: string): WorkItem => ({ type: "StartOrchestration", instance, orchestration: "Flow", input: "null", version: null, parent_instance: null, parent_id: null, execution_id: 1 });

async function orchestratorDepth(p: Provider): Promise<number> {
  return (await p.asManagementCapability()!.getQueueDepths()).orchestrator_queue;
}

/** Outcome of one call: "ok", or the kind of failure. */
async function outcome(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return "ok";
  } catch (err) {
    if (err instanceof ProviderError) return err.retryable ? `retryable:${err.kind}` : `permanent:${err.kind}`;
    return err instanceof Error ? "plain" : "other";
  }
}

describe("FaultInjectingProvider fault modes", () => {
  test("retryable-before: a retryable Unavailable error and the store is untouched", async () => {
    const inner = await SqliteProvider.inMemory();
    const p = new FaultInjectingProvider(inner, { rates: { enqueueForOrchestrator: 1 }, modes: ["retryable-before"], seed: 1 });
    const err = await p.enqueueForOrchestrator(start("a")).catch((e) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err.kind).toBe("Unavailable");
    expect(err.retryable).toBe(true);
    expect(err.operation).toBe("enqueueForOrchestrator");
    expect(err.message).toContain("before reaching the store");
    expect(await orchestratorDepth(inner)).toBe(0);
    inner.close();
  });

  test("reply-lost: the call commits, then a retryable Unavailable error is thrown", async () => {
    const inner = await SqliteProvider.inMemory();
    const p = new FaultInjectingProvider(inner, { rates: { enqueueForOrchestrator: 1 }, modes: ["reply-lost"], seed: 1 });
    const err = await p.enqueueForOrchestrator(start("a")).catch((e) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err.retryable).toBe(true);
    expect(err.message).toContain("reply was lost");
    expect(await orchestratorDepth(inner)).toBe(1);
    // A fetch whose reply is lost keeps its lock: the item is not fetchable again until it expires.
    const fetchLost = new FaultInjectingProvider(inner, { rates: { fetchOrchestrationItem: 1 }, modes: ["reply-lost"], seed: 1 });
    expect(await outcome(fetchLost.fetchOrchestrationItem(60_000, 0))).toBe("retryable:Unavailable");
    expect(await inner.fetchOrchestrationItem(60_000, 0)).toBeNull();
    inner.close();
  });

  test("plain-error: a plain Error (not a ProviderError) and the store is untouched", async () => {
    const inner = await SqliteProvider.inMemory();
    const p = new FaultInjectingProvider(inner, { rate: 1, modes: ["plain-error"], seed: 1 });
    const err = await p.enqueueForOrchestrator(start("a")).catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(ProviderError);
    expect(String(err.message)).toContain("injected fault");
    expect(await orchestratorDepth(inner)).toBe(0);
    inner.close();
  });

  test("permanent: a non-retryable ProviderError and the store is untouched", async () => {
    const inner = await SqliteProvider.inMemory();
    const p = new FaultInjectingProvider(inner, { rate: 1, modes: ["permanent"], seed: 1 });
    const err = await p.enqueueForOrchestrator(start("a")).catch((e) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err.retryable).toBe(false);
    expect(err.kind).toBe("Internal");
    expect(await orchestratorDepth(inner)).toBe(0);
    inner.close();
  });

  test("latency: the call is delayed by latencyMs, then succeeds", async () => {
    const inner = await SqliteProvider.inMemory();
    const p = new FaultInjectingProvider(inner, { rate: 1, modes: ["latency"], latencyMs: 60, seed: 1 });
    const t0 = performance.now();
    await p.enqueueForOrchestrator(start("a"));
    expect(performance.now() - t0).toBeGreaterThanOrEqual(55);
    expect(await orchestratorDepth(inner)).toBe(1);
    inner.close();
  });
});

describe("FaultInjectingProvider schedule", () => {
  const schedule = async (options: FaultInjectingOptions, calls = 300): Promise<string[]> => {
    const inner = await MemoryProvider.create();
    const p = new FaultInjectingProvider(inner, options);
    const out: string[] = [];
    for (let i = 0; i < calls; i++) out.push(await outcome(p.read("x")));
    return out;
  };

  test("the same seed gives the same faults; another seed gives others", async () => {
    const options: FaultInjectingOptions = { rate: 0.3, modes: ["retryable-before", "permanent", "plain-error"], seed: 7 };
    const a = await schedule(options);
    expect(await schedule(options)).toEqual(a);
    expect(await schedule({ ...options, seed: 8 })).not.toEqual(a);
  });

  test("each method has its own stream: calls of other methods in between do not change a method's faults", async () => {
    const alone = await schedule({ rate: 0.3, seed: 11 }, 100);
    const inner = await MemoryProvider.create();
    const p = new FaultInjectingProvider(inner, { rate: 0.3, seed: 11 });
    const mixed: string[] = [];
    for (let i = 0; i < 100; i++) {
      await outcome(p.getKvValue("x", "k"));
      mixed.push(await outcome(p.read("x")));
    }
    expect(mixed).toEqual(alone);
  });

  test("the rate is the share of calls faulted; modes are drawn by weight", async () => {
    const out = await schedule({ rate: 0.2, modes: { "retryable-before": 3, permanent: 1 }, seed: 3 }, 2_000);
    const faulted = out.filter((o) => o !== "ok").length;
    expect(faulted).toBeGreaterThan(300);
    expect(faulted).toBeLessThan(500);
    const retryable = out.filter((o) => o === "retryable:Unavailable").length;
    const permanent = out.filter((o) => o === "permanent:Internal").length;
    expect(retryable + permanent).toBe(faulted);
    expect(retryable).toBeGreaterThan(permanent * 2);
  });

  test("per-method rates override the default rate; a mode of weight 0 never happens", async () => {
    const inner = await MemoryProvider.create();
    const p = new FaultInjectingProvider(inner, { rate: 1, rates: { read: 0 }, modes: { permanent: 1, "reply-lost": 0 }, seed: 1 });
    for (let i = 0; i < 20; i++) {
      expect(await outcome(p.read("x"))).toBe("ok");
      expect(await outcome(p.getKvAllValues("x"))).toBe("permanent:Internal");
    }
  });

  test("setEnabled(false) passes every call through; stats() counts calls and faults per method and mode", async () => {
    const inner = await MemoryProvider.create();
    const p = new FaultInjectingProvider(inner, { rate: 1, seed: 5 });
    expect(await outcome(p.read("x"))).toBe("retryable:Unavailable");
    p.setEnabled(false);
    expect(p.enabled).toBe(false);
    expect(await outcome(p.read("x"))).toBe("ok");
    expect(p.stats()).toEqual({
      calls: 2,
      faults: 1,
      byMode: { "retryable-before": 1, "reply-lost": 0, "plain-error": 0, permanent: 0, latency: 0 },
      byMethod: { read: { calls: 2, faults: 1 } },
    });
    expect(p.seed).toBe(5);
    expect(p.describe()).toBe("rate=1 modes=retryable-before seed=5");
  });

  test("without a seed a random one is chosen and reported, so the run can be repeated", async () => {
    const inner = await MemoryProvider.create();
    const p = new FaultInjectingProvider(inner, { rate: 0.5 });
    expect(Number.isSafeInteger(p.seed)).toBe(true);
    const again = new FaultInjectingProvider(inner, { rate: 0.5, seed: p.seed });
    for (let i = 0; i < 50; i++) expect(await outcome(again.read("x"))).toBe(await outcome(p.read("x")));
  });
});

describe("FaultInjectingProvider options are validated", () => {
  const bad: [string, unknown, RegExp][] = [
    ["rate above 1", { rate: 1.5 }, /rate must be a number from 0 to 1, got 1.5/],
    ["negative rate", { rate: -0.1 }, /rate must be a number from 0 to 1/],
    ["rate not a number", { rate: "0.1" }, /rate must be a number from 0 to 1, got "0.1"/],
    ["unknown method in rates", { rates: { fetchEverything: 0.1 } }, /"fetchEverything" is not a faultable/],
    ["bad per-method rate", { rates: { read: 2 } }, /rates.read must be a number from 0 to 1/],
    ["unknown mode", { modes: ["explode"] }, /unknown fault mode "explode"/],
    ["no modes", { modes: [] }, /at least one fault mode/],
    ["all weights 0", { modes: { latency: 0 } }, /weight > 0/],
    ["negative weight", { modes: { latency: -1 } }, /modes.latency must be a weight >= 0/],
    ["negative latency", { latencyMs: -5 }, /latencyMs must be a number of ms >= 0/],
    ["inverted latency range", { latencyMs: [50, 10] }, /max < min/],
    ["fractional seed", { seed: 1.5 }, /seed must be an integer/],
    ["unknown option", { rat: 0.1 }, /unknown option "rat"/],
    ["options not an object", 0.1, /options must be an object/],
  ];
  for (const [what, options, message] of bad) {
    test(`refuses ${what} with a ConfigurationError saying what is wrong`, async () => {
      const inner = await MemoryProvider.create();
      const make = () => new FaultInjectingProvider(inner, options as FaultInjectingOptions);
      expect(make).toThrow(ConfigurationError);
      expect(make).toThrow(message);
    });
  }

  test("refuses to wrap something that is not a Provider, naming what it lacks", () => {
    expect(() => new FaultInjectingProvider(null as unknown as Provider)).toThrow(/must be a Provider to wrap/);
    expect(() => new FaultInjectingProvider({ name: () => "x" } as unknown as Provider)).toThrow(/lacks enqueueForOrchestrator/);
  });

  test("setEnabled refuses a non-boolean", async () => {
    const p = new FaultInjectingProvider(await MemoryProvider.create());
    expect(() => p.setEnabled("no" as unknown as boolean)).toThrow(ConfigurationError);
  });
});

describe("FaultInjectingProvider forwards what it does not fault", () => {
  test("exported from duroxide/testing and duroxide/provider-tests", () => {
    expect(FromTesting).toBe(FaultInjectingProvider);
    expect(FromProviderTests).toBe(FaultInjectingProvider);
  });

  test("management: the inner admin behind the same plan (its methods have their own rates); null when the inner has none", async () => {
    const inner = await SqliteProvider.inMemory();
    await inner.enqueueForOrchestrator(start("a"));
    const p = new FaultInjectingProvider(inner, { rates: { getQueueDepths: 1 }, seed: 1 });
    const admin = p.asManagementCapability();
    expect(admin).not.toBeNull();
    expect(p.asManagementCapability()).toBe(admin!);
    expect(await admin!.listInstances()).toEqual([]);
    expect(await outcome(admin!.getQueueDepths())).toBe("retryable:Unavailable");
    const bare = new Proxy(inner, { get: (t, k) => (k === "asManagementCapability" ? () => null : Reflect.get(t, k, t)) });
    expect(new FaultInjectingProvider(bare).asManagementCapability()).toBeNull();
    inner.close();
  });

  test("capabilities() is the inner provider's; absent when the inner declares none", async () => {
    const inner = await SqliteProvider.inMemory();
    expect(new FaultInjectingProvider(inner).capabilities!()).toEqual(inner.capabilities());
    const bare = new Proxy(inner, { get: (t, k) => (k === "capabilities" ? undefined : Reflect.get(t, k, t)) });
    expect(new FaultInjectingProvider(bare).capabilities).toBeUndefined();
    inner.close();
  });

  test("a runtime on the wrapper and a client on the inner provider share in-process signals", async () => {
    const inner = await MemoryProvider.create();
    const p = new FaultInjectingProvider(inner);
    expect(instanceSignals(p)).toBe(instanceSignals(inner));
    const woken = instanceSignals(inner).wait("i1", 5_000);
    instanceSignals(p).notify("i1");
    expect(await woken).toBe("terminal");
  });

  test("name() marks the wrapper; version() and close() are the inner provider's", async () => {
    const inner = await SqliteProvider.inMemory();
    const p = new FaultInjectingProvider(inner, { rate: 1 });
    expect(p.name()).toBe(`${inner.name()}+faults`);
    expect(p.version()).toBe(inner.version());
    await p.close();
    expect(await outcome(inner.read("x"))).toBe("permanent:Closed");
  });
});

// With no faults the wrapper is a faithful Provider: the correctness suite's modules that run in
// about a second pass through it (the whole suite takes half a minute, waiting on lock expiries,
// delayed visibility and polls: the inner provider's clock, which the wrapper does not touch).
const inner = memorySuiteFactory();
await registerModules(
  [modules.atomicity, modules.instanceCreation, modules.multiExecution, modules.management, modules.customStatus, modules.kvStore, modules.capabilities, modules.deletion],
  {
    createProvider: async () => new FaultInjectingProvider(await inner.createProvider(), { rate: 0 }),
    corruptInstanceHistory: (id) => inner.corruptInstanceHistory(id),
    getMaxAttemptCount: (id) => inner.getMaxAttemptCount(id),
  },
);
