// § numbers in this file refer to docs/runtime-semantics.md.
// Misbehaving user code ends in a prompt, explained failure, never in a hang or a poisoned
// instance: a turn whose synchronous code outruns its lock (§1.4.1 step 9), an activity that
// throws something that is not an Error (§1.5 step 6), an activity error's name, code and extra
// properties reaching the orchestration (§5.1), and a hung activity bounded by activityTimeoutMs
// (§1.5 step 5).
import { afterEach, beforeEach, expect, test } from "bun:test";
import type { ErrorDetails } from "../../src/core/error-details.ts";
import { RetryPolicy } from "../../src/runtime/retry.ts";
import { ActivityFailedError } from "../../src/runtime/tasks.ts";
import { deferred, describeEachProvider, historyTypes, type Harness, within } from "./harness.ts";

/** Blocks the event loop for `ms`: what a CPU-heavy orchestration turn does. */
function spin(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // busy
  }
}

/** What the catching orchestration returns about the error it caught. */
interface Caught {
  isActivityFailedError: boolean;
  message: string;
  details: ErrorDetails | null;
}

function* catchActivity(ctx: any, name: string, input: unknown): Generator<any, Caught | string, any> {
  try {
    yield* ctx.scheduleActivity(name, input);
    return "no error";
  } catch (e) {
    const err = e as ActivityFailedError;
    return { isActivityFailedError: err instanceof ActivityFailedError, message: err.message, details: err.details };
  }
}

let unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => void unhandled.push(reason);
beforeEach(() => {
  unhandled = [];
  process.on("unhandledRejection", onUnhandled);
});
afterEach(() => {
  process.off("unhandledRejection", onUnhandled);
});

