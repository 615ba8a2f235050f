// runtime.metrics() (docs/runtime-semantics.md §9): the counters of a run whose counts are known,
// the instance-cache and replay counters, the label-set cap, metrics: false, and the OTel hookup.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ActivityRegistry, Client, ConfigurationError, OrchestrationRegistry, Runtime, metricValue, type MetricsSnapshot } from "../../src/index.ts";
import { MemoryProvider } from "../../src/providers/memory.ts";
import { RuntimeMetrics } from "../../src/runtime/metrics/runtime-metrics.ts";
import type { WorkItemOf } from "../../src/core/work-items.ts";

const OPTS = { logLevel: "off" as const, dispatcherPollIntervalMs: 10, orchestrationConcurrency: 1, workerConcurrency: 1 };

function registries() {
  let flakyCalls = 0;
  const activities = ActivityRegistry.builder()
    .register("Work", async (_ctx, x: number) => x + 1)
    .register("FlakyWork", async () => {
      if (++flakyCalls === 1) throw new Error("first attempt fails");
      return "ok";
    })
    .build();
  const orchestrations = OrchestrationRegistry.builder()
    // Three sequential activities: exactly 4 turns (start + one per completion).
    .register("Seq3", function* (ctx) {
      let sum = 0;
      for (let i = 0; i < 3; i++) sum += yield* ctx.scheduleActivity<number>("Work", i);
      return sum;
    })
    // One failed attempt, one retry (no backoff timer): 3 turns.
    .register("Flaky", function* (ctx) {
      return yield* ctx.scheduleActivityWithRetry<string>("FlakyWork", null, { maxAttempts: 3, backoff: { type: "None" } });
    })
    // Execution 1 continues as new, execution 2 completes: one turn each.
    .register("Looper", function* (ctx, n: number) {
      if (n < 1) return yield* ctx.continueAsNew(n + 1);
      return n;
    })
    .register("Failer", function* () {
      throw new Error("boom");
    })
    .build();
  return { activities, orchestrations };
}

async function runKnownWorkload(options: Record<string, unknown>): Promise<{ snap: MetricsSnapshot; rt: Runtime; provider: MemoryProvider }> {
  const provider = await MemoryProvider.create();
  const { activities, orchestrations } = registries();
  const rt = await Runtime.start(provider, activities, orchestrations, { ...OPTS, ...options });
  const client = new Client(provider);
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    await client.startOrchestration(`seq-${i}`, "Seq3", null);
    ids.push(`seq-${i}`);
  }
  await client.startOrchestration("flaky", "Flaky", null);
  await client.startOrchestration("looper", "Looper", 0);
  await client.startOrchestration("failer", "Failer", null);
  ids.push("flaky", "looper", "failer");
  for (const id of ids) await client.waitForOrchestration(id, { timeoutMs: 10_000 });
  return { snap: await rt.metrics(), rt, provider };
}

