// § numbers in this file refer to docs/runtime-semantics.md ("§8 item N" is §8.N there).
// §8 items 28–38: unregistered handlers and poison, nondeterminism, orchestration failures, retry
// policies, deterministic system values, isReplaying, custom status and waitForStatusChange.
import { expect, test } from "bun:test";
import type { ErrorDetails } from "../../src/core/error-details.ts";
import { ClientError } from "../../src/core/errors.ts";
import type { Event, EventOf } from "../../src/core/events.ts";
import type { RuntimeOptions } from "../../src/runtime/options.ts";
import { RetryPolicy } from "../../src/runtime/retry.ts";
import { deferred, describeEachProvider, historyTypes, REPLAY_EVERY_TURN, type Harness, within } from "./harness.ts";

const WAIT = { timeoutMs: 10_000 };

function eventsOf<T extends Event["type"]>(h: Event[], type: T): EventOf<T>[] {
  return h.filter((e): e is EventOf<T> => e.type === type);
}

function expectNondeterminism(details: ErrorDetails | undefined): void {
  expect(details).toMatchObject({ type: "Configuration", kind: "Nondeterminism" });
}

describeEachProvider("errors, retries and status", (e2e: Harness) => {
  // ------------------------------------------------------------------ §8 item 28

  // §8 item 28: an unregistered orchestration backs off (base·2^(n−1), capped) and is poisoned after maxAttempts;
  // the poison message names it and says how to fix it (§5.4).
  test("an unregistered orchestration abandons with growing backoff and becomes Failed(Poison) after maxAttempts", async () => {
    const env = await e2e.start({}, { maxAttempts: 4, unregisteredBackoff: { baseDelayMs: 50, maxDelayMs: 200 } });
    const delays: (number | null)[] = [];
    const orig = env.provider.abandonOrchestrationItem.bind(env.provider);
    env.provider.abandonOrchestrationItem = async (token, delayMs, ignoreAttempt) => {
      if (!ignoreAttempt) delays.push(delayMs);
      return orig(token, delayMs, ignoreAttempt);
    };
    const t0 = performance.now();
    await env.client.startOrchestration("ghost-1", "Ghost", { x: 1 });
    const status = await env.client.waitForOrchestration("ghost-1", WAIT);
    const elapsed = performance.now() - t0;

    expect(status.status).toBe("Failed");
    if (status.status !== "Failed") return;
    expect(status.details).toMatchObject({
      type: "Poison",
      attempt_count: 5,
      max_attempts: 4,
      message_type: { type: "Orchestration", instance: "ghost-1", execution_id: 1 },
    });
    expect(status.message).toStartWith("poison:");
    expect(status.message).toContain('orchestration "Ghost" (any version) is not registered');
    expect(status.message).toContain("Register it");
    // The first fetch recorded the wait (§5.3); the next three were abandoned with 100, 200, 200
    // (capped: the first delivery counts) before the fifth poisoned it.
    expect(delays).toEqual([100, 200, 200]);
    expect(elapsed).toBeGreaterThanOrEqual(490);
    // Poison synthesizes the Started event for an instance that never ran.
    const h = await env.client.readExecutionHistory("ghost-1");
    expect(h.map((e) => e.type)).toEqual(["OrchestrationStarted", "OrchestrationFailed"]);
    expect(h[0]).toMatchObject({ type: "OrchestrationStarted", name: "Ghost", input: JSON.stringify({ x: 1 }) });
  });

  // §8 item 28: registering the orchestration before maxAttempts (a second runtime that has it) lets it complete.
  test("registering an unregistered orchestration in time (a second runtime that has it) lets it complete normally", async () => {
    const options: RuntimeOptions = { maxAttempts: 4, unregisteredBackoff: { baseDelayMs: 50, maxDelayMs: 200 } };
    const old = await e2e.start({}, options);
    const firstAbandon = deferred();
    let abandons = 0;
    const orig = old.provider.abandonOrchestrationItem.bind(old.provider);
    old.provider.abandonOrchestrationItem = async (token, delayMs, ignoreAttempt) => {
      if (!ignoreAttempt) {
        abandons++;
        firstAbandon.resolve();
      }
      return orig(token, delayMs, ignoreAttempt);
    };
    await old.client.startOrchestration("late-1", "Late", "deploy");
    await within("the first unregistered abandon", firstAbandon.promise);
    // §5.3: the status says what the instance waits for (it used to be NotFound until poisoned).
    const waiting = await old.client.getOrchestrationStatus("late-1");
    expect(waiting).toEqual({ status: "Running", message: expect.stringContaining('waiting for orchestration "Late" (any version), which is not registered'), customStatus: null, customStatusVersion: 0 });
    expect(await old.client.readExecutionHistory("late-1")).toEqual([]);

    const next = await old.restart({
      activities: { Greet: async (_ctx, s: string) => `hello ${s}` },
      orchestrations: {
        Late: function* (ctx, input: string) {
          return yield* ctx.scheduleActivity("Greet", input);
        },
      },
    }, options);
    const status = await next.client.waitForOrchestration("late-1", WAIT);
    expect(status).toMatchObject({ status: "Completed", output: "hello deploy" });
    expect(await next.provider.asManagementCapability()!.getInstanceInfo("late-1")).toMatchObject({ orchestration_name: "Late", orchestration_version: "1.0.0", status: "Completed" });
    expect(abandons).toBeGreaterThanOrEqual(1);
    expect(abandons).toBeLessThan(4);
    expect(await historyTypes(next.client, "late-1")).toEqual(["OrchestrationStarted", "ActivityScheduled", "ActivityCompleted", "OrchestrationCompleted"]);
  });

  // §5.3, §3.5: while an instance waits for its orchestration, queue messages sent to it are kept for it
  // (before, with no instance row, the provider dropped a batch made only of queue messages).
  test("queue messages sent while an instance waits for its unregistered orchestration reach it, in order, once a runtime has it", async () => {
    const options: RuntimeOptions = { maxAttempts: 20, unregisteredBackoff: { baseDelayMs: 20, maxDelayMs: 100 } };
    const old = await e2e.start({}, options);
    const firstAbandon = deferred();
    const orig = old.provider.abandonOrchestrationItem.bind(old.provider);
    old.provider.abandonOrchestrationItem = async (token, delayMs, ignoreAttempt) => {
      if (!ignoreAttempt) firstAbandon.resolve();
      return orig(token, delayMs, ignoreAttempt);
    };
    await old.client.startOrchestration("late-ev", "LateEvents", null);
    await within("the first unregistered abandon", firstAbandon.promise);
    expect(await old.client.getOrchestrationStatus("late-ev")).toMatchObject({ status: "Running", message: expect.stringContaining('"LateEvents"') });
    for (const m of ["one", "two", "three"]) await old.client.enqueueEvent("late-ev", "Inbox", m);

    const next = await old.restart({
      orchestrations: {
        LateEvents: function* (ctx) {
          const got: string[] = [];
          for (let i = 0; i < 3; i++) got.push(yield* ctx.dequeueEvent("Inbox"));
          return got;
        },
      },
    }, options);
    expect(await next.client.waitForOrchestration("late-ev", WAIT)).toMatchObject({ status: "Completed", output: ["one", "two", "three"] });
  });

  // ------------------------------------------------------------------ §8 item 29

  // §8 item 29: an unregistered activity is abandoned with backoff, then acked as ActivityFailed(Poison),
  // which fails the orchestration with the same details (user code cannot catch it).
  test("an unregistered activity backs off and finally poisons, failing the orchestration with Poison details", async () => {
    let caught = 0;
    const env = await e2e.start({
      orchestrations: {
        UsesMissing: function* (ctx) {
          try {
            return yield* ctx.scheduleActivity("Missing", 7);
          } catch {
            caught++;
            return "caught";
          }
        },
      },
    }, { maxAttempts: 3, unregisteredBackoff: { baseDelayMs: 50, maxDelayMs: 200 } });
    const delays: (number | null)[] = [];
    const orig = env.provider.abandonWorkItem.bind(env.provider);
    env.provider.abandonWorkItem = async (token, delayMs, ignoreAttempt) => {
      if (!ignoreAttempt) delays.push(delayMs);
      return orig(token, delayMs, ignoreAttempt);
    };
    await env.client.startOrchestration("missing-1", "UsesMissing", null);
    const status = await env.client.waitForOrchestration("missing-1", WAIT);

    expect(status.status).toBe("Failed");
    if (status.status !== "Failed") return;
    const poison = {
      type: "Poison",
      attempt_count: 4,
      max_attempts: 3,
      message_type: { type: "Activity", instance: "missing-1", execution_id: 1, activity_name: "Missing", activity_id: 2 },
    };
    expect(status.details).toMatchObject(poison);
    expect(status.message).toStartWith("poison:");
    expect(caught).toBe(0);
    expect(delays).toEqual([50, 100, 200]);
    const h = await env.client.readExecutionHistory("missing-1");
    expect(h.map((e) => e.type)).toEqual(["OrchestrationStarted", "ActivityScheduled", "ActivityFailed", "OrchestrationFailed"]);
    expect(h[2]).toMatchObject({ type: "ActivityFailed", source_event_id: 2, details: poison });
  });

  // ------------------------------------------------------------------ §8 item 30

  // §8 item 30: code changed under the same name/version so the same position schedules other work.
  for (const [what, v2Activity, v2Input] of [
    ["a different activity", "B", "x"],
    ["the same activity with a different input", "A", "y"],
  ] as const) {
    test(`swapping orchestration code to schedule ${what} at the same position fails the instance with Configuration/Nondeterminism`, async () => {
      const activities = { A: async (_c: unknown, s: string) => `A(${s})`, B: async (_c: unknown, s: string) => `B(${s})` };
      const v1 = await e2e.start({
        activities,
        orchestrations: {
          Swap: function* (ctx) {
            const a = yield* ctx.scheduleActivity("A", "x");
            ctx.setCustomStatus("waiting");
            yield* ctx.scheduleWait("go");
            return a;
          },
        },
      });
      await v1.client.startOrchestration("swap-1", "Swap", null);
      const waiting = await v1.client.waitForStatusChange("swap-1", 0, WAIT);
      expect(waiting).toMatchObject({ status: "Running", customStatus: "waiting" });

      let v2Ran = 0;
      const v2 = await v1.restart({
        activities,
        orchestrations: {
          Swap: function* (ctx) {
            v2Ran++;
            const a = yield* ctx.scheduleActivity(v2Activity, v2Input);
            ctx.setCustomStatus("waiting");
            yield* ctx.scheduleWait("go");
            return a;
          },
        },
      });
      await v2.client.raiseEvent("swap-1", "go", 1);
      const status = await v2.client.waitForOrchestration("swap-1", WAIT);
      expect(status.status).toBe("Failed");
      if (status.status !== "Failed") return;
      expectNondeterminism(status.details);
      expect(status.message).toStartWith("nondeterministic:");
      expect(v2Ran).toBeGreaterThan(0);
      const h = await v2.client.readExecutionHistory("swap-1");
      expect(h.slice(0, 5).map((e) => e.type)).toEqual(["OrchestrationStarted", "ActivityScheduled", "ActivityCompleted", "CustomStatusUpdated", "ExternalSubscribed"]);
      expect(h.at(-1)?.type).toBe("OrchestrationFailed");
      // Only the original schedule is recorded: the new code's activity was never scheduled.
      expect(eventsOf(h, "ActivityScheduled").map((e) => [e.name, e.input])).toEqual([["A", JSON.stringify("x")]]);
    });
  }

  // ------------------------------------------------------------------ §8 item 31

  // §8 item 31: forged completions whose source is not an open schedule of the right kind.
  const forgeries: [string, (ids: Record<string, number>) => { type: "ActivityCompleted" | "TimerFired"; id: number }][] = [
    ["an ActivityCompleted pointing at OrchestrationStarted (a non-schedule event)", (ids) => ({ type: "ActivityCompleted", id: ids.OrchestrationStarted! })],
    ["an ActivityCompleted pointing at a TimerCreated (wrong kind)", (ids) => ({ type: "ActivityCompleted", id: ids.TimerCreated! })],
    ["a TimerFired pointing at an ExternalSubscribed (wrong kind)", (ids) => ({ type: "TimerFired", id: ids.ExternalSubscribed! })],
    ["an ActivityCompleted pointing at an event id that does not exist", () => ({ type: "ActivityCompleted", id: 999 })],
  ];
  for (const [what, forge] of forgeries) {
    test(`${what} fails the instance as nondeterministic`, async () => {
      const env = await e2e.start({
        orchestrations: {
          Forged: function* (ctx) {
            ctx.setCustomStatus("ready");
            const r = yield* ctx.race([ctx.scheduleTimer(60_000), ctx.scheduleWait("never")]);
            return r.index;
          },
        },
      });
      await env.client.startOrchestration("forged-1", "Forged", null);
      await env.client.waitForStatusChange("forged-1", 0, WAIT);
      const before = await env.client.readExecutionHistory("forged-1");
      expect(before.map((e) => e.type)).toEqual(["OrchestrationStarted", "CustomStatusUpdated", "TimerCreated", "ExternalSubscribed"]);
      const ids = Object.fromEntries(before.map((e) => [e.type, e.event_id]));
      const f = forge(ids);
      await env.provider.enqueueForOrchestrator(
        f.type === "ActivityCompleted"
          ? { type: "ActivityCompleted", instance: "forged-1", execution_id: 1, id: f.id, result: JSON.stringify("forged") }
          : { type: "TimerFired", instance: "forged-1", execution_id: 1, id: f.id, fire_at_ms: Date.now() },
      );
      const status = await env.client.waitForOrchestration("forged-1", WAIT);
      expect(status.status).toBe("Failed");
      if (status.status !== "Failed") return;
      expectNondeterminism(status.details);
      expect(status.message).toStartWith("nondeterministic:");
      const h = await env.client.readExecutionHistory("forged-1");
      // The forged completion is not recorded as history.
      expect(h.some((e) => e.type === "ActivityCompleted" || e.type === "TimerFired")).toBe(false);
      expect(h.slice(0, 4)).toEqual(before);
      expect(h.at(-1)?.type).toBe("OrchestrationFailed");
    });
  }

  // ------------------------------------------------------------------ §8 item 32

  // §8 item 32: an orchestration that throws fails with Application/OrchestrationFailed and its message.
  test("an orchestration that throws fails with Application/OrchestrationFailed and its message", async () => {
    const env = await e2e.start({
      activities: { Check: async (_c, n: number) => n * 2 },
      orchestrations: {
        Thrower: function* (ctx, n: number) {
          const doubled: number = yield* ctx.scheduleActivity("Check", n);
          if (doubled > 5) throw new Error(`value too large: ${doubled}`);
          return doubled;
        },
        ThrowsString: function* () {
          throw "plain string failure";
        },
      },
    });
    await env.client.startOrchestration("throw-1", "Thrower", 4);
    const status = await env.client.waitForOrchestration("throw-1", WAIT);
    expect(status).toMatchObject({
      status: "Failed",
      message: "value too large: 8",
      details: { type: "Application", kind: "OrchestrationFailed", message: "value too large: 8" },
    });
    expect(await historyTypes(env.client, "throw-1")).toEqual(["OrchestrationStarted", "ActivityScheduled", "ActivityCompleted", "OrchestrationFailed"]);

    await env.client.startOrchestration("throw-2", "ThrowsString", null);
    expect(await env.client.waitForOrchestration("throw-2", WAIT)).toMatchObject({
      status: "Failed",
      details: { type: "Application", kind: "OrchestrationFailed", message: "plain string failure" },
    });
  });

  // §8 item 32: an activity failure the orchestration does not catch fails it as OrchestrationFailed with the activity's message.
  test("an uncaught activity failure fails the orchestration with Application/OrchestrationFailed carrying the activity's message", async () => {
    const env = await e2e.start({
      activities: {
        Decline: async () => {
          throw new Error("card declined");
        },
      },
      orchestrations: {
        Pay: function* (ctx) {
          return yield* ctx.scheduleActivity("Decline", null);
        },
      },
    });
    await env.client.startOrchestration("pay-1", "Pay", null);
    const status = await env.client.waitForOrchestration("pay-1", WAIT);
    expect(status).toMatchObject({
      status: "Failed",
      message: "card declined",
      details: { type: "Application", kind: "OrchestrationFailed", message: "card declined" },
    });
    const h = await env.client.readExecutionHistory("pay-1");
    expect(h.map((e) => e.type)).toEqual(["OrchestrationStarted", "ActivityScheduled", "ActivityFailed", "OrchestrationFailed"]);
    expect(h[2]).toMatchObject({ source_event_id: 2, details: { type: "Application", kind: "ActivityFailed", message: "card declined" } });
  });

  // §8 item 32: an internal crash (TypeError) reports Panicked.
  test("an internal crash (TypeError) in orchestration code reports Application/Panicked", async () => {
    const env = await e2e.start({
      activities: { Lookup: async () => null },
      orchestrations: {
        Crasher: function* (ctx) {
          const record: { name: string } | null = yield* ctx.scheduleActivity("Lookup", null);
          return (record as { name: string }).name.toUpperCase();
        },
      },
    });
    await env.client.startOrchestration("crash-1", "Crasher", null);
    const status = await env.client.waitForOrchestration("crash-1", WAIT);
    expect(status.status).toBe("Failed");
    if (status.status !== "Failed") return;
    expect(status.details).toMatchObject({ type: "Application", kind: "Panicked" });
    expect(status.message).toContain("panicked");
    expect(await historyTypes(env.client, "crash-1")).toEqual(["OrchestrationStarted", "ActivityScheduled", "ActivityCompleted", "OrchestrationFailed"]);
  });

  // ------------------------------------------------------------------ §8 item 33

  // §8 item 33: fail, fail, succeed → 3 ActivityScheduled, 2 backoff timers with exponential delays 100, 200.
  test("retry policy: fail, fail, succeed produces 3 ActivityScheduled and 2 backoff TimerCreated events with the formula's delays", async () => {
    const calls: number[] = [];
    const env = await e2e.start({
      activities: {
        Flaky: async (_c, input: string) => {
          calls.push(Date.now());
          if (calls.length < 3) throw new Error(`flaky ${calls.length}`);
          return `ok ${input}`;
        },
      },
      orchestrations: {
        Retrying: function* (ctx) {
          return yield* ctx.scheduleActivityWithRetry("Flaky", "in", {
            maxAttempts: 5,
            backoff: { type: "Exponential", baseMs: 100, multiplier: 2, maxMs: 1_000 },
          });
        },
      },
    });
    await env.client.startOrchestration("retry-1", "Retrying", null);
    const status = await env.client.waitForOrchestration("retry-1", WAIT);
    expect(status).toMatchObject({ status: "Completed", output: "ok in" });
    expect(calls.length).toBe(3);

    const h = await env.client.readExecutionHistory("retry-1");
    expect(h.map((e) => e.type)).toEqual([
      "OrchestrationStarted",
      "ActivityScheduled",
      "ActivityFailed",
      "TimerCreated",
      "TimerFired",
      "ActivityScheduled",
      "ActivityFailed",
      "TimerCreated",
      "TimerFired",
      "ActivityScheduled",
      "ActivityCompleted",
      "OrchestrationCompleted",
    ]);
    const scheduled = eventsOf(h, "ActivityScheduled");
    expect(scheduled.map((e) => [e.name, e.input])).toEqual([["Flaky", '"in"'], ["Flaky", '"in"'], ["Flaky", '"in"']]);
    // Each failure / completion points at its own attempt's schedule.
    const outcomes = h.filter((e) => e.type === "ActivityFailed" || e.type === "ActivityCompleted");
    expect(outcomes.map((e) => e.source_event_id)).toEqual(scheduled.map((e) => e.event_id));
    expect(eventsOf(h, "ActivityFailed").map((e) => e.details)).toMatchObject([
      { type: "Application", kind: "ActivityFailed", message: "flaky 1" },
      { type: "Application", kind: "ActivityFailed", message: "flaky 2" },
    ]);
    // Backoff after the n-th failure: min(100 · 2^(n−1), 1000) → 100, 200.
    const timers = eventsOf(h, "TimerCreated");
    const expected = [100, 200];
    timers.forEach((t, i) => {
      const delay = t.fire_at_ms - t.timestamp_ms;
      expect(delay).toBeGreaterThanOrEqual(expected[i]!);
      expect(delay).toBeLessThan(expected[i]! + 50);
    });
    expect(eventsOf(h, "TimerFired").map((e) => e.source_event_id)).toEqual(timers.map((e) => e.event_id));
    // The attempts really were spaced by the backoff.
    expect(calls[1]! - calls[0]!).toBeGreaterThanOrEqual(95);
    expect(calls[2]! - calls[1]!).toBeGreaterThanOrEqual(195);
  });

  // §8 item 33: a fixed policy that never succeeds returns the last error after maxAttempts, with fixed delays.
  test("retry policy: exhausting a fixed-delay policy returns the last error after maxAttempts attempts", async () => {
    let n = 0;
    const env = await e2e.start({
      activities: {
        AlwaysFails: async () => {
          throw new Error(`nope #${++n}`);
        },
      },
      orchestrations: {
        GivesUp: function* (ctx) {
          try {
            yield* ctx.scheduleActivityWithRetry("AlwaysFails", null, RetryPolicy.fixed(3, 30));
            return "unexpected success";
          } catch (err) {
            return `gave up: ${(err as Error).message}`;
          }
        },
      },
    });
    await env.client.startOrchestration("retry-2", "GivesUp", null);
    expect(await env.client.waitForOrchestration("retry-2", WAIT)).toMatchObject({ status: "Completed", output: "gave up: nope #3" });
    expect(n).toBe(3);
    const h = await env.client.readExecutionHistory("retry-2");
    expect(eventsOf(h, "ActivityScheduled").length).toBe(3);
    expect(eventsOf(h, "ActivityFailed").length).toBe(3);
    const timers = eventsOf(h, "TimerCreated");
    expect(timers.length).toBe(2); // no sleep after the last attempt
    for (const t of timers) {
      expect(t.fire_at_ms - t.timestamp_ms).toBeGreaterThanOrEqual(30);
      expect(t.fire_at_ms - t.timestamp_ms).toBeLessThan(80);
    }
  });

  // §8 item 33: a None backoff retries immediately, with no timers between attempts.
  test("retry policy: None backoff retries immediately without backoff timers", async () => {
    let n = 0;
    const env = await e2e.start({
      activities: {
        SecondTime: async () => {
          if (++n < 2) throw new Error("first try fails");
          return n;
        },
      },
      orchestrations: {
        Immediate: function* (ctx) {
          return yield* ctx.scheduleActivityWithRetry("SecondTime", null, RetryPolicy.none(3));
        },
      },
    });
    await env.client.startOrchestration("retry-3", "Immediate", null);
    expect(await env.client.waitForOrchestration("retry-3", WAIT)).toMatchObject({ status: "Completed", output: 2 });
    expect(await historyTypes(env.client, "retry-3")).toEqual([
      "OrchestrationStarted",
      "ActivityScheduled",
      "ActivityFailed",
      "ActivityScheduled",
      "ActivityCompleted",
      "OrchestrationCompleted",
    ]);
  });

  // ------------------------------------------------------------------ §8 item 34

  // §8 item 34: a per-attempt timeout is final: "timeout: activity timed out", no further attempts, the attempt is cancelled.
  test("retry with a per-attempt timeout returns `timeout: activity timed out` on the first timeout with no further attempts", async () => {
    let calls = 0;
    const aborted = deferred();
    const env = await e2e.start({
      activities: {
        Hang: async (ctx) => {
          calls++;
          await new Promise<void>((resolve) => {
            ctx.signal.addEventListener("abort", () => resolve(), { once: true });
            setTimeout(resolve, 8_000);
          });
          if (ctx.signal.aborted) aborted.resolve();
          return "late";
        },
      },
      orchestrations: {
        TimesOut: function* (ctx) {
          try {
            const r = yield* ctx.scheduleActivityWithRetry("Hang", null, { maxAttempts: 3, backoff: { type: "Fixed", delayMs: 10 }, timeoutMs: 150 });
            return { ok: r };
          } catch (err) {
            return { error: (err as Error).message };
          }
        },
      },
    });
    await env.client.startOrchestration("timeout-1", "TimesOut", null);
    const status = await env.client.waitForOrchestration("timeout-1", WAIT);
    expect(status).toMatchObject({ status: "Completed", output: { error: "timeout: activity timed out" } });

    const h = await env.client.readExecutionHistory("timeout-1");
    const scheduled = eventsOf(h, "ActivityScheduled");
    expect(scheduled.length).toBe(1);
    const timers = eventsOf(h, "TimerCreated");
    expect(timers.length).toBe(1); // the timeout timer only, no backoff timer
    expect(timers[0]!.fire_at_ms - timers[0]!.timestamp_ms).toBeGreaterThanOrEqual(150);
    expect(eventsOf(h, "TimerFired").map((e) => e.source_event_id)).toEqual([timers[0]!.event_id]);
    expect(h.some((e) => e.type === "ActivityCompleted" || e.type === "ActivityFailed")).toBe(false);
    expect(eventsOf(h, "ActivityCancelRequested").map((e) => [e.source_event_id, e.reason])).toEqual([[scheduled[0]!.event_id, "dropped_future"]]);
    expect(h.at(-1)?.type).toBe("OrchestrationCompleted");
    // The timed-out attempt is signalled, and no second attempt ever runs.
    await within("the timed-out activity's cancellation signal", aborted.promise, 6_000);
    expect(calls).toBe(1);
  });

  // ------------------------------------------------------------------ §8 item 35

  // §8 item 35: newGuid / utcNow are recorded once and replayed identically; feeding them to activities replays cleanly.
  test("ctx.newGuid and ctx.utcNow results are identical across replays and can feed activity inputs without nondeterminism", async () => {
    const seen: { g: string; g2: string; t: number }[] = [];
    let echoed: unknown = null;
    const env = await e2e.start({
      activities: {
        Echo: async (_c, input: unknown) => {
          echoed = input;
          return input;
        },
      },
      orchestrations: {
        Deterministic: function* (ctx) {
          const g = yield* ctx.newGuid();
          const g2 = yield* ctx.newGuid();
          const t = yield* ctx.utcNow();
          seen.push({ g, g2, t });
          const echo = yield* ctx.scheduleActivity("Echo", { g, t });
          yield* ctx.scheduleTimer(10);
          seen.push({ g, g2, t });
          return { g, g2, t, echo };
        },
      },
    }, REPLAY_EVERY_TURN);
    const before = Date.now();
    await env.client.startOrchestration("det-1", "Deterministic", null);
    const status = await env.client.waitForOrchestration("det-1", WAIT);
    const after = Date.now();
    expect(status.status).toBe("Completed");
    if (status.status !== "Completed") return;
    const out = status.output as { g: string; g2: string; t: number; echo: unknown };
    expect(out.g).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i);
    expect(out.g2).not.toBe(out.g);
    expect(out.t).toBeGreaterThanOrEqual(before);
    expect(out.t).toBeLessThanOrEqual(after);
    expect(out.echo).toEqual({ g: out.g, t: out.t });
    expect(echoed).toEqual({ g: out.g, t: out.t });
    // Reached after utcNow in three turns (utcNow, Echo, timer) and always the same values.
    expect(seen.length).toBe(4);
    for (const s of seen) expect(s).toEqual({ g: out.g, g2: out.g2, t: out.t });

    const h = await env.client.readExecutionHistory("det-1");
    expect(h.map((e) => e.type)).toEqual([
      "OrchestrationStarted",
      "ActivityScheduled",
      "ActivityCompleted",
      "ActivityScheduled",
      "ActivityCompleted",
      "ActivityScheduled",
      "ActivityCompleted",
      "ActivityScheduled",
      "ActivityCompleted",
      "TimerCreated",
      "TimerFired",
      "OrchestrationCompleted",
    ]);
    const scheduled = eventsOf(h, "ActivityScheduled");
    expect(scheduled.map((e) => e.name)).toEqual(["__duroxide_syscall:new_guid", "__duroxide_syscall:new_guid", "__duroxide_syscall:utc_now_ms", "Echo"]);
    expect(JSON.parse(scheduled[3]!.input)).toEqual({ g: out.g, t: out.t });
  });

  // ------------------------------------------------------------------ §8 item 36

  // §8 item 36: isReplaying is false on the first turn and after the newest completion, true before it.
  test("isReplaying is false on the first turn and after the newest completion, true before it", async () => {
    const log: [string, boolean][] = [];
    const env = await e2e.start({
      activities: { Step: async (_c, n: number) => n },
      orchestrations: {
        Observer: function* (ctx) {
          log.push(["start", ctx.isReplaying()]);
          yield* ctx.scheduleActivity("Step", 1);
          log.push(["afterA", ctx.isReplaying()]);
          yield* ctx.scheduleActivity("Step", 2);
          log.push(["afterB", ctx.isReplaying()]);
          return "done";
        },
      },
    }, REPLAY_EVERY_TURN);
    await env.client.startOrchestration("replay-1", "Observer", null);
    expect(await env.client.waitForOrchestration("replay-1", WAIT)).toMatchObject({ status: "Completed", output: "done" });
    expect(log).toEqual([
      // turn 1 (start)
      ["start", false],
      // turn 2 (A completed)
      ["start", true],
      ["afterA", false],
      // turn 3 (B completed)
      ["start", true],
      ["afterA", true],
      ["afterB", false],
    ]);
    expect(await historyTypes(env.client, "replay-1")).toEqual([
      "OrchestrationStarted",
      "ActivityScheduled",
      "ActivityCompleted",
      "ActivityScheduled",
      "ActivityCompleted",
      "OrchestrationCompleted",
    ]);
  });

  // §8 item 36: code resumed by a persisted completion is replaying even when that completion is the
  // last persisted event (fan-out: A completes in its own turn, B in the next); its traces are not logged again.
  test("isReplaying is true for code resumed by an older completion in a fan-out, so its traces are not logged twice", async () => {
    const log: [string, boolean][] = [];
    const traces: string[] = [];
    const gateB = deferred();
    const env = await e2e.start({
      activities: {
        A: async () => "a",
        B: async () => {
          await gateB.promise;
          return "b";
        },
      },
      orchestrations: {
        Fan: function* (ctx) {
          const a = ctx.scheduleActivity("A", null);
          const b = ctx.scheduleActivity("B", null);
          log.push(["start", ctx.isReplaying()]);
          yield* a;
          log.push(["afterA", ctx.isReplaying()]);
          ctx.traceInfo("fan: after A");
          gateB.resolve(); // B finishes only after A's turn was fetched, so B completes in a later turn
          yield* b;
          log.push(["afterB", ctx.isReplaying()]);
          ctx.traceInfo("fan: after B");
          return "done";
        },
      },
    }, {
      ...REPLAY_EVERY_TURN,
      logLevel: "info",
      logger: { log: (_level, message) => void (message.startsWith("fan:") && traces.push(message)) },
    });
    await env.client.startOrchestration("fan-1", "Fan", null);
    expect(await env.client.waitForOrchestration("fan-1", WAIT)).toMatchObject({ status: "Completed", output: "done" });
    expect(await historyTypes(env.client, "fan-1")).toEqual([
      "OrchestrationStarted",
      "ActivityScheduled",
      "ActivityScheduled",
      "ActivityCompleted",
      "ActivityCompleted",
      "OrchestrationCompleted",
    ]);
    expect(log).toEqual([
      // turn 1 (start)
      ["start", false],
      // turn 2 (A completed)
      ["start", true],
      ["afterA", false],
      // turn 3 (B completed): A's completion is replayed history, only B's is new
      ["start", true],
      ["afterA", true],
      ["afterB", false],
    ]);
    expect(traces).toEqual(["fan: after A", "fan: after B"]);
  });

  // ------------------------------------------------------------------ §8 item 37

  // §8 item 37: custom status is visible with an increasing version; several writes in one turn → one bump, last wins.
  test("custom status updates are visible to the client with an increasing version, and the last write of a turn wins", async () => {
    const env = await e2e.start({
      orchestrations: {
        Status: function* (ctx) {
          ctx.setCustomStatus("s1");
          ctx.setCustomStatus("s2");
          yield* ctx.scheduleWait("next");
          ctx.setCustomStatus("s3");
          const seen = ctx.getCustomStatus();
          yield* ctx.scheduleWait("next");
          return seen;
        },
      },
    });
    await env.client.startOrchestration("cs-1", "Status", null);
    const first = await env.client.waitForStatusChange("cs-1", 0, WAIT);
    expect(first).toMatchObject({ status: "Running", customStatus: "s2", customStatusVersion: 1 });
    expect(await env.client.getOrchestrationStatus("cs-1")).toMatchObject({ status: "Running", customStatus: "s2", customStatusVersion: 1 });

    await env.client.raiseEvent("cs-1", "next", null);
    const second = await env.client.waitForStatusChange("cs-1", 1, WAIT);
    expect(second).toMatchObject({ status: "Running", customStatus: "s3", customStatusVersion: 2 });

    await env.client.raiseEvent("cs-1", "next", null);
    const done = await env.client.waitForOrchestration("cs-1", WAIT);
    expect(done).toMatchObject({ status: "Completed", output: "s3", customStatus: "s3", customStatusVersion: 2 });
    const h = await env.client.readExecutionHistory("cs-1");
    expect(eventsOf(h, "CustomStatusUpdated").map((e) => e.status)).toEqual(["s1", "s2", "s3"]);
  });

  // §8 item 37: custom status carries across continue-as-new (into the context and for the client).
  test("custom status carries across continue-as-new", async () => {
    const env = await e2e.start({
      orchestrations: {
        Generations: function* (ctx, n: number) {
          if (n === 0) {
            ctx.setCustomStatus("gen-0");
            return yield* ctx.continueAsNew(1);
          }
          if (n === 1) {
            ctx.setCustomStatus(`${ctx.getCustomStatus()}|gen-1`);
            return yield* ctx.continueAsNew(2);
          }
          // Execution 3 sets nothing: it sees what the previous executions left.
          const carried = ctx.getCustomStatus();
          yield* ctx.dequeueEvent("go");
          return carried;
        },
      },
    });
    await env.client.startOrchestration("cs-can", "Generations", 0);
    let s = await env.client.waitForStatusChange("cs-can", 0, WAIT);
    while (s.status === "Running" && s.customStatus !== "gen-0|gen-1") s = await env.client.waitForStatusChange("cs-can", s.customStatusVersion, WAIT);
    expect(s).toMatchObject({ status: "Running", customStatus: "gen-0|gen-1" });

    await env.client.enqueueEvent("cs-can", "go", null);
    const done = await env.client.waitForOrchestration("cs-can", WAIT);
    expect(done).toMatchObject({ status: "Completed", output: "gen-0|gen-1", customStatus: "gen-0|gen-1" });
    expect(await env.client.listExecutions("cs-can")).toEqual([1, 2, 3]);
    const started2 = (await env.client.readExecutionHistory("cs-can", 2))[0];
    const started3 = (await env.client.readExecutionHistory("cs-can", 3))[0];
    expect(started2).toMatchObject({ type: "OrchestrationStarted", initial_custom_status: "gen-0" });
    expect(started3).toMatchObject({ type: "OrchestrationStarted", initial_custom_status: "gen-0|gen-1" });
  });

  // §8 item 37: a custom status over maxCustomStatusBytes (default 256 KiB) fails the instance; exactly the limit is fine.
  test("a custom status larger than maxCustomStatusBytes (256 KiB) fails the instance, exactly 256 KiB is accepted", async () => {
    const LIMIT = 256 * 1024;
    const env = await e2e.start({
      activities: { Noop: async () => null },
      orchestrations: {
        BigStatus: function* (ctx, size: number) {
          ctx.setCustomStatus("small");
          yield* ctx.scheduleActivity("Noop", null);
          ctx.setCustomStatus("x".repeat(size));
          return size;
        },
      },
    });
    await env.client.startOrchestration("cs-ok", "BigStatus", LIMIT);
    await env.client.startOrchestration("cs-big", "BigStatus", LIMIT + 1);
    const ok = await env.client.waitForOrchestration("cs-ok", WAIT);
    expect(ok).toMatchObject({ status: "Completed", output: LIMIT });
    expect(ok.customStatus?.length).toBe(LIMIT);

    const big = await env.client.waitForOrchestration("cs-big", WAIT);
    expect(big.status).toBe("Failed");
    if (big.status !== "Failed") return;
    expect(big.details).toMatchObject({ type: "Application", kind: "OrchestrationFailed" });
    expect(big.message).toContain("custom status");
    expect(big.customStatus?.length ?? 0).toBeLessThanOrEqual(LIMIT);
    const h = await env.client.readExecutionHistory("cs-big");
    expect(h.slice(0, 3).map((e) => e.type)).toEqual(["OrchestrationStarted", "CustomStatusUpdated", "ActivityScheduled"]);
    expect(h.at(-1)?.type).toBe("OrchestrationFailed");
  });

  // ------------------------------------------------------------------ §8 item 38

  // §8 item 38: waitForStatusChange returns on a version bump, on a terminal state, and times out otherwise.
  test("waitForStatusChange returns on a version bump or a terminal state and times out otherwise", async () => {
    const env = await e2e.start({
      orchestrations: {
        Stepper: function* (ctx) {
          ctx.setCustomStatus("a");
          yield* ctx.scheduleWait("e1");
          ctx.setCustomStatus("b");
          yield* ctx.scheduleWait("e2");
          return "end";
        },
      },
    });
    await env.client.startOrchestration("wsc-1", "Stepper", null);
    expect(await env.client.waitForStatusChange("wsc-1", 0, WAIT)).toMatchObject({ status: "Running", customStatus: "a", customStatusVersion: 1 });

    // A waiter started before the bump resolves with the new version.
    const bump = env.client.waitForStatusChange("wsc-1", 1, WAIT);
    await env.client.raiseEvent("wsc-1", "e1", null);
    expect(await bump).toMatchObject({ status: "Running", customStatus: "b", customStatusVersion: 2 });

    // Nothing changes while the instance waits for e2: the wait times out with ClientError Timeout.
    const t0 = performance.now();
    const err = await env.client.waitForStatusChange("wsc-1", 2, { timeoutMs: 300 }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ClientError);
    expect((err as ClientError).code).toBe("Timeout");
    expect((err as ClientError).retryable).toBe(true);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(280);

    // Reaching a terminal state ends the wait even without a version bump.
    const terminal = env.client.waitForStatusChange("wsc-1", 2, WAIT);
    await env.client.raiseEvent("wsc-1", "e2", null);
    expect(await terminal).toMatchObject({ status: "Completed", output: "end", customStatusVersion: 2 });
  });

  // §8 item 38: terminal instances return at once (also Failed ones with no status); unknown instances time out.
  test("waitForStatusChange returns at once for a failed instance and times out for an unknown one", async () => {
    const env = await e2e.start({
      orchestrations: {
        FailsFast: function* () {
          throw new Error("early failure");
        },
      },
    });
    await env.client.startOrchestration("wsc-fail", "FailsFast", null);
    expect(await env.client.waitForStatusChange("wsc-fail", 0, WAIT)).toMatchObject({
      status: "Failed",
      message: "early failure",
      customStatusVersion: 0,
    });
    // Even with a lastSeenVersion beyond the current one, a terminal instance returns immediately.
    expect(await env.client.waitForStatusChange("wsc-fail", 5, { timeoutMs: 1_000 })).toMatchObject({ status: "Failed" });

    const err = await env.client.waitForStatusChange("wsc-nobody", 0, { timeoutMs: 200 }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ClientError);
    expect((err as ClientError).code).toBe("Timeout");
  });
});
