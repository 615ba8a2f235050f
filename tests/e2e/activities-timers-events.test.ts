// § numbers in this file refer to docs/runtime-semantics.md ("§8 item N" is §8.N there).
// §8 items 2–13: fan-out ordering, crash recovery of activities and turns,
// duplicate completions, restarts, durable timers, races (activity vs timer, same-batch completions,
// loser replay) and positional external events.
import { expect, test } from "bun:test";
import type { Event } from "../../src/core/events.ts";
import { TagFilter, type FetchedOrchestration, type FetchedWorkItem } from "../../src/core/queue-types.ts";
import type { WorkItem } from "../../src/core/work-items.ts";
import type { Client } from "../../src/client.ts";
import type { Logger, LogLevel, RuntimeOptions } from "../../src/runtime/options.ts";
import type { Provider } from "../../src/provider.ts";
import { deferred, describeEachProvider, historyTypes, type Harness, type Handlers, type OrchestrationHandlers, within } from "./harness.ts";

const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls the latest execution's history until `pred` holds (for states no API can await). */
async function waitForHistory(client: Client, instance: string, pred: (h: Event[]) => boolean, what: string, timeoutMs = 5_000): Promise<Event[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const h = await client.readExecutionHistory(instance);
    if (pred(h)) return h;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; history: ${h.map((e) => `${e.event_id}:${e.type}`).join(", ")}`);
    await pause(20);
  }
}

/** Takes a worker item by hand, as a worker that will then "crash" (never ack). */
async function stealWorkItem(provider: Provider, lockMs: number, timeoutMs = 5_000): Promise<FetchedWorkItem> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const w = await provider.fetchWorkItem(lockMs, 0, null, TagFilter.defaultOnly());
    if (w !== null) return w;
    if (Date.now() > deadline) throw new Error("no work item appeared in the worker queue");
    await pause(10);
  }
}

/** Takes an orchestration batch by hand, as a dispatcher that will then "crash" (never ack). */
async function stealOrchestrationItem(provider: Provider, lockMs: number, timeoutMs = 5_000): Promise<FetchedOrchestration> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const f = await provider.fetchOrchestrationItem(lockMs, 0);
    if (f !== null) return f;
    if (Date.now() > deadline) throw new Error("no orchestration item appeared in the orchestrator queue");
    await pause(10);
  }
}

const ofType = <T extends Event["type"]>(h: Event[], type: T) => h.filter((e): e is Extract<Event, { type: T }> => e.type === type);

/** Stores raw JSON payloads as the runtime does. */
const json = (v: unknown) => JSON.stringify(v);

/** Waits until the ActivityAbortSignal fires (or already has). */
function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

/** A logger capturing every line it receives. */
function capturingLogger(): Logger & { lines: { level: LogLevel; message: string; fields: Record<string, unknown> }[] } {
  const lines: { level: LogLevel; message: string; fields: Record<string, unknown> }[] = [];
  return { lines, log: (level, message, fields) => void lines.push({ level, message, fields }) };
}

describeEachProvider("activities, timers and events", (e2e: Harness) => {
  // §8 item 2
  test("fan-out via ctx.all returns results in argument order although activities complete in reverse order", async () => {
    const N = 5;
    const release = Array.from({ length: N }, () => deferred());
    const env = await e2e.start(
      {
        activities: {
          Work: async (_ctx, i: number) => {
            await release[i]!.promise;
            return { i, value: `r${i}` };
          },
        },
        orchestrations: {
          FanOut: function* (ctx, n: number) {
            const tasks = Array.from({ length: n }, (_, i) => ctx.scheduleActivity("Work", i));
            return yield* ctx.all(tasks);
          },
        },
      },
      { workerConcurrency: N },
    );
    await env.client.startOrchestration("fan-1", "FanOut", N);
    // Release the last activity first and wait for its completion to be recorded before the next.
    for (let i = N - 1; i >= 0; i--) {
      release[i]!.resolve();
      const scheduledId = 2 + i;
      await waitForHistory(env.client, "fan-1", (h) => h.some((e) => e.type === "ActivityCompleted" && e.source_event_id === scheduledId), `completion of activity ${i}`);
    }
    const status = await env.client.waitForOrchestration("fan-1", { timeoutMs: 5_000 });
    expect(status).toMatchObject({ status: "Completed", output: Array.from({ length: N }, (_, i) => ({ i, value: `r${i}` })) });

    const h = await env.client.readExecutionHistory("fan-1");
    expect(h.map((e): string => e.type)).toEqual([
      "OrchestrationStarted",
      ...Array<string>(N).fill("ActivityScheduled"),
      ...Array<string>(N).fill("ActivityCompleted"),
      "OrchestrationCompleted",
    ]);
    expect(ofType(h, "ActivityScheduled").map((e) => e.event_id)).toEqual([2, 3, 4, 5, 6]);
    // Completions were recorded in reverse order of scheduling: the test really reordered them.
    expect(ofType(h, "ActivityCompleted").map((e) => e.source_event_id)).toEqual([6, 5, 4, 3, 2]);
  });

  // §8 item 3
  test("a worker crash mid-activity is retried after worker lock expiry and the orchestration completes once with one ActivityCompleted", async () => {
    const orchestrations: OrchestrationHandlers = {
      Charge: function* (ctx, amount: number) {
        return yield* ctx.scheduleActivity("Charge", amount);
      },
    };
    // Runtime A dispatches orchestrations only; its workers take no activities.
    const a = await e2e.start({ orchestrations }, { workerTagFilter: TagFilter.none() });
    await a.client.startOrchestration("crash-act-1", "Charge", 7);

    // The "crashing" worker: takes the activity with a 1 s lease and never acks or renews it.
    const stolen = await stealWorkItem(a.provider, 1_000);
    const stolenAt = Date.now();
    expect(stolen.item).toMatchObject({ type: "ActivityExecute", instance: "crash-act-1", name: "Charge", id: 2 });
    expect(stolen.attemptCount).toBe(1);

    // Runtime B (another node on the same store) can run the activity.
    const runs: { attempt: number; at: number }[] = [];
    const b = await e2e.start(
      {
        orchestrations,
        activities: {
          Charge: async (ctx, amount: number) => {
            runs.push({ attempt: ctx.attempt, at: Date.now() });
            return `charged:${amount}`;
          },
        },
      },
      { workerLockTimeoutMs: 1_000 },
      a.provider,
    );
    const status = await b.client.waitForOrchestration("crash-act-1", { timeoutMs: 10_000 });
    expect(status).toMatchObject({ status: "Completed", output: "charged:7" });

    // Redelivered only after the crashed worker's lease ran out, as the second delivery, once.
    expect(runs.length).toBe(1);
    expect(runs[0]!.attempt).toBe(2);
    expect(runs[0]!.at - stolenAt).toBeGreaterThanOrEqual(800);

    const h = await b.client.readExecutionHistory("crash-act-1");
    expect(h.map((e) => e.type)).toEqual(["OrchestrationStarted", "ActivityScheduled", "ActivityCompleted", "OrchestrationCompleted"]);
    expect(ofType(h, "ActivityCompleted")[0]!.source_event_id).toBe(2);

    // The crashed worker coming back cannot deliver a second completion: its lease is gone.
    const late: WorkItem = { type: "ActivityCompleted", instance: "crash-act-1", execution_id: 1, id: 2, result: json("from-crashed-worker") };
    await expect(b.provider.ackWorkItem(stolen.lockToken, late)).rejects.toThrow();
    expect(await historyTypes(b.client, "crash-act-1")).toEqual(["OrchestrationStarted", "ActivityScheduled", "ActivityCompleted", "OrchestrationCompleted"]);
  }, 20_000);

  // §8 item 4
  test("a crash after a completion is enqueued but before the turn's ack re-runs the turn after lock expiry with no duplicate events", async () => {
    const orchestrations: OrchestrationHandlers = {
      TwoSteps: function* (ctx, x: number) {
        const a = yield* ctx.scheduleActivity("Double", x);
        const b = yield* ctx.scheduleActivity("Double", a);
        return [a, b];
      },
    };
    // Runtime A runs the first turn (schedules step 1) but no activities; short long-poll so it goes quiet fast after shutdown.
    const a = await e2e.start({ orchestrations }, { workerTagFilter: TagFilter.none(), dispatcherLongPollTimeoutMs: 50 });
    await a.client.startOrchestration("crash-turn-1", "TwoSteps", 1);
    const w = await stealWorkItem(a.provider, 5_000);
    expect(w.item).toMatchObject({ type: "ActivityExecute", id: 2, name: "Double", input: "1" });
    await a.shutdown();

    // The activity completes: its completion is now in the orchestrator queue.
    await a.provider.ackWorkItem(w.lockToken, { type: "ActivityCompleted", instance: "crash-turn-1", execution_id: 1, id: 2, result: json(2) });

    // A dispatcher fetches the turn's batch (1 s lock) and crashes before acking.
    const dropped = await stealOrchestrationItem(a.provider, 1_000);
    const droppedAt = Date.now();
    expect(dropped.item.instance).toBe("crash-turn-1");
    expect(dropped.item.messages).toEqual([{ type: "ActivityCompleted", instance: "crash-turn-1", execution_id: 1, id: 2, result: json(2) }]);
    expect(dropped.item.history.map((e) => e.type)).toEqual(["OrchestrationStarted", "ActivityScheduled"]);

    const calls: number[] = [];
    let firstTurnAfterCrash = 0;
    const b = await e2e.start(
      {
        orchestrations,
        activities: {
          Double: async (_ctx, x: number) => {
            if (firstTurnAfterCrash === 0) firstTurnAfterCrash = Date.now();
            calls.push(x);
            return x * 2;
          },
        },
      },
      {},
      a.provider,
    );
    const status = await b.client.waitForOrchestration("crash-turn-1", { timeoutMs: 10_000 });
    expect(status).toMatchObject({ status: "Completed", output: [2, 4] });
    // The re-run turn waited for the crashed dispatcher's lock to expire.
    expect(firstTurnAfterCrash - droppedAt).toBeGreaterThanOrEqual(800);
    // Step 1 was completed by the crashed worker's ack; only step 2 ran here, once.
    expect(calls).toEqual([2]);

    const h = await b.client.readExecutionHistory("crash-turn-1");
    expect(h.map((e) => e.type)).toEqual([
      "OrchestrationStarted",
      "ActivityScheduled",
      "ActivityCompleted",
      "ActivityScheduled",
      "ActivityCompleted",
      "OrchestrationCompleted",
    ]);
    expect(h.map((e) => e.event_id)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(ofType(h, "ActivityCompleted").map((e) => e.source_event_id)).toEqual([2, 4]);

    // The crashed dispatcher coming back cannot commit its stale turn.
    await expect(b.provider.ackOrchestrationItem(dropped.lockToken, 1, [], [], [], {}, [])).rejects.toThrow();
    expect((await b.client.readExecutionHistory("crash-turn-1")).length).toBe(6);
  }, 20_000);

  // §8 item 5
  test("duplicate activity, timer and child-result messages for completed schedules are dropped", async () => {
    const env = await e2e.start({
      activities: { Echo: async (_ctx, s: string) => s },
      orchestrations: {
        Parent: function* (ctx) {
          const a = yield* ctx.scheduleActivity("Echo", "act");
          yield* ctx.scheduleTimer(10);
          const c = yield* ctx.scheduleSubOrchestration("Child", 5, { instanceId: `${ctx.instanceId}-child` });
          ctx.setCustomStatus("waiting");
          const g = yield* ctx.scheduleWait("go");
          return { a, c, g };
        },
        Child: function* (_ctx, x: number) {
          return x + 1;
        },
      },
    });
    await env.client.startOrchestration("dup-1", "Parent", null);
    const s = await env.client.waitForStatusChange("dup-1", 0, { timeoutMs: 5_000 });
    expect(s).toMatchObject({ status: "Running", customStatus: "waiting" });

    const h0 = await env.client.readExecutionHistory("dup-1");
    const act = ofType(h0, "ActivityScheduled")[0]!;
    const timer = ofType(h0, "TimerCreated")[0]!;
    const child = ofType(h0, "SubOrchestrationScheduled")[0]!;
    // Second copies of each completion, as a redelivering worker/timer/child would send them.
    await env.provider.enqueueForOrchestrator({ type: "ActivityCompleted", instance: "dup-1", execution_id: 1, id: act.event_id, result: json("duplicate") });
    await env.provider.enqueueForOrchestrator({ type: "TimerFired", instance: "dup-1", execution_id: 1, id: timer.event_id, fire_at_ms: timer.fire_at_ms });
    await env.provider.enqueueForOrchestrator({ type: "SubOrchCompleted", parent_instance: "dup-1", parent_execution_id: 1, parent_id: child.event_id, result: json(999) });
    await env.client.raiseEvent("dup-1", "go", "went");

    const status = await env.client.waitForOrchestration("dup-1", { timeoutMs: 5_000 });
    expect(status).toMatchObject({ status: "Completed", output: { a: "act", c: 6, g: "went" } });
    const h = await env.client.readExecutionHistory("dup-1");
    expect(ofType(h, "ActivityCompleted").map((e) => e.source_event_id)).toEqual([act.event_id]);
    expect(ofType(h, "TimerFired").map((e) => e.source_event_id)).toEqual([timer.event_id]);
    expect(ofType(h, "SubOrchestrationCompleted").map((e) => e.source_event_id)).toEqual([child.event_id]);
    expect(h.map((e) => e.type)).toEqual([
      "OrchestrationStarted",
      "ActivityScheduled",
      "ActivityCompleted",
      "TimerCreated",
      "TimerFired",
      "SubOrchestrationScheduled",
      "SubOrchestrationCompleted",
      "CustomStatusUpdated",
      "ExternalSubscribed",
      "ExternalEvent",
      "OrchestrationCompleted",
    ]);
  });

  // §8 item 5
  test("two copies of each completion arriving while the instance waits yield one completion event each; the first copy wins", async () => {
    const env = await e2e.start(
      {
        orchestrations: {
          Gather: function* (ctx) {
            const act = ctx.scheduleActivity("Manual", null); // no worker takes it: completed by hand
            const timer = ctx.scheduleTimer(60_000); // fired by hand long before it is due
            const child = ctx.scheduleSubOrchestration("Waiter", null, { instanceId: `${ctx.instanceId}-waiter` });
            ctx.setCustomStatus("scheduled");
            const [a, , c] = yield* ctx.all([act, timer, child]);
            return { a, c };
          },
          Waiter: function* (ctx) {
            return yield* ctx.scheduleWait("never");
          },
        },
      },
      { workerTagFilter: TagFilter.none() },
    );
    await env.client.startOrchestration("dup-2", "Gather", null);
    await env.client.waitForStatusChange("dup-2", 0, { timeoutMs: 5_000 });
    const h0 = await env.client.readExecutionHistory("dup-2");
    const act = ofType(h0, "ActivityScheduled")[0]!;
    const timer = ofType(h0, "TimerCreated")[0]!;
    const child = ofType(h0, "SubOrchestrationScheduled")[0]!;

    const items: WorkItem[] = [
      { type: "ActivityCompleted", instance: "dup-2", execution_id: 1, id: act.event_id, result: json("first") },
      { type: "ActivityCompleted", instance: "dup-2", execution_id: 1, id: act.event_id, result: json("second") },
      { type: "TimerFired", instance: "dup-2", execution_id: 1, id: timer.event_id, fire_at_ms: timer.fire_at_ms },
      { type: "TimerFired", instance: "dup-2", execution_id: 1, id: timer.event_id, fire_at_ms: timer.fire_at_ms },
      { type: "SubOrchCompleted", parent_instance: "dup-2", parent_execution_id: 1, parent_id: child.event_id, result: json("c1") },
      { type: "SubOrchCompleted", parent_instance: "dup-2", parent_execution_id: 1, parent_id: child.event_id, result: json("c2") },
    ];
    for (const item of items) await env.provider.enqueueForOrchestrator(item);

    const status = await env.client.waitForOrchestration("dup-2", { timeoutMs: 5_000 });
    expect(status).toMatchObject({ status: "Completed", output: { a: "first", c: "c1" } });
    const h = await env.client.readExecutionHistory("dup-2");
    expect(ofType(h, "ActivityCompleted").map((e) => [e.source_event_id, e.result])).toEqual([[act.event_id, json("first")]]);
    expect(ofType(h, "TimerFired").map((e) => e.source_event_id)).toEqual([timer.event_id]);
    expect(ofType(h, "SubOrchestrationCompleted").map((e) => [e.source_event_id, e.result])).toEqual([[child.event_id, json("c1")]]);
    expect(h.filter((e) => e.type === "OrchestrationCompleted").length).toBe(1);
  });

  // §8 item 6
  test("restarting the runtime on the same store resumes running instances and does not log replayed trace lines again", async () => {
    const handlers: Handlers = {
      activities: { Step: async (_ctx, x: number) => x * 2 },
      orchestrations: {
        Traced: function* (ctx, x: number) {
          ctx.traceInfo(`trace:start:${x}`);
          const a = yield* ctx.scheduleActivity("Step", x);
          ctx.traceInfo(`trace:after-activity:${a}`);
          ctx.setCustomStatus("waiting");
          const e = yield* ctx.scheduleWait("resume");
          ctx.traceInfo(`trace:after-event:${e}`);
          return { a, e };
        },
      },
    };
    const log1 = capturingLogger();
    const first = await e2e.start(handlers, { logger: log1, logLevel: "info" });
    for (const [id, x] of [["restart-1", 1], ["restart-2", 2]] as const) {
      await first.client.startOrchestration(id, "Traced", x);
      expect(await first.client.waitForStatusChange(id, 0, { timeoutMs: 5_000 })).toMatchObject({ status: "Running", customStatus: "waiting" });
    }

    const log2 = capturingLogger();
    const second = await first.restart(handlers, { logger: log2, logLevel: "info" });
    for (const [id, x] of [["restart-1", 1], ["restart-2", 2]] as const) {
      expect(await second.client.getOrchestrationStatus(id)).toMatchObject({ status: "Running" });
      await second.client.raiseEvent(id, "resume", `go${x}`);
      const status = await second.client.waitForOrchestration(id, { timeoutMs: 5_000 });
      expect(status).toMatchObject({ status: "Completed", output: { a: x * 2, e: `go${x}` } });
      expect(await historyTypes(second.client, id)).toEqual([
        "OrchestrationStarted",
        "ActivityScheduled",
        "ActivityCompleted",
        "CustomStatusUpdated",
        "ExternalSubscribed",
        "ExternalEvent",
        "OrchestrationCompleted",
      ]);
    }

    const traces = (log: ReturnType<typeof capturingLogger>, id: string) =>
      log.lines.filter((l) => l.message.startsWith("trace:") && l.fields.instance_id === id).map((l) => l.message);
    // Each trace line is written exactly once, by the runtime whose turn first executed it.
    expect(traces(log1, "restart-1")).toEqual(["trace:start:1", "trace:after-activity:2"]);
    expect(traces(log1, "restart-2")).toEqual(["trace:start:2", "trace:after-activity:4"]);
    expect(traces(log2, "restart-1")).toEqual(["trace:after-event:go1"]);
    expect(traces(log2, "restart-2")).toEqual(["trace:after-event:go2"]);
    expect(log2.lines.find((l) => l.fields.instance_id === "restart-1" && l.message === "trace:start:1")).toBeUndefined();
  }, 15_000);

  // §8 item 7
  test("a timer whose fire time passes while no runtime runs fires once after restart", async () => {
    const handlers: Handlers = {
      orchestrations: {
        Sleeper: function* (ctx, ms: number) {
          ctx.setCustomStatus("armed");
          yield* ctx.scheduleTimer(ms);
          return "woke";
        },
      },
    };
    const first = await e2e.start(handlers, { dispatcherLongPollTimeoutMs: 50 });
    await first.client.startOrchestration("timer-down-1", "Sleeper", 600);
    await first.client.waitForStatusChange("timer-down-1", 0, { timeoutMs: 5_000 });
    await first.shutdown();

    const h0 = await first.client.readExecutionHistory("timer-down-1");
    const created = ofType(h0, "TimerCreated");
    expect(created.length).toBe(1);
    // No runtime runs while the fire time passes.
    const wait = created[0]!.fire_at_ms + 400 - Date.now();
    if (wait > 0) await pause(wait);
    expect(ofType(await first.client.readExecutionHistory("timer-down-1"), "TimerFired")).toEqual([]);
    expect(await first.client.getOrchestrationStatus("timer-down-1")).toMatchObject({ status: "Running" });

    const second = await first.restart(handlers, {});
    const status = await second.client.waitForOrchestration("timer-down-1", { timeoutMs: 5_000 });
    expect(status).toMatchObject({ status: "Completed", output: "woke" });
    const h = await second.client.readExecutionHistory("timer-down-1");
    expect(h.map((e) => e.type)).toEqual(["OrchestrationStarted", "CustomStatusUpdated", "TimerCreated", "TimerFired", "OrchestrationCompleted"]);
    const fired = ofType(h, "TimerFired");
    expect(fired.length).toBe(1);
    expect(fired[0]!.source_event_id).toBe(created[0]!.event_id);
    expect(fired[0]!.fire_at_ms).toBe(created[0]!.fire_at_ms);
  }, 15_000);

  // §8 item 8
  test("activity vs timer race won by the timer: the caller sees the timer win, the activity is cancelled with dropped_future, its signal fires and its late result is discarded", async () => {
    const started = deferred();
    const sawAbort = deferred();
    const release = deferred();
    const env = await e2e.start(
      {
        activities: {
          Slow: async (ctx) => {
            started.resolve();
            await aborted(ctx.signal);
            sawAbort.resolve();
            await release.promise;
            return "late";
          },
          After: async () => "after",
        },
        orchestrations: {
          Deadline: function* (ctx) {
            const r = yield* ctx.race([ctx.scheduleActivity("Slow", null), ctx.scheduleTimer(300)]);
            ctx.setCustomStatus(`winner:${r.index}`);
            yield* ctx.scheduleWait("finish");
            // One worker slot: this runs only after Slow's slot has finished with its late result.
            const after = yield* ctx.scheduleActivity("After", null);
            return { winner: r.index, after };
          },
        },
      },
      { workerConcurrency: 1 },
    );
    await env.client.startOrchestration("race-timer-1", "Deadline", null);
    await within("Slow to start", started.promise);
    expect(await env.client.waitForStatusChange("race-timer-1", 0, { timeoutMs: 5_000 })).toMatchObject({ customStatus: "winner:1" });
    // The worker learns of the cancellation through its lock renewal (lease 2 s ⇒ renewal every 1 s).
    await within("the activity's AbortSignal", sawAbort.promise);

    let h = await env.client.readExecutionHistory("race-timer-1");
    const slow = ofType(h, "ActivityScheduled").find((e) => e.name === "Slow")!;
    const cancels = ofType(h, "ActivityCancelRequested");
    expect(cancels.map((e) => [e.source_event_id, e.reason])).toEqual([[slow.event_id, "dropped_future"]]);

    release.resolve(); // the activity now returns its (late) result
    await env.client.raiseEvent("race-timer-1", "finish", null);
    const status = await env.client.waitForOrchestration("race-timer-1", { timeoutMs: 5_000 });
    expect(status).toMatchObject({ status: "Completed", output: { winner: 1, after: "after" } });

    h = await env.client.readExecutionHistory("race-timer-1");
    const completions = ofType(h, "ActivityCompleted");
    expect(completions.length).toBe(1);
    expect(completions.some((e) => e.source_event_id === slow.event_id)).toBe(false);
    expect(ofType(h, "ActivityCancelRequested").length).toBe(1);
    expect(ofType(h, "TimerFired").length).toBe(1);
  }, 15_000);

  // §8 item 9
  test("two raced completions in the same batch: the one earlier in history wins, even as the second argument", async () => {
    const handlers: Handlers = {
      orchestrations: {
        Pick: function* (ctx) {
          const a = ctx.scheduleActivity("A", null); // completed by hand: no worker runs activities
          const b = ctx.scheduleActivity("B", null);
          ctx.setCustomStatus("scheduled");
          return yield* ctx.race([a, b]);
        },
      },
    };
    const options: RuntimeOptions = { workerTagFilter: TagFilter.none(), dispatcherLongPollTimeoutMs: 50 };
    const first = await e2e.start(handlers, options);
    for (const id of ["same-batch-b-first", "same-batch-a-first"]) {
      await first.client.startOrchestration(id, "Pick", null);
      await first.client.waitForStatusChange(id, 0, { timeoutMs: 5_000 });
    }
    // No runtime: both completions are queued before the instance's next turn.
    await first.shutdown();
    await pause(100); // let the stopped runtime's last (50 ms) poll end
    const done = (id: string, which: "A" | "B"): WorkItem => ({
      type: "ActivityCompleted",
      instance: id,
      execution_id: 1,
      id: which === "A" ? 2 : 3,
      result: json(`${which}-result`),
    });
    await first.provider.enqueueForOrchestrator(done("same-batch-b-first", "B"));
    await first.provider.enqueueForOrchestrator(done("same-batch-b-first", "A"));
    await first.provider.enqueueForOrchestrator(done("same-batch-a-first", "A"));
    await first.provider.enqueueForOrchestrator(done("same-batch-a-first", "B"));
    // Check the precondition: each instance's next batch carries both completions.
    for (let i = 0; i < 2; i++) {
      const f = await stealOrchestrationItem(first.provider, 5_000);
      expect(f.item.messages.length).toBe(2);
      await first.provider.abandonOrchestrationItem(f.lockToken, null, true);
    }

    const second = await first.restart(handlers, options);
    const b = await second.client.waitForOrchestration("same-batch-b-first", { timeoutMs: 5_000 });
    expect(b).toMatchObject({ status: "Completed", output: { index: 1, value: "B-result" } });
    const a = await second.client.waitForOrchestration("same-batch-a-first", { timeoutMs: 5_000 });
    expect(a).toMatchObject({ status: "Completed", output: { index: 0, value: "A-result" } });

    const hb = await second.client.readExecutionHistory("same-batch-b-first");
    expect(ofType(hb, "ActivityCompleted").map((e) => e.source_event_id)).toEqual([3, 2]);
    expect(hb.filter((e) => e.type === "OrchestrationCompleted").length).toBe(1);
    const ha = await second.client.readExecutionHistory("same-batch-a-first");
    expect(ofType(ha, "ActivityCompleted").map((e) => e.source_event_id)).toEqual([2, 3]);
  }, 15_000);

  // §8 item 10
  test("a race loser activity's schedule event is consumed on replay: more work after the race replays without nondeterminism", async () => {
    const fastCalls: number[] = [];
    const env = await e2e.start({
      activities: {
        Slow: async (ctx) => {
          await aborted(ctx.signal);
          return "late";
        },
        Fast: async (_ctx, x: number) => {
          fastCalls.push(x);
          return x * 10;
        },
      },
      orchestrations: {
        AfterRace: function* (ctx) {
          const r = yield* ctx.race([ctx.scheduleActivity("Slow", null), ctx.scheduleTimer(50)]);
          const x = yield* ctx.scheduleActivity("Fast", 1);
          yield* ctx.scheduleTimer(10);
          const z = yield* ctx.scheduleActivity("Fast", 2);
          return { winner: r.index, x, z };
        },
      },
    });
    await env.client.startOrchestration("loser-act-1", "AfterRace", null);
    const status = await env.client.waitForOrchestration("loser-act-1", { timeoutMs: 5_000 });
    expect(status).toMatchObject({ status: "Completed", output: { winner: 1, x: 10, z: 20 } });
    expect(fastCalls).toEqual([1, 2]);
    const h = await env.client.readExecutionHistory("loser-act-1");
    expect(ofType(h, "ActivityScheduled").map((e) => e.name)).toEqual(["Slow", "Fast", "Fast"]);
    expect(ofType(h, "ActivityCancelRequested").map((e) => [e.source_event_id, e.reason])).toEqual([[2, "dropped_future"]]);
    expect(ofType(h, "TimerFired").length).toBe(2);
    expect(h.some((e) => e.type === "OrchestrationFailed")).toBe(false);
  });

  // §8 item 10
  test("a race loser timer is consumed on replay and its late TimerFired is harmless", async () => {
    const env = await e2e.start({
      activities: { Fast: async (_ctx, x: number) => x * 10 },
      orchestrations: {
        TimerLoses: function* (ctx) {
          const r = yield* ctx.race([ctx.scheduleActivity("Fast", 0), ctx.scheduleTimer(300)]);
          const x = yield* ctx.scheduleActivity("Fast", 1);
          yield* ctx.scheduleTimer(1_000); // the loser fires (at ~300 ms) while this waits
          const z = yield* ctx.scheduleActivity("Fast", 2);
          return { winner: r.index, x, z };
        },
      },
    });
    await env.client.startOrchestration("loser-timer-1", "TimerLoses", null);
    const status = await env.client.waitForOrchestration("loser-timer-1", { timeoutMs: 5_000 });
    expect(status).toMatchObject({ status: "Completed", output: { winner: 0, x: 10, z: 20 } });
    const h = await env.client.readExecutionHistory("loser-timer-1");
    const timers = ofType(h, "TimerCreated").map((e) => e.event_id);
    expect(timers.length).toBe(2);
    // Both timers fired, the loser first; neither broke replay.
    expect(ofType(h, "TimerFired").map((e) => e.source_event_id)).toEqual(timers);
    expect(ofType(h, "ActivityScheduled").length).toBe(3);
    expect(ofType(h, "ActivityCompleted").length).toBe(3);
    expect(h.some((e) => e.type === "OrchestrationFailed")).toBe(false);
  }, 10_000);

  // §8 item 11
  test("an external event raised before its subscription is ignored; raised again after subscribing it is delivered", async () => {
    const env = await e2e.start({
      orchestrations: {
        Late: function* (ctx) {
          ctx.setCustomStatus("waiting-gate");
          yield* ctx.scheduleWait("gate");
          ctx.setCustomStatus("subscribed");
          return yield* ctx.scheduleWait("E");
        },
      },
    });
    await env.client.startOrchestration("ext-early-1", "Late", null);
    await env.client.waitForStatusChange("ext-early-1", 0, { timeoutMs: 5_000 });
    await env.client.raiseEvent("ext-early-1", "E", "early");
    // The early raise is recorded (for audit) while no subscription for "E" exists.
    await waitForHistory(env.client, "ext-early-1", (h) => ofType(h, "ExternalEvent").some((e) => e.name === "E"), "the early event to be recorded");
    await env.client.raiseEvent("ext-early-1", "gate", null);
    expect(await env.client.waitForStatusChange("ext-early-1", 1, { timeoutMs: 5_000 })).toMatchObject({ status: "Running", customStatus: "subscribed" });
    expect(await env.client.getOrchestrationStatus("ext-early-1")).toMatchObject({ status: "Running" });

    await env.client.raiseEvent("ext-early-1", "E", "late");
    const status = await env.client.waitForOrchestration("ext-early-1", { timeoutMs: 5_000 });
    expect(status).toMatchObject({ status: "Completed", output: "late" });
    const h = await env.client.readExecutionHistory("ext-early-1");
    const sub = ofType(h, "ExternalSubscribed").find((e) => e.name === "E")!;
    const events = ofType(h, "ExternalEvent").filter((e) => e.name === "E");
    expect(events.map((e) => e.data)).toEqual([json("early"), json("late")]);
    expect(events[0]!.event_id).toBeLessThan(sub.event_id);
    expect(events[1]!.event_id).toBeGreaterThan(sub.event_id);
  });

  // §8 item 11
  test("an external event raised before the instance starts is dropped by its first turn", async () => {
    const env = await e2e.start({
      orchestrations: {
        WaitE: function* (ctx) {
          ctx.setCustomStatus("subscribed");
          return yield* ctx.scheduleWait("E");
        },
      },
    });
    await env.client.raiseEvent("ext-prestart-1", "E", "too-early");
    await env.client.startOrchestration("ext-prestart-1", "WaitE", null);
    expect(await env.client.waitForStatusChange("ext-prestart-1", 0, { timeoutMs: 5_000 })).toMatchObject({ status: "Running" });
    await env.client.raiseEvent("ext-prestart-1", "E", "on-time");
    const status = await env.client.waitForOrchestration("ext-prestart-1", { timeoutMs: 5_000 });
    expect(status).toMatchObject({ status: "Completed", output: "on-time" });
  });

  // §8 item 12
  test("two waits on one name receive two raises in order", async () => {
    const env = await e2e.start({
      orchestrations: {
        TwoWaits: function* (ctx) {
          const first = ctx.scheduleWait("E");
          const second = ctx.scheduleWait("E");
          ctx.setCustomStatus("subscribed");
          return yield* ctx.all([first, second]);
        },
      },
    });
    await env.client.startOrchestration("two-waits-1", "TwoWaits", null);
    await env.client.waitForStatusChange("two-waits-1", 0, { timeoutMs: 5_000 });
    await env.client.raiseEvent("two-waits-1", "E", "one");
    await env.client.raiseEvent("two-waits-1", "E", "two");
    const status = await env.client.waitForOrchestration("two-waits-1", { timeoutMs: 5_000 });
    expect(status).toMatchObject({ status: "Completed", output: ["one", "two"] });
    const h = await env.client.readExecutionHistory("two-waits-1");
    expect(ofType(h, "ExternalSubscribed").length).toBe(2);
    expect(ofType(h, "ExternalEvent").map((e) => e.data)).toEqual([json("one"), json("two")]);
  });

  // §8 item 12
  test("identical payloads raised twice are two arrivals, not deduplicated", async () => {
    const env = await e2e.start({
      orchestrations: {
        TwoWaits: function* (ctx) {
          const first = ctx.scheduleWait("E");
          const second = ctx.scheduleWait("E");
          ctx.setCustomStatus("subscribed");
          return yield* ctx.all([first, second]);
        },
      },
    });
    await env.client.startOrchestration("same-payload-1", "TwoWaits", null);
    await env.client.waitForStatusChange("same-payload-1", 0, { timeoutMs: 5_000 });
    await env.client.raiseEvent("same-payload-1", "E", { v: 1 });
    await env.client.raiseEvent("same-payload-1", "E", { v: 1 });
    const status = await env.client.waitForOrchestration("same-payload-1", { timeoutMs: 5_000 });
    expect(status).toMatchObject({ status: "Completed", output: [{ v: 1 }, { v: 1 }] });
    const h = await env.client.readExecutionHistory("same-payload-1");
    expect(ofType(h, "ExternalEvent").map((e) => e.data)).toEqual([json({ v: 1 }), json({ v: 1 })]);
  });

  // §8 item 13
  test("a cancelled (race loser) positional subscription does not steal a later event from an active one", async () => {
    const env = await e2e.start({
      orchestrations: {
        LoserWait: function* (ctx) {
          const r = yield* ctx.race([ctx.scheduleWait("E"), ctx.scheduleTimer(50)]);
          ctx.setCustomStatus(`winner:${r.index}`);
          const v = yield* ctx.scheduleWait("E");
          return { winner: r.index, v };
        },
      },
    });
    await env.client.startOrchestration("loser-wait-1", "LoserWait", null);
    expect(await env.client.waitForStatusChange("loser-wait-1", 0, { timeoutMs: 5_000 })).toMatchObject({ status: "Running", customStatus: "winner:1" });
    await env.client.raiseEvent("loser-wait-1", "E", "for-the-second-wait");
    const status = await env.client.waitForOrchestration("loser-wait-1", { timeoutMs: 5_000 });
    expect(status).toMatchObject({ status: "Completed", output: { winner: 1, v: "for-the-second-wait" } });

    const h = await env.client.readExecutionHistory("loser-wait-1");
    const subs = ofType(h, "ExternalSubscribed");
    expect(subs.map((e) => e.name)).toEqual(["E", "E"]);
    expect(ofType(h, "ExternalSubscribedCancelled").map((e) => [e.source_event_id, e.reason])).toEqual([[subs[0]!.event_id, "dropped_future"]]);
    expect(ofType(h, "ExternalEvent").length).toBe(1);
  });
});
