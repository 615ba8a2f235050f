// § numbers in this file refer to docs/runtime-semantics.md.
// Orchestrations that misbehave fail at once and say why: a thrown value that is not an Error
// (§2.7), a fan-out past the history limit (§5.5). Neither may crash turns until poisoned, nor run
// work that can never be recorded.
import { expect, test } from "bun:test";
import { describeEachProvider, historyTypes, type Harness } from "./harness.ts";

const WAIT = { timeoutMs: 5_000 };

describeEachProvider("misbehaving orchestrations", (e2e: Harness) => {
  // §2.7: any thrown value fails the execution with Application/OrchestrationFailed describing it,
  // at the first delivery (it used to crash the turn, so the batch was redelivered until poisoned).
  test("an orchestration that throws a BigInt, a Symbol, a null-prototype or a cyclic object fails at once with a description of it", async () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const thrown: Record<string, () => unknown> = {
      ThrowsBigInt: () => 123n,
      ThrowsSymbol: () => Symbol("oops"),
      ThrowsNullProto: () => Object.assign(Object.create(null), { reason: "no prototype" }),
      ThrowsCyclic: () => cyclic,
    };
    const orchestrations = Object.fromEntries(
      Object.entries(thrown).map(([name, make]) => [
        name,
        function* (ctx: any) {
          yield* ctx.scheduleActivity("Step", null);
          throw make();
        },
      ]),
    );
    const env = await e2e.start({ activities: { Step: async () => "ok" }, orchestrations });
    let redeliveries = 0;
    const abandon = env.provider.abandonOrchestrationItem.bind(env.provider);
    env.provider.abandonOrchestrationItem = async (token, delayMs, ignoreAttempt) => {
      if (!ignoreAttempt) redeliveries++;
      return abandon(token, delayMs, ignoreAttempt);
    };
    const expected: Record<string, string> = {
      ThrowsBigInt: "orchestration threw a non-Error value: 123n (bigint)",
      ThrowsSymbol: "orchestration threw a non-Error value: Symbol(oops) (symbol)",
      ThrowsNullProto: 'orchestration threw a non-Error value: {"reason":"no prototype"} (object)',
      ThrowsCyclic: "orchestration threw a non-Error value: [object Object] (object)",
    };
    for (const name of Object.keys(thrown)) await env.client.startOrchestration(`throw-${name}`, name, null);
    for (const [name, message] of Object.entries(expected)) {
      const status = await env.client.waitForOrchestration(`throw-${name}`, WAIT);
      expect({ name, status }).toMatchObject({ name, status: { status: "Failed", message, details: { type: "Application", kind: "OrchestrationFailed", message } } });
      expect(await historyTypes(env.client, `throw-${name}`)).toEqual(["OrchestrationStarted", "ActivityScheduled", "ActivityCompleted", "OrchestrationFailed"]);
    }
    expect(redeliveries).toBe(0);
  });

  // §5.5: the turn that schedules past maxHistoryEvents fails at once; none of its activities run.
  test("a fan-out whose completions would pass maxHistoryEvents fails in the turn that schedules it, and no activity runs", async () => {
    let ran = 0;
    const env = await e2e.start(
      {
        activities: {
          Work: async (_ctx: unknown, i: number) => {
            ran++;
            return i;
          },
        },
        orchestrations: {
          FanOut: function* (ctx: any, n: number) {
            const results: number[] = yield* ctx.all(Array.from({ length: n }, (_, i) => ctx.scheduleActivity("Work", i)));
            return results.length;
          },
        },
      },
      { maxHistoryEvents: 30 },
    );
    // 1 + 10 scheduled + 10 completions + 1 completed = 22: fits.
    await env.client.startOrchestration("fan-ok", "FanOut", 10);
    expect(await env.client.waitForOrchestration("fan-ok", WAIT)).toMatchObject({ status: "Completed", output: 10 });
    expect(ran).toBe(10);

    // 1 + 20 scheduled = 21 now (under 30), + 20 completions to come = 41: refused at once.
    ran = 0;
    await env.client.startOrchestration("fan-big", "FanOut", 20);
    const status = await env.client.waitForOrchestration("fan-big", WAIT);
    expect(status.status).toBe("Failed");
    if (status.status !== "Failed") return;
    expect(status.details).toMatchObject({ type: "Application", kind: "OrchestrationFailed" });
    expect(status.message).toContain("maxHistoryEvents 30");
    expect(status.message).toContain("41 events");
    expect(status.message).toContain("continue-as-new");
    expect(await historyTypes(env.client, "fan-big")).toEqual(["OrchestrationStarted", "OrchestrationFailed"]);
    expect(ran).toBe(0);
  });
});
