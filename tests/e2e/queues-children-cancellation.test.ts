// § numbers in this file refer to docs/runtime-semantics.md ("§8 item N" is §8.N there).
// §8 items 14–26: queue (mailbox) events, sub-orchestrations and detached starts, cancellation
// (client, cascade, activities), and continue-as-new executions.
import { expect, test } from "bun:test";
import { Client } from "../../src/client.ts";
import type { Event, EventOf } from "../../src/core/events.ts";
import { SubOrchestrationFailedError } from "../../src/runtime/tasks.ts";
import { deferred, describeEachProvider, historyTypes, REPLAY_EVERY_TURN, within } from "./harness.ts";

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


/** Waits until the orchestrator queue holds no message (seen empty twice, 50 ms apart). */
async function orchestratorQueueDrained(client: Client): Promise<void> {
  await waitFor("the orchestrator queue to drain", async () => {
    if ((await client.getQueueDepths()).orchestrator_queue !== 0) return false;
    await Bun.sleep(50);
    return (await client.getQueueDepths()).orchestrator_queue === 0;
  });
}

function ofType<T extends Event["type"]>(h: Event[], type: T): EventOf<T>[] {
  return h.filter((e) => e.type === type) as EventOf<T>[];
}

const cancelledDetails = (reason: string) => ({
  type: "Application",
  kind: { Cancelled: { reason } },
  message: `canceled: ${reason}`,
  retryable: false,
});

