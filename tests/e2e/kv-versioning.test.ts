// § numbers in this file refer to docs/runtime-semantics.md ("§8 item N" is §8.N there).
// KV store and orchestration versioning end to end (§8 items 27, 39, 40, 41) plus the rolling-deploy
// scenario: runtime A with only v1 and runtime B with v1+v2 on one SQLite file finish every
// instance on a version the runtime running it has.
import { expect, test } from "bun:test";
import { Client } from "../../src/client.ts";
import type { Event, EventOf } from "../../src/core/events.ts";
import type { OrchestrationContext } from "../../src/runtime/context.ts";
import { SYSCALL_GET_KV } from "../../src/runtime/context.ts";
import type { LogLevel, RuntimeOptions } from "../../src/runtime/options.ts";
import { MAX_KV_KEYS, MAX_KV_VALUE_BYTES } from "../../src/index.ts";
import { OrchestrationRegistry } from "../../src/runtime/registry.ts";
import { deferred, describeEachProvider, historyTypes, type Handlers, type Harness } from "./harness.ts";

type Ctx = OrchestrationContext;

function ofType<K extends Event["type"]>(h: Event[], type: K): EventOf<K>[] {
  return h.filter((e): e is EventOf<K> => e.type === type);
}

/** The version pinned in an execution's OrchestrationStarted event. */
async function startedVersion(client: Client, instance: string, executionId?: number): Promise<string> {
  const h = await client.readExecutionHistory(instance, executionId);
  const first = h[0];
  if (first?.type !== "OrchestrationStarted") throw new Error(`execution ${executionId ?? "latest"} of ${instance} has no OrchestrationStarted`);
  return first.version;
}

/** The OrchestrationStarted version of every execution of an instance, in order. */
async function executionVersions(client: Client, instance: string): Promise<string[]> {
  const ids = await client.listExecutions(instance);
  const out: string[] = [];
  for (const id of ids) out.push(await startedVersion(client, instance, id));
  return out;
}

