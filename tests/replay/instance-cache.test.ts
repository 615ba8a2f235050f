/**
 * The instance cache (docs/runtime-semantics.md §2.12): a turn resumed from a cached live state
 * must decide exactly what a full replay decides. Each scenario is driven turn by turn through
 * planTurn over a simulated store (history appended from each ack's delta, outgoing work answered
 * as a worker / timer queue / child would), once with the cache off and once on, with the same
 * clock; every decision (delta, work, cancellations, metadata, outcome) must be identical, and the
 * cached run must actually have resumed.
 */
import { describe, expect, test } from "bun:test";
import type { Event, EventOf } from "../../src/core/events.ts";
import type { FetchedOrchestration } from "../../src/core/queue-types.ts";
import type { WorkItem } from "../../src/core/work-items.ts";
import type { OrchestrationContext } from "../../src/runtime/context.ts";
import { InstanceCache } from "../../src/runtime/instance-cache.ts";
import { resolveRuntimeOptions } from "../../src/runtime/options.ts";
import { planTurn, type TurnDecision } from "../../src/runtime/orchestration-turn.ts";
import { OrchestrationRegistry } from "../../src/runtime/registry.ts";
import type { DurableTask } from "../../src/runtime/tasks.ts";

const I = "inst";
const NOW = 1_700_000_000_000;
type Body = (ctx: OrchestrationContext, input: any) => Generator<DurableTask<any>, any, any>;

interface Scenario {
  body: Body;
  input: unknown;
  /** Messages delivered per turn (several make batches). */
  perTurn?: number;
  /** Extra messages injected before the given turn (external events, cancels). */
  inject?: Record<number, WorkItem[]>;
}

/** A record of one run: every ack decision (without the cache entry) and the final history. */
interface Run {
  decisions: unknown[];
  history: Event[];
  stats: ReturnType<InstanceCache["stats"]>;
  /** Committed turns whose decision says they replayed a history in full (metrics, §9.2). */
  replays: number;
}

function drive(s: Scenario, cacheSize: number, hooks: { beforeFetch?: (turn: number, cache: InstanceCache) => void; failAck?: (turn: number) => boolean } = {}): Run {
  const registry = OrchestrationRegistry.builder()
    .register("Orch", s.body)
    .register("Child", function* (_ctx, x: number) {
      return x * 10;
    })
    .build();
  const options = resolveRuntimeOptions({ logLevel: "off", instanceCacheSize: cacheSize });
  const cache = new InstanceCache(cacheSize);
  let executionId = 1;
  let history: Event[] = [];
  const all: Event[] = [];
  const queue: WorkItem[] = [{ type: "StartOrchestration", instance: I, orchestration: "Orch", input: JSON.stringify(s.input), version: null, parent_instance: null, parent_id: null, execution_id: 1 }];
  const decisions: unknown[] = [];
  let replays = 0;
  for (let turn = 0; turn < 500; turn++) {
    queue.push(...(s.inject?.[turn] ?? []));
    if (queue.length === 0) break;
    const messages = queue.splice(0, s.perTurn ?? 1);
    hooks.beforeFetch?.(turn, cache);
    const fetched: FetchedOrchestration = {
      item: { instance: I, orchestration_name: "Orch", execution_id: executionId, version: "1.0.0", history: history.slice(), messages, history_error: null, kv_snapshot: {} },
      lockToken: "t",
      attemptCount: 1,
    };
    const d: TurnDecision = planTurn(fetched, { registry, options, now: NOW + decisions.length, runtimeVersion: "0.1.0", cache });
    if (d.type !== "ack") throw new Error(`turn ${turn}: ${d.reason}`);
    if (hooks.failAck?.(turn)) {
      // The ack failed: nothing is stored, the messages come back (the dispatcher puts nothing in the cache).
      queue.unshift(...messages);
      continue;
    }
    // `sticky` and `replayed` say how the turn ran, not what it decided: they differ with the cache on.
    const { sticky, replayed, ...rest } = d;
    if (replayed === true) replays++;
    decisions.push(rest);
    if (d.executionId !== executionId) {
      executionId = d.executionId;
      history = [];
    }
    history.push(...d.delta);
    all.push(...d.delta);
    if (sticky !== undefined) cache.put(I, sticky);
    for (const w of d.workerItems) {
      if (w.type !== "ActivityExecute") continue;
      if (w.name === "Fail") queue.push({ type: "ActivityFailed", instance: I, execution_id: w.execution_id, id: w.id, details: { type: "Application", kind: "OrchestrationFailed", message: `boom ${w.input}`, retryable: false } });
      else queue.push({ type: "ActivityCompleted", instance: I, execution_id: w.execution_id, id: w.id, result: w.input });
    }
    for (const o of d.orchestratorItems) {
      if (o.type === "TimerFired" && o.instance === I) queue.push(o);
      else if (o.type === "ContinueAsNew" && o.instance === I) queue.push(o);
      else if (o.type === "StartOrchestration" && o.parent_instance === I) {
        queue.push({ type: "SubOrchCompleted", parent_instance: I, parent_execution_id: o.parent_execution_id ?? 1, parent_id: o.parent_id!, result: JSON.stringify(Number(o.input) * 10) });
      }
    }
  }
  return { decisions, history: all, stats: cache.stats(), replays };
}