describe("runtime.metrics() on a run with known counts", () => {
  let snap: MetricsSnapshot;
  let rt: Runtime;
  let provider: MemoryProvider;
  beforeAll(async () => {
    ({ snap, rt, provider } = await runKnownWorkload({ instanceCacheSize: 0 }));
  });
  afterAll(async () => {
    await rt.shutdown();
    provider.close();
  });
  const v = (name: string, labels: Record<string, string> = {}) => metricValue(snap, name, labels);

  test("orchestration starts, completions, failures and continue-as-new", () => {
    expect(snap.enabled).toBe(true);
    expect(v("duroxide_orchestration_starts_total", { orchestration_name: "Seq3", initiated_by: "client" })).toBe(5);
    expect(v("duroxide_orchestration_starts_total", { orchestration_name: "Looper", initiated_by: "client" })).toBe(1);
    expect(v("duroxide_orchestration_starts_total", { orchestration_name: "Looper", initiated_by: "continueAsNew" })).toBe(1);
    expect(v("duroxide_orchestration_starts_total")).toBe(9);
    expect(v("duroxide_orchestration_completions_total", { orchestration_name: "Seq3", status: "success" })).toBe(5);
    expect(v("duroxide_orchestration_completions_total", { orchestration_name: "Flaky", status: "success" })).toBe(1);
    expect(v("duroxide_orchestration_completions_total", { orchestration_name: "Looper", status: "continuedAsNew" })).toBe(1);
    expect(v("duroxide_orchestration_completions_total", { orchestration_name: "Looper", status: "success" })).toBe(1);
    expect(v("duroxide_orchestration_completions_total", { orchestration_name: "Failer", status: "failed" })).toBe(1);
    expect(v("duroxide_orchestration_completions_total")).toBe(9);
    expect(v("duroxide_orchestration_failures_total", { orchestration_name: "Failer", error_type: "app_error" })).toBe(1);
    expect(v("duroxide_orchestration_failures_total")).toBe(1);
    expect(v("duroxide_orchestration_continue_as_new_total", { orchestration_name: "Looper" })).toBe(1);
    expect(v("duroxide_orchestration_poison_total")).toBe(0);
    // Histograms count one observation per ended execution.
    expect(v("duroxide_orchestration_duration_seconds", { orchestration_name: "Seq3", status: "success" })).toBe(5);
    expect(v("duroxide_orchestration_history_size", { orchestration_name: "Seq3" })).toBe(5);
  });

  test("turns, turn durations and replays (instance cache off: every later turn replays)", () => {
    // Seq3 4 x 5, Flaky 3, Looper 1 + 1, Failer 1.
    expect(v("duroxide_orchestration_turns_total", { orchestration_name: "Seq3" })).toBe(20);
    expect(v("duroxide_orchestration_turns_total", { orchestration_name: "Flaky" })).toBe(3);
    expect(v("duroxide_orchestration_turns_total")).toBe(26);
    expect(v("duroxide_orchestration_turn_duration_seconds")).toBe(26);
    // Turns minus the 9 first turns of an execution (nothing to replay).
    expect(v("duroxide_orchestration_replays_total")).toBe(17);
    expect(v("duroxide_instance_cache_hits_total")).toBe(0);
  });

  test("activity executions by outcome, retries and durations", () => {
    expect(v("duroxide_activity_executions_total", { activity_name: "Work", outcome: "success" })).toBe(15);
    expect(v("duroxide_activity_executions_total", { activity_name: "FlakyWork", outcome: "app_error" })).toBe(1);
    expect(v("duroxide_activity_executions_total", { activity_name: "FlakyWork", outcome: "success" })).toBe(1);
    expect(v("duroxide_activity_executions_total")).toBe(17);
    expect(v("duroxide_activity_retries_total", { activity_name: "FlakyWork" })).toBe(1);
    expect(v("duroxide_activity_retries_total")).toBe(1);
    expect(v("duroxide_activity_duration_seconds", { activity_name: "Work" })).toBe(15);
    expect(v("duroxide_activity_poison_total")).toBe(0);
  });

  test("provider calls by method, no errors, queues drained", () => {
    expect(v("duroxide_provider_operation_duration_seconds", { operation: "ackWorkItem", status: "success" })).toBe(17);
    expect(v("duroxide_provider_operation_duration_seconds", { operation: "ackOrchestrationItem", status: "success" })).toBe(26);
    expect(v("duroxide_provider_operation_duration_seconds", { operation: "fetchOrchestrationItem" })).toBeGreaterThanOrEqual(26);
    expect(v("duroxide_provider_errors_total")).toBe(0);
    expect(v("duroxide_orchestrator_queue_depth")).toBe(0);
    expect(v("duroxide_worker_queue_depth")).toBe(0);
  });

  test("histogram series are cumulative and end with the total count", () => {
    const m = snap.metrics.find((x) => x.name === "duroxide_activity_duration_seconds")!;
    const s = m.series.find((x) => x.labels.activity_name === "Work" && x.labels.outcome === "success")!;
    expect(s.bucketCounts!.length).toBe(m.buckets!.length + 1);
    for (let i = 1; i < s.bucketCounts!.length; i++) expect(s.bucketCounts![i]!).toBeGreaterThanOrEqual(s.bucketCounts![i - 1]!);
    expect(s.bucketCounts!.at(-1)).toBe(15);
    expect(s.sum!).toBeGreaterThan(0);
  });

  test("metricValue refuses an unknown metric name", () => {
    expect(() => v("duroxide_no_such_metric")).toThrow(/no metric named "duroxide_no_such_metric"/);
    expect(() => metricValue(snap, "duroxide_orchestration_turns_total", "Seq3" as never)).toThrow(/labels must be an object/);
    expect(() => metricValue({} as never, "x")).toThrow(/needs a snapshot/);
  });
});

test("runtime.metrics(): with the instance cache on, turns resume instead of replaying", async () => {
  const { snap, rt, provider } = await runKnownWorkload({ instanceCacheSize: 16 });
  try {
    const hits = rt.instanceCacheStats().hits;
    expect(hits).toBeGreaterThan(0);
    expect(metricValue(snap, "duroxide_instance_cache_hits_total")).toBe(hits);
    expect(metricValue(snap, "duroxide_orchestration_replays_total")).toBe(17 - hits);
  } finally {
    await rt.shutdown();
    provider.close();
  }
});

test("runtime.metrics(): metrics: false collects nothing", async () => {
  const provider = await MemoryProvider.create();
  const { activities, orchestrations } = registries();
  const rt = await Runtime.start(provider, activities, orchestrations, { ...OPTS, metrics: false });
  try {
    const client = new Client(provider);
    await client.startOrchestration("s", "Seq3", null);
    await client.waitForOrchestration("s", { timeoutMs: 5_000 });
    const snap = await rt.metrics();
    expect(snap).toMatchObject({ enabled: false, metrics: [] });
  } finally {
    await rt.shutdown();
    provider.close();
  }
});

