// InstrumentedProvider (src/providers/instrumented-provider.ts, docs/runtime-semantics.md §9.2/§9.4):
// the wrapper the dispatchers call through times and counts, and otherwise is the inner provider:
// same errors (class and kind), same capabilities, same management capability, same signal hub.
import { expect, test } from "bun:test";
import { metricValue, ProviderError } from "../../src/index.ts";
import { instanceSignals } from "../../src/instance-signals.ts";
import { MemoryProvider } from "../../src/providers/memory.ts";
import { InstrumentedProvider } from "../../src/providers/instrumented-provider.ts";
import { RuntimeMetrics } from "../../src/runtime/metrics/runtime-metrics.ts";

const newMetrics = () => new RuntimeMetrics({ enabled: true, maxLabelSets: 10 });

test("an inner provider's error comes out as the same object, its kind counted", async () => {
  const inner = await MemoryProvider.create();
  const metrics = newMetrics();
  const p = new InstrumentedProvider(inner, metrics);
  const lost = ProviderError.lockLost("renewWorkItemLock", "gone (test)");
  inner.renewWorkItemLock = async () => {
    throw lost;
  };
  const err = await p.renewWorkItemLock("t", 1_000).catch((e: unknown) => e);
  expect(err).toBe(lost);
  const snap = metrics.snapshot();
  expect(metricValue(snap, "duroxide_provider_errors_total", { operation: "renewWorkItemLock", error_type: "LockLost" })).toBe(1);
  expect(metricValue(snap, "duroxide_lock_losses_total", { lock: "activity" })).toBe(1);
  inner.close();
});

test("name, capabilities, management capability and instance signals are the inner provider's", async () => {
  const inner = await MemoryProvider.create();
  const p = new InstrumentedProvider(inner, newMetrics());
  expect(p.name()).toBe(inner.name());
  expect(p.capabilities?.()).toEqual(inner.capabilities?.());
  expect(p.asManagementCapability()).not.toBeNull();
  // A client waiting on the user's provider is woken by a commit the runtime signals on the wrapper.
  const waiting = instanceSignals(inner).wait("i-1", 5_000);
  instanceSignals(p).notify("i-1");
  expect(await waiting).toBe("terminal");
  inner.close();
});

test("session renewals count the sessions renewed: an idle heartbeat that renewed none counts nothing", async () => {
  const inner = await MemoryProvider.create();
  const metrics = newMetrics();
  const p = new InstrumentedProvider(inner, metrics);
  const renewed = [0, 0, 5];
  inner.renewSessionLock = async () => renewed.shift()!;
  for (let i = 0; i < 3; i++) await p.renewSessionLock(["w"], 1_000, 1_000);
  const snap = metrics.snapshot();
  expect(metricValue(snap, "duroxide_lock_renewals_total", { lock: "session" })).toBe(5);
  // Every call is still timed.
  expect(metricValue(snap, "duroxide_provider_operation_duration_seconds", { operation: "renewSessionLock", status: "success" })).toBe(3);
  inner.close();
});

test("the fetch signal reaches the inner provider (an idle long poll ends when it aborts) and releaseSessionLocks is there exactly when the inner has it", async () => {
  const inner = await MemoryProvider.create();
  const p = new InstrumentedProvider(inner, newMetrics());
  const stop = new AbortController();
  const started = performance.now();
  const polling = p.fetchWorkItem(30_000, 30_000, null, { type: "DefaultOnly" }, stop.signal);
  stop.abort();
  expect(await polling).toBeNull();
  expect(performance.now() - started).toBeLessThan(5_000); // not the 30 s poll
  const orch = new AbortController();
  const orchPoll = p.fetchOrchestrationItem(30_000, 30_000, null, orch.signal);
  orch.abort();
  expect(await orchPoll).toBeNull();
  expect(typeof p.releaseSessionLocks).toBe(typeof inner.releaseSessionLocks);
  expect(await p.releaseSessionLocks!(["nobody"])).toBe(0);
  const bare = Object.assign(Object.create(Object.getPrototypeOf(inner)), inner) as MemoryProvider;
  (bare as { releaseSessionLocks?: unknown }).releaseSessionLocks = undefined;
  expect(new InstrumentedProvider(bare, newMetrics()).releaseSessionLocks).toBeUndefined();
  inner.close();
});
