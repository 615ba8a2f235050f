// § numbers in this file refer to docs/runtime-semantics.md ("§8 item N" is §8.N there).
// Child instance ids (§3.6): automatic ids stay unique across continue-as-new, and a child id that
// another instance already holds fails the parent's call with a catchable error instead of
// leaving the parent waiting forever. A redelivered start from the child's own parent is ignored.
import { expect, test } from "bun:test";
import type { Client } from "../../src/client.ts";
import type { EventOf } from "../../src/core/events.ts";
import type { OrchestrationContext } from "../../src/runtime/context.ts";
import { describeEachProvider } from "./harness.ts";

/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
async function waitFor<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(10);
  }
}

/** Waits until `instance` runs and is subscribed to "release" (its first turn is committed). */
async function heldOpen(client: Client, instance: string): Promise<void> {
  await waitFor(`${instance} to wait for "release"`, async () => (await client.readExecutionHistory(instance)).some((e) => e.type === "ExternalSubscribed"));
}

/** Waits until the orchestrator queue holds no message (seen empty twice, 50 ms apart). */
async function orchestratorQueueDrained(client: Client): Promise<void> {
  await waitFor("the orchestrator queue to drain", async () => {
    if ((await client.getQueueDepths()).orchestrator_queue !== 0) return false;
    await Bun.sleep(50);
    return (await client.getQueueDepths()).orchestrator_queue === 0;
  });
}

const orchestrations = {
  /** Starts an auto-named child in every execution and continues as new until `n` reaches 3. */
  Looper: function* (ctx: OrchestrationContext, input: { n: number; ids: string[] }) {
    const kid = yield* ctx.scheduleSubOrchestration<{ id: string }>("Echo", input.n);
    const ids = [...input.ids, kid.id];
    if (input.n < 3) return yield* ctx.continueAsNew({ n: input.n + 1, ids });
    return { ids, executions: ctx.executionId };
  },
  Echo: function* (ctx: OrchestrationContext) {
    return { id: ctx.instanceId };
  },
  /** A child that continues as new once before it returns. */
  Phased: function* (ctx: OrchestrationContext, phase: number) {
    if (phase === 1) return yield* ctx.continueAsNew(2);
    return `phase ${phase} of ${ctx.instanceId}, execution ${ctx.executionId}`;
  },
  Caller: function* (ctx: OrchestrationContext) {
    return yield* ctx.scheduleSubOrchestration("Phased", 1);
  },
  /** Runs until "release" is raised: an instance that holds its id for as long as the test needs. */
  Holder: function* (ctx: OrchestrationContext) {
    yield* ctx.scheduleWait("release");
    return "holder-done";
  },
  /** Starts a Holder child with the explicit id `input` and reports what its call returned or threw. */
  Claimer: function* (ctx: OrchestrationContext, childId: string) {
    try {
      return { result: yield* ctx.scheduleSubOrchestration("Holder", null, { instanceId: childId }) };
    } catch (e) {
      return { error: (e as Error).message, errorName: (e as Error).name };
    }
  },
};

