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
});
