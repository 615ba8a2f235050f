// § numbers in this file refer to docs/runtime-semantics.md.
// A parent that stops waiting for a child call cancels the child (§3.6, §3.10), but only a child
// it started: when the child id was already held by another instance (the start was refused), the
// parent's CancelInstance must leave that holder alone.
import { expect, test } from "bun:test";
import type { Client } from "../../src/client.ts";
import type { EventOf } from "../../src/core/events.ts";
import type { OrchestrationContext } from "../../src/runtime/context.ts";
import { describeEachProvider } from "./harness.ts";

/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(10);
  }
}

/** Waits until `instance`'s history holds an event of `type`. */
async function historyHas(client: Client, instance: string, type: string): Promise<void> {
  await waitFor(`${instance} to record ${type}`, async () => (await client.readExecutionHistory(instance)).some((e) => e.type === type));
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
  /** Runs until "release" is raised. */
  Holder: function* (ctx: OrchestrationContext) {
    yield* ctx.scheduleWait("release");
    return "holder-done";
  },
  /** Starts a Holder child with the explicit id `childId` and returns its result. */
  Claimer: function* (ctx: OrchestrationContext, childId: string) {
    return yield* ctx.scheduleSubOrchestration("Holder", null, { instanceId: childId });
  },
  /**
   * Races a child call (explicit id `childId`, or an automatic one when null) against a short
   * timer. The timer is made to win for sure: it is created first and the test raises "go" only
   * once it has fired, so the race settles in the very turn that schedules the child, which then
   * sends both the child's start and a CancelInstance for the dropped call. The parent then waits
   * for "finish", so it is still running when the child's queue is processed.
   */
  RacingParent: function* (ctx: OrchestrationContext, childId: string | null) {
    const timer = ctx.scheduleTimer(1);
    yield* ctx.scheduleWait("go");
    const call = ctx.scheduleSubOrchestration("Holder", null, childId === null ? {} : { instanceId: childId });
    const winner = yield* ctx.race([call, timer]);
    yield* ctx.scheduleWait("finish");
    return winner.index === 1 ? "timer won" : "child call won";
  },
};

/** Starts RacingParent `parent`, lets its timer win the race against the child call, and checks it did. */
async function raceLostByChildCall(client: Client, parent: string, childId: string | null): Promise<void> {
  await client.startOrchestration(parent, "RacingParent", childId);
  await historyHas(client, parent, "TimerFired");
  await client.raiseEvent(parent, "go", null);
  await historyHas(client, parent, "SubOrchestrationCancelRequested");
  await orchestratorQueueDrained(client);
  // The parent did drop the call and asked for the child's cancellation.
  const h = await client.readExecutionHistory(parent);
  const scheduled = h.find((e) => e.type === "SubOrchestrationScheduled") as EventOf<"SubOrchestrationScheduled">;
  expect(h.find((e) => e.type === "SubOrchestrationCancelRequested")).toMatchObject({ source_event_id: scheduled.event_id, reason: "dropped_future" });
  await client.raiseEvent(parent, "finish", null);
  expect(await client.waitForOrchestration(parent, { timeoutMs: 5_000 })).toMatchObject({ status: "Completed", output: "timer won" });
}

describeEachProvider("sub-orchestration cancellation reaches only the parent's own child", (e2e) => {
  // §3.6, §3.10
  test("a parent that drops a child call whose id is held by a client-started instance does not cancel that instance", async () => {
    const { client } = await e2e.start({ orchestrations });
    await client.startOrchestration("held", "Holder", null);
    await historyHas(client, "held", "ExternalSubscribed");

    await raceLostByChildCall(client, "racer", "held");

    const holder = await client.readExecutionHistory("held");
    expect(holder.map((e) => e.type)).toEqual(["OrchestrationStarted", "ExternalSubscribed"]);
    expect(await client.getOrchestrationStatus("held")).toMatchObject({ status: "Running" });
    await client.raiseEvent("held", "release", null);
    expect(await client.waitForOrchestration("held", { timeoutMs: 5_000 })).toMatchObject({ status: "Completed", output: "holder-done" });
  }, 10_000);

  // §3.6, §3.10
  test("a parent that drops a child call whose id is held by another parent's child does not cancel that child", async () => {
    const { client } = await e2e.start({ orchestrations });
    await client.startOrchestration("owner", "Claimer", "shared");
    await historyHas(client, "shared", "ExternalSubscribed");

    await raceLostByChildCall(client, "racer", "shared");

    expect((await client.readExecutionHistory("shared")).map((e) => e.type)).toEqual(["OrchestrationStarted", "ExternalSubscribed"]);
    await client.raiseEvent("shared", "release", null);
    expect(await client.waitForOrchestration("owner", { timeoutMs: 5_000 })).toMatchObject({ status: "Completed", output: "holder-done" });
  }, 10_000);

  // §3.10: the rightful parent's cancel still works
  test("a parent that drops a call to a child it started cancels that child", async () => {
    const { client } = await e2e.start({ orchestrations });
    await raceLostByChildCall(client, "own-racer", null);
    const kid = ((await client.readExecutionHistory("own-racer")).find((e) => e.type === "SubOrchestrationScheduled") as EventOf<"SubOrchestrationScheduled">).instance;
    expect(await client.waitForOrchestration(kid, { timeoutMs: 5_000 })).toMatchObject({
      status: "Failed",
      details: { type: "Application", kind: { Cancelled: { reason: "parent dropped sub-orchestration future" } } },
    });
    expect((await client.readExecutionHistory(kid))[0]).toMatchObject({ type: "OrchestrationStarted", parent_instance: "own-racer", parent_execution_id: 1 });
  }, 10_000);
});