describeEachProvider("sub-orchestration instance ids", (e2e) => {
  // §3.6, §3.7
  test("continue-as-new: an auto-named child started in every execution gets an id of its own, and the parent completes", async () => {
    const { client } = await e2e.start({ orchestrations });
    await client.startOrchestration("loop", "Looper", { n: 1, ids: [] });
    const status = await client.waitForOrchestration("loop", { timeoutMs: 5_000 });
    // Execution 1 keeps the historical form; later executions add their execution id.
    const ids = ["loop::sub::2", "loop::sub::2::2", "loop::sub::3::2"];
    expect(status).toMatchObject({ status: "Completed", output: { ids, executions: 3 } });
    expect(await client.listExecutions("loop")).toEqual([1, 2, 3]);
    for (const [i, id] of ids.entries()) {
      expect(await client.getOrchestrationStatus(id)).toMatchObject({ status: "Completed" });
      const started = (await client.readExecutionHistory(id))[0] as EventOf<"OrchestrationStarted">;
      expect(started).toMatchObject({ parent_instance: "loop", parent_id: 2, parent_execution_id: i + 1 });
    }
  }, 10_000);

  // §3.7
  test("a child that continues as new reports its last execution's result to its parent", async () => {
    const { client } = await e2e.start({ orchestrations });
    await client.startOrchestration("caller", "Caller", null);
    const status = await client.waitForOrchestration("caller", { timeoutMs: 5_000 });
    expect(status).toMatchObject({ status: "Completed", output: "phase 2 of caller::sub::2, execution 2" });
    expect(await client.listExecutions("caller::sub::2")).toEqual([1, 2]);
    expect((await client.readExecutionHistory("caller::sub::2", 2))[0]).toMatchObject({ type: "OrchestrationStarted", parent_instance: "caller", parent_id: 2, parent_execution_id: 1 });
  }, 10_000);

  // §3.6
  test.each(["running", "completed"] as const)("a child id held by a client-started instance (%s) fails the parent's call with a catchable error naming the id and its holder", async (holderState) => {
    const { client } = await e2e.start({ orchestrations });
    await client.startOrchestration("taken-by-client", "Holder", null);
    await heldOpen(client, "taken-by-client");
    if (holderState === "completed") {
      await client.raiseEvent("taken-by-client", "release", null);
      await client.waitForOrchestration("taken-by-client", { timeoutMs: 5_000 });
    }
    const before = await client.readExecutionHistory("taken-by-client");

    await client.startOrchestration("claimer-1", "Claimer", "taken-by-client");
    const status = await client.waitForOrchestration<{ error: string; errorName: string }>("claimer-1", { timeoutMs: 5_000 });
    expect(status.status).toBe("Completed");
    const output = (status as { output: { error: string; errorName: string } }).output;
    expect(output.errorName).toBe("SubOrchestrationFailedError");
    expect(output.error).toContain(`"taken-by-client"`);
    expect(output.error).toContain("already in use");
    expect(output.error).toContain("not started by a parent orchestration");
    const failed = (await client.readExecutionHistory("claimer-1")).find((e) => e.type === "SubOrchestrationFailed") as EventOf<"SubOrchestrationFailed">;
    expect(failed.details).toMatchObject({ type: "Application", kind: "OrchestrationFailed", retryable: false });

    // The holder is untouched: no event was added and it still answers only to its own client.
    expect(await client.readExecutionHistory("taken-by-client")).toEqual(before);
    if (holderState === "running") {
      await client.raiseEvent("taken-by-client", "release", null);
      expect(await client.waitForOrchestration("taken-by-client", { timeoutMs: 5_000 })).toMatchObject({ status: "Completed", output: "holder-done" });
    }
  }, 10_000);

  // §3.6
  test("a child id held by another parent's child fails the second parent's call, naming that parent; the first parent is unaffected", async () => {
    const { client } = await e2e.start({ orchestrations });
    await client.startOrchestration("owner-a", "Claimer", "shared-kid");
    await heldOpen(client, "shared-kid");

    await client.startOrchestration("claimer-b", "Claimer", "shared-kid");
    const status = await client.waitForOrchestration("claimer-b", { timeoutMs: 5_000 });
    expect(status.status).toBe("Completed");
    const error = (status as { output: { error: string } }).output.error;
    expect(error).toContain(`"shared-kid"`);
    expect(error).toContain(`child of "owner-a"`);

    await client.raiseEvent("shared-kid", "release", null);
    expect(await client.waitForOrchestration("owner-a", { timeoutMs: 5_000 })).toMatchObject({ status: "Completed", output: { result: "holder-done" } });
    const kid = await client.readExecutionHistory("shared-kid");
    expect(kid.filter((e) => e.type === "OrchestrationStarted")).toHaveLength(1);
    expect(kid[0]).toMatchObject({ parent_instance: "owner-a" });
  }, 10_000);

  // §3.6: at-least-once delivery must not turn into a clash
  test("a redelivered start of a child from its own parent is ignored: the parent gets the child's result", async () => {
    const env = await e2e.start({ orchestrations });
    const { client } = env;
    await client.startOrchestration("owner-dup", "Claimer", "dup-kid");
    await heldOpen(client, "dup-kid");
    const started = (await client.readExecutionHistory("dup-kid"))[0] as EventOf<"OrchestrationStarted">;
    await env.provider.enqueueForOrchestrator({
      type: "StartOrchestration",
      instance: "dup-kid",
      orchestration: "Holder",
      input: started.input,
      version: null,
      parent_instance: started.parent_instance,
      parent_id: started.parent_id,
      parent_execution_id: started.parent_execution_id ?? 1,
      execution_id: 1,
    });
    await orchestratorQueueDrained(client);
    expect((await client.readExecutionHistory("owner-dup")).map((e) => e.type)).toEqual(["OrchestrationStarted", "SubOrchestrationScheduled"]);

    await client.raiseEvent("dup-kid", "release", null);
    expect(await client.waitForOrchestration("owner-dup", { timeoutMs: 5_000 })).toMatchObject({ status: "Completed", output: { result: "holder-done" } });
  }, 10_000);
});
