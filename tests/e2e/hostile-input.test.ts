// Bad input and odd values never harm a running instance and never change silently
// (docs/runtime-semantics.md §3.3, §4.1, §5.5–§5.7): oversized events are refused by the client,
// values that are not JSON are refused with their path (inputs, activity results, orchestration
// outputs), out-of-range timer delays and malformed ids are usage errors at the call.
import { expect, test } from "bun:test";
import { Client } from "../../src/client.ts";
import { ClientError } from "../../src/core/errors.ts";
import { DEFAULT_MAX_PAYLOAD_BYTES } from "../../src/core/payload.ts";
import { MAX_TIMER_DELAY_MS } from "../../src/runtime/context.ts";
import { describeEachProvider, historyTypes, type Harness } from "./harness.ts";

const WAIT = { timeoutMs: 10_000 };

async function clientError(promise: Promise<unknown>): Promise<ClientError> {
  const err = await promise.then(
    () => {
      throw new Error("expected a ClientError, but the call succeeded");
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ClientError);
  return err as ClientError;
}

describeEachProvider("hostile input", (e2e: Harness) => {
  test("raiseEvent and enqueueEvent refuse a payload over maxPayloadBytes up front; the waiting instance is unharmed and completes with the next event", async () => {
    const env = await e2e.start(
      {
        orchestrations: {
          Waiter: function* (ctx) {
            ctx.setCustomStatus("waiting");
            const [go, msg] = yield* ctx.all([ctx.scheduleWait("Go"), ctx.dequeueEvent("inbox")]);
            return { go, msg };
          },
        },
      },
      { maxPayloadBytes: 1_000 },
    );
    // A client told the runtime's limit.
    const client = new Client(env.provider, { maxPayloadBytes: 1_000 });
    await client.startOrchestration("waiter-1", "Waiter");
    await client.waitForStatusChange("waiter-1", 0, WAIT);

    const big = "x".repeat(2_000);
    const raised = await clientError(client.raiseEvent("waiter-1", "Go", big));
    expect(raised.code).toBe("InvalidInput");
    expect(raised.message).toContain("maxPayloadBytes");
    expect(raised.message).toContain("1000 bytes");
    expect((await clientError(client.enqueueEvent("waiter-1", "inbox", { big }))).message).toContain("maxPayloadBytes");
    // The default client refuses what is over the default limit just the same.
    expect((await clientError(env.client.raiseEvent("waiter-1", "Go", "y".repeat(DEFAULT_MAX_PAYLOAD_BYTES)))).message).toContain(
      `${DEFAULT_MAX_PAYLOAD_BYTES} bytes (maxPayloadBytes)`,
    );

    await client.raiseEvent("waiter-1", "Go", "small");
    await client.enqueueEvent("waiter-1", "inbox", 42);
    const status = await client.waitForOrchestration("waiter-1", WAIT);
    expect(status).toMatchObject({ status: "Completed", output: { go: "small", msg: 42 } });
  });

  test("an activity result that is not JSON fails that activity (Application, not poison) with the offending path", async () => {
    const env = await e2e.start({
      activities: {
        Nan: async () => ({ ok: true, when: Number.NaN }),
        MapOut: async () => new Map([["a", 1]]),
      },
      orchestrations: {
        Caller: function* (ctx, name: string) {
          try {
            return { value: yield* ctx.scheduleActivity(name) };
          } catch (err) {
            return { error: (err as Error).message };
          }
        },
        Uncaught: function* (ctx) {
          return yield* ctx.scheduleActivity("Nan");
        },
      },
    });
    await env.client.startOrchestration("nan-result", "Caller", "Nan");
    const nan = await env.client.waitForOrchestration("nan-result", WAIT);
    expect(nan.status).toBe("Completed");
    expect(nan.status === "Completed" && (nan.output as { error?: string }).error).toContain("activity result is not JSON-serializable: value.when is NaN");
    expect(await historyTypes(env.client, "nan-result")).toContain("ActivityFailed");

    await env.client.startOrchestration("map-result", "Caller", "MapOut");
    const map = await env.client.waitForOrchestration("map-result", WAIT);
    expect(map.status === "Completed" && (map.output as { error?: string }).error).toContain("value is a Map");

    await env.client.startOrchestration("nan-uncaught", "Uncaught");
    const uncaught = await env.client.waitForOrchestration("nan-uncaught", WAIT);
    expect(uncaught.status).toBe("Failed");
    if (uncaught.status !== "Failed") return;
    expect(uncaught.details).toMatchObject({ type: "Application", kind: "OrchestrationFailed" });
    expect(uncaught.message).toContain("value.when is NaN");
  });

  test("an orchestration output that is not JSON fails the instance (Application Panicked) naming what, instead of completing with {} or null", async () => {
    const env = await e2e.start({
      orchestrations: {
        ReturnsSet: function* () {
          return { ids: new Set(["a"]) };
        },
        ReturnsInfinity: function* () {
          return [1, Number.POSITIVE_INFINITY];
        },
      },
    });
    await env.client.startOrchestration("out-set", "ReturnsSet");
    await env.client.startOrchestration("out-inf", "ReturnsInfinity");
    for (const [id, mention] of [
      ["out-set", "orchestration output is not JSON-serializable: value.ids is a Set"],
      ["out-inf", "orchestration output is not JSON-serializable: value[1] is Infinity"],
    ] as const) {
      const s = await env.client.waitForOrchestration(id, WAIT);
      expect(s.status).toBe("Failed");
      if (s.status !== "Failed") continue;
      expect(s.details).toMatchObject({ type: "Application", kind: "Panicked" });
      expect(s.message).toContain(mention);
    }
  });

  test("inputs that are not JSON are usage errors at the ctx call, naming the path", async () => {
    const env = await e2e.start({
      activities: { Echo: async (_ctx, x: unknown) => x },
      orchestrations: {
        BadInputs: function* (ctx) {
          const errors: string[] = [];
          for (const attempt of [
            () => ctx.scheduleActivity("Echo", { list: [1, Number.NaN] }),
            () => ctx.scheduleSubOrchestration("Child", { err: new Error("x") }),
            () => ctx.setValue("k", { when: Number.NEGATIVE_INFINITY }),
          ]) {
            try {
              attempt();
              errors.push("accepted");
            } catch (err) {
              errors.push((err as Error).message);
            }
          }
          return errors;
        },
      },
    });
    await env.client.startOrchestration("bad-inputs", "BadInputs");
    const s = await env.client.waitForOrchestration("bad-inputs", WAIT);
    expect(s.status).toBe("Completed");
    const messages = s.status === "Completed" ? (s.output as string[]) : [];
    expect(messages[0]).toContain('input of activity "Echo" is not JSON-serializable: input.list[1] is NaN');
    expect(messages[1]).toContain("input.err is an Error");
    expect(messages[2]).toContain('value of "k" is not JSON-serializable: value.when is -Infinity');
  });

  test("scheduleTimer with a delay out of range (2 ** 53, negative, NaN) is a usage error naming the range, not an infrastructure failure", async () => {
    const env = await e2e.start({
      orchestrations: {
        Timer: function* (ctx, delay: number | string) {
          try {
            yield* ctx.scheduleTimer(delay === "NaN" ? Number.NaN : (delay as number));
            return "fired";
          } catch (err) {
            return `refused: ${(err as Error).message}`;
          }
        },
        TimerUncaught: function* (ctx) {
          yield* ctx.scheduleTimer(2 ** 53);
          return "fired";
        },
      },
    });
    for (const [id, delay] of [["t-huge", 2 ** 53], ["t-neg", -1], ["t-nan", "NaN"], ["t-over", MAX_TIMER_DELAY_MS + 1]] as const) {
      await env.client.startOrchestration(id, "Timer", delay);
      const s = await env.client.waitForOrchestration(id, WAIT);
      expect(s).toMatchObject({ status: "Completed" });
      const out = s.status === "Completed" ? (s.output as string) : "";
      expect(out).toStartWith("refused: scheduleTimer: delayMs must be a number of ms from 0 to ");
      expect(out).toContain("MAX_TIMER_DELAY_MS");
    }
    await env.client.startOrchestration("t-uncaught", "TimerUncaught");
    const s = await env.client.waitForOrchestration("t-uncaught", WAIT);
    expect(s.status).toBe("Failed");
    if (s.status !== "Failed") return;
    expect(s.details).toMatchObject({ type: "Application", kind: "Panicked" });
    expect(s.message).toContain("MAX_TIMER_DELAY_MS");
    expect(s.message).not.toContain("fire_at_ms");
    // The largest delay is accepted (and would fire in about 100 years).
    const env2 = await e2e.start({
      orchestrations: {
        Longest: function* (ctx) {
          ctx.scheduleTimer(MAX_TIMER_DELAY_MS);
          return "scheduled";
        },
      },
    });
    await env2.client.startOrchestration("t-longest", "Longest");
    expect(await env2.client.waitForOrchestration("t-longest", WAIT)).toMatchObject({ status: "Completed", output: "scheduled" });
  });

  test("child and detached ids from ctx follow the id rule: malformed, whitespace-only or too long ids are usage errors at the call", async () => {
    const env = await e2e.start({
      orchestrations: {
        Parent: function* (ctx) {
          const errors: string[] = [];
          for (const attempt of [
            () => ctx.scheduleSubOrchestration("Child", null, { instanceId: "child\ud800" }),
            () => ctx.scheduleSubOrchestration("Child", null, { instanceId: "  " }),
            () => ctx.scheduleOrchestration("Child", "detached\u0000x"),
            () => ctx.scheduleOrchestration("Child", "d".repeat(1_025)),
            () => ctx.getValueFromInstance("other\udc00", "k"),
            () => ctx.scheduleActivity("A", null, { sessionId: "s\ud800" }),
          ]) {
            try {
              attempt();
              errors.push("accepted");
            } catch (err) {
              errors.push((err as Error).message);
            }
          }
          return errors;
        },
      },
    });
    await env.client.startOrchestration("ids-parent", "Parent");
    const s = await env.client.waitForOrchestration("ids-parent", WAIT);
    expect(s.status).toBe("Completed");
    const m = s.status === "Completed" ? (s.output as string[]) : [];
    expect(m[0]).toContain("instanceId must be well-formed Unicode text without NUL");
    expect(m[0]).toContain("unpaired UTF-16 surrogate");
    expect(m[1]).toContain("instanceId must not be only whitespace");
    expect(m[2]).toContain("NUL");
    expect(m[3]).toContain("at most 1024 bytes");
    expect(m[4]).toContain("surrogate");
    expect(m[5]).toContain("sessionId");
  });

  test("an instance whose id leaves no room for an automatic child id must name its children", async () => {
    const longId = "p".repeat(1_010);
    const env = await e2e.start({
      orchestrations: {
        Parent: function* (ctx) {
          let auto: string;
          try {
            ctx.scheduleSubOrchestration("Child");
            auto = "accepted";
          } catch (err) {
            auto = (err as Error).message;
          }
          const named = yield* ctx.scheduleSubOrchestration("Child", 2, { instanceId: "named-child" });
          return { auto, named };
        },
        Child: function* (_ctx, x: number) {
          return x * 2;
        },
      },
    });
    await env.client.startOrchestration(longId, "Parent");
    const s = await env.client.waitForOrchestration(longId, WAIT);
    expect(s.status).toBe("Completed");
    const out = s.status === "Completed" ? (s.output as { auto: string; named: number }) : null;
    expect(out?.auto).toContain("pass options.instanceId");
    expect(out?.named).toBe(4);
  });
});