describeEachProvider("KV store and versioning", (e2e: Harness) => {
  // ---------------------------------------------------------------------------------- versioning

  /** Version `impl` of an orchestration that runs one activity per execution and then continues-as-new along `hops`. */
  const hopper = (impl: string) =>
    function* (ctx: Ctx, input: { hops: { version?: string }[] }) {
      yield* ctx.scheduleActivity("Echo", `${impl}@${ctx.executionId}`);
      const [next, ...rest] = input.hops;
      if (next === undefined) return { version: ctx.orchestrationVersion, impl, executionId: ctx.executionId };
      return yield* ctx.continueAsNew({ hops: rest }, next.version === undefined ? {} : { version: next.version });
    };
  const echo = { Echo: async (_ctx: unknown, s: string) => s };

  // §8 item 27
  test("a start without a version runs the Latest registered version; startOrchestrationVersioned and {version} pin exactly", async () => {
    const reg = OrchestrationRegistry.builder()
      .register("Greet", hopper("v1"))
      .registerVersioned("Greet", "1.1.0", hopper("v1.1"))
      .registerVersioned("Greet", "2.0.0", hopper("v2"))
      .build();
    const { client } = await e2e.start({ orchestrations: reg, activities: echo });
    await client.startOrchestration("ver-latest", "Greet", { hops: [] });
    await client.startOrchestrationVersioned("ver-pin-1", "Greet", "1.0.0", { hops: [] });
    await client.startOrchestration("ver-pin-11", "Greet", { hops: [] }, { version: "1.1.0" });

    const expected: [string, string, string][] = [
      ["ver-latest", "2.0.0", "v2"],
      ["ver-pin-1", "1.0.0", "v1"],
      ["ver-pin-11", "1.1.0", "v1.1"],
    ];
    for (const [id, version, impl] of expected) {
      const s = await client.waitForOrchestration(id, { timeoutMs: 5_000 });
      expect(s).toMatchObject({ status: "Completed", output: { version, impl, executionId: 1 } });
      expect(await startedVersion(client, id)).toBe(version);
      const h = await client.readExecutionHistory(id);
      expect(h.map((e) => e.type)).toEqual(["OrchestrationStarted", "ActivityScheduled", "ActivityCompleted", "OrchestrationCompleted"]);
      expect(ofType(h, "ActivityScheduled")[0]!.input).toBe(JSON.stringify(`${impl}@1`));
      expect((await client.getInstanceInfo(id)).orchestration_version).toBe(version);
    }
  });

  // §8 item 27
  test("continue-as-new without a version uses Latest, and ctx.continueAsNew(x, {version}) picks the version of the next execution", async () => {
    const reg = OrchestrationRegistry.builder().register("Hop", hopper("v1")).registerVersioned("Hop", "2.0.0", hopper("v2")).build();
    const { client } = await e2e.start({ orchestrations: reg, activities: echo });
    // exec 1 pinned to 1.0.0; exec 2 by policy (Latest = 2.0.0); exec 3 explicitly 1.0.0; exec 4 by policy again.
    await client.startOrchestrationVersioned("hop-1", "Hop", "1.0.0", { hops: [{}, { version: "1.0.0" }, {}] });
    const s = await client.waitForOrchestration("hop-1", { timeoutMs: 5_000 });
    expect(s).toMatchObject({ status: "Completed", output: { version: "2.0.0", impl: "v2", executionId: 4 } });
    expect(await executionVersions(client, "hop-1")).toEqual(["1.0.0", "2.0.0", "1.0.0", "2.0.0"]);
    // Each execution really ran the code of its version.
    const impls: string[] = [];
    for (const id of [1, 2, 3, 4]) {
      const h = await client.readExecutionHistory("hop-1", id);
      impls.push(JSON.parse(ofType(h, "ActivityScheduled")[0]!.input));
      expect(h.at(-1)!.type).toBe(id < 4 ? "OrchestrationContinuedAsNew" : "OrchestrationCompleted");
    }
    expect(impls).toEqual(["v1@1", "v2@2", "v1@3", "v2@4"]);
  });

  // §8 item 27
  test("an Exact policy makes unpinned starts and continue-as-new use that version; explicit versions still win", async () => {
    const reg = OrchestrationRegistry.builder()
      .register("Policy", hopper("v1"))
      .registerVersioned("Policy", "2.0.0", hopper("v2"))
      .setPolicy("Policy", { type: "Exact", version: "1.0.0" })
      .build();
    const { client } = await e2e.start({ orchestrations: reg, activities: echo });
    await client.startOrchestration("pol-unpinned", "Policy", { hops: [{}, { version: "2.0.0" }] });
    await client.startOrchestrationVersioned("pol-pinned-2", "Policy", "2.0.0", { hops: [{}] });
    for (const id of ["pol-unpinned", "pol-pinned-2"]) {
      expect((await client.waitForOrchestration(id, { timeoutMs: 5_000 })).status).toBe("Completed");
    }
    expect(await executionVersions(client, "pol-unpinned")).toEqual(["1.0.0", "1.0.0", "2.0.0"]);
    expect(await executionVersions(client, "pol-pinned-2")).toEqual(["2.0.0", "1.0.0"]);
    expect(await client.getOrchestrationStatus("pol-pinned-2")).toMatchObject({ output: { version: "1.0.0", impl: "v1", executionId: 2 } });
  });

  // §8 item 27
  test("an execution started on v1 keeps replaying v1 on a runtime that also has v2 (Latest), then runs v2 after continue-as-new", async () => {
    const runs: { runtime: number; version: string; executionId: number }[] = [];
    const v1 = (runtimeNo: number) =>
      function* (ctx: Ctx) {
        runs.push({ runtime: runtimeNo, version: "1.0.0", executionId: ctx.executionId });
        ctx.setCustomStatus("waiting for go");
        yield* ctx.scheduleWait("go");
        yield* ctx.scheduleActivity("Echo", "v1 after go");
        return yield* ctx.continueAsNew("upgraded");
      };
    // A different shape: replaying v1's history with it would be nondeterministic.
    const v2 = (runtimeNo: number) =>
      function* (ctx: Ctx, input: string) {
        runs.push({ runtime: runtimeNo, version: "2.0.0", executionId: ctx.executionId });
        const r = yield* ctx.scheduleActivity("Echo", "v2");
        return { version: ctx.orchestrationVersion, input, r };
      };

    const rt1 = await e2e.start({ orchestrations: OrchestrationRegistry.builder().register("Upgrade", v1(1)).build(), activities: echo });
    const c1 = rt1.client;
    await c1.startOrchestration("upg-1", "Upgrade", null);
    await c1.waitForStatusChange("upg-1", 0, { timeoutMs: 5_000 });
    expect(await startedVersion(c1, "upg-1")).toBe("1.0.0");

    // The new deployment has v1 and v2; v2 is Latest.
    const rt2 = await rt1.restart({ orchestrations: OrchestrationRegistry.builder().register("Upgrade", v1(2)).registerVersioned("Upgrade", "2.0.0", v2(2)).build(), activities: echo });
    const c2 = rt2.client;
    await c2.raiseEvent("upg-1", "go", null);
    const s = await c2.waitForOrchestration("upg-1", { timeoutMs: 5_000 });
    expect(s).toMatchObject({ status: "Completed", output: { version: "2.0.0", input: "upgraded", r: "v2" } });
    expect(await executionVersions(c2, "upg-1")).toEqual(["1.0.0", "2.0.0"]);
    expect(await historyTypes(c2, "upg-1", 1)).toEqual([
      "OrchestrationStarted",
      "CustomStatusUpdated",
      "ExternalSubscribed",
      "ExternalEvent",
      "ActivityScheduled",
      "ActivityCompleted",
      "OrchestrationContinuedAsNew",
    ]);
    // Runtime 2 replayed execution 1 with its v1 code and ran execution 2 with v2 only.
    expect(runs.filter((r) => r.runtime === 2 && r.executionId === 1).every((r) => r.version === "1.0.0")).toBe(true);
    expect(runs.some((r) => r.runtime === 2 && r.executionId === 1)).toBe(true);
    expect(runs.filter((r) => r.executionId === 2).every((r) => r.runtime === 2 && r.version === "2.0.0")).toBe(true);
  });

  // ---------------------------------------------------------------------------------- KV store

  // §8 item 39
  test("KV values are visible to clients while running, reads/clears work in the orchestration, and values survive continue-as-new", async () => {
    const env = await e2e.start({
      orchestrations: {
        KvLife: function* (ctx: Ctx, input: { phase: number }) {
          if (input.phase === 1) {
            ctx.setValue("stage", "one");
            ctx.setValue("config", { a: 1, tags: ["x"] });
            ctx.setValue("tmp", 1);
            ctx.setValue("seen1", { keys: ctx.getKeys(), length: ctx.getLength(), stage: ctx.getValue("stage"), config: ctx.getValue("config") });
            yield* ctx.scheduleWait("next");
            ctx.clearValue("tmp");
            ctx.setValue("stage", "two");
            return yield* ctx.continueAsNew({ phase: 2 });
          }
          const carried = { values: ctx.getValues(), keys: ctx.getKeys().sort(), length: ctx.getLength(), tmp: ctx.getValue("tmp") };
          ctx.setValue("exec2", carried);
          yield* ctx.scheduleWait("finish");
          ctx.clearAllValues();
          const afterClear = ctx.getLength();
          ctx.setValue("after", "x");
          return { carried, afterClear, final: ctx.getValues() };
        },
      },
    });
    const { client } = env;
    const id = "kv-life";
    await client.startOrchestration(id, "KvLife", { phase: 1 });

    // Execution 1, still running: every key is visible through each client read.
    const seen1 = await client.waitForKvValue(id, "seen1", { timeoutMs: 5_000 });
    expect(seen1).toEqual({ keys: ["stage", "config", "tmp"], length: 3, stage: "one", config: { a: 1, tags: ["x"] } });
    expect((await client.getOrchestrationStatus(id)).status).toBe("Running");
    expect(await client.getKvValue(id, "stage")).toBe("one");
    expect(await client.getValue(id, "tmp")).toBe(1);
    expect(await client.getValue(id, "missing")).toBeNull();
    expect(await client.waitForValue(id, "config", { timeoutMs: 1_000 })).toEqual({ a: 1, tags: ["x"] });
    expect(await client.getKvAllValues(id)).toEqual({ stage: "one", config: { a: 1, tags: ["x"] }, tmp: 1, seen1 });

    // Execution 2 sees execution 1's final KV (tmp cleared, stage overwritten).
    await client.raiseEvent(id, "next", null);
    const carried = await client.waitForKvValue<any>(id, "exec2", { timeoutMs: 5_000 });
    expect(carried).toEqual({
      values: { stage: "two", config: { a: 1, tags: ["x"] }, seen1 },
      keys: ["config", "seen1", "stage"],
      length: 3,
      tmp: null,
    });
    expect((await client.getOrchestrationStatus(id)).status).toBe("Running");
    expect(await client.getKvValue(id, "tmp")).toBeNull();
    expect(await client.getKvAllValues(id)).toEqual({ stage: "two", config: { a: 1, tags: ["x"] }, seen1, exec2: carried });

    await client.raiseEvent(id, "finish", null);
    const s = await client.waitForOrchestration(id, { timeoutMs: 5_000 });
    expect(s).toMatchObject({ status: "Completed", output: { carried, afterClear: 0, final: { after: "x" } } });
    expect(await client.getKvAllValues(id)).toEqual({ after: "x" });
    expect(await client.listExecutions(id)).toEqual([1, 2]);

    const h1 = await client.readExecutionHistory(id, 1);
    expect(h1.map((e) => e.type)).toEqual([
      "OrchestrationStarted",
      "KeyValueSet",
      "KeyValueSet",
      "KeyValueSet",
      "KeyValueSet",
      "ExternalSubscribed",
      "ExternalEvent",
      "KeyValueCleared",
      "KeyValueSet",
      "OrchestrationContinuedAsNew",
    ]);
    expect(ofType(h1, "KeyValueSet").map((e) => [e.key, JSON.parse(e.value)])).toEqual([
      ["stage", "one"],
      ["config", { a: 1, tags: ["x"] }],
      ["tmp", 1],
      ["seen1", seen1],
      ["stage", "two"],
    ]);
    expect(ofType(h1, "KeyValueCleared").map((e) => e.key)).toEqual(["tmp"]);
    expect(await historyTypes(client, id, 2)).toEqual([
      "OrchestrationStarted",
      "KeyValueSet",
      "ExternalSubscribed",
      "ExternalEvent",
      "KeyValuesCleared",
      "KeyValueSet",
      "OrchestrationCompleted",
    ]);
  });

  // §8 item 39
  test("a read-modify-write counter incremented once per turn over N event-driven turns replays cleanly and ends at N", async () => {
    const N = 6;
    const env = await e2e.start({
      orchestrations: {
        Counter: function* (ctx: Ctx, n: number) {
          ctx.setCustomStatus("ready");
          for (let i = 0; i < n; i++) {
            yield* ctx.dequeueEvent("tick");
            const c = (ctx.getValue<number>("count") ?? 0) + 1;
            ctx.setValue("count", c);
            ctx.setCustomStatus(`count=${c}`);
          }
          return ctx.getValue("count");
        },
      },
    });
    const { client } = env;
    await client.startOrchestration("counter", "Counter", N);
    let st = await client.waitForStatusChange("counter", 0, { timeoutMs: 5_000 });
    expect(st).toMatchObject({ status: "Running", customStatus: "ready" });
    // One tick per turn: send the next tick only after the previous turn committed.
    for (let i = 1; i <= N; i++) {
      const last = st.status === "Running" ? st.customStatusVersion : 0;
      await client.enqueueEvent("counter", "tick", i);
      st = await client.waitForStatusChange("counter", last, { timeoutMs: 5_000 });
      if (i < N) {
        expect(st).toMatchObject({ status: "Running", customStatus: `count=${i}` });
        expect(await client.getKvValue("counter", "count")).toBe(i);
      }
    }
    const s = await client.waitForOrchestration("counter", { timeoutMs: 5_000 });
    expect(s).toMatchObject({ status: "Completed", output: N });
    expect(await client.getKvValue("counter", "count")).toBe(N);
    const h = await client.readExecutionHistory("counter");
    expect(ofType(h, "KeyValueSet").map((e) => [e.key, e.value])).toEqual(Array.from({ length: N }, (_, i) => ["count", String(i + 1)]));
    // N separate turns, each delivering one tick.
    expect(ofType(h, "ExternalEventPersistent")).toHaveLength(N);
    expect(h.some((e) => e.type === "OrchestrationFailed")).toBe(false);
    expect(h.at(-1)!.type).toBe("OrchestrationCompleted");
  });

  // §8 item 39
  test("a read-modify-write counter keeps counting across continue-as-new (two ticks per execution)", async () => {
    const TARGET = 6;
    const env = await e2e.start({
      orchestrations: {
        CounterCan: function* (ctx: Ctx, target: number) {
          if (ctx.executionId === 1) ctx.setCustomStatus("ready");
          for (let i = 0; i < 2; i++) {
            yield* ctx.dequeueEvent("tick");
            const c = (ctx.getValue<number>("count") ?? 0) + 1;
            ctx.setValue("count", c);
            ctx.setCustomStatus(`count=${c}`);
          }
          const c = ctx.getValue<number>("count")!;
          if (c < target) return yield* ctx.continueAsNew(target);
          return c;
        },
      },
    });
    const { client } = env;
    await client.startOrchestration("counter-can", "CounterCan", TARGET);
    let st = await client.waitForStatusChange("counter-can", 0, { timeoutMs: 5_000 });
    expect(st).toMatchObject({ status: "Running", customStatus: "ready" });
    for (let i = 1; i <= TARGET; i++) {
      const last = st.status === "Running" ? st.customStatusVersion : 0;
      await client.enqueueEvent("counter-can", "tick", i);
      st = await client.waitForStatusChange("counter-can", last, { timeoutMs: 5_000 });
      if (i < TARGET) expect(st).toMatchObject({ status: "Running", customStatus: `count=${i}` });
    }
    const s = await client.waitForOrchestration("counter-can", { timeoutMs: 5_000 });
    expect(s).toMatchObject({ status: "Completed", output: TARGET });
    expect(await client.listExecutions("counter-can")).toEqual([1, 2, 3]);
    const perExecution: string[][] = [];
    for (const id of [1, 2, 3]) {
      const h = await client.readExecutionHistory("counter-can", id);
      perExecution.push(ofType(h, "KeyValueSet").map((e) => e.value));
    }
    expect(perExecution).toEqual([["1", "2"], ["3", "4"], ["5", "6"]]);
    expect(await client.getKvAllValues("counter-can")).toEqual({ count: TARGET });
  });

  // §8 item 40
  test("MAX_KV_KEYS (150) keys are allowed by default; setting a 151st key in a later turn fails the instance with a message naming maxKvKeys", async () => {
    const N = MAX_KV_KEYS;
    const env = await e2e.start({
      orchestrations: {
        ManyKeys: function* (ctx: Ctx) {
          for (let i = 0; i < N; i++) ctx.setValue(`k${i}`, i);
          yield* ctx.scheduleTimer(0);
          ctx.setValue("k0", "overwritten"); // an existing key: still N keys
          yield* ctx.scheduleTimer(0);
          ctx.setValue(`k${N}`, N); // the (N+1)th key
          yield* ctx.scheduleTimer(0);
          return "unreachable";
        },
      },
    });
    const { client } = env;
    await client.startOrchestration("kv-keys", "ManyKeys", null);
    const s = await client.waitForOrchestration("kv-keys", { timeoutMs: 5_000 });
    expect(s.status).toBe("Failed");
    if (s.status !== "Failed") return;
    expect(s.details).toMatchObject({ type: "Application", kind: "OrchestrationFailed" });
    expect(s.message).toContain("maxKvKeys 150");
    expect(s.message).toContain("151");
    expect(s.details).toMatchObject({ retryable: false });
    const h = await client.readExecutionHistory("kv-keys");
    expect(h.at(-1)!.type).toBe("OrchestrationFailed");
    // The failing turn's write is not recorded or stored: N sets + the overwrite, nothing for the extra key.
    const sets = ofType(h, "KeyValueSet");
    expect(sets).toHaveLength(N + 1);
    expect(sets.some((e) => e.key === `k${N}`)).toBe(false);
    expect(ofType(h, "TimerCreated")).toHaveLength(2); // the turns before the violation committed
    const all = await client.getKvAllValues("kv-keys");
    expect(Object.keys(all)).toHaveLength(N);
    expect(all.k0).toBe("overwritten");
    expect(all[`k${N}`]).toBeUndefined();
  });

  // §8 item 40
  test("a string of exactly MAX_KV_VALUE_BYTES (64 KiB, the default maxKvValueBytes) is stored; one byte more fails the instance with a message naming the limit", async () => {
    const LIMIT = MAX_KV_VALUE_BYTES;
    const env = await e2e.start({
      orchestrations: {
        BigValue: function* (ctx: Ctx) {
          // The value's own UTF-8 bytes count, not the JSON quotes around it (as in the original).
          ctx.setValue("exact", "é".repeat(LIMIT / 2)); // 2 bytes each: LIMIT bytes
          yield* ctx.scheduleTimer(0);
          ctx.setValue("big", "x".repeat(LIMIT + 1)); // LIMIT + 1 bytes
          yield* ctx.scheduleTimer(0);
          return "unreachable";
        },
      },
    });
    const { client } = env;
    await client.startOrchestration("kv-big", "BigValue", null);
    const s = await client.waitForOrchestration("kv-big", { timeoutMs: 5_000 });
    expect(s.status).toBe("Failed");
    if (s.status !== "Failed") return;
    expect(s.details).toMatchObject({ type: "Application", kind: "OrchestrationFailed" });
    expect(s.message).toContain(`maxKvValueBytes ${LIMIT}`);
    expect(s.message).toContain('"big"');
    expect(s.message).toContain(String(LIMIT + 1));
    const h = await client.readExecutionHistory("kv-big");
    expect(ofType(h, "KeyValueSet").map((e) => e.key)).toEqual(["exact"]);
    expect(h.at(-1)!.type).toBe("OrchestrationFailed");
    expect(await client.getKvValue<string>("kv-big", "exact")).toBe("é".repeat(LIMIT / 2));
    expect(await client.getKvValue("kv-big", "big")).toBeNull();
  });

  // §8 item 40
  test("clearing keys frees capacity: set 100, clear 50, set 50 more (in one turn and across turns), clear all, set 100", async () => {
    const env = await e2e.start({
      orchestrations: {
        Recycle: function* (ctx: Ctx) {
          for (let i = 0; i < 100; i++) ctx.setValue(`k${i}`, i);
          for (let i = 0; i < 50; i++) ctx.clearValue(`k${i}`);
          for (let i = 0; i < 50; i++) ctx.setValue(`n${i}`, i);
          const turn1 = ctx.getLength();
          yield* ctx.scheduleTimer(0);
          for (let i = 0; i < 50; i++) ctx.clearValue(`n${i}`);
          for (let i = 0; i < 50; i++) ctx.setValue(`p${i}`, i);
          const turn2 = ctx.getLength();
          yield* ctx.scheduleTimer(0);
          ctx.clearAllValues();
          for (let i = 0; i < 100; i++) ctx.setValue(`m${i}`, i);
          yield* ctx.scheduleTimer(0);
          return { turn1, turn2, turn3: ctx.getLength(), keys: ctx.getKeys() };
        },
      },
    });
    const { client } = env;
    await client.startOrchestration("kv-recycle", "Recycle", null);
    const s = await client.waitForOrchestration("kv-recycle", { timeoutMs: 5_000 });
    const m = Array.from({ length: 100 }, (_, i) => `m${i}`);
    expect(s).toMatchObject({ status: "Completed", output: { turn1: 100, turn2: 100, turn3: 100, keys: m } });
    const all = await client.getKvAllValues("kv-recycle");
    expect(Object.keys(all).sort()).toEqual([...m].sort());
    const h = await client.readExecutionHistory("kv-recycle");
    expect(ofType(h, "KeyValueSet")).toHaveLength(100 + 50 + 50 + 100);
    expect(ofType(h, "KeyValueCleared")).toHaveLength(100);
    expect(ofType(h, "KeyValuesCleared")).toHaveLength(1);
  });

  // §8 item 41
  test("getValueFromInstance returns the recorded value on replay after the source changed; a fresh read sees the new value", async () => {
    const env = await e2e.start({
      orchestrations: {
        Source: function* (ctx: Ctx) {
          ctx.setValue("color", "red");
          yield* ctx.scheduleWait("change");
          ctx.setValue("color", "blue");
          ctx.setValue("changed", true);
          yield* ctx.scheduleWait("done");
          return "source done";
        },
        Reader: function* (ctx: Ctx, src: string) {
          const first = yield* ctx.getValueFromInstance<string>(src, "color");
          const missingKey = yield* ctx.getValueFromInstance(src, "no-such-key");
          const missingInstance = yield* ctx.getValueFromInstance("no-such-instance", "color");
          ctx.setValue("first", first);
          yield* ctx.scheduleWait("go");
          // This turn replays the reads above: they must return what was recorded ("red").
          const again = yield* ctx.getValueFromInstance<string>(src, "color");
          return { first, missingKey, missingInstance, again };
        },
      },
    });
    const { client } = env;
    await client.startOrchestration("kv-src", "Source", null);
    expect(await client.waitForKvValue("kv-src", "color", { timeoutMs: 5_000 })).toBe("red");
    await client.startOrchestration("kv-reader", "Reader", "kv-src");
    expect(await client.waitForKvValue("kv-reader", "first", { timeoutMs: 5_000 })).toBe("red");

    await client.raiseEvent("kv-src", "change", null);
    expect(await client.waitForKvValue("kv-src", "changed", { timeoutMs: 5_000 })).toBe(true);
    expect(await client.getKvValue("kv-src", "color")).toBe("blue");

    await client.raiseEvent("kv-reader", "go", null);
    const s = await client.waitForOrchestration("kv-reader", { timeoutMs: 5_000 });
    expect(s).toMatchObject({ status: "Completed", output: { first: "red", missingKey: null, missingInstance: null, again: "blue" } });
    // The replayed write of "first" still carries the recorded value.
    expect(await client.getKvValue("kv-reader", "first")).toBe("red");
    const h = await client.readExecutionHistory("kv-reader");
    const reads = ofType(h, "ActivityScheduled");
    expect(reads.map((e) => e.name)).toEqual(Array(4).fill(SYSCALL_GET_KV));
    expect(reads.map((e) => JSON.parse(e.input))).toEqual([
      { instanceId: "kv-src", key: "color" },
      { instanceId: "kv-src", key: "no-such-key" },
      { instanceId: "no-such-instance", key: "color" },
      { instanceId: "kv-src", key: "color" },
    ]);
    expect(ofType(h, "ActivityCompleted")).toHaveLength(4);
    expect(h.at(-1)!.type).toBe("OrchestrationCompleted");

    await client.raiseEvent("kv-src", "done", null);
    expect(await client.waitForOrchestration("kv-src", { timeoutMs: 5_000 })).toMatchObject({ status: "Completed", output: "source done" });
  });

  // ---------------------------------------------------------------------------------- rolling deploy

  // Two runtimes on one SQLite file (two connections): file mode only.
  if (e2e.mode !== "sqlite-file") return;

  interface Run {
    runtime: "A" | "B";
    instance: string;
    version: string;
    executionId: number;
  }

  /**
   * The "Deploy" orchestration as each runtime has it. Every turn records (runtime, instance, version)
   * so the test can see which code of which runtime drove each instance. v2 has a different shape
   * (two steps, no timer), so replaying a v2 history with v1 code would fail as nondeterministic.
   */
  function deployRegistry(label: "A" | "B", withV2: boolean, runs: Run[]): OrchestrationRegistry {
    const v1 = function* (ctx: Ctx) {
      runs.push({ runtime: label, instance: ctx.instanceId, version: "1.0.0", executionId: ctx.executionId });
      const a = yield* ctx.scheduleActivity("Step", `${ctx.instanceId}:1`);
      yield* ctx.scheduleTimer(5);
      return { version: ctx.orchestrationVersion, impl: "v1", finishedOn: label, steps: [a] };
    };
    const v2 = function* (ctx: Ctx, input: { waitFor?: string } | null) {
      runs.push({ runtime: label, instance: ctx.instanceId, version: "2.0.0", executionId: ctx.executionId });
      if (input?.waitFor !== undefined) {
        ctx.setCustomStatus(`waiting for ${input.waitFor}`);
        yield* ctx.scheduleWait(input.waitFor);
      }
      const a = yield* ctx.scheduleActivity("Step", `${ctx.instanceId}:1`);
      const b = yield* ctx.scheduleActivity("Step", `${ctx.instanceId}:2`);
      return { version: ctx.orchestrationVersion, impl: "v2", finishedOn: label, steps: [a, b] };
    };
    const b = OrchestrationRegistry.builder().register("Deploy", v1);
    if (withV2) b.registerVersioned("Deploy", "2.0.0", v2);
    return b.build();
  }

  /** Captures the dispatcher's "not registered here" back-off warnings per instance. */
  function backoffLog() {
    const byInstance = new Map<string, number>();
    const waiters: { instance: string; n: number; resolve: () => void }[] = [];
    return {
      byInstance,
      logger: {
        log(level: LogLevel, message: string, fields: Record<string, unknown>) {
          if (level !== "warn" || !/not registered/.test(message)) return;
          const id = String(fields.instance_id);
          byInstance.set(id, (byInstance.get(id) ?? 0) + 1);
          for (const w of waiters) if (w.instance === id && byInstance.get(id)! >= w.n) w.resolve();
        },
      },
      /** Resolves once `instance` has been backed off `n` times; rejects after `timeoutMs`. */
      async reached(instance: string, n: number, timeoutMs = 5_000): Promise<void> {
        const d = deferred();
        if ((byInstance.get(instance) ?? 0) >= n) d.resolve();
        else waiters.push({ instance, n, resolve: d.resolve });
        let timer: ReturnType<typeof setTimeout> | undefined;
        const late = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`${instance} was backed off ${byInstance.get(instance) ?? 0} times, not ${n}, within ${timeoutMs} ms`)), timeoutMs);
        });
        await Promise.race([d.promise, late]).finally(() => clearTimeout(timer));
      },
    };
  }

  // The back-off is compressed to 50..200 ms, so the poison threshold is raised to match: with the
  // defaults (1 s..60 s, 10 attempts) a missing version has minutes to appear; here a few seconds.
  const DEPLOY_OPTIONS: RuntimeOptions = { unregisteredBackoff: { baseDelayMs: 50, maxDelayMs: 200 }, maxAttempts: 200 };
  const step = { Step: async (_ctx: unknown, s: string) => `done ${s}` };
  /** What runtime A (v1 only) and runtime B (v1 and v2) run. */
  const deployA = (runs: Run[]): Handlers => ({ orchestrations: deployRegistry("A", false, runs), activities: step });
  const deployB = (runs: Run[]): Handlers => ({ orchestrations: deployRegistry("B", true, runs), activities: step });

  // Issue 5, rolling deploy (§3.11, §5.3)
  test("rolling deploy: runtime A (v1) and runtime B (v1+v2) on one file finish every instance on a version the runtime has", async () => {
    const runs: Run[] = [];
    const logA = backoffLog();
    const store = await e2e.store();
    const a = await e2e.start(deployA(runs), { ...DEPLOY_OPTIONS, logger: logA.logger, logLevel: "warn" }, store);
    const b = await e2e.start(deployB(runs), DEPLOY_OPTIONS, await store.connect());
    expect(b.provider).not.toBe(a.provider);
    // Starts alternate between the two connections, so each runtime is woken for some of them.
    const clients = [a.client, b.client];
    const client = clients[0]!;

    const pinned2 = Array.from({ length: 5 }, (_, i) => `deploy-v2-${i}`);
    const pinned1 = Array.from({ length: 5 }, (_, i) => `deploy-v1-${i}`);
    const unpinned = Array.from({ length: 6 }, (_, i) => `deploy-any-${i}`);
    for (let i = 0; i < 6; i++) {
      const c = clients[i % 2]!;
      if (i < 5) await c.startOrchestrationVersioned(pinned2[i]!, "Deploy", "2.0.0", null);
      if (i < 5) await c.startOrchestrationVersioned(pinned1[i]!, "Deploy", "1.0.0", null);
      await c.startOrchestration(unpinned[i]!, "Deploy", null);
    }

    const all = [...pinned2, ...pinned1, ...unpinned];
    for (const id of all) {
      const s = await client.waitForOrchestration(id, { timeoutMs: 15_000 });
      expect({ id, status: s.status }).toEqual({ id, status: "Completed" });
    }
    for (const id of all) {
      const s = await client.getOrchestrationStatus<{ version: string; impl: string; finishedOn: string; steps: string[] }>(id);
      if (s.status !== "Completed") throw new Error(`${id} is ${s.status}`);
      const version = await startedVersion(client, id);
      const mine = runs.filter((r) => r.instance === id);
      expect(mine.length).toBeGreaterThan(0);
      // Output, pinned version and the code that ran agree.
      expect(s.output.version).toBe(version);
      expect(s.output.impl).toBe(version === "2.0.0" ? "v2" : "v1");
      expect(mine.every((r) => r.version === version)).toBe(true);
      if (pinned2.includes(id)) expect(version).toBe("2.0.0");
      if (pinned1.includes(id)) expect(version).toBe("1.0.0");
      // An unpinned start takes the Latest version of whichever runtime ran its first turn.
      if (unpinned.includes(id)) expect(version).toBe(mine[0]!.runtime === "A" ? "1.0.0" : "2.0.0");
      // v2 instances are only ever run by B (A lacks v2: it may only back off on them).
      if (version === "2.0.0") {
        expect(mine.every((r) => r.runtime === "B")).toBe(true);
        expect(s.output.finishedOn).toBe("B");
        expect(s.output.steps).toEqual([`done ${id}:1`, `done ${id}:2`]);
      }
      const types = await historyTypes(client, id);
      expect(types).toEqual(
        version === "2.0.0"
          ? ["OrchestrationStarted", "ActivityScheduled", "ActivityCompleted", "ActivityScheduled", "ActivityCompleted", "OrchestrationCompleted"]
          : ["OrchestrationStarted", "ActivityScheduled", "ActivityCompleted", "TimerCreated", "TimerFired", "OrchestrationCompleted"],
      );
    }
    // A never ran v2 code (it has none) and never replayed a v2 instance with its v1 code.
    const v2Instances = new Set(runs.filter((r) => r.version === "2.0.0").map((r) => r.instance));
    expect(runs.filter((r) => r.runtime === "A" && v2Instances.has(r.instance))).toEqual([]);
    // Whatever A backed off on is a v2 instance.
    for (const id of logA.byInstance.keys()) expect(v2Instances.has(id)).toBe(true);
  });

  // Issue 5, rolling deploy (§3.11, §5.3)
  test("rolling deploy: a v2 instance that runtime A (v1 only) keeps backing off on completes once runtime B (v1+v2) appears", async () => {
    const runs: Run[] = [];
    const logA = backoffLog();
    const store = await e2e.store();
    const { client } = await e2e.start(deployA(runs), { ...DEPLOY_OPTIONS, logger: logA.logger, logLevel: "warn" }, store);
    await client.startOrchestrationVersioned("late-v2", "Deploy", "2.0.0", null);
    await client.startOrchestration("late-any", "Deploy", null);

    // A runs the unpinned instance on its Latest (v1) and only backs off on the v2 one.
    expect(await client.waitForOrchestration("late-any", { timeoutMs: 5_000 })).toMatchObject({
      status: "Completed",
      output: { version: "1.0.0", finishedOn: "A" },
    });
    await logA.reached("late-v2", 4);
    expect(await client.readExecutionHistory("late-v2")).toEqual([]); // no history written while backing off
    // §5.3: the status says which version it waits for (it read NotFound until poisoned).
    expect(await client.getOrchestrationStatus("late-v2")).toMatchObject({ status: "Running", message: expect.stringContaining('orchestration "Deploy" version 2.0.0') });
    expect(runs.filter((r) => r.instance === "late-v2")).toEqual([]);

    // B joins on a second connection; A keeps running and keeps competing for the message.
    await e2e.start(deployB(runs), DEPLOY_OPTIONS, await store.connect());
    const s = await client.waitForOrchestration("late-v2", { timeoutMs: 10_000 });
    expect(s).toMatchObject({ status: "Completed", output: { version: "2.0.0", impl: "v2", finishedOn: "B", steps: ["done late-v2:1", "done late-v2:2"] } });
    expect(await startedVersion(client, "late-v2")).toBe("2.0.0");
    const mine = runs.filter((r) => r.instance === "late-v2");
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.every((r) => r.runtime === "B" && r.version === "2.0.0")).toBe(true);
    expect(logA.byInstance.get("late-v2")).toBeGreaterThanOrEqual(4);
    expect([...logA.byInstance.keys()]).toEqual(["late-v2"]);
  });

  // Issue 5, rolling deploy (§3.11): the pinned version of a running execution wins over A's Latest.
  test("rolling deploy: an unpinned instance that B started on v2 is never replayed by A with v1; A backs off until B is back", async () => {
    const runs: Run[] = [];
    const logA = backoffLog();
    const store = await e2e.store();
    const b1 = await e2e.start(deployB(runs), DEPLOY_OPTIONS, store);
    const clientB = b1.client;
    await clientB.startOrchestration("b-first", "Deploy", { waitFor: "go" });
    // B's first turn pins Latest (2.0.0) and subscribes to "go".
    expect(await clientB.waitForStatusChange("b-first", 0, { timeoutMs: 5_000 })).toMatchObject({ status: "Running", customStatus: "waiting for go" });
    const subscribed = ["OrchestrationStarted", "CustomStatusUpdated", "ExternalSubscribed"];
    expect(await historyTypes(clientB, "b-first")).toEqual(subscribed);
    expect(await startedVersion(clientB, "b-first")).toBe("2.0.0");
    await b1.shutdown();

    // Only A (v1, whose Latest is 1.0.0) runs now; the event makes the instance runnable.
    const { client: clientA } = await e2e.start(deployA(runs), { ...DEPLOY_OPTIONS, logger: logA.logger, logLevel: "warn" }, await store.connect());
    await clientA.raiseEvent("b-first", "go", null);
    await logA.reached("b-first", 3);
    expect(await historyTypes(clientA, "b-first")).toEqual(subscribed);
    expect(runs.filter((r) => r.runtime === "A")).toEqual([]);
    expect((await clientA.getOrchestrationStatus("b-first")).status).toBe("Running");

    // B comes back (new runtime, same connection) and finishes it on v2 while A keeps running.
    await e2e.start(deployB(runs), DEPLOY_OPTIONS, b1.provider);
    const s = await clientA.waitForOrchestration("b-first", { timeoutMs: 10_000 });
    expect(s).toMatchObject({ status: "Completed", output: { version: "2.0.0", impl: "v2", finishedOn: "B", steps: ["done b-first:1", "done b-first:2"] } });
    expect(runs.every((r) => r.runtime === "B" && r.version === "2.0.0")).toBe(true);
    expect(await historyTypes(clientA, "b-first")).toEqual([
      ...subscribed,
      "ExternalEvent",
      "ActivityScheduled",
      "ActivityCompleted",
      "ActivityScheduled",
      "ActivityCompleted",
      "OrchestrationCompleted",
    ]);
  });
});
