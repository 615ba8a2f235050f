// § numbers in this file refer to docs/runtime-semantics.md ("§8 item N" is §8.N there).
// §8 items 44–50: poison messages, lock renewal, exclusive instance processing under concurrency,
// instance management on runtime-made instances, corrupted history, shutdown with work in flight,
// and usage errors of the generator model.
import { expect, test } from "bun:test";
import { Client } from "../../src/client.ts";
import type { ErrorDetails } from "../../src/core/error-details.ts";
import { ClientError, ConfigurationError, ProviderError } from "../../src/core/errors.ts";
import type { Event } from "../../src/core/events.ts";
import type { FetchedOrchestration, FetchedWorkItem } from "../../src/core/queue-types.ts";
import type { Provider } from "../../src/provider.ts";
import { OrchestrationRegistry } from "../../src/runtime/registry.ts";
import { deferred, describeEachProvider, historyTypes } from "./harness.ts";

/**
 * A view of `p` whose methods named in `overrides` are replaced; every other member is the real
 * provider's (methods bound to it). Runtime and client both accept it as a Provider.
 */
function wrap(p: Provider, overrides: Partial<Record<keyof Provider, (...args: any[]) => any>>): Provider {
  return new Proxy(p, {
    get(target, key) {
      if (Object.hasOwn(overrides, key)) return (overrides as Record<PropertyKey, unknown>)[key];
      const v = Reflect.get(target, key, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

/** Polls `check` until it returns a value other than undefined, failing after `timeoutMs`. */
async function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(10);
  }
}

/** Waits until the instance's latest history contains an event of `type`. */
function untilHistoryHas(client: Client, instance: string, type: Event["type"], timeoutMs = 5_000): Promise<true> {
  return until(`${instance} to record ${type}`, async () => ((await historyTypes(client, instance)).includes(type) ? true : undefined), timeoutMs);
}

function failedDetails(status: { status: string; details?: ErrorDetails }): ErrorDetails {
  expect(status.status).toBe("Failed");
  return status.details!;
}

describeEachProvider("poison, renewal, concurrency, management, shutdown and usage errors", (e2e) => {
  // §8 item 44 (root instance): the 4th delivery with maxAttempts 3 poisons it without running user code.
  test("an orchestration message fetched more than maxAttempts times fails the instance with Poison without running its code", async () => {
    const p = (await e2e.store()).provider;
    const client = new Client(p);
    await client.startOrchestration("poison-root", "NeverRuns", { n: 5 });
    // Three deliveries that never commit (as if three runtimes had crashed mid-turn).
    for (let i = 1; i <= 3; i++) {
      const f = await p.fetchOrchestrationItem(5_000, 0);
      expect(f).not.toBeNull();
      expect(f!.item.instance).toBe("poison-root");
      expect(f!.attemptCount).toBe(i);
      await p.abandonOrchestrationItem(f!.lockToken, null, false);
    }
    let ran = false;
    const env = await e2e.start(
      {
        orchestrations: {
          NeverRuns: function* () {
            ran = true;
            return "ran";
          },
        },
      },
      { maxAttempts: 3 },
      p,
    );
    const status = await env.client.waitForOrchestration("poison-root", { timeoutMs: 5_000 });
    const details = failedDetails(status);
    expect(details).toMatchObject({
      type: "Poison",
      attempt_count: 4,
      max_attempts: 3,
      message_type: { type: "Orchestration", instance: "poison-root", execution_id: 1 },
    });
    expect(status.status === "Failed" && status.message).toStartWith("poison:");
    expect(ran).toBe(false);
    // History: a synthesized Started (from the start message) and the poison failure.
    const h = await env.client.readExecutionHistory("poison-root");
    expect(h.map((e) => e.type)).toEqual(["OrchestrationStarted", "OrchestrationFailed"]);
    expect(h[0]).toMatchObject({ event_id: 1, name: "NeverRuns", input: JSON.stringify({ n: 5 }), parent_instance: null });
    expect(h[1]).toMatchObject({ event_id: 2, details });
    const info = await env.client.getInstanceInfo("poison-root");
    expect(info).toMatchObject({ status: "Failed", orchestration_name: "NeverRuns" });
  });

  // §8 item 44 (child instance): a child whose every commit fails is poisoned, and its parent is
  // notified and fails with the same details (a poison failure is never visible to user code).
  test("a child whose turns never commit is poisoned after maxAttempts and its parent fails with the same Poison details", async () => {
    const p = (await e2e.store()).provider;
    const tokens = new Map<string, string>();
    const childDeliveries: number[] = [];
    let failedChildAcks = 0;
    const wrapped = wrap(p, {
      async fetchOrchestrationItem(...args: Parameters<Provider["fetchOrchestrationItem"]>) {
        const f = await p.fetchOrchestrationItem(...args);
        if (f !== null) {
          tokens.set(f.lockToken, f.item.instance);
          if (f.item.instance === "poison-child") childDeliveries.push(f.attemptCount);
        }
        return f;
      },
      async ackOrchestrationItem(...args: Parameters<Provider["ackOrchestrationItem"]>) {
        const [token, , delta] = args;
        const poisonFailure = delta.some((e) => e.type === "OrchestrationFailed" && e.details.type === "Poison");
        if (tokens.get(token) === "poison-child" && !poisonFailure) {
          failedChildAcks++;
          throw ProviderError.unavailable("ackOrchestrationItem", "injected: database is busy");
        }
        return p.ackOrchestrationItem(...args);
      },
    });
    let caught: unknown = null;
    const env = await e2e.start(
      {
        orchestrations: {
          Parent: function* (ctx) {
            try {
              return yield* ctx.scheduleSubOrchestration("Child", 7, { instanceId: "poison-child" });
            } catch (err) {
              caught = err;
              return "handled";
            }
          },
          Child: function* (_ctx, n: number) {
            return n * 2;
          },
        },
      },
      { maxAttempts: 3 },
      wrapped,
    );
    await env.client.startOrchestration("poison-parent", "Parent", null);
    const parent = await env.client.waitForOrchestration("poison-parent", { timeoutMs: 10_000 });
    const child = await env.client.waitForOrchestration("poison-child", { timeoutMs: 1_000 });

    const childDetails = failedDetails(child);
    expect(childDetails).toMatchObject({
      type: "Poison",
      attempt_count: 4,
      max_attempts: 3,
      message_type: { type: "Orchestration", instance: "poison-child", execution_id: 1 },
    });
    expect(childDeliveries).toEqual([1, 2, 3, 4]);
    expect(failedChildAcks).toBeGreaterThanOrEqual(3);

    // The parent fails with the child's poison details; its catch block never ran.
    expect(failedDetails(parent)).toEqual(childDetails);
    expect(caught).toBeNull();

    const ph = await env.client.readExecutionHistory("poison-parent");
    expect(ph.map((e) => e.type)).toEqual(["OrchestrationStarted", "SubOrchestrationScheduled", "SubOrchestrationFailed", "OrchestrationFailed"]);
    expect(ph[1]).toMatchObject({ event_id: 2, instance: "poison-child", name: "Child" });
    expect(ph[2]).toMatchObject({ event_id: 3, source_event_id: 2, details: childDetails });

    // The child's history: its Started (synthesized at poison time, keeping the parent link) and the failure.
    const ch = await env.client.readExecutionHistory("poison-child");
    expect(ch.map((e) => e.type)).toEqual(["OrchestrationStarted", "OrchestrationFailed"]);
    expect(ch[0]).toMatchObject({ name: "Child", input: "7", parent_instance: "poison-parent", parent_id: 2 });
  });

  // §8 item 45: an activity running 2.5x its lease and a turn whose commit takes 2.5x the instance
  // lease (both run side by side) each finish exactly once, because both locks are renewed.
  test("an activity longer than workerLockTimeoutMs and a turn slower than orchestratorLockTimeoutMs both finish exactly once thanks to renewal", async () => {
    const p = (await e2e.store()).provider;
    const tokens = new Map<string, string>();
    let slowActivityDeliveries = 0;
    let workerRenewals = 0;
    const slowTurnDeliveries: number[] = [];
    let orchRenewals = 0;
    let ackFailures = 0;
    let slowed = false;
    const wrapped = wrap(p, {
      async fetchWorkItem(...args: Parameters<Provider["fetchWorkItem"]>) {
        const w: FetchedWorkItem | null = await p.fetchWorkItem(...args);
        if (w !== null && w.item.type === "ActivityExecute" && w.item.name === "Slow") slowActivityDeliveries++;
        return w;
      },
      async renewWorkItemLock(...args: Parameters<Provider["renewWorkItemLock"]>) {
        await p.renewWorkItemLock(...args);
        workerRenewals++;
      },
      async fetchOrchestrationItem(...args: Parameters<Provider["fetchOrchestrationItem"]>) {
        const f: FetchedOrchestration | null = await p.fetchOrchestrationItem(...args);
        if (f !== null) tokens.set(f.lockToken, f.item.instance);
        if (f !== null && f.item.instance === "slow-turn") slowTurnDeliveries.push(f.attemptCount);
        return f;
      },
      async ackOrchestrationItem(...args: Parameters<Provider["ackOrchestrationItem"]>) {
        const slowTurn = tokens.get(args[0]) === "slow-turn";
        if (slowTurn && !slowed) {
          slowed = true; // only the first turn's commit is slow
          await Bun.sleep(2_500);
        }
        try {
          return await p.ackOrchestrationItem(...args);
        } catch (err) {
          ackFailures++;
          throw err;
        }
      },
      async renewOrchestrationItemLock(...args: Parameters<Provider["renewOrchestrationItemLock"]>) {
        await p.renewOrchestrationItemLock(...args);
        if (tokens.get(args[0]) === "slow-turn") orchRenewals++;
      },
    });
    let slowCalls = 0;
    let echoCalls = 0;
    let sawAbort = false;
    const env = await e2e.start(
      {
        activities: {
          Slow: async (ctx, x: number) => {
            slowCalls++;
            await Bun.sleep(2_500);
            sawAbort = ctx.signal.aborted;
            return x + 1;
          },
          Echo: async (_ctx, x: string) => {
            echoCalls++;
            return x;
          },
        },
        orchestrations: {
          SlowActivity: function* (ctx, x: number) {
            return yield* ctx.scheduleActivity("Slow", x);
          },
          SlowTurn: function* (ctx, x: string) {
            return yield* ctx.scheduleActivity("Echo", x);
          },
        },
      },
      {
        workerLockTimeoutMs: 1_000,
        workerLockRenewalBufferMs: 500,
        orchestratorLockTimeoutMs: 1_000,
        orchestratorLockRenewalBufferMs: 500,
        orchestrationConcurrency: 2,
        workerConcurrency: 2,
      },
      wrapped,
    );
    const c = env.client;
    await c.startOrchestration("slow-activity", "SlowActivity", 41);
    await c.startOrchestration("slow-turn", "SlowTurn", "once");
    const [activityStatus, turnStatus] = await Promise.all([
      c.waitForOrchestration("slow-activity", { timeoutMs: 10_000 }),
      c.waitForOrchestration("slow-turn", { timeoutMs: 10_000 }),
    ]);

    // The long activity: one delivery, one run, never signalled, renewed meanwhile.
    expect(activityStatus).toMatchObject({ status: "Completed", output: 42 });
    expect(slowCalls).toBe(1);
    expect(slowActivityDeliveries).toBe(1);
    expect(sawAbort).toBe(false);
    expect(workerRenewals).toBeGreaterThanOrEqual(2);
    const ah = await c.readExecutionHistory("slow-activity");
    expect(ah.map((e) => e.type)).toEqual(["OrchestrationStarted", "ActivityScheduled", "ActivityCompleted", "OrchestrationCompleted"]);
    expect(ah[2]).toMatchObject({ source_event_id: 2, result: "42" });

    // The slow turn: no second delivery of the start (that would mean the lock lapsed), no failed commit.
    expect(turnStatus).toMatchObject({ status: "Completed", output: "once" });
    expect(slowed).toBe(true);
    expect(slowTurnDeliveries).toEqual([1, 1]); // the start turn and the completion turn, each delivered once
    expect(ackFailures).toBe(0);
    expect(orchRenewals).toBeGreaterThanOrEqual(2);
    expect(echoCalls).toBe(1);
    expect(await historyTypes(c, "slow-turn")).toEqual(["OrchestrationStarted", "ActivityScheduled", "ActivityCompleted", "OrchestrationCompleted"]);
  });

  // §8 item 46: 200 instances, two runtimes × 4 orchestration slots: no instance is ever held by two
  // dispatchers at once, every activity runs once, everything completes.
  test("with 200 instances and concurrent dispatchers no instance is processed by two dispatchers at once", async () => {
    const N = 200;
    const store = await e2e.store();
    const p1 = store.provider;
    const p2 = await store.connect(); // a second connection in file mode; the same store in memory
    let seq = 0;
    const active = new Map<string, { token: string; seq: number }>();
    const tokenInstance = new Map<string, string>();
    const overlaps: string[] = [];
    let maxActive = 0;
    let deliveries = 0;
    const tracked = (p: Provider) =>
      wrap(p, {
        async fetchOrchestrationItem(...args: Parameters<Provider["fetchOrchestrationItem"]>) {
          const f = await p.fetchOrchestrationItem(...args);
          if (f !== null) {
            deliveries++;
            const at = ++seq;
            const held = active.get(f.item.instance);
            if (held !== undefined) overlaps.push(`${f.item.instance}: fetched at #${at} while held since #${held.seq}`);
            active.set(f.item.instance, { token: f.lockToken, seq: at });
            tokenInstance.set(f.lockToken, f.item.instance);
            maxActive = Math.max(maxActive, active.size);
          }
          return f;
        },
        async ackOrchestrationItem(...args: Parameters<Provider["ackOrchestrationItem"]>) {
          release(args[0]);
          return p.ackOrchestrationItem(...args);
        },
        async abandonOrchestrationItem(...args: Parameters<Provider["abandonOrchestrationItem"]>) {
          release(args[0]);
          return p.abandonOrchestrationItem(...args);
        },
      });
    // The holder's interval ends when it hands the batch back (ack or abandon call).
    const release = (token: string) => {
      const inst = tokenInstance.get(token);
      if (inst !== undefined && active.get(inst)?.token === token) active.delete(inst);
    };
    const runs = new Map<string, number>();
    const handlers = {
      activities: {
        Square: async (ctx: any, x: number) => {
          const key = `${ctx.instanceId}#${ctx.activityId}`;
          runs.set(key, (runs.get(key) ?? 0) + 1);
          if (x % 7 === 0) await Bun.sleep(1);
          return x * x;
        },
      },
      orchestrations: {
        Work: function* (ctx: any, i: number) {
          const a: number = yield* ctx.scheduleActivity("Square", i);
          const [b, c]: [number, number] = yield* ctx.all([ctx.scheduleActivity("Square", i + 1), ctx.scheduleActivity("Square", i + 2)]);
          return a + b + c;
        },
      },
    };
    const options = { orchestrationConcurrency: 4, workerConcurrency: 4, dispatcherPollIntervalMs: 5 };
    const env1 = await e2e.start(handlers, options, tracked(p1));
    await e2e.start(handlers, options, tracked(p2));

    const ids = Array.from({ length: N }, (_, i) => `conc-${i}`);
    await Promise.all(ids.map((id, i) => env1.client.startOrchestration(id, "Work", i)));
    const statuses = await Promise.all(ids.map((id) => env1.client.waitForOrchestration(id, { timeoutMs: 20_000 })));

    expect(overlaps).toEqual([]);
    statuses.forEach((s, i) => expect(s).toMatchObject({ status: "Completed", output: i * i + (i + 1) ** 2 + (i + 2) ** 2 }));
    expect(deliveries).toBeGreaterThanOrEqual(N * 3); // start, after the first activity, after the fan-out (≥1 turn)
    expect(maxActive).toBeGreaterThan(1); // the dispatchers really did run side by side
    expect(runs.size).toBe(N * 3);
    expect([...runs.values()].every((n) => n === 1)).toBe(true);
    // One history sample for shape: each schedule completed once, ids 1..n.
    const h = await env1.client.readExecutionHistory("conc-17");
    expect(h.map((e) => e.event_id)).toEqual(h.map((_, i) => i + 1));
    expect(h.filter((e) => e.type === "ActivityScheduled").length).toBe(3);
    expect(h.filter((e) => e.type === "ActivityCompleted").length).toBe(3);
  });

  // §8 item 47: deleteInstance on a running tree needs force, refuses the child, cascades from the root.
  test("deleteInstance needs force for a running tree, refuses the sub-orchestration, and cascades from the root", async () => {
    const env = await e2e.start({
      orchestrations: {
        TreeRoot: function* (ctx) {
          return yield* ctx.scheduleSubOrchestration("TreeLeaf", null, { instanceId: "tree-leaf" });
        },
        TreeLeaf: function* (ctx) {
          return yield* ctx.scheduleWait("go");
        },
      },
    });
    const c = env.client;
    await c.startOrchestration("tree-root", "TreeRoot", null);
    await untilHistoryHas(c, "tree-leaf", "ExternalSubscribed");

    expect(await c.getInstanceTree("tree-root")).toEqual({ root_id: "tree-root", all_ids: expect.arrayContaining(["tree-root", "tree-leaf"]) });
    expect((await c.getInstanceTree("tree-root")).all_ids.length).toBe(2);

    const refused = await c.deleteInstance("tree-root").catch((e) => e);
    expect(refused).toBeInstanceOf(ClientError);
    expect((refused as ClientError).code).toBe("InstanceStillRunning");
    for (const force of [false, true]) {
      const sub = await c.deleteInstance("tree-leaf", { force }).catch((e) => e);
      expect(sub).toBeInstanceOf(ClientError);
      expect((sub as ClientError).code).toBe("CannotDeleteSubOrchestration");
    }
    // Nothing was deleted by the refusals.
    expect((await c.getOrchestrationStatus("tree-root")).status).toBe("Running");
    expect((await c.getOrchestrationStatus("tree-leaf")).status).toBe("Running");

    const res = await c.deleteInstance("tree-root", { force: true });
    expect(res.instances_deleted).toBe(2);
    expect(res.executions_deleted).toBe(2);
    expect(res.events_deleted).toBe(4); // root: Started, SubOrchestrationScheduled; leaf: Started, ExternalSubscribed
    expect((await c.getOrchestrationStatus("tree-root")).status).toBe("NotFound");
    expect((await c.getOrchestrationStatus("tree-leaf")).status).toBe("NotFound");
    const all = await c.listAllInstances();
    expect(all).not.toContain("tree-root");
    expect(all).not.toContain("tree-leaf");
  });

  // §8 item 47: a completed tree is deleted without force, from the root, child included.
  test("deleteInstance of a completed root removes its completed children too", async () => {
    const env = await e2e.start({
      orchestrations: {
        Root: function* (ctx) {
          const a: number = yield* ctx.scheduleSubOrchestration("Leaf", 1);
          const b: number = yield* ctx.scheduleSubOrchestration("Leaf", 2);
          return a + b;
        },
        Leaf: function* (_ctx, n: number) {
          return n * 10;
        },
      },
    });
    const c = env.client;
    await c.startOrchestration("done-root", "Root", null);
    expect(await c.waitForOrchestration("done-root", { timeoutMs: 5_000 })).toMatchObject({ status: "Completed", output: 30 });
    const tree = await c.getInstanceTree("done-root");
    expect(tree.all_ids.sort()).toEqual(["done-root", "done-root::sub::2", "done-root::sub::4"].sort());
    const sub = await c.deleteInstance("done-root::sub::2").catch((e) => e);
    expect((sub as ClientError).code).toBe("CannotDeleteSubOrchestration");
    const res = await c.deleteInstance("done-root");
    expect(res.instances_deleted).toBe(3);
    for (const id of tree.all_ids) expect((await c.getOrchestrationStatus(id)).status).toBe("NotFound");
  });

  // §8 item 47: a forced delete while an activity runs cannot be resurrected by that activity's completion.
  test("a forced delete during an in-flight activity is not resurrected by the activity's late completion", async () => {
    const started = deferred();
    const release = deferred();
    const acked = deferred<string>();
    const p = (await e2e.store()).provider;
    const wrapped = wrap(p, {
      async ackWorkItem(...args: Parameters<Provider["ackWorkItem"]>) {
        try {
          await p.ackWorkItem(...args);
          acked.resolve("acked");
        } catch (err) {
          acked.resolve("refused");
          throw err;
        }
      },
    });
    const env = await e2e.start(
      {
        activities: {
          Block: async () => {
            started.resolve();
            await release.promise;
            return "late";
          },
        },
        orchestrations: {
          Blocked: function* (ctx) {
            return yield* ctx.scheduleActivity("Block", null);
          },
        },
      },
      { activityCancellationGracePeriodMs: 5_000 },
      wrapped,
    );
    const c = env.client;
    await c.startOrchestration("doomed", "Blocked", null);
    await started.promise;
    await c.deleteInstance("doomed", { force: true });
    expect((await c.getOrchestrationStatus("doomed")).status).toBe("NotFound");
    release.resolve();
    // Either the worker noticed the deletion (renewal failed, result dropped) or its ack is refused.
    const outcome = await Promise.race([acked.promise, Bun.sleep(1_500).then(() => "no ack")]);
    expect(outcome).not.toBe("acked");
    await Bun.sleep(200); // give a (wrongly) enqueued completion a chance to be processed
    expect((await c.getOrchestrationStatus("doomed")).status).toBe("NotFound");
    expect(await c.listAllInstances()).not.toContain("doomed");
  });

  // §8 item 47: bulk delete removes terminal roots (with their trees) and silently skips running ones.
  test("deleteInstanceBulk deletes terminal roots with their children and skips running instances", async () => {
    const env = await e2e.start({
      orchestrations: {
        Quick: function* (_ctx, n: number) {
          return n;
        },
        WithChild: function* (ctx) {
          return yield* ctx.scheduleSubOrchestration("Quick", 9, { instanceId: "bulk-child" });
        },
        Waits: function* (ctx) {
          return yield* ctx.scheduleWait("never");
        },
      },
    });
    const c = env.client;
    for (const i of [1, 2, 3]) await c.startOrchestration(`bulk-q${i}`, "Quick", i);
    await c.startOrchestration("bulk-parent", "WithChild", null);
    await c.startOrchestration("bulk-running", "Waits", null);
    for (const id of ["bulk-q1", "bulk-q2", "bulk-q3", "bulk-parent"]) {
      expect((await c.waitForOrchestration(id, { timeoutMs: 5_000 })).status).toBe("Completed");
    }
    await untilHistoryHas(c, "bulk-running", "ExternalSubscribed");

    const res = await c.deleteInstanceBulk({ instance_ids: ["bulk-q1", "bulk-q2", "bulk-q3", "bulk-parent", "bulk-running"] });
    expect(res.instances_deleted).toBe(5); // 3 quick + parent + its child
    for (const id of ["bulk-q1", "bulk-q2", "bulk-q3", "bulk-parent", "bulk-child"]) {
      expect((await c.getOrchestrationStatus(id)).status).toBe("NotFound");
    }
    expect((await c.getOrchestrationStatus("bulk-running")).status).toBe("Running");
    expect(await historyTypes(c, "bulk-running")).toEqual(["OrchestrationStarted", "ExternalSubscribed"]);
  });

  // §8 item 47: prune removes old executions but never the current one, running or finished.
  test("pruneExecutions removes earlier executions but never the current one", async () => {
    const env = await e2e.start({
      orchestrations: {
        Looper: function* (ctx, n: number) {
          if (n < 3) return yield* ctx.continueAsNew(n + 1);
          const extra: number = yield* ctx.scheduleWait("stop");
          return n + extra;
        },
      },
    });
    const c = env.client;
    await c.startOrchestration("looper", "Looper", 0);
    await until("execution 4 to subscribe", async () => {
      const ex = await c.listExecutions("looper");
      if (ex.length < 4) return undefined;
      return (await historyTypes(c, "looper", 4)).includes("ExternalSubscribed") ? true : undefined;
    });
    expect(await c.listExecutions("looper")).toEqual([1, 2, 3, 4]);

    // keep_last 0 behaves like 1: the running current execution stays.
    const pruned = await c.pruneExecutions("looper", { keep_last: 0 });
    expect(pruned.executions_deleted).toBe(3);
    expect(pruned.events_deleted).toBe(6); // Started + ContinuedAsNew in each of 1..3
    expect(await c.listExecutions("looper")).toEqual([4]);
    expect(await historyTypes(c, "looper", 4)).toEqual(["OrchestrationStarted", "ExternalSubscribed"]);
    expect((await c.getOrchestrationStatus("looper")).status).toBe("Running");

    // The instance still works after pruning, and pruning a finished one keeps its last execution.
    await c.raiseEvent("looper", "stop", 4);
    expect(await c.waitForOrchestration("looper", { timeoutMs: 5_000 })).toMatchObject({ status: "Completed", output: 7 });
    for (const opts of [{ keep_last: 0 }, { keep_last: 1 }, { completed_before: Date.now() + 60_000 }]) {
      expect((await c.pruneExecutions("looper", opts)).executions_deleted).toBe(0);
    }
    expect(await c.listExecutions("looper")).toEqual([4]);
    expect(await historyTypes(c, "looper")).toEqual(["OrchestrationStarted", "ExternalSubscribed", "ExternalEvent", "OrchestrationCompleted"]);
  });

  // §8 item 48: unreadable history is abandoned with a 1 s backoff each delivery, then poisoned.
  test("undeserializable history is retried with a 1 s backoff and poisoned after maxAttempts", async () => {
    const store = await e2e.store();
    const p = store.provider;
    const deliveries: { attempt: number; at: number; historyError: string | null }[] = [];
    const corruptLocks = new Set<string>();
    const commits: Event[][] = [];
    let ran = 0;
    const wrapped = wrap(p, {
      async fetchOrchestrationItem(...args: Parameters<Provider["fetchOrchestrationItem"]>) {
        const f = await p.fetchOrchestrationItem(...args);
        if (f !== null && f.item.instance === "corrupt") {
          deliveries.push({ attempt: f.attemptCount, at: Date.now(), historyError: f.item.history_error });
          if (f.item.history_error !== null) corruptLocks.add(f.lockToken);
        }
        return f;
      },
      async ackOrchestrationItem(...args: Parameters<Provider["ackOrchestrationItem"]>) {
        if (corruptLocks.has(args[0])) commits.push(args[2]);
        return p.ackOrchestrationItem(...args);
      },
    });
    const env = await e2e.start(
      {
        orchestrations: {
          Corruptible: function* (ctx) {
            ran++;
            return yield* ctx.scheduleWait("go");
          },
        },
      },
      { maxAttempts: 2 },
      wrapped,
    );
    const c = env.client;
    await c.startOrchestration("corrupt", "Corruptible", null);
    await untilHistoryHas(c, "corrupt", "ExternalSubscribed");
    const ranBefore = ran;
    deliveries.length = 0;

    const stored = (await c.getExecutionInfo("corrupt", 1)).event_count;
    await store.corruptHistory("corrupt");
    const t0 = Date.now();
    await c.raiseEvent("corrupt", "go", "payload");
    const info = await until("the corrupt instance to fail", async () => {
      const i = await c.getInstanceInfo("corrupt");
      return i.status === "Failed" ? i : undefined;
    }, 10_000);
    const elapsed = Date.now() - t0;

    expect(info.output ?? "").toMatch(/^poison:/);
    expect(info.output ?? "").toMatch(/deserializ/);
    // The client still reports how it ended although the history can no longer be decoded.
    const status = await c.getOrchestrationStatus("corrupt");
    expect(status.status).toBe("Failed");
    if (status.status === "Failed") {
      expect(status.details.type).toBe("Poison");
      expect(status.message).toMatch(/deserializ/);
    }
    // Deliveries 1 and 2 are abandoned (1 s apart); the 3rd exceeds maxAttempts 2 and poisons.
    expect(deliveries.map((d) => d.attempt)).toEqual([1, 2, 3]);
    expect(deliveries.every((d) => d.historyError !== null)).toBe(true);
    expect(deliveries[1]!.at - deliveries[0]!.at).toBeGreaterThanOrEqual(900);
    expect(deliveries[2]!.at - deliveries[1]!.at).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeGreaterThanOrEqual(1_800);
    expect(elapsed).toBeLessThan(8_000);
    expect(ran).toBe(ranBefore); // user code never ran on the unreadable history

    // The failure was appended with the sentinel event id, the one turn committed on the corrupt
    // history, never rewriting its rows: they are all still stored, and still unreadable.
    expect(commits).toHaveLength(1);
    expect(commits[0]!).toHaveLength(1);
    expect(commits[0]![0]).toMatchObject({
      event_id: 99_999,
      type: "OrchestrationFailed",
      details: { type: "Poison", attempt_count: 3, max_attempts: 2, message_type: { type: "FailedDeserialization", instance: "corrupt", execution_id: 1 } },
    });
    expect((await c.getExecutionInfo("corrupt", 1)).event_count).toBe(stored + 1);
    expect(await p.readWithExecution("corrupt", 1).catch((e: unknown) => e)).toMatchObject({ kind: "Corrupt" });
    // The queue is drained: the raised event was consumed by the poison commit, not left to loop.
    expect((await c.getQueueDepths()).orchestrator_queue).toBe(0);
  });

  // §8 item 49: shutdown signals the running activity; the next runtime redelivers it and finishes.
  test("shutdown with a cooperative activity in flight: after restart the activity is redelivered and the instance completes", async () => {
    const firstStarted = deferred();
    let calls = 0;
    let firstSawAbort = false;
    const handlers = {
      activities: {
        Work: async (ctx: any, x: number) => {
          calls++;
          if (calls === 1) {
            firstStarted.resolve();
            await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve(), { once: true }));
            firstSawAbort = ctx.signal.aborted;
            throw new Error("interrupted by shutdown");
          }
          return x * 3;
        },
      },
      orchestrations: {
        Job: function* (ctx: any, x: number) {
          return yield* ctx.scheduleActivity("Work", x);
        },
      },
    };
    const opts = { workerLockTimeoutMs: 1_000, workerLockRenewalBufferMs: 500 };
    const env1 = await e2e.start(handlers, opts);
    await env1.client.startOrchestration("restart-coop", "Job", 5);
    await firstStarted.promise;
    await env1.shutdown();
    expect(firstSawAbort).toBe(true);
    expect((await env1.client.getOrchestrationStatus("restart-coop")).status).toBe("Running");
    // A restart: file mode closes the connection and opens a new one; memory mode keeps the store.
    const env2 = await env1.restart();
    const status = await env2.client.waitForOrchestration("restart-coop", { timeoutMs: 10_000 });
    expect(status).toMatchObject({ status: "Completed", output: 15 });
    expect(calls).toBe(2);
    expect(await historyTypes(env2.client, "restart-coop")).toEqual(["OrchestrationStarted", "ActivityScheduled", "ActivityCompleted", "OrchestrationCompleted"]);
  });

  // §8 item 49: an activity that ignores the shutdown signal is redelivered and its late result dropped.
  test("shutdown with a non-cooperative activity in flight: redelivered after restart, the late first result is discarded", async () => {
    const firstStarted = deferred();
    const firstRelease = deferred();
    let calls = 0;
    let firstReturned = false;
    const handlers = {
      activities: {
        Work: async (_ctx: any, x: number) => {
          calls++;
          if (calls === 1) {
            firstStarted.resolve();
            await firstRelease.promise; // ignores ctx.signal
            firstReturned = true;
            return "stale";
          }
          return x + 100;
        },
      },
      orchestrations: {
        Job: function* (ctx: any, x: number) {
          return yield* ctx.scheduleActivity("Work", x);
        },
      },
    };
    const opts = { workerLockTimeoutMs: 1_000, workerLockRenewalBufferMs: 500, activityCancellationGracePeriodMs: 100 };
    const env1 = await e2e.start(handlers, opts);
    await env1.client.startOrchestration("restart-stubborn", "Job", 1);
    await firstStarted.promise;
    const env2 = await env1.restart();
    const status = await env2.client.waitForOrchestration("restart-stubborn", { timeoutMs: 10_000 });
    expect(status).toMatchObject({ status: "Completed", output: 101 });
    expect(calls).toBe(2);
    firstRelease.resolve();
    await until("the stale first run to return", () => (firstReturned ? true : undefined));
    await Bun.sleep(100);
    const h = await env2.client.readExecutionHistory("restart-stubborn");
    expect(h.map((e) => e.type)).toEqual(["OrchestrationStarted", "ActivityScheduled", "ActivityCompleted", "OrchestrationCompleted"]);
    expect(h[2]).toMatchObject({ result: "101" });
  });

  // §8 item 50: yielding something that is not a durable task fails the instance with a usage error.
  test("yielding a Promise or a plain value fails the instance with a clear usage error", async () => {
    const env = await e2e.start({
      activities: { Noop: async () => "ok" },
      orchestrations: {
        YieldsPromise: function* (ctx) {
          yield* ctx.scheduleActivity("Noop", null);
          const v = yield fetchLike() as any;
          return v;
        },
        YieldsNumber: function* () {
          return yield 42 as any;
        },
      },
    });
    const c = env.client;
    await c.startOrchestration("yields-promise", "YieldsPromise", null);
    await c.startOrchestration("yields-number", "YieldsNumber", null);

    const p = failedDetails(await c.waitForOrchestration("yields-promise", { timeoutMs: 5_000 }));
    expect(p).toMatchObject({ type: "Application", kind: "Panicked" });
    expect(p.type === "Application" && p.message).toMatch(/yield/);
    expect(p.type === "Application" && p.message).toMatch(/durable task/);
    expect(p.type === "Application" && p.message).toMatch(/Promise/);
    expect(await historyTypes(c, "yields-promise")).toEqual(["OrchestrationStarted", "ActivityScheduled", "ActivityCompleted", "OrchestrationFailed"]);

    const n = failedDetails(await c.waitForOrchestration("yields-number", { timeoutMs: 5_000 }));
    expect(n).toMatchObject({ type: "Application", kind: "Panicked" });
    expect(n.type === "Application" && n.message).toMatch(/durable task/);
    expect(n.type === "Application" && n.message).toMatch(/number/);
    expect(await historyTypes(c, "yields-number")).toEqual(["OrchestrationStarted", "OrchestrationFailed"]);
  });

  // §8 item 50: async functions (and other non-generators) are rejected when registered.
  test("registering an async function as an orchestration throws ConfigurationError at registration", () => {
    const attempts: [string, unknown][] = [
      ["async function", async function (_ctx: unknown) {
        return 1;
      }],
      ["async arrow", async () => 1],
      ["plain function", function () {
        return 1;
      }],
      ["async generator", async function* () {
        yield 1;
      }],
    ];
    for (const [what, fn] of attempts) {
      const b = OrchestrationRegistry.builder();
      let err: unknown = null;
      try {
        b.register(what.replace(/ /g, "-"), fn as any);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigurationError);
      expect((err as Error).message).toMatch(/generator function/);
      expect((err as Error).message).toContain(what.replace(/ /g, "-"));
    }
    expect((() => {
      try {
        OrchestrationRegistry.builder().register("async-fn", (async () => 1) as any);
      } catch (e) {
        return (e as Error).message;
      }
      return "";
    })()).toMatch(/async function/);
    // A generator function is accepted.
    expect(() => OrchestrationRegistry.builder().register("Gen", function* () {
      return 1;
    })).not.toThrow();
  });
});

/** Stands in for a non-durable await such as fetch() inside orchestration code. */
function fetchLike(): Promise<string> {
  return Promise.resolve("network result");
}
