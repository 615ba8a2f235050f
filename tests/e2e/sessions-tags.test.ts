// § numbers in this file refer to docs/runtime-semantics.md ("§8 item N" is §8.N there).
// §8 items 42 and 43: activity tags (worker tag filters, guarded waits, replay checks, composition
// with retry, race, cancellation and sessions) and sessions (one owner per session, reclaim after the
// owner dies and its lease runs out, maxSessionsPerRuntime, workerNodeId across restarts), plus the
// multi-runtime scenarios: two runtimes on one database with different tag filters, and a
// session moving to the other runtime. Multi-runtime cases use two connections to one file in file
// mode and two runtimes on one provider in memory mode.
import { expect, test } from "bun:test";
import { Client } from "../../src/client.ts";
import type { Event, EventOf } from "../../src/core/events.ts";
import { ConfigurationError, RetryPolicy, TagFilter, type ActivityContext, type OrchestrationContext, type RuntimeOptions } from "../../src/index.ts";
import type { Provider } from "../../src/provider.ts";
import { shareInstanceSignals } from "../../src/instance-signals.ts";
import { deferred, describeEachProvider, type Handlers, type Store, within } from "./harness.ts";

type Activity = (ctx: ActivityContext, input: any, label: string) => unknown;
type Orchestration = (ctx: OrchestrationContext, input: any) => Generator<any, any, any>;

/** What an activity saw about where it ran. */
interface Ran {
  label: string;
  workerId: string;
  sessionId: string | null;
  tag: string | null;
  input: unknown;
}

const where = (ctx: ActivityContext, input: unknown, label: string): Ran => ({
  label,
  workerId: ctx.workerId,
  sessionId: ctx.sessionId ?? null,
  tag: ctx.tag ?? null,
  input,
});

function ofType<T extends Event["type"]>(h: Event[], type: T): EventOf<T>[] {
  return h.filter((e) => e.type === type) as EventOf<T>[];
}


function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

/** Handlers whose activities also receive `label`, so a test can tell which runtime ran what. */
function labelled(label: string, activities: Record<string, Activity>, orchestrations: Record<string, Orchestration>): Handlers {
  return {
    activities: Object.fromEntries(Object.entries(activities).map(([name, fn]) => [name, (ctx: ActivityContext, input: unknown) => fn(ctx, input, label)])),
    orchestrations,
  };
}

/** Orchestration used by the session tests: one session step, wait for "next", more steps on the same session. */
const sessionSteps: Orchestration = function* (ctx, input: { session: string; second: string }) {
  const first = yield* ctx.scheduleActivityOnSession<Ran>("Where", 1, input.session);
  ctx.setCustomStatus("first-done");
  yield* ctx.scheduleWait("next");
  const second = yield* ctx.scheduleActivity<Ran>(input.second, 2, { sessionId: input.session });
  const third = yield* ctx.scheduleActivityOnSession<Ran>("Where", 3, input.session);
  return [first, second, third];
};