/** Runs a scenario with the cache off and on; the two runs must agree event for event. */
function sameBothWays(s: Scenario): Run {
  const off = drive(s, 0);
  const on = drive(s, 16);
  expect(on.decisions).toEqual(off.decisions);
  expect(on.history).toEqual(off.history);
  expect(off.stats.hits).toBe(0);
  expect(on.stats.hits).toBeGreaterThan(0);
  // Every turn the cache resumed is one full replay fewer; a resumed turn is never called a replay.
  expect(on.replays).toBe(off.replays - on.stats.hits);
  return on;
}

const SCENARIOS: Record<string, Scenario> = {
  "sequential activities": {
    body: function* (ctx, n: number) {
      let sum = 0;
      for (let i = 0; i < n; i++) sum += (yield* ctx.scheduleActivity<number>("Work", i)) as number;
      return sum;
    },
    input: 30,
  },
  "fan-out with batches of completions": {
    body: function* (ctx, n: number) {
      const rs = yield* ctx.all(Array.from({ length: n }, (_, i) => ctx.scheduleActivity<number>("Work", i)));
      const more = yield* ctx.scheduleActivity<number>("Work", 99);
      return rs.reduce((a: number, b: number) => a + b, more);
    },
    input: 12,
    perTurn: 3,
  },
  "timers and a race of a timer against an event": {
    body: function* (ctx) {
      for (let i = 0; i < 3; i++) yield* ctx.scheduleTimer(1000);
      const r = yield* ctx.race([ctx.scheduleWait<string>("Go"), ctx.scheduleTimer(60_000)]);
      return r.index;
    },
    input: null,
    inject: { 4: [{ type: "ExternalRaised", instance: I, name: "Go", data: JSON.stringify("now") }] },
  },
  "external events and queue messages": {
    body: function* (ctx) {
      const a = yield* ctx.scheduleWait<string>("A");
      const q1 = yield* ctx.dequeueEvent<string>("Q");
      const q2 = yield* ctx.dequeueEvent<string>("Q");
      const b = yield* ctx.scheduleActivity<string>("Work", a + q1 + q2);
      return b;
    },
    input: null,
    inject: {
      1: [{ type: "ExternalRaised", instance: I, name: "A", data: JSON.stringify("a") }],
      2: [{ type: "QueueMessage", instance: I, name: "Q", data: JSON.stringify("1") }],
      3: [{ type: "QueueMessage", instance: I, name: "Q", data: JSON.stringify("2") }],
    },
  },
  "sub-orchestrations": {
    body: function* (ctx) {
      const a = yield* ctx.scheduleSubOrchestration<number>("Child", 1);
      const rest = yield* ctx.all([ctx.scheduleSubOrchestration<number>("Child", 2), ctx.scheduleSubOrchestration<number>("Child", 3)]);
      return a + rest[0] + rest[1];
    },
    input: null,
  },
  "continue-as-new": {
    body: function* (ctx, n: number) {
      yield* ctx.scheduleActivity("Work", n);
      yield* ctx.scheduleActivity("Work", n + 100);
      if (n < 3) return yield* ctx.continueAsNew(n + 1);
      return n;
    },
    input: 0,
  },
  "custom status and KV": {
    body: function* (ctx) {
      for (let i = 0; i < 5; i++) {
        ctx.setCustomStatus(`step ${i}`);
        ctx.setValue(`k${i % 2}`, i);
        if (i === 3) ctx.clearValue("k0");
        yield* ctx.scheduleActivity("Work", i);
      }
      return ctx.getValues();
    },
    input: null,
  },
  "cancellation while waiting": {
    body: function* (ctx) {
      for (let i = 0; i < 10; i++) yield* ctx.scheduleActivity("Work", i);
      return "done";
    },
    input: null,
    inject: { 4: [{ type: "CancelInstance", instance: I, reason: "by test" }] },
  },
  "errors: a caught activity failure, then an uncaught one": {
    body: function* (ctx) {
      let caught = "";
      try {
        yield* ctx.scheduleActivity("Fail", 1);
      } catch (e) {
        caught = (e as Error).message;
      }
      yield* ctx.scheduleActivity("Work", caught);
      yield* ctx.scheduleActivity("Fail", 2);
      return "unreachable";
    },
    input: null,
  },
  "a dropped race loser (dropped-future breadcrumb) then more work": {
    body: function* (ctx) {
      yield* ctx.race([ctx.scheduleActivity("Work", 1), ctx.scheduleWait("Never")]);
      yield* ctx.scheduleActivity("Work", 2);
      yield* ctx.scheduleActivity("Work", 3);
      return "ok";
    },
    input: null,
  },
};