describeEachProvider("queues, children and cancellation", (e2e) => {
  // ------------------------------------------------------------------ queues

  // §8 item 14
  test("queue messages sent after start but before dequeueEvent are buffered and delivered FIFO; messages sent before start are dropped", async () => {
    const env = await e2e.start({
      orchestrations: {
        Mailbox: function* (ctx) {
          ctx.setCustomStatus("waiting");
          yield* ctx.scheduleWait("go");
          const got: unknown[] = [];
          for (let i = 0; i < 4; i++) {
            if (i === 3) ctx.setCustomStatus("need-one-more");
            got.push(yield* ctx.dequeueEvent("inbox"));
          }
          return got;
        },
      },
    });
    const { client } = env;
    // Before the instance exists: nothing can ever consume this one, so the runtime drops it.
    await client.enqueueEvent("mbox", "inbox", "early");
    await orchestratorQueueDrained(client);
    expect(await client.getOrchestrationStatus("mbox")).toEqual({ status: "NotFound" });

    await client.startOrchestration("mbox", "Mailbox", null);
    const ready = await client.waitForStatusChange("mbox", 0, { timeoutMs: 5_000 });
    expect(ready).toMatchObject({ status: "Running", customStatus: "waiting" });

    // Sent while the code waits for "go": no dequeue exists yet, so they are buffered in history.
    for (const m of ["a", "b", "c"]) await client.enqueueEvent("mbox", "inbox", m);
    await waitFor("three buffered queue events", async () => ofType(await client.readExecutionHistory("mbox"), "ExternalEventPersistent").length === 3);
    await client.raiseEvent("mbox", "go", null);
    const more = await client.waitForStatusChange("mbox", ready.status === "Running" ? ready.customStatusVersion : 0, { timeoutMs: 5_000 });
    expect(more).toMatchObject({ status: "Running", customStatus: "need-one-more" });
    await client.enqueueEvent("mbox", "inbox", "d");

    const status = await client.waitForOrchestration("mbox", { timeoutMs: 5_000 });
    expect(status).toMatchObject({ status: "Completed", output: ["a", "b", "c", "d"] });

    const h = await client.readExecutionHistory("mbox");
    const arrivals = ofType(h, "ExternalEventPersistent");
    expect(arrivals.map((e) => JSON.parse(e.data))).toEqual(["a", "b", "c", "d"]);
    expect(arrivals.every((e) => e.name === "inbox")).toBe(true);
    const subs = ofType(h, "ExternalSubscribedPersistent");
    expect(subs).toHaveLength(4);
    // The first three arrivals were recorded before any dequeue subscription existed.
    for (const a of arrivals.slice(0, 3)) expect(a.event_id).toBeLessThan(subs[0]!.event_id);
    expect(h.some((e) => "data" in e && e.data === JSON.stringify("early"))).toBe(false);
    expect(h.at(-1)?.type).toBe("OrchestrationCompleted");
  });

  // §8 item 15
  test("unconsumed queue messages survive continue-as-new in order, at most 20, and are dequeued by the next execution", async () => {
    const env = await e2e.start({
      orchestrations: {
        Carrier: function* (ctx, input: { phase: number; first?: unknown }) {
          if (input.phase === 1) {
            ctx.setCustomStatus("waiting");
            yield* ctx.scheduleWait("go");
            const first = yield* ctx.dequeueEvent("q");
            return yield* ctx.continueAsNew({ phase: 2, first });
          }
          const got: unknown[] = [];
          for (let i = 0; i < 20; i++) got.push(yield* ctx.dequeueEvent("q"));
          const extra = yield* ctx.race([ctx.dequeueEvent("q"), ctx.scheduleTimer(300)]);
          return { first: input.first, got, extra: extra.index === 0 ? extra.value : null };
        },
      },
    });
    const { client } = env;
    await client.startOrchestration("carry", "Carrier", { phase: 1 });
    await client.waitForStatusChange("carry", 0, { timeoutMs: 5_000 });
    const sent = Array.from({ length: 25 }, (_, i) => `m${i}`);
    for (const m of sent) await client.enqueueEvent("carry", "q", m);
    // Queue order is kept: "go" is processed after all 25 messages are in history.
    await client.raiseEvent("carry", "go", null);

    const status = await client.waitForOrchestration("carry", { timeoutMs: 10_000 });
    // m0 consumed by execution 1; 24 left, the first 20 carried (m1..m20), m21..m24 dropped.
    expect(status).toMatchObject({ status: "Completed", output: { first: "m0", got: sent.slice(1, 21), extra: null } });
    expect(await client.listExecutions("carry")).toEqual([1, 2]);

    const h1 = await client.readExecutionHistory("carry", 1);
    expect(ofType(h1, "ExternalEventPersistent").map((e) => JSON.parse(e.data))).toEqual(sent);
    expect(h1.at(-1)?.type).toBe("OrchestrationContinuedAsNew");
    const h2 = await client.readExecutionHistory("carry", 2);
    const started = h2[0] as EventOf<"OrchestrationStarted">;
    expect(started.type).toBe("OrchestrationStarted");
    expect(started.carry_forward_events).toEqual(sent.slice(1, 21).map((m) => ["q", JSON.stringify(m)]));
    expect(ofType(h2, "ExternalSubscribedPersistent")).toHaveLength(21);
  });

  // ------------------------------------------------------------------ sub-orchestrations

  // §8 item 16
  test("an auto-named child gets id parent::sub::<event id>, a parent link in its Started event, and returns its output to the parent", async () => {
    const env = await e2e.start({
      activities: { Prep: async (_ctx, x: number) => x + 1 },
      orchestrations: {
        Parent16: function* (ctx, x: number) {
          const y = yield* ctx.scheduleActivity("Prep", x); // events 2, 3: the child is scheduled at 4
          const child = yield* ctx.scheduleSubOrchestration("Child16", { x: y });
          return { child };
        },
        Child16: function* (ctx, input: { x: number }) {
          return { doubled: input.x * 2, id: ctx.instanceId };
        },
      },
    });
    const { client } = env;
    await client.startOrchestration("p16", "Parent16", 20);
    const status = await client.waitForOrchestration("p16", { timeoutMs: 5_000 });
    expect(status).toMatchObject({ status: "Completed", output: { child: { doubled: 42, id: "p16::sub::4" } } });

    const h = await client.readExecutionHistory("p16");
    expect(h.map((e) => e.type)).toEqual([
      "OrchestrationStarted",
      "ActivityScheduled",
      "ActivityCompleted",
      "SubOrchestrationScheduled",
      "SubOrchestrationCompleted",
      "OrchestrationCompleted",
    ]);
    const scheduled = h[3] as EventOf<"SubOrchestrationScheduled">;
    expect(scheduled).toMatchObject({ event_id: 4, name: "Child16", instance: "p16::sub::4" });
    expect(h[4]).toMatchObject({ source_event_id: 4 });

    const child = await client.readExecutionHistory("p16::sub::4");
    expect(child.map((e) => e.type)).toEqual(["OrchestrationStarted", "OrchestrationCompleted"]);
    expect(child[0]).toMatchObject({ name: "Child16", parent_instance: "p16", parent_id: 4 });
    expect(JSON.parse((child[0] as EventOf<"OrchestrationStarted">).input)).toEqual({ x: 21 });
    expect((await client.getInstanceInfo("p16::sub::4")).parent_instance_id).toBe("p16");
    expect(await client.waitForOrchestration("p16::sub::4", { timeoutMs: 1_000 })).toMatchObject({ status: "Completed" });
  });

  // §8 item 17 (explicit id)
  test("a child with an explicit id uses it verbatim", async () => {
    const env = await e2e.start({
      orchestrations: {
        Parent17: function* (ctx) {
          return yield* ctx.scheduleSubOrchestration("Child17", "hi", { instanceId: "my-explicit-child" });
        },
        Child17: function* (ctx, s: string) {
          return `${s} from ${ctx.instanceId}`;
        },
      },
    });
    const { client } = env;
    await client.startOrchestration("p17", "Parent17", null);
    expect(await client.waitForOrchestration("p17", { timeoutMs: 5_000 })).toMatchObject({ status: "Completed", output: "hi from my-explicit-child" });
    const h = await client.readExecutionHistory("p17");
    expect(ofType(h, "SubOrchestrationScheduled")[0]).toMatchObject({ event_id: 2, instance: "my-explicit-child" });
    const child = await client.readExecutionHistory("my-explicit-child");
    expect(child[0]).toMatchObject({ type: "OrchestrationStarted", parent_instance: "p17", parent_id: 2 });
    expect((await client.listAllInstances()).sort()).toEqual(["my-explicit-child", "p17"]);
  });

  // §8 item 17 (detached start)
  test("a detached start creates an independent root with the exact id, and the parent replays past it and completes", async () => {
    const env = await e2e.start({
      activities: { Echo: async (_ctx, s: string) => s },
      orchestrations: {
        Starter: function* (ctx) {
          ctx.scheduleOrchestration("Detached", "detached-exact", { from: ctx.instanceId });
          // A second turn replays the OrchestrationChained event before finishing.
          const r = yield* ctx.scheduleActivity("Echo", "after detach");
          return r;
        },
        Detached: function* (ctx, input: { from: string }) {
          ctx.setCustomStatus("ready");
          const go = yield* ctx.scheduleWait("go");
          return { from: input.from, go };
        },
      },
    });
    const { client } = env;
    await client.startOrchestration("starter", "Starter", null);
    expect(await client.waitForOrchestration("starter", { timeoutMs: 5_000 })).toMatchObject({ status: "Completed", output: "after detach" });
    expect(await historyTypes(client, "starter")).toEqual([
      "OrchestrationStarted",
      "OrchestrationChained",
      "ActivityScheduled",
      "ActivityCompleted",
      "OrchestrationCompleted",
    ]);
    const h = await client.readExecutionHistory("starter");
    expect(h[1]).toMatchObject({ type: "OrchestrationChained", name: "Detached", instance: "detached-exact" });

    // The detached instance outlives its starter: it is an independent root, still running.
    expect(await client.waitForStatusChange("detached-exact", 0, { timeoutMs: 5_000 })).toMatchObject({ status: "Running" });
    const d = await client.readExecutionHistory("detached-exact");
    expect(d[0]).toMatchObject({ type: "OrchestrationStarted", name: "Detached", parent_instance: null, parent_id: null });
    expect((await client.getInstanceInfo("detached-exact")).parent_instance_id).toBeNull();
    expect((await client.listAllInstances()).sort()).toEqual(["detached-exact", "starter"]);
    await client.raiseEvent("detached-exact", "go", 7);
    expect(await client.waitForOrchestration("detached-exact", { timeoutMs: 5_000 })).toMatchObject({ status: "Completed", output: { from: "starter", go: 7 } });
  });

  // §8 item 18 (application failure)
  test("a child's application failure surfaces in the parent as a SubOrchestrationFailedError it can catch", async () => {
    const env = await e2e.start({
      orchestrations: {
        Catcher: function* (ctx) {
          try {
            yield* ctx.scheduleSubOrchestration("Exploder", null);
            return "no error";
          } catch (e) {
            const err = e as SubOrchestrationFailedError;
            return { isSubError: err instanceof SubOrchestrationFailedError, name: err.name, message: err.message, details: err.details };
          }
        },
        Exploder: function* () {
          throw new Error("child exploded");
        },
      },
    });
    const { client } = env;
    await client.startOrchestration("catcher", "Catcher", null);
    const status = await client.waitForOrchestration("catcher", { timeoutMs: 5_000 });
    const appFailure = { type: "Application", kind: "OrchestrationFailed", message: "child exploded", retryable: false };
    expect(status).toMatchObject({
      status: "Completed",
      output: { isSubError: true, name: "SubOrchestrationFailedError", message: "child exploded", details: appFailure },
    });
    const h = await client.readExecutionHistory("catcher");
    expect(h.map((e) => e.type)).toEqual(["OrchestrationStarted", "SubOrchestrationScheduled", "SubOrchestrationFailed", "OrchestrationCompleted"]);
    expect(h[2]).toMatchObject({ source_event_id: 2, details: appFailure });
    expect(await client.waitForOrchestration("catcher::sub::2", { timeoutMs: 1_000 })).toMatchObject({ status: "Failed", details: appFailure });
  });

  // §8 item 18 (nondeterminism)
  test("a child failing with nondeterminism fails the parent with the same details (the parent cannot catch it)", async () => {
    let childRuns = 0;
    const env = await e2e.start({
      activities: { A: async () => "a", B: async () => "b" },
      orchestrations: {
        Guardian: function* (ctx) {
          try {
            return yield* ctx.scheduleSubOrchestration("Shifty", null);
          } catch {
            return "caught";
          }
        },
        // Its code "changes" between turns: the replay schedules B where history has A.
        Shifty: function* (ctx) {
          childRuns++;
          return yield* ctx.scheduleActivity(childRuns === 1 ? "A" : "B", null);
        },
      },
    }, REPLAY_EVERY_TURN);
    const { client } = env;
    await client.startOrchestration("guardian", "Guardian", null);
    const child = await client.waitForOrchestration("guardian::sub::2", { timeoutMs: 5_000 });
    expect(child.status).toBe("Failed");
    if (child.status !== "Failed") return;
    expect(child.details).toMatchObject({ type: "Configuration", kind: "Nondeterminism" });

    const parent = await client.waitForOrchestration("guardian", { timeoutMs: 5_000 });
    expect(parent.status).toBe("Failed");
    if (parent.status !== "Failed") return;
    expect(parent.details).toEqual(child.details);
    expect(parent.message).toBe(child.message);
    const h = await client.readExecutionHistory("guardian");
    expect(h.map((e) => e.type)).toEqual(["OrchestrationStarted", "SubOrchestrationScheduled", "SubOrchestrationFailed", "OrchestrationFailed"]);
    expect(h[2]).toMatchObject({ source_event_id: 2, details: child.details });
  });

  // §8 item 18 (poison)
  test("a child poisoned by an unregistered activity fails the parent with the same Poison details", async () => {
    const env = await e2e.start(
      {
        orchestrations: {
          Guardian: function* (ctx) {
            try {
              return yield* ctx.scheduleSubOrchestration("NeedsMissing", null);
            } catch {
              return "caught";
            }
          },
          NeedsMissing: function* (ctx) {
            return yield* ctx.scheduleActivity("NotRegisteredAnywhere", null);
          },
        },
      },
      { maxAttempts: 2, unregisteredBackoff: { baseDelayMs: 10, maxDelayMs: 50 } },
    );
    const { client } = env;
    await client.startOrchestration("guardian", "Guardian", null);
    const child = await client.waitForOrchestration("guardian::sub::2", { timeoutMs: 5_000 });
    expect(child.status).toBe("Failed");
    if (child.status !== "Failed") return;
    expect(child.details).toMatchObject({
      type: "Poison",
      max_attempts: 2,
      message_type: { type: "Activity", instance: "guardian::sub::2", activity_name: "NotRegisteredAnywhere", activity_id: 2 },
    });
    const parent = await client.waitForOrchestration("guardian", { timeoutMs: 5_000 });
    expect(parent.status).toBe("Failed");
    if (parent.status !== "Failed") return;
    expect(parent.details).toEqual(child.details);
    expect(await historyTypes(client, "guardian")).toEqual(["OrchestrationStarted", "SubOrchestrationScheduled", "SubOrchestrationFailed", "OrchestrationFailed"]);
  });

  // ------------------------------------------------------------------ cancellation

  const waiters = {
    // Signals readiness through custom status, then waits for an event that never comes.
    Leaf: function* (ctx: any) {
      ctx.setCustomStatus("ready");
      return yield* ctx.scheduleWait("never");
    },
    Mid: function* (ctx: any) {
      const grandchild = ctx.scheduleSubOrchestration("Leaf", null);
      ctx.setCustomStatus("ready");
      return yield* grandchild;
    },
    Root: function* (ctx: any) {
      const a = ctx.scheduleSubOrchestration("Mid", null);
      const b = ctx.scheduleSubOrchestration("Leaf", null);
      ctx.setCustomStatus("ready");
      return yield* ctx.all([a, b]);
    },
  };

  async function childIds(client: Client, instance: string): Promise<string[]> {
    return ofType(await client.readExecutionHistory(instance), "SubOrchestrationScheduled").map((e) => e.instance);
  }

  // §8 item 19
  test("cancelling a parent cascades to all running children and grandchildren; all end Failed with Cancelled", async () => {
    const env = await e2e.start({ orchestrations: waiters });
    const { client } = env;
    await client.startOrchestration("root", "Root", null);
    await client.waitForStatusChange("root", 0, { timeoutMs: 5_000 });
    const [mid, leaf] = await childIds(client, "root");
    expect([mid, leaf]).toEqual(["root::sub::2", "root::sub::3"]);
    await client.waitForStatusChange(mid!, 0, { timeoutMs: 5_000 });
    const [grandchild] = await childIds(client, mid!);
    expect(grandchild).toBe("root::sub::2::sub::2");
    for (const id of [leaf!, grandchild!]) expect(await client.waitForStatusChange(id, 0, { timeoutMs: 5_000 })).toMatchObject({ status: "Running" });

    await client.cancelInstance("root", "user abort");
    expect(await client.waitForOrchestration("root", { timeoutMs: 5_000 })).toMatchObject({
      status: "Failed",
      details: cancelledDetails("user abort"),
      message: "canceled: user abort",
    });
    for (const id of [mid!, leaf!, grandchild!]) {
      expect(await client.waitForOrchestration(id, { timeoutMs: 5_000 })).toMatchObject({ status: "Failed", details: cancelledDetails("parent canceled") });
    }

    const h = await client.readExecutionHistory("root");
    expect(ofType(h, "OrchestrationCancelRequested").map((e) => e.reason)).toEqual(["user abort"]);
    const childCancels = ofType(h, "SubOrchestrationCancelRequested");
    expect(childCancels.map((e) => [e.source_event_id, e.reason])).toEqual([
      [2, "parent canceled"],
      [3, "parent canceled"],
    ]);
    expect(h.at(-1)).toMatchObject({ type: "OrchestrationFailed", details: cancelledDetails("user abort") });
    const hm = await client.readExecutionHistory(mid!);
    expect(ofType(hm, "OrchestrationCancelRequested").map((e) => e.reason)).toEqual(["parent canceled"]);
    expect(ofType(hm, "SubOrchestrationCancelRequested").map((e) => [e.source_event_id, e.reason])).toEqual([[2, "parent canceled"]]);
    // The parent ignores its children's late failure reports: it stays failed with its own reason.
    await orchestratorQueueDrained(client);
    expect(await client.getOrchestrationStatus("root")).toMatchObject({ status: "Failed", details: cancelledDetails("user abort") });
    expect(ofType(await client.readExecutionHistory("root"), "OrchestrationFailed")).toHaveLength(1);
  });

  // §8 item 20
  test("cancelling a child directly makes the parent's await fail with canceled: <reason>", async () => {
    const env = await e2e.start({
      orchestrations: {
        Leaf: waiters.Leaf,
        Awaiter: function* (ctx) {
          try {
            return { ok: yield* ctx.scheduleSubOrchestration("Leaf", null, { instanceId: "child-20" }) };
          } catch (e) {
            const err = e as SubOrchestrationFailedError;
            return { name: err.name, message: err.message, details: err.details };
          }
        },
      },
    });
    const { client } = env;
    await client.startOrchestration("awaiter", "Awaiter", null);
    await client.waitForStatusChange("child-20", 0, { timeoutMs: 5_000 });
    await client.cancelInstance("child-20", "manual stop");
    expect(await client.waitForOrchestration("child-20", { timeoutMs: 5_000 })).toMatchObject({ status: "Failed", details: cancelledDetails("manual stop") });
    expect(await client.waitForOrchestration("awaiter", { timeoutMs: 5_000 })).toMatchObject({
      status: "Completed",
      output: { name: "SubOrchestrationFailedError", message: "canceled: manual stop", details: cancelledDetails("manual stop") },
    });
    const h = await client.readExecutionHistory("awaiter");
    expect(h.map((e) => e.type)).toEqual(["OrchestrationStarted", "SubOrchestrationScheduled", "SubOrchestrationFailed", "OrchestrationCompleted"]);
    expect(h[2]).toMatchObject({ source_event_id: 2, details: cancelledDetails("manual stop") });
  });

  // §8 item 21 (completed instance)
  test("cancel on a completed instance is a no-op", async () => {
    const env = await e2e.start({ orchestrations: { Quick: function* () { return "done"; } } });
    const { client } = env;
    await client.startOrchestration("quick", "Quick", null);
    expect(await client.waitForOrchestration("quick", { timeoutMs: 5_000 })).toMatchObject({ status: "Completed", output: "done" });
    const before = await client.readExecutionHistory("quick");
    await client.cancelInstance("quick", "too late");
    await orchestratorQueueDrained(client);
    expect(await client.getOrchestrationStatus("quick")).toMatchObject({ status: "Completed", output: "done" });
    expect(await client.readExecutionHistory("quick")).toEqual(before);
    expect(await client.listExecutions("quick")).toEqual([1]);
  });

  // §8 item 21 (unknown instance)
  test("cancel on an unknown instance is a no-op: no instance appears", async () => {
    const env = await e2e.start({ orchestrations: { Quick: function* () { return "done"; } } });
    const { client } = env;
    await client.cancelInstance("ghost", "nobody home");
    // A later instance is processed after the (older) cancel message was looked at.
    await client.startOrchestration("other", "Quick", null);
    expect(await client.waitForOrchestration("other", { timeoutMs: 5_000 })).toMatchObject({ status: "Completed" });
    expect(await client.getOrchestrationStatus("ghost")).toEqual({ status: "NotFound" });
    expect(await client.readExecutionHistory("ghost")).toEqual([]);
    expect(await client.listAllInstances()).toEqual(["other"]);
  });

  // §8 item 21 (repeated cancels)
  test("repeated cancels record one OrchestrationCancelRequested, with the first reason", async () => {
    const handlers = { orchestrations: { Leaf: waiters.Leaf } };
    const first = await e2e.start(handlers);
    await first.client.startOrchestration("rep", "Leaf", null);
    await first.client.waitForStatusChange("rep", 0, { timeoutMs: 5_000 });
    // With no runtime running, the three cancels are sure to land in one batch.
    await first.shutdown();
    for (const reason of ["first", "second", "third"]) await first.client.cancelInstance("rep", reason);
    const env = await first.restart();
    const { client } = env;
    expect(await client.waitForOrchestration("rep", { timeoutMs: 5_000 })).toMatchObject({ status: "Failed", details: cancelledDetails("first") });
    // One more, after the end: ignored.
    await client.cancelInstance("rep", "fourth");
    await orchestratorQueueDrained(client);
    const h = await client.readExecutionHistory("rep");
    expect(ofType(h, "OrchestrationCancelRequested").map((e) => e.reason)).toEqual(["first"]);
    expect(ofType(h, "OrchestrationFailed")).toHaveLength(1);
    expect(h.at(-1)).toMatchObject({ type: "OrchestrationFailed", details: cancelledDetails("first") });
  });

  // §8 item 22
  test("a cancel enqueued right after start, before any turn, ends the instance as Cancelled and its work never runs", async () => {
    let runs = 0;
    const store = await e2e.store();
    const early = new Client(store.provider);
    await early.startOrchestration("doomed", "Doomed", null);
    await early.cancelInstance("doomed", "changed my mind");
    const env = await e2e.start(
      {
        activities: { Work: async () => ++runs },
        orchestrations: {
          Doomed: function* (ctx) {
            return yield* ctx.scheduleActivity("Work", null);
          },
        },
      },
      {},
      store,
    );
    const { client } = env;
    expect(await client.waitForOrchestration("doomed", { timeoutMs: 5_000 })).toMatchObject({
      status: "Failed",
      details: cancelledDetails("changed my mind"),
      message: "canceled: changed my mind",
    });
    const h = await client.readExecutionHistory("doomed");
    expect(h.slice(0, 2).map((e) => e.type)).toEqual(["OrchestrationStarted", "OrchestrationCancelRequested"]);
    expect(ofType(h, "OrchestrationCancelRequested")).toHaveLength(1);
    expect(ofType(h, "ActivityCompleted")).toHaveLength(0);
    expect(h.at(-1)).toMatchObject({ type: "OrchestrationFailed", details: cancelledDetails("changed my mind") });
    expect((await client.getQueueDepths()).worker_queue).toBe(0);
    expect(runs).toBe(0);
  });

  // Short leases so a deleted activity row is noticed by the next renewal (every 500 ms).
  const CANCEL_FAST = { workerLockTimeoutMs: 1_000, workerLockRenewalBufferMs: 500, activityCancellationGracePeriodMs: 200 };

  // §8 item 23 (cooperative)
  test("a cooperative activity sees its AbortSignal after its orchestration is cancelled, and its result is dropped", async () => {
    const started = deferred();
    const aborted = deferred<number>();
    const env = await e2e.start(
      {
        activities: {
          Polite: async (ctx) => {
            started.resolve();
            await new Promise((r) => ctx.signal.addEventListener("abort", r, { once: true }));
            aborted.resolve(Date.now());
            return "ignored";
          },
        },
        orchestrations: {
          RunPolite: function* (ctx) {
            return yield* ctx.scheduleActivity("Polite", null);
          },
        },
      },
      CANCEL_FAST,
    );
    const { client } = env;
    await client.startOrchestration("polite", "RunPolite", null);
    await within("the activity to start", started.promise);
    const cancelledAt = Date.now();
    await client.cancelInstance("polite", "stop it");
    expect(await client.waitForOrchestration("polite", { timeoutMs: 5_000 })).toMatchObject({ status: "Failed", details: cancelledDetails("stop it") });
    const abortAt = await within("the activity's AbortSignal", aborted.promise);
    expect(abortAt - cancelledAt).toBeLessThan(4_000);

    const h = await client.readExecutionHistory("polite");
    expect(h.map((e) => e.type)).toEqual(["OrchestrationStarted", "ActivityScheduled", "OrchestrationCancelRequested", "ActivityCancelRequested", "OrchestrationFailed"]);
    expect(h[3]).toMatchObject({ source_event_id: 2, reason: "orchestration_terminal_failed" });
    await orchestratorQueueDrained(client);
    expect(ofType(await client.readExecutionHistory("polite"), "ActivityCompleted")).toHaveLength(0);
    expect((await client.getQueueDepths()).worker_queue).toBe(0);
  });

  // §8 item 23 (non-cooperative)
  test("a non-cooperative activity is abandoned after the grace period (its slot is freed) and its late result is dropped", async () => {
    const started = deferred();
    const release = deferred();
    let abortedAt: number | null = null;
    let stubbornFinished = false;
    let quickStartedAt: number | null = null;
    const env = await e2e.start(
      {
        activities: {
          Stubborn: async (ctx) => {
            ctx.signal.addEventListener("abort", () => (abortedAt = Date.now()), { once: true });
            started.resolve();
            await release.promise; // ignores the signal
            stubbornFinished = true;
            return "late";
          },
          Quick: async () => {
            quickStartedAt = Date.now();
            return "quick";
          },
        },
        orchestrations: {
          RunOne: function* (ctx, name: string) {
            return yield* ctx.scheduleActivity(name, null);
          },
        },
      },
      { ...CANCEL_FAST, workerConcurrency: 1 },
    );
    const { client } = env;
    try {
      await client.startOrchestration("stubborn", "RunOne", "Stubborn");
      await within("the stubborn activity to start", started.promise);
      await client.cancelInstance("stubborn", "enough");
      expect(await client.waitForOrchestration("stubborn", { timeoutMs: 5_000 })).toMatchObject({ status: "Failed", details: cancelledDetails("enough") });

      // The only worker slot is held by Stubborn until it is abandoned; then Quick can run.
      await client.startOrchestration("quick", "RunOne", "Quick");
      expect(await client.waitForOrchestration("quick", { timeoutMs: 8_000 })).toMatchObject({ status: "Completed", output: "quick" });
      expect(stubbornFinished).toBe(false);
      expect(abortedAt).not.toBeNull();
      expect(quickStartedAt! - abortedAt!).toBeGreaterThanOrEqual(190); // waited out the 200 ms grace period
    } finally {
      release.resolve();
    }
    await waitFor("the stubborn handler to return", () => stubbornFinished);
    await Bun.sleep(100);
    await orchestratorQueueDrained(client);
    const h = await client.readExecutionHistory("stubborn");
    expect(ofType(h, "ActivityCompleted")).toHaveLength(0);
    expect(h.at(-1)).toMatchObject({ type: "OrchestrationFailed", details: cancelledDetails("enough") });
    expect((await client.getQueueDepths()).worker_queue).toBe(0);
  });

  // §8 item 24
  test("an orchestration completing while an activity still runs deletes that activity's queue row and signals it", async () => {
    const slowStarted = deferred();
    const slowAborted = deferred();
    let slowRuns = 0;
    let slowReturned = false;
    const env = await e2e.start(
      {
        activities: {
          Slow: async (ctx) => {
            slowRuns++;
            slowStarted.resolve();
            await new Promise((r) => ctx.signal.addEventListener("abort", r, { once: true }));
            slowAborted.resolve();
            slowReturned = true;
            return "slow";
          },
          Fast: async () => {
            await slowStarted.promise; // both are running when the orchestration completes
            return "fast";
          },
        },
        orchestrations: {
          LeavesOneRunning: function* (ctx) {
            ctx.scheduleActivity("Slow", null); // never awaited
            return yield* ctx.scheduleActivity("Fast", null);
          },
        },
      },
      { ...CANCEL_FAST, workerConcurrency: 2 },
    );
    const { client } = env;
    await client.startOrchestration("leaver", "LeavesOneRunning", null);
    expect(await client.waitForOrchestration("leaver", { timeoutMs: 5_000 })).toMatchObject({ status: "Completed", output: "fast" });
    await within("the running activity's AbortSignal", slowAborted.promise);

    const h = await client.readExecutionHistory("leaver");
    expect(h.map((e) => e.type)).toEqual([
      "OrchestrationStarted",
      "ActivityScheduled",
      "ActivityScheduled",
      "ActivityCompleted",
      "ActivityCancelRequested",
      "OrchestrationCompleted",
    ]);
    expect(h[1]).toMatchObject({ event_id: 2, name: "Slow" });
    expect(h[3]).toMatchObject({ source_event_id: 3 });
    expect(h[4]).toMatchObject({ source_event_id: 2 });
    expect((h[4] as EventOf<"ActivityCancelRequested">).reason).toMatch(/^(dropped_future|orchestration_terminal_completed)$/);

    // The row is gone: the dropped result is not redelivered and Slow never runs again.
    await waitFor("Slow to return", () => slowReturned);
    await Bun.sleep(200);
    expect(slowRuns).toBe(1);
    expect((await client.getQueueDepths()).worker_queue).toBe(0);
    expect(ofType(await client.readExecutionHistory("leaver"), "ActivityCompleted")).toHaveLength(1);
  });

  // ------------------------------------------------------------------ continue-as-new

  // §8 item 25
  test("continue-as-new: execution ids increment, each history restarts at event 1, status stays Running between executions, listExecutions shows all", async () => {
    const gateReached = deferred();
    const gate = deferred();
    // Look at the status right after each continue-as-new commit, before the next execution's first
    // turn can run (one orchestration slot, and it is busy inside this ack until the check returns).
    const base = (await e2e.store()).provider;
    const between: { status: string; executions: number[] }[] = [];
    let observer: Client | null = null;
    const provider = new Proxy(base, {
      get(target, prop) {
        const v = Reflect.get(target, prop, target);
        if (prop === "ackOrchestrationItem") {
          return async (...args: Parameters<typeof base.ackOrchestrationItem>) => {
            await base.ackOrchestrationItem(...args);
            if (args[5].status === "ContinuedAsNew" && observer !== null) {
              between.push({ status: (await observer.getOrchestrationStatus("counter")).status, executions: await observer.listExecutions("counter") });
            }
          };
        }
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
    const env = await e2e.start(
      {
        activities: {
          Step: async (_ctx, n: number) => {
            if (n === 2) {
              gateReached.resolve();
              await gate.promise;
            }
            return n * 10;
          },
        },
        orchestrations: {
          Counter: function* (ctx, n: number) {
            const v = yield* ctx.scheduleActivity("Step", n);
            if (n < 3) return yield* ctx.continueAsNew(n + 1);
            return { n, v, executionId: ctx.executionId };
          },
        },
      },
      { orchestrationConcurrency: 1 },
      provider,
    );
    const { client } = env;
    observer = client;
    try {
      await client.startOrchestration("counter", "Counter", 1);
      await within("execution 2 to run its activity", gateReached.promise);
      expect(await client.getOrchestrationStatus("counter")).toMatchObject({ status: "Running" });
      expect(await client.listExecutions("counter")).toEqual([1, 2]);
      expect(await historyTypes(client, "counter")).toEqual(["OrchestrationStarted", "ActivityScheduled"]);
    } finally {
      gate.resolve();
    }
    expect(await client.waitForOrchestration("counter", { timeoutMs: 5_000 })).toMatchObject({ status: "Completed", output: { n: 3, v: 30, executionId: 3 } });
    // Right after each continue-as-new commit the instance reads as Running. (The next execution
    // may already exist by then: a dispatcher fetches its next batch while its ack commits.)
    expect(between.map((b) => b.status)).toEqual(["Running", "Running"]);
    expect(between[0]!.executions.slice(0, 1)).toEqual([1]);
    expect(between[1]!.executions.slice(0, 2)).toEqual([1, 2]);

    expect(await client.listExecutions("counter")).toEqual([1, 2, 3]);
    for (const exec of [1, 2, 3]) {
      const h = await client.readExecutionHistory("counter", exec);
      expect(h.map((e) => e.event_id)).toEqual([1, 2, 3, 4]);
      expect(h.every((e) => e.execution_id === exec)).toBe(true);
      expect(h[0]).toMatchObject({ type: "OrchestrationStarted", name: "Counter", input: JSON.stringify(exec) });
      expect(h.map((e) => e.type)).toEqual([
        "OrchestrationStarted",
        "ActivityScheduled",
        "ActivityCompleted",
        exec < 3 ? "OrchestrationContinuedAsNew" : "OrchestrationCompleted",
      ]);
      if (exec < 3) expect(h[3]).toMatchObject({ input: JSON.stringify(exec + 1) });
    }
  });

  // §8 item 26
  test("completions addressed to a previous execution are ignored after continue-as-new", async () => {
    const gateReached = deferred();
    const gate = deferred();
    const env = await e2e.start({
      activities: {
        Gate: async () => {
          gateReached.resolve();
          await gate.promise;
          return "fresh";
        },
      },
      orchestrations: {
        Renewing: function* (ctx, phase: number) {
          if (phase === 1) {
            ctx.scheduleTimer(150); // event 2; not awaited, and timers are not revoked: it fires after the CAN
            return yield* ctx.continueAsNew(2);
          }
          return yield* ctx.scheduleActivity("Gate", null); // event 2 of execution 2
        },
      },
    });
    const { client, provider } = env;
    await client.startOrchestration("renew", "Renewing", 1);
    await within("execution 2 to run its activity", gateReached.promise);
    expect(await client.listExecutions("renew")).toEqual([1, 2]);
    // A stale activity result for event 2 of execution 1 (as a late worker of the old execution would send).
    await provider.enqueueForOrchestrator({ type: "ActivityCompleted", instance: "renew", execution_id: 1, id: 2, result: JSON.stringify("stale") }, null);
    // Both stale messages (the old timer and this completion) are consumed without effect.
    await orchestratorQueueDrained(client);
    expect(await client.getOrchestrationStatus("renew")).toMatchObject({ status: "Running" });
    expect(await historyTypes(client, "renew")).toEqual(["OrchestrationStarted", "ActivityScheduled"]);

    gate.resolve();
    expect(await client.waitForOrchestration("renew", { timeoutMs: 5_000 })).toMatchObject({ status: "Completed", output: "fresh" });
    const h2 = await client.readExecutionHistory("renew", 2);
    expect(h2.map((e) => e.type)).toEqual(["OrchestrationStarted", "ActivityScheduled", "ActivityCompleted", "OrchestrationCompleted"]);
    expect(h2[2]).toMatchObject({ source_event_id: 2, result: JSON.stringify("fresh") });
    expect(await historyTypes(client, "renew", 1)).toEqual(["OrchestrationStarted", "TimerCreated", "OrchestrationContinuedAsNew"]);
  });
});