/** `provider` as a runtime that cannot release its sessions sees it: like a crash, they wait for their lease. */
function withoutSessionRelease(provider: Provider): Provider {
  const view = new Proxy(provider, {
    get: (target, prop) => {
      if (prop === "releaseSessionLocks") return undefined;
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  shareInstanceSignals(view, provider);
  return view;
}

describeEachProvider("sessions and tags", (e2e) => {
  /** Starts a runtime on `on` (a store, or one of its connections) with `labelled` handlers. */
  const node = (
    on: Store | Provider,
    label: string,
    activities: Record<string, Activity>,
    orchestrations: Record<string, Orchestration>,
    options: RuntimeOptions = {},
  ) => e2e.start(labelled(label, activities, orchestrations), options, on);

  // ======================================================================= §8 item 42: tags

  // §8 item 42
  test("each TagFilter runs exactly the activities it accepts; the others wait until their guard timer wins", async () => {
    const GUARD = 1_000;
    const probe: Orchestration = function* (ctx) {
      const guarded = (task: any) => ctx.race([task, ctx.scheduleTimer(GUARD)]);
      const results = yield* ctx.all([
        guarded(ctx.scheduleActivity("Work", "plain")),
        guarded(ctx.scheduleActivity("Work", "gpu").withTag("gpu")),
        guarded(ctx.scheduleActivity("Work", "cpu", { tag: "cpu" })),
      ]);
      return results.map((r: any) => (r.index === 0 ? r.value : "timeout"));
    };
    const cases: [string, ReturnType<typeof TagFilter.any>, unknown[]][] = [
      ["defaultOnly", TagFilter.defaultOnly(), ["plain:-", "timeout", "timeout"]],
      ["tags(gpu)", TagFilter.tags("gpu"), ["timeout", "gpu:gpu", "timeout"]],
      ["defaultAnd(gpu)", TagFilter.defaultAnd("gpu"), ["plain:-", "gpu:gpu", "timeout"]],
      ["any", TagFilter.any(), ["plain:-", "gpu:gpu", "cpu:cpu"]],
      ["none", TagFilter.none(), ["timeout", "timeout", "timeout"]],
    ];
    const ran: Record<string, string[]> = {};
    await Promise.all(
      cases.map(async ([name, filter, expected]) => {
        ran[name] = [];
        const p = await e2e.store();
        await node(p, name, { Work: (ctx, input: string) => (ran[name]!.push(input), `${input}:${ctx.tag ?? "-"}`) }, { Probe: probe }, { workerTagFilter: filter });
        const client = new Client(p.provider);
        await client.startOrchestration(`probe-${name}`, "Probe", null);
        const status = await client.waitForOrchestration(`probe-${name}`, { timeoutMs: 8_000 });
        expect({ name, status }).toMatchObject({ name, status: { status: "Completed", output: expected } });
        const h = await client.readExecutionHistory(`probe-${name}`);
        // The tag is part of the recorded schedule event; untagged activities have none.
        expect(ofType(h, "ActivityScheduled").map((e) => [e.input, e.tag ?? null])).toEqual([
          ['"plain"', null],
          ['"gpu"', "gpu"],
          ['"cpu"', "cpu"],
        ]);
        // Every activity that timed out got a dropped_future cancel; the ones that ran did not.
        const timedOut = (expected as string[]).map((v, i) => (v === "timeout" ? i : -1)).filter((i) => i >= 0);
        const scheduled = ofType(h, "ActivityScheduled");
        expect(ofType(h, "ActivityCancelRequested").map((e) => [e.source_event_id, e.reason]).sort()).toEqual(
          timedOut.map((i) => [scheduled[i]!.event_id, "dropped_future"] as [number, string]).sort(),
        );
        expect(ofType(h, "ActivityCompleted")).toHaveLength(3 - timedOut.length);
        // Cancelled rows are gone from the worker queue: nothing is left waiting for a worker.
        expect((await client.getQueueDepths()).worker_queue).toBe(0);
      }),
    );
    expect(ran).toEqual({
      defaultOnly: ["plain"],
      "tags(gpu)": ["gpu"],
      "defaultAnd(gpu)": expect.arrayContaining(["plain", "gpu"]),
      any: expect.arrayContaining(["plain", "gpu", "cpu"]),
      none: [],
    });
    expect(ran["defaultAnd(gpu)"]).toHaveLength(2);
    expect(ran.any).toHaveLength(3);
  }, 15_000);

  // §8 item 42
  test("a tagged activity no worker accepts waits until its guard timer wins; its row is removed so a later gpu worker never runs it", async () => {
    const p = await e2e.store();
    const runs: string[] = [];
    await node(p, "default", { Render: (_ctx, _i, label) => (runs.push(label), "rendered") }, {
      Guarded: function* (ctx) {
        const r = yield* ctx.race([ctx.scheduleActivity("Render", "frame").withTag("gpu"), ctx.scheduleTimer(300)]);
        return r.index === 0 ? r.value : "timeout";
      },
    });
    const client = new Client(p.provider);
    await client.startOrchestration("guarded-1", "Guarded", null);
    expect(await client.waitForOrchestration("guarded-1", { timeoutMs: 5_000 })).toMatchObject({ status: "Completed", output: "timeout" });
    const h = await client.readExecutionHistory("guarded-1");
    expect(h.map((e) => e.type)).toEqual(["OrchestrationStarted", "ActivityScheduled", "TimerCreated", "TimerFired", "ActivityCancelRequested", "OrchestrationCompleted"]);
    expect(h[1]).toMatchObject({ type: "ActivityScheduled", name: "Render", tag: "gpu", event_id: 2 });
    expect(h[4]).toMatchObject({ source_event_id: 2, reason: "dropped_future" });
    expect((await client.getQueueDepths()).worker_queue).toBe(0);

    // A gpu worker that appears later finds nothing to run.
    await node(await p.connect(), "gpu", { Render: (_ctx, _i, label) => (runs.push(label), "rendered") }, {}, { workerTagFilter: TagFilter.tags("gpu") });
    await Bun.sleep(400);
    expect(runs).toEqual([]);
    expect(await client.readExecutionHistory("guarded-1")).toEqual(h);
  }, 10_000);

  // §8 item 42
  test("changing an in-flight activity's tag in code fails the instance with Configuration/Nondeterminism; withTag and {tag} are interchangeable", async () => {
    const v1: Orchestration = function* (ctx) {
      const r = yield* ctx.scheduleActivity("Work", "job").withTag("gpu");
      ctx.setCustomStatus("waiting");
      yield* ctx.scheduleWait("go");
      return r;
    };
    const first = await node(await e2e.store(), "v1", { Work: (ctx) => `done:${ctx.tag}` }, { Tagged: v1 }, { workerTagFilter: TagFilter.any() });
    for (const id of ["tag-same", "tag-changed"]) {
      await first.client.startOrchestration(id, "Tagged", { changed: id === "tag-changed" });
      expect(await first.client.waitForStatusChange(id, 0, { timeoutMs: 5_000 })).toMatchObject({ status: "Running", customStatus: "waiting" });
    }

    // New code: the same step written with the {tag} option, with the tag changed for one instance.
    const v2: Orchestration = function* (ctx, input: { changed: boolean }) {
      const r = yield* ctx.scheduleActivity("Work", "job", { tag: input.changed ? "cpu" : "gpu" });
      ctx.setCustomStatus("waiting");
      yield* ctx.scheduleWait("go");
      return r;
    };
    const { client } = await first.restart(labelled("v2", { Work: (ctx) => `done:${ctx.tag}` }, { Tagged: v2 }), { workerTagFilter: TagFilter.any() });
    for (const id of ["tag-same", "tag-changed"]) await client.raiseEvent(id, "go", null);

    expect(await client.waitForOrchestration("tag-same", { timeoutMs: 5_000 })).toMatchObject({ status: "Completed", output: "done:gpu" });
    const failed = await client.waitForOrchestration("tag-changed", { timeoutMs: 5_000 });
    expect(failed).toMatchObject({ status: "Failed", details: { type: "Configuration", kind: "Nondeterminism" } });
    if (failed.status === "Failed") expect(JSON.stringify(failed.details)).toMatch(/gpu/);
    const h = await client.readExecutionHistory("tag-changed");
    expect(ofType(h, "ActivityScheduled").map((e) => e.tag)).toEqual(["gpu"]);
    expect(h.at(-1)).toMatchObject({ type: "OrchestrationFailed" });
  }, 10_000);

  // §8 item 42 (tags compose with retry and sessions)
  test("scheduleActivityWithRetry with {tag, sessionId}: every attempt is tagged, runs on a gpu worker and on one session owner", async () => {
    const p = await e2e.store();
    const seen: Ran[] = [];
    let calls = 0;
    await node(
      p,
      "gpu",
      {
        Flaky: (ctx, input, label) => {
          seen.push(where(ctx, input, label));
          if (++calls < 3) throw new Error(`flaky ${calls}`);
          return "ok";
        },
      },
      {
        Retried: function* (ctx) {
          return yield* ctx.scheduleActivityWithRetry("Flaky", "x", RetryPolicy.fixed(3, 50), { tag: "gpu", sessionId: "retry-session" });
        },
      },
      { workerTagFilter: TagFilter.tags("gpu"), workerConcurrency: 3 },
    );
    const client = new Client(p.provider);
    await client.startOrchestration("retry-tag", "Retried", null);
    expect(await client.waitForOrchestration("retry-tag", { timeoutMs: 5_000 })).toMatchObject({ status: "Completed", output: "ok" });
    expect(seen.map((s) => [s.tag, s.sessionId])).toEqual([
      ["gpu", "retry-session"],
      ["gpu", "retry-session"],
      ["gpu", "retry-session"],
    ]);
    expect(new Set(seen.map((s) => s.workerId)).size).toBe(1);
    const h = await client.readExecutionHistory("retry-tag");
    expect(ofType(h, "ActivityScheduled").map((e) => [e.tag, e.session_id])).toEqual([
      ["gpu", "retry-session"],
      ["gpu", "retry-session"],
      ["gpu", "retry-session"],
    ]);
    expect(ofType(h, "ActivityFailed")).toHaveLength(2);
    expect(ofType(h, "TimerCreated")).toHaveLength(2);
    expect(ofType(h, "ActivityCompleted")).toHaveLength(1);
  }, 10_000);

  // §8 item 42 (tags compose with race)
  test("a race between two tagged activities is won by the one a worker accepts; the other is cancelled and never runs", async () => {
    const p = await e2e.store();
    const runs: string[] = [];
    await node(p, "gpu", { Work: (ctx, input: string) => (runs.push(input), `${input}@${ctx.tag}`) }, {
      Raced: function* (ctx) {
        const r = yield* ctx.race([ctx.scheduleActivity("Work", "tpu-job").withTag("tpu"), ctx.scheduleActivity("Work", "gpu-job").withTag("gpu")]);
        return r;
      },
    }, { workerTagFilter: TagFilter.tags("gpu") });
    const client = new Client(p.provider);
    await client.startOrchestration("race-tags", "Raced", null);
    expect(await client.waitForOrchestration("race-tags", { timeoutMs: 5_000 })).toMatchObject({ status: "Completed", output: { index: 1, value: "gpu-job@gpu" } });
    const h = await client.readExecutionHistory("race-tags");
    const [tpu, gpu] = ofType(h, "ActivityScheduled");
    expect([tpu!.tag, gpu!.tag]).toEqual(["tpu", "gpu"]);
    expect(ofType(h, "ActivityCompleted").map((e) => e.source_event_id)).toEqual([gpu!.event_id]);
    expect(ofType(h, "ActivityCancelRequested").map((e) => [e.source_event_id, e.reason])).toEqual([[tpu!.event_id, "dropped_future"]]);
    expect((await client.getQueueDepths()).worker_queue).toBe(0);
    expect(runs).toEqual(["gpu-job"]);
  });

  // §8 item 42 (tags compose with cancellation)
  test("cancelling an instance signals its running tagged activity and fails the instance as Cancelled", async () => {
    const p = await e2e.store();
    const started = deferred<Ran>();
    const sawAbort = deferred();
    await node(p, "gpu", {
      Long: async (ctx, input, label) => {
        started.resolve(where(ctx, input, label));
        await aborted(ctx.signal);
        sawAbort.resolve();
        return "late";
      },
    }, {
      Waits: function* (ctx) {
        return yield* ctx.scheduleActivity("Long", null, { tag: "gpu" });
      },
    }, { workerTagFilter: TagFilter.defaultAnd("gpu") });
    const client = new Client(p.provider);
    await client.startOrchestration("cancel-tagged", "Waits", null);
    expect(await within("the tagged activity to start", started.promise)).toMatchObject({ label: "gpu", tag: "gpu" });
    await client.cancelInstance("cancel-tagged", "stop gpu");
    expect(await client.waitForOrchestration("cancel-tagged", { timeoutMs: 5_000 })).toMatchObject({
      status: "Failed",
      details: { type: "Application", kind: { Cancelled: { reason: "stop gpu" } } },
    });
    await within("the tagged activity's AbortSignal", sawAbort.promise);
    const h = await client.readExecutionHistory("cancel-tagged");
    expect(ofType(h, "ActivityCompleted")).toHaveLength(0);
    expect(ofType(h, "ActivityScheduled").map((e) => e.tag)).toEqual(["gpu"]);
  }, 10_000);

  // §8 item 42 (two runtimes, different tag filters)
  test("two runtimes on one database with DefaultOnly and Tags(gpu) filters each run only their own activities, sessions included", async () => {
    const pa = await e2e.store();
    const pb = await pa.connect();
    const acts = { Where: where };
    const fanOut: Orchestration = function* (ctx) {
      const tasks = [];
      for (let i = 0; i < 4; i++) tasks.push(ctx.scheduleActivity<Ran>("Where", `plain-${i}`));
      for (let i = 0; i < 4; i++) tasks.push(ctx.scheduleActivity<Ran>("Where", `gpu-${i}`).withTag("gpu"));
      for (let i = 0; i < 3; i++) tasks.push(ctx.scheduleActivity<Ran>("Where", `gpu-session-${i}`, { tag: "gpu", sessionId: "gs" }));
      for (let i = 0; i < 3; i++) tasks.push(ctx.scheduleActivityOnSession<Ran>("Where", `plain-session-${i}`, "ps"));
      return yield* ctx.all(tasks);
    };
    await node(pa, "A", acts, { FanOut: fanOut }, { workerTagFilter: TagFilter.defaultOnly(), workerConcurrency: 3 });
    await node(pb, "B", acts, { FanOut: fanOut }, { workerTagFilter: TagFilter.tags("gpu"), workerConcurrency: 3 });
    const client = new Client(pa.provider);
    await client.startOrchestration("two-pools", "FanOut", null);
    const status = await client.waitForOrchestration<Ran[]>("two-pools", { timeoutMs: 8_000 });
    expect(status.status).toBe("Completed");
    const out = status.status === "Completed" ? status.output : [];
    const byPrefix = (prefix: string) => out.filter((r) => String(r.input).startsWith(prefix));
    expect(byPrefix("plain-").filter((r) => !String(r.input).startsWith("plain-session")).map((r) => [r.label, r.tag])).toEqual(Array(4).fill(["A", null]));
    expect(byPrefix("gpu-").filter((r) => !String(r.input).startsWith("gpu-session")).map((r) => [r.label, r.tag])).toEqual(Array(4).fill(["B", "gpu"]));
    const gpuSession = byPrefix("gpu-session-");
    expect(gpuSession.map((r) => [r.label, r.tag, r.sessionId])).toEqual(Array(3).fill(["B", "gpu", "gs"]));
    expect(new Set(gpuSession.map((r) => r.workerId)).size).toBe(1);
    const plainSession = byPrefix("plain-session-");
    expect(plainSession.map((r) => [r.label, r.tag, r.sessionId])).toEqual(Array(3).fill(["A", null, "ps"]));
    expect(new Set(plainSession.map((r) => r.workerId)).size).toBe(1);
    const h = await client.readExecutionHistory("two-pools");
    expect(ofType(h, "ActivityScheduled").map((e) => e.tag ?? null)).toEqual([...Array(4).fill(null), ...Array(7).fill("gpu"), ...Array(3).fill(null)]);
    expect(ofType(h, "ActivityCompleted")).toHaveLength(14);
  }, 15_000);

  // §8 item 42 (orchestrator-only node)
  test("a runtime with TagFilter.none() runs orchestrations but no activities; a worker runtime that joins later runs them", async () => {
    const p = await e2e.store();
    const runs: string[] = [];
    const acts = { Work: (_ctx: ActivityContext, _i: unknown, label: string) => (runs.push(label), label) };
    const orchs: Record<string, Orchestration> = {
      TimerOnly: function* (ctx) {
        yield* ctx.scheduleTimer(10);
        return "timer-done";
      },
      NeedsWorker: function* (ctx) {
        const t = ctx.scheduleActivity("Work", null);
        ctx.setCustomStatus("scheduled");
        return yield* t;
      },
    };
    await node(p, "orchestrator", acts, orchs, { workerTagFilter: TagFilter.none() });
    const client = new Client(p.provider);
    await client.startOrchestration("orch-only-timer", "TimerOnly", null);
    expect(await client.waitForOrchestration("orch-only-timer", { timeoutMs: 5_000 })).toMatchObject({ status: "Completed", output: "timer-done" });
    await client.startOrchestration("orch-only-work", "NeedsWorker", null);
    expect(await client.waitForStatusChange("orch-only-work", 0, { timeoutMs: 5_000 })).toMatchObject({ status: "Running", customStatus: "scheduled" });
    await Bun.sleep(500);
    expect(runs).toEqual([]);
    expect((await client.getQueueDepths()).worker_queue).toBe(1);
    expect(await client.getOrchestrationStatus("orch-only-work")).toMatchObject({ status: "Running" });

    await node(await p.connect(), "worker", acts, orchs);
    expect(await client.waitForOrchestration("orch-only-work", { timeoutMs: 5_000 })).toMatchObject({ status: "Completed", output: "worker" });
    expect(runs).toEqual(["worker"]);
  }, 10_000);

  // §8 item 42 (filter limits) and §6 (session idle rule)
  test("options: more than 5 worker tags, an empty tag set, or sessionIdleTimeoutMs ≤ workerLockTimeoutMs − workerLockRenewalBufferMs are rejected at start", async () => {
    const p = await e2e.store();
    const start = (options: RuntimeOptions) => e2e.start({}, options, p);
    await expect(start({ workerTagFilter: TagFilter.tags("a", "b", "c", "d", "e", "f") })).rejects.toThrow(ConfigurationError);
    await expect(start({ workerTagFilter: TagFilter.defaultAnd() })).rejects.toThrow(ConfigurationError);
    await expect(start({ workerLockTimeoutMs: 2_000, workerLockRenewalBufferMs: 500, sessionIdleTimeoutMs: 1_500 })).rejects.toThrow(/sessionIdleTimeoutMs/);
    await expect(start({ workerLockTimeoutMs: 2_000, workerLockRenewalBufferMs: 500, sessionIdleTimeoutMs: 1_500 })).rejects.toThrow(ConfigurationError);
    // Five tags and an idle timeout just above the gap are fine.
    await start({ workerTagFilter: TagFilter.tags("a", "b", "c", "d", "e"), workerLockTimeoutMs: 2_000, workerLockRenewalBufferMs: 500, sessionIdleTimeoutMs: 1_501 });
  });

  // ======================================================================= §8 item 43: sessions

  // §8 item 43
  test("activities sharing a session id run on one owner while plain activities spread over the worker slots", async () => {
    const p = await e2e.store();
    await node(p, "rt", {
      Step: async (ctx, input, label) => {
        await Bun.sleep(20);
        return where(ctx, input, label);
      },
    }, {
      Sessions: function* (ctx) {
        const tasks = [];
        for (let i = 0; i < 12; i++) {
          if (i % 3 === 0) tasks.push(ctx.scheduleActivityOnSession<Ran>("Step", i, "s1"));
          else if (i % 3 === 1) tasks.push(ctx.scheduleActivity<Ran>("Step", i, { sessionId: "s2" }));
          else tasks.push(ctx.scheduleActivity<Ran>("Step", i));
        }
        return yield* ctx.all(tasks);
      },
    }, { workerConcurrency: 4 });
    const client = new Client(p.provider);
    await client.startOrchestration("sessions-1", "Sessions", null);
    const status = await client.waitForOrchestration<Ran[]>("sessions-1", { timeoutMs: 8_000 });
    expect(status.status).toBe("Completed");
    const out = status.status === "Completed" ? status.output : [];
    expect(out.map((r) => r.input)).toEqual([...Array(12).keys()]);
    const s1 = out.filter((r) => r.sessionId === "s1");
    const s2 = out.filter((r) => r.sessionId === "s2");
    const plain = out.filter((r) => r.sessionId === null);
    expect([s1.length, s2.length, plain.length]).toEqual([4, 4, 4]);
    expect(new Set(s1.map((r) => r.workerId)).size).toBe(1);
    expect(new Set(s2.map((r) => r.workerId)).size).toBe(1);
    // Control: without a session the slots share the work, so "one owner" above is not an accident.
    expect(new Set(out.map((r) => r.workerId)).size).toBeGreaterThan(1);
    const h = await client.readExecutionHistory("sessions-1");
    expect(ofType(h, "ActivityScheduled").map((e) => e.session_id ?? null)).toEqual([...Array(4)].flatMap(() => ["s1", "s2", null]));
  }, 10_000);

  // §8 item 43 (a session moves to the other runtime)
  // A graceful shutdown hands sessions on at once (tests/runtime/runtimes-on-one-store.test.ts); a
  // runtime that dies cannot. Here A stops on a provider view without the optional
  // releaseSessionLocks, so its sessions are left exactly as a crash leaves them.
  test("when the owner runtime dies with a session activity in flight (its sessions not handed on), another runtime reclaims the session only after the session lease", async () => {
    const LEASE = 1_000;
    const options: RuntimeOptions = { sessionLockTimeoutMs: LEASE, sessionLockRenewalBufferMs: 200 };
    const pa = await e2e.store();
    const holdStarted = deferred<Ran>();
    const ranOnB = deferred<{ ran: Ran; at: number }>();
    const acts: Record<string, Activity> = {
      Where: where,
      Hold: async (ctx, input, label) => {
        const ran = where(ctx, input, label);
        if (label === "A") {
          holdStarted.resolve(ran);
          await aborted(ctx.signal); // never finishes on A: A dies first
          throw new Error("A shut down");
        }
        ranOnB.resolve({ ran, at: Date.now() });
        return ran;
      },
    };
    const a = await node(withoutSessionRelease(pa.provider), "A", acts, { Steps: sessionSteps }, options);
    const client = new Client(pa.provider);
    await client.startOrchestration("session-move", "Steps", { session: "s", second: "Hold" });
    expect(await client.waitForStatusChange("session-move", 0, { timeoutMs: 5_000 })).toMatchObject({ customStatus: "first-done" });
    await client.raiseEvent("session-move", "next", null);
    const onA = await within("Hold to start on A", holdStarted.promise);
    expect(onA).toMatchObject({ label: "A", sessionId: "s" });

    const pb = await pa.connect();
    await node(pb, "B", acts, { Steps: sessionSteps }, options);
    const diedAt = Date.now();
    await a.shutdown(); // stops A's heartbeats: its session lease runs out within LEASE ms
    const { ran, at } = await within("Hold to be redelivered on B", ranOnB.promise, 8_000);
    expect(ran).toMatchObject({ label: "B", sessionId: "s" });
    expect(ran.workerId).not.toBe(onA.workerId);
    // B had to wait for the lease (renewed every LEASE/2 until A stopped, so ≥ LEASE/2 was left).
    expect(at - diedAt).toBeGreaterThanOrEqual(300);
    expect(at - diedAt).toBeLessThan(LEASE + 4_000);

    const status = await client.waitForOrchestration<Ran[]>("session-move", { timeoutMs: 5_000 });
    expect(status.status).toBe("Completed");
    const [first, second, third] = status.status === "Completed" ? status.output : [];
    expect(first).toMatchObject({ label: "A", workerId: onA.workerId, sessionId: "s" });
    expect(second).toMatchObject({ label: "B", workerId: ran.workerId });
    // The session now belongs to B's owner: the next step goes there too.
    expect(third).toMatchObject({ label: "B", workerId: ran.workerId, sessionId: "s" });
    const h = await client.readExecutionHistory("session-move");
    expect(ofType(h, "ActivityScheduled").map((e) => [e.name, e.session_id])).toEqual([
      ["Where", "s"],
      ["Hold", "s"],
      ["Where", "s"],
    ]);
    expect(ofType(h, "ActivityCompleted")).toHaveLength(3);
    expect(ofType(h, "ActivityFailed")).toHaveLength(0);
  }, 15_000);

  // §8 item 43
  test("maxSessionsPerRuntime 1: a second session waits while the first one's activity runs, and plain activities still run", async () => {
    const p = await e2e.store();
    const gates = { s1: deferred(), s2: deferred() };
    const started = { s1: deferred<number>(), s2: deferred<number>() };
    const plainRan = deferred();
    let active = 0;
    let maxActive = 0;
    await node(p, "rt", {
      Hold: async (ctx) => {
        const sid = ctx.sessionId as "s1" | "s2";
        active++;
        maxActive = Math.max(maxActive, active);
        started[sid].resolve(Date.now());
        await gates[sid].promise;
        active--;
        return sid;
      },
      Plain: () => (plainRan.resolve(), "plain"),
    }, {
      TwoSessions: function* (ctx) {
        return yield* ctx.all([ctx.scheduleActivityOnSession("Hold", null, "s1"), ctx.scheduleActivityOnSession("Hold", null, "s2"), ctx.scheduleActivity("Plain", null)]);
      },
    }, { maxSessionsPerRuntime: 1, workerConcurrency: 3 });
    const client = new Client(p.provider);
    await client.startOrchestration("max-sessions", "TwoSessions", null);
    const first = await within("a session activity to start", Promise.race([started.s1.promise.then(() => "s1" as const), started.s2.promise.then(() => "s2" as const)]));
    const other = first === "s1" ? "s2" : "s1";
    await within("the plain activity to run while a session is busy", plainRan.promise);
    await Bun.sleep(500);
    expect(active).toBe(1); // the other session did not start although two slots are free
    gates[first].resolve();
    await within(`the ${other} activity to start after ${first} finished`, started[other].promise);
    gates[other].resolve();
    expect(await client.waitForOrchestration("max-sessions", { timeoutMs: 5_000 })).toMatchObject({ status: "Completed", output: ["s1", "s2", "plain"] });
    expect(maxActive).toBe(1);
    expect(ofType(await client.readExecutionHistory("max-sessions"), "ActivityCompleted")).toHaveLength(3);
  }, 10_000);

  // §8 item 43 (control for the test above)
  test("maxSessionsPerRuntime 2: two sessions' activities run at the same time", async () => {
    const p = await e2e.store();
    const both = { s1: deferred(), s2: deferred() };
    const release = deferred();
    await node(p, "rt", {
      Hold: async (ctx) => {
        both[ctx.sessionId as "s1" | "s2"].resolve();
        await release.promise;
        return ctx.sessionId;
      },
    }, {
      TwoSessions: function* (ctx) {
        return yield* ctx.all([ctx.scheduleActivityOnSession("Hold", null, "s1"), ctx.scheduleActivityOnSession("Hold", null, "s2")]);
      },
    }, { maxSessionsPerRuntime: 2, workerConcurrency: 2 });
    const client = new Client(p.provider);
    await client.startOrchestration("two-sessions", "TwoSessions", null);
    await within("both sessions to run concurrently", Promise.all([both.s1.promise, both.s2.promise]));
    release.resolve();
    expect(await client.waitForOrchestration("two-sessions", { timeoutMs: 5_000 })).toMatchObject({ status: "Completed", output: ["s1", "s2"] });
  }, 10_000);

  // §8 item 43 (workerNodeId)
  test("a runtime restarted with the same workerNodeId owns its sessions at once, without waiting for the session lease", async () => {
    const options: RuntimeOptions = { workerNodeId: "node-1", sessionLockTimeoutMs: 30_000, workerConcurrency: 2 };
    const secondRan = deferred<number>();
    const acts: Record<string, Activity> = {
      Where: where,
      Second: (ctx, input, label) => (secondRan.resolve(Date.now()), where(ctx, input, label)),
    };
    const first = await node(await e2e.store(), "before", acts, { Steps: sessionSteps }, options);
    await first.client.startOrchestration("node-id", "Steps", { session: "pinned", second: "Second" });
    expect(await first.client.waitForStatusChange("node-id", 0, { timeoutMs: 5_000 })).toMatchObject({ customStatus: "first-done" });
    await first.shutdown();

    const restartedAt = Date.now();
    const { client } = await first.restart(labelled("after", acts, { Steps: sessionSteps }), options);
    await client.raiseEvent("node-id", "next", null);
    const ranAt = await within("the next session activity on the restarted node", secondRan.promise, 8_000);
    expect(ranAt - restartedAt).toBeLessThan(5_000); // far below the 30 s lease
    const status = await client.waitForOrchestration<Ran[]>("node-id", { timeoutMs: 5_000 });
    expect(status.status).toBe("Completed");
    const out = status.status === "Completed" ? status.output : [];
    expect(out.map((r) => [r.label, r.workerId, r.sessionId])).toEqual([
      ["before", "node-1", "pinned"],
      ["after", "node-1", "pinned"],
      ["after", "node-1", "pinned"],
    ]);
  }, 10_000);

  // §8 item 43 (control for the test above)
  test("a runtime restarted with a different workerNodeId must wait for the old session lease", async () => {
    const secondRan = deferred<number>();
    const acts: Record<string, Activity> = {
      Where: where,
      Second: (ctx, input, label) => (secondRan.resolve(Date.now()), where(ctx, input, label)),
    };
    const first = await node(await e2e.store(), "before", acts, { Steps: sessionSteps }, { workerNodeId: "node-1", sessionLockTimeoutMs: 30_000 });
    await first.client.startOrchestration("node-id-2", "Steps", { session: "pinned", second: "Second" });
    expect(await first.client.waitForStatusChange("node-id-2", 0, { timeoutMs: 5_000 })).toMatchObject({ customStatus: "first-done" });
    const { client } = await first.restart(labelled("after", acts, { Steps: sessionSteps }), { workerNodeId: "node-2", sessionLockTimeoutMs: 30_000 });
    await client.raiseEvent("node-id-2", "next", null);
    const result = await Promise.race([secondRan.promise.then(() => "ran"), Bun.sleep(1_000).then(() => "waiting")]);
    expect(result).toBe("waiting");
    expect((await client.getQueueDepths()).worker_queue).toBe(1);
  }, 10_000);
});