describe("instance cache: resumed turns decide exactly what a full replay decides (§2.12)", () => {
  for (const [name, s] of Object.entries(SCENARIOS)) {
    test(name, () => {
      const on = sameBothWays(s);
      const last = on.history.at(-1)!;
      expect(["OrchestrationCompleted", "OrchestrationFailed"]).toContain(last.type);
    });
  }

  test("sequential activities resume from the cache on every turn after the first, the completing one included", () => {
    const on = sameBothWays(SCENARIOS["sequential activities"]!);
    // 1 start turn (a new execution, nothing to look up) + 30 completions, all resumed; a finished instance is not kept.
    expect(on.stats).toMatchObject({ hits: 30, misses: 0, invalidations: 0, size: 0 });
  });
});

describe("instance cache: a cached state is used only when the fetched history proves it current (§2.12)", () => {
  const seq = SCENARIOS["sequential activities"]!;

  test("a failed ack leaves nothing cached: the redelivery replays in full and decides the same", () => {
    const off = drive(seq, 0);
    const on = drive(seq, 16, { failAck: (t) => t === 5 || t === 6 });
    expect(on.decisions).toEqual(off.decisions); // the clock advances per committed turn in both runs
    expect(on.history).toEqual(off.history);
    expect(on.stats.misses).toBeGreaterThanOrEqual(2);
  });

  test("an entry for an older history (another node committed meanwhile) is invalidated, not used", () => {
    const s: Scenario = { ...seq, input: 6 };
    let stale: Parameters<InstanceCache["put"]>[1] | null = null;
    const off = drive(s, 0);
    const on = drive(s, 16, {
      beforeFetch: (turn, cache) => {
        // Keep a copy of the entry at turn 2, then put it back at turn 4: its history is two turns old.
        const any = cache as unknown as { entries: Map<string, Parameters<InstanceCache["put"]>[1]> };
        if (turn === 2) stale = any.entries.get(I) ?? null;
        if (turn === 4 && stale !== null) any.entries.set(I, stale);
      },
    });
    expect(stale).not.toBeNull();
    expect(on.decisions).toEqual(off.decisions);
    expect(on.stats.invalidations).toBe(1);
  });

  test("a history of the same length and last id but other events (instance recreated) is not taken for the cached one", () => {
    const reg = OrchestrationRegistry.builder().register("Orch", seq.body).build();
    const options = resolveRuntimeOptions({ logLevel: "off", instanceCacheSize: 4 });
    const cache = new InstanceCache(4);
    const start: WorkItem = { type: "StartOrchestration", instance: I, orchestration: "Orch", input: "3", version: null, parent_instance: null, parent_id: null, execution_id: 1 };
    const fetchedWith = (history: Event[], messages: WorkItem[]): FetchedOrchestration => ({
      item: { instance: I, orchestration_name: "Orch", execution_id: 1, version: "1.0.0", history, messages, history_error: null, kv_snapshot: {} },
      lockToken: "t",
      attemptCount: 1,
    });
    const d1 = planTurn(fetchedWith([], [start]), { registry: reg, options, now: NOW, runtimeVersion: "0.1.0", cache });
    if (d1.type !== "ack" || d1.sticky === undefined) throw new Error("first turn should be cacheable");
    cache.put(I, d1.sticky);
    // The same instance id started again elsewhere a moment later: same shape, other timestamps.
    const other = d1.delta.map((e) => ({ ...e, timestamp_ms: e.timestamp_ms + 5 }));
    const scheduled = other.find((e): e is EventOf<"ActivityScheduled"> => e.type === "ActivityScheduled")!;
    const done: WorkItem = { type: "ActivityCompleted", instance: I, execution_id: 1, id: scheduled.event_id, result: "0" };
    const d2 = planTurn(fetchedWith(other, [done]), { registry: reg, options, now: NOW + 10, runtimeVersion: "0.1.0", cache });
    expect(cache.stats()).toMatchObject({ hits: 0, invalidations: 1 });
    expect(d2.type).toBe("ack");
  });

  test("a turn that throws out of planTurn leaves no entry behind", () => {
    const reg = OrchestrationRegistry.builder().register("Orch", seq.body).build();
    const options = resolveRuntimeOptions({ logLevel: "off", instanceCacheSize: 4 });
    const cache = new InstanceCache(4);
    const start: WorkItem = { type: "StartOrchestration", instance: I, orchestration: "Orch", input: "3", version: null, parent_instance: null, parent_id: null, execution_id: 1 };
    const f: FetchedOrchestration = { item: { instance: I, orchestration_name: "Orch", execution_id: 1, version: "1.0.0", history: [], messages: [start], history_error: null, kv_snapshot: {} }, lockToken: "t", attemptCount: 1 };
    const d1 = planTurn(f, { registry: reg, options, now: NOW, runtimeVersion: "0.1.0", cache });
    if (d1.type !== "ack" || d1.sticky === undefined) throw new Error("first turn should be cacheable");
    cache.put(I, d1.sticky);
    expect(cache.stats().size).toBe(1);
    // Poisoned delivery (attempts over the limit): not a resumable turn, so the entry goes.
    const poisoned = planTurn({ ...f, item: { ...f.item, history: d1.delta, messages: [] }, attemptCount: 99 }, { registry: reg, options, now: NOW + 1, runtimeVersion: "0.1.0", cache });
    expect(poisoned.type).toBe("ack");
    expect(cache.stats().size).toBe(0);
  });
});