test("RuntimeOptions.metrics is validated", async () => {
  const provider = await MemoryProvider.create();
  const { activities, orchestrations } = registries();
  const start = (metrics: unknown) => Runtime.start(provider, activities, orchestrations, { ...OPTS, metrics: metrics as never });
  await expect(start("yes")).rejects.toThrow(ConfigurationError);
  await expect(start({ maxLabelSets: 0 })).rejects.toThrow(/metrics.maxLabelSets must be a positive integer/);
  await expect(start({ meter: {} })).rejects.toThrow(/lacks createCounter, createHistogram, createObservableGauge/);
  await expect(start({ colour: true })).rejects.toThrow(/unknown metrics key "colour"/);
  provider.close();
});

test("activity label sets past maxLabelSets share the __other__ series", () => {
  const m = new RuntimeMetrics({ enabled: true, maxLabelSets: 2 });
  const item = (name: string): WorkItemOf<"ActivityExecute"> => ({ type: "ActivityExecute", instance: "i", execution_id: 1, id: 1, name, input: "null" });
  for (const name of ["a", "b", "c", "d", "e", "a"]) m.activityFinished(item(name), "success", 1);
  const snap = m.snapshot();
  const executions = snap.metrics.find((x) => x.name === "duroxide_activity_executions_total")!;
  const names = new Set(executions.series.map((s) => s.labels.activity_name));
  expect([...names].sort()).toEqual(["__other__", "a", "b"]);
  expect(metricValue(snap, "duroxide_activity_executions_total", { activity_name: "a" })).toBe(2);
  expect(metricValue(snap, "duroxide_activity_executions_total", { activity_name: "__other__" })).toBe(3);
  expect(metricValue(snap, "duroxide_metrics_label_overflow_total", { group: "activity" })).toBe(3);
});

/** A fake of the @opentelemetry/api Meter: records every instrument and call. */
function fakeMeter() {
  const adds: { name: string; value: number; attributes: Record<string, string> }[] = [];
  const records: { name: string; value: number; attributes: Record<string, string> }[] = [];
  const gauges = new Map<string, ((r: { observe(v: number, a?: Record<string, string>): void }) => void)[]>();
  const created: { kind: string; name: string; options: unknown }[] = [];
  return {
    adds,
    records,
    gauges,
    created,
    createCounter(name: string, options?: unknown) {
      created.push({ kind: "counter", name, options });
      return { add: (value: number, attributes: Record<string, string> = {}) => adds.push({ name, value, attributes }) };
    },
    createHistogram(name: string, options?: unknown) {
      created.push({ kind: "histogram", name, options });
      return { record: (value: number, attributes: Record<string, string> = {}) => records.push({ name, value, attributes }) };
    },
    createObservableGauge(name: string, options?: unknown) {
      created.push({ kind: "gauge", name, options });
      return { addCallback: (cb: (r: { observe(v: number, a?: Record<string, string>): void }) => void) => gauges.set(name, [...(gauges.get(name) ?? []), cb]) };
    },
  };
}

test("metrics.meter: an OpenTelemetry Meter receives the instruments and their values", async () => {
  const meter = fakeMeter();
  const provider = await MemoryProvider.create();
  const { activities, orchestrations } = registries();
  const rt = await Runtime.start(provider, activities, orchestrations, { ...OPTS, metrics: { meter } });
  try {
    const client = new Client(provider);
    for (let i = 0; i < 2; i++) await client.startOrchestration(`s-${i}`, "Seq3", null);
    for (let i = 0; i < 2; i++) await client.waitForOrchestration(`s-${i}`, { timeoutMs: 5_000 });
    const kinds = Object.fromEntries(meter.created.map((c) => [c.name, c.kind]));
    expect(kinds.duroxide_orchestration_completions_total).toBe("counter");
    expect(kinds.duroxide_activity_duration_seconds).toBe("histogram");
    expect(kinds.duroxide_worker_queue_depth).toBe("gauge");
    const hist = meter.created.find((c) => c.name === "duroxide_activity_duration_seconds")!.options as { unit: string; advice: { explicitBucketBoundaries: number[] } };
    expect(hist.unit).toBe("s");
    expect(hist.advice.explicitBucketBoundaries.length).toBeGreaterThan(5);

    const sum = (name: string, attrs: Record<string, string>) =>
      meter.adds.filter((a) => a.name === name && Object.entries(attrs).every(([k, x]) => a.attributes[k] === x)).reduce((s, a) => s + a.value, 0);
    expect(sum("duroxide_orchestration_completions_total", { orchestration_name: "Seq3", status: "success" })).toBe(2);
    expect(sum("duroxide_activity_executions_total", { activity_name: "Work", outcome: "success" })).toBe(6);
    expect(meter.records.filter((r) => r.name === "duroxide_activity_duration_seconds" && r.attributes.activity_name === "Work").length).toBe(6);

    // A collection: the gauge callbacks observe current values.
    await rt.metrics(); // samples the queue depths first
    const observed: [string, number][] = [];
    for (const [name, cbs] of meter.gauges) for (const cb of cbs) cb({ observe: (value) => observed.push([name, value]) });
    expect(observed).toContainEqual(["duroxide_worker_queue_depth", 0]);
    expect(observed).toContainEqual(["duroxide_orchestrator_queue_depth", 0]);
  } finally {
    await rt.shutdown();
    provider.close();
  }
});