describeEachProvider("misbehaving code", (e2e: Harness) => {
  // §1.4.1 step 9: a turn longer than the lock cannot renew it; it fails the instance instead of
  // re-running (and freezing the process) maxAttempts times.
  test("a turn whose synchronous code outruns orchestratorLockTimeoutMs fails its instance promptly, naming the turn's duration and the option", async () => {
    const SLOW_MS = 1_500;
    let busyRuns = 0;
    const env = await e2e.start(
      {
        orchestrations: {
          Busy: function* () {
            busyRuns++;
            spin(SLOW_MS);
            return "finished";
          },
          Waits: function* (ctx) {
            yield* ctx.scheduleTimer(300);
            return "ok";
          },
        },
      },
      { orchestratorLockTimeoutMs: 1_000 },
    );
    const t0 = performance.now();
    await env.client.startOrchestration("healthy", "Waits", null);
    await env.client.startOrchestration("busy", "Busy", null);
    const [busy, healthyMs] = await Promise.all([
      env.client.waitForOrchestration("busy", { timeoutMs: 8_000 }),
      env.client.waitForOrchestration("healthy", { timeoutMs: 8_000 }).then((s) => {
        expect(s).toMatchObject({ status: "Completed", output: "ok" });
        return performance.now() - t0;
      }),
    ]);
    expect(busy.status).toBe("Failed");
    if (busy.status !== "Failed") return;
    expect(busy.details).toMatchObject({ type: "Application", kind: "OrchestrationFailed" });
    expect(busy.message).toContain("orchestratorLockTimeoutMs = 1000 ms");
    const measured = Number(/ran (\d+) ms of synchronous code/.exec(busy.message)?.[1]);
    expect(measured).toBeGreaterThanOrEqual(SLOW_MS);
    expect(measured).toBeLessThan(SLOW_MS + 1_000);
    // Not re-run maxAttempts times: once (a second delivery may race the lost ack on a networked store).
    expect(busyRuns).toBeGreaterThanOrEqual(1);
    expect(busyRuns).toBeLessThanOrEqual(2);
    // The healthy instance waited for the slow turns that ran, not for ten of them.
    expect(healthyMs).toBeLessThan(busyRuns * SLOW_MS + 2_000);
    expect(await historyTypes(env.client, "busy")).toEqual(["OrchestrationStarted", "OrchestrationFailed"]);
  }, 20_000);

  // §1.5 step 6: whatever is thrown becomes a prompt, catchable ActivityFailed describing it.
  test("an activity that throws a non-Error value (null-prototype object, throwing toString, Symbol, BigInt, cyclic object) fails promptly with a catchable error describing it", async () => {
    const throwers: Record<string, () => unknown> = {
      nullProto: () => Object.assign(Object.create(null), { reason: "no prototype" }),
      throwingToString: () => ({
        toString() {
          throw new Error("toString refuses");
        },
      }),
      symbol: () => Symbol("oops"),
      bigint: () => 12n,
      cyclic: () => {
        const o: Record<string, unknown> = { label: "loop" };
        o.self = o;
        return o;
      },
    };
    const env = await e2e.start({
      activities: {
        Throw: async (_ctx, kind: string) => {
          throw throwers[kind]!();
        },
      },
      orchestrations: {
        Catch: function* (ctx, kind: string) {
          return yield* catchActivity(ctx, "Throw", kind);
        },
      },
    });
    const expected: Record<string, string[]> = {
      nullProto: ["non-Error value", "null prototype", '"reason":"no prototype"'],
      throwingToString: ["non-Error value", "an object"],
      symbol: ["non-Error value", "Symbol(oops)"],
      bigint: ["non-Error value", "12n"],
      cyclic: ["non-Error value", '"label":"loop"', "[Circular]"],
    };
    for (const kind of Object.keys(throwers)) await env.client.startOrchestration(`throw-${kind}`, "Catch", kind);
    for (const [kind, fragments] of Object.entries(expected)) {
      // Before: the activity was neither acked nor abandoned; it hung until its lease lapsed, then was poisoned.
      const s = await env.client.waitForOrchestration(`throw-${kind}`, { timeoutMs: 5_000 });
      expect(s.status).toBe("Completed");
      if (s.status !== "Completed") return;
      const caught = s.output as Caught;
      expect(caught.isActivityFailedError).toBe(true);
      expect(caught.details).toMatchObject({ type: "Application", kind: "ActivityFailed" });
      for (const f of fragments) expect(caught.message).toContain(f);
    }
    expect(unhandled).toEqual([]);
  });

  // §5.1: an activity error keeps its name, code and JSON-serialisable extra properties.
  test("an activity error's name, code and extra properties reach the orchestration in err.details and are stored", async () => {
    class PaymentError extends Error {
      override name = "PaymentError";
      constructor(
        message: string,
        readonly code: string,
        readonly status: number,
      ) {
        super(message);
      }
    }
    const env = await e2e.start({
      activities: {
        Pay: async () => {
          throw Object.assign(new PaymentError("card declined", "E_DECLINED", 402), { bank: { id: "B1" }, attempts: 3n, callback() {} });
        },
        Connect: async () => {
          throw Object.assign(new TypeError("socket hang up"), { code: 104 });
        },
        Plain: async () => {
          throw new Error("plain");
        },
      },
      orchestrations: {
        Catch: function* (ctx, name: string) {
          return yield* catchActivity(ctx, name, null);
        },
      },
    });
    const details = async (name: string) => {
      await env.client.startOrchestration(`fields-${name}`, "Catch", name);
      const s = await env.client.waitForOrchestration(`fields-${name}`, { timeoutMs: 5_000 });
      expect(s.status).toBe("Completed");
      return s.status === "Completed" ? (s.output as Caught) : null;
    };
    const pay = await details("Pay");
    expect(pay?.message).toBe("card declined");
    expect(pay?.details).toEqual({
      type: "Application",
      kind: "ActivityFailed",
      message: "card declined",
      retryable: false,
      error_name: "PaymentError",
      code: "E_DECLINED",
      data: { status: 402, bank: { id: "B1" }, attempts: "3n" },
    });
    expect((await details("Connect"))?.details).toMatchObject({ error_name: "TypeError", code: 104, message: "socket hang up" });
    const plain = (await details("Plain"))?.details;
    expect(plain).toEqual({ type: "Application", kind: "ActivityFailed", message: "plain", retryable: false, error_name: "Error" });
    // The fields are persisted, not just handed to the turn that saw them.
    const h = await env.client.readExecutionHistory("fields-Pay");
    expect(h.find((e) => e.type === "ActivityFailed")).toMatchObject({ details: { error_name: "PaymentError", code: "E_DECLINED", data: { status: 402 } } });
  });

  // §1.5 step 5: a hung attempt is cut at activityTimeoutMs; the slot goes back to work.
  test("activityTimeoutMs fails a hung attempt with a catchable timeout, aborts its signal with a TimeoutError, and frees the worker slot", async () => {
    const aborted = deferred<unknown>();
    const env = await e2e.start(
      {
        activities: {
          Hang: (ctx) => {
            ctx.signal.addEventListener("abort", () => aborted.resolve(ctx.signal.reason));
            return new Promise(() => {}); // ignores its signal: never settles
          },
          Quick: async () => "quick done",
        },
        orchestrations: {
          Main: function* (ctx) {
            const caught = yield* catchActivity(ctx, "Hang", null);
            const quick: string = yield* ctx.scheduleActivity("Quick", null);
            return { caught, quick };
          },
        },
      },
      { workerConcurrency: 1, workerPrefetch: false, activityTimeoutMs: 300 },
    );
    const t0 = performance.now();
    await env.client.startOrchestration("hung", "Main", null);
    const s = await env.client.waitForOrchestration("hung", { timeoutMs: 5_000 });
    expect(s.status).toBe("Completed");
    if (s.status !== "Completed") return;
    const out = s.output as { caught: Caught; quick: string };
    expect(out.quick).toBe("quick done"); // the only slot was freed although Hang never returned
    expect(out.caught.isActivityFailedError).toBe(true);
    expect(out.caught.details).toMatchObject({ type: "Application", kind: "ActivityFailed", error_name: "TimeoutError", code: "ActivityTimeout" });
    expect(out.caught.message).toContain("timed out after 300 ms (activityTimeoutMs)");
    expect(performance.now() - t0).toBeGreaterThanOrEqual(300);
    const reason = (await within("the hung activity's abort signal", aborted.promise, 1_000)) as Error;
    expect(reason.name).toBe("TimeoutError");
  });

  test("a timed-out attempt is retried by the orchestration's retry policy", async () => {
    let attempts = 0;
    const env = await e2e.start(
      {
        activities: {
          HangOnce: (ctx) => {
            attempts++;
            if (attempts === 1) return new Promise((resolve) => ctx.signal.addEventListener("abort", () => resolve("too late")));
            return "second attempt";
          },
        },
        orchestrations: {
          Retry: function* (ctx) {
            return yield* ctx.scheduleActivityWithRetry("HangOnce", null, RetryPolicy.none(3));
          },
        },
      },
      { activityTimeoutMs: 200 },
    );
    await env.client.startOrchestration("retry-timeout", "Retry", null);
    expect(await env.client.waitForOrchestration("retry-timeout", { timeoutMs: 5_000 })).toMatchObject({ status: "Completed", output: "second attempt" });
    expect(await historyTypes(env.client, "retry-timeout")).toEqual([
      "OrchestrationStarted",
      "ActivityScheduled",
      "ActivityFailed",
      "ActivityScheduled",
      "ActivityCompleted",
      "OrchestrationCompleted",
    ]);
  });
});
