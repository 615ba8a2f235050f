// § numbers in this file refer to docs/runtime-semantics.md.
// The instance cache end to end (§2.12): the same orchestrations run on a runtime with the cache on
// and on one with it off write the same histories, event for event (timestamps and clock-derived
// fields excepted), on every provider; and the cached runtime really resumed turns.
import { expect, test } from "bun:test";
import type { Event } from "../../src/core/events.ts";
import type { OrchestrationContext } from "../../src/runtime/context.ts";
import { describeEachProvider, type Handlers, type Harness } from "./harness.ts";

type Ctx = OrchestrationContext;

/** An event without what depends on the wall clock of the turn that wrote it. */
function stable(e: Event): Record<string, unknown> {
  const { timestamp_ms: _t, ...rest } = e as Event & Record<string, unknown>;
  delete rest.fire_at_ms;
  delete rest.last_updated_at_ms;
  return rest;
}

const handlers: Handlers = {
  activities: {
    Work: async (_ctx: unknown, x: number) => x + 1,
    Fail: async (_ctx: unknown, x: number) => {
      throw new Error(`boom ${x}`);
    },
  },
  orchestrations: {
    Child: function* (ctx: Ctx, x: number) {
      return (yield* ctx.scheduleActivity<number>("Work", x)) * 10;
    },
    /** Sequential activities, fan-out, a timer, a queue message, a child, status, KV, a caught failure, then continue-as-new once. */
    Mixed: function* (ctx: Ctx, round: number) {
      let sum = 0;
      for (let i = 0; i < 5; i++) {
        ctx.setCustomStatus(`step ${i}`);
        ctx.setValue("last", i);
        sum += yield* ctx.scheduleActivity<number>("Work", i);
      }
      const fan = yield* ctx.all([0, 1, 2].map((i) => ctx.scheduleActivity<number>("Work", 10 + i)));
      yield* ctx.scheduleTimer(5);
      const child = yield* ctx.scheduleSubOrchestration<number>("Child", round);
      let caught = "";
      try {
        yield* ctx.scheduleActivity("Fail", round);
      } catch (e) {
        caught = (e as Error).message;
      }
      ctx.clearValue("last");
      if (round === 0) {
        ctx.setCustomStatus("waiting");
        const msg = yield* ctx.dequeueEvent<string>("Go");
        return yield* ctx.continueAsNew(round + 1 + msg.length * 0);
      }
      return { sum, fan, child, caught };
    },
    /** Waits for a queue message that never comes; cancelled by the test. */
    Waiter: function* (ctx: Ctx) {
      yield* ctx.scheduleActivity("Work", 1);
      ctx.setCustomStatus("waiting");
      yield* ctx.dequeueEvent("Never");
      return "unreachable";
    },
  },
};

/** Runs both scenarios on a fresh store with `instanceCacheSize`; returns every execution's history. */
async function runScenarios(e2e: Harness, instanceCacheSize: number) {
  // One orchestration and one worker slot: completions arrive in the same order in both runs.
  const env = await e2e.start(handlers, { instanceCacheSize, orchestrationConcurrency: 1, workerConcurrency: 1, workerPrefetch: false });
  const { client } = env;
  await client.startOrchestration("mixed", "Mixed", 0);
  await client.waitForStatusChange("mixed", 5, { timeoutMs: 10_000 }); // the sixth status: "waiting" for Go
  await client.enqueueEvent("mixed", "Go", "now");
  const done = await client.waitForOrchestration("mixed", { timeoutMs: 10_000 });
  expect(done.status).toBe("Completed");

  await client.startOrchestration("waiter", "Waiter");
  await client.waitForStatusChange("waiter", 0, { timeoutMs: 10_000 });
  await client.cancelInstance("waiter", "by test");
  const cancelled = await client.waitForOrchestration("waiter", { timeoutMs: 10_000 });
  expect(cancelled.status).toBe("Failed");

  const histories: Record<string, unknown[]> = {};
  const ids = ["mixed", "waiter"];
  for (let i = 0; i < ids.length; i++) {
    for (const ex of await client.listExecutions(ids[i]!)) {
      const h = await client.readExecutionHistory(ids[i]!, ex);
      histories[`${ids[i]}#${ex}`] = h.map(stable);
      for (const e of h) if (e.type === "SubOrchestrationScheduled") ids.push(e.instance); // the children too
    }
  }
  const stats = env.runtime.instanceCacheStats();
  await env.shutdown();
  return { histories, stats };
}

describeEachProvider("instance cache (instanceCacheSize)", (e2e: Harness) => {
  test("histories are the same event for event with the cache on and off; the cached runtime resumed turns", async () => {
    const off = await runScenarios(e2e, 0);
    const on = await runScenarios(e2e, 8);
    expect(Object.keys(off.histories)).toEqual(["mixed#1", "mixed#2", "waiter#1", "mixed::sub::30#1", "mixed::sub::2::30#1"]);
    expect(on.histories).toEqual(off.histories);
    expect(off.stats.hits).toBe(0);
    expect(on.stats.hits).toBeGreaterThan(5);
  }, 30_000);
});