describe("InstanceCache bounds and counters", () => {
  test("holds at most instanceCacheSize entries, dropping the least recently used", () => {
    const seq = SCENARIOS["sequential activities"]!;
    const reg = OrchestrationRegistry.builder().register("Orch", seq.body).build();
    const options = resolveRuntimeOptions({ logLevel: "off", instanceCacheSize: 2 });
    const cache = new InstanceCache(2);
    for (const id of ["a", "b", "c"]) {
      const start: WorkItem = { type: "StartOrchestration", instance: id, orchestration: "Orch", input: "3", version: null, parent_instance: null, parent_id: null, execution_id: 1 };
      const d = planTurn({ item: { instance: id, orchestration_name: "Orch", execution_id: 1, version: "1.0.0", history: [], messages: [start], history_error: null, kv_snapshot: {} }, lockToken: "t", attemptCount: 1 }, { registry: reg, options, now: NOW, runtimeVersion: "0.1.0", cache });
      if (d.type !== "ack" || d.sticky === undefined) throw new Error("cacheable");
      cache.put(id, d.sticky);
    }
    expect(cache.stats()).toMatchObject({ size: 2, evictions: 1, capacity: 2 });
  });

  test("instanceCacheSize 0 keeps nothing and counts nothing", () => {
    const off = drive(SCENARIOS["sequential activities"]!, 0);
    expect(off.stats).toEqual({ hits: 0, misses: 0, evictions: 0, invalidations: 0, size: 0, capacity: 0 });
  });

  test("instanceCacheSize must be an integer >= 0", () => {
    expect(() => resolveRuntimeOptions({ instanceCacheSize: -1 })).toThrow(/instanceCacheSize/);
    expect(() => resolveRuntimeOptions({ instanceCacheSize: 1.5 })).toThrow(/instanceCacheSize/);
    expect(resolveRuntimeOptions({}).instanceCacheSize).toBe(1000);
  });
});
