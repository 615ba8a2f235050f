// terminalSnapshot: what a status read returns right after a turn that ended its instance, known
// without reading (docs/runtime-semantics.md §4.2). Pure cases on hand-written histories, then a
// runtime and a client on one provider: a waiter woken by the completing turn makes no read after
// the wake-up and gets exactly what a read returns; where the snapshot is unknown it reads.
import { describe, expect, test } from "bun:test";
import type { ErrorDetails } from "../../src/core/error-details.ts";
import { ActivityRegistry, Client, OrchestrationRegistry, Runtime } from "../../src/index.ts";
import { appError, completedEvent, createRunningInstance, customStatusEvent, event, startedEvent } from "../../src/provider-tests/helpers.ts";
import { instanceSignals } from "../../src/instance-signals.ts";
import type { Provider, ProviderAdmin } from "../../src/provider.ts";
import { MemoryProvider } from "../../src/providers/memory.ts";
import { SqliteProvider } from "../../src/providers/sqlite.ts";
import { terminalSnapshot } from "../../src/runtime/terminal-snapshot.ts";

const details: ErrorDetails = appError("boom");
const failed = (eventId: number) => event("i", 1, eventId, { type: "OrchestrationFailed", details });

describe("terminalSnapshot (no I/O)", () => {
  test("a first execution that completes without custom status: the output, custom status null at version 0", () => {
    expect(terminalSnapshot(1, [startedEvent("i")], [completedEvent("i", 1, 2, '"ok"')])).toEqual({
      end: { status: "Completed", output: '"ok"' },
      customStatus: null,
      customStatusVersion: 0,
    });
    // Started and completed in one turn.
    expect(terminalSnapshot(1, [], [startedEvent("i"), completedEvent("i", 1, 2, "1")])?.end).toEqual({ status: "Completed", output: "1" });
  });

  test("a failure carries the details the history records", () => {
    expect(terminalSnapshot(1, [startedEvent("i")], [failed(2)])).toEqual({ end: { status: "Failed", details }, customStatus: null, customStatusVersion: 0 });
  });

  test("unknown, so no snapshot: a later execution, custom status set before or in the turn, an unreadable history", () => {
    expect(terminalSnapshot(2, [startedEvent("i", 2)], [completedEvent("i", 2, 2)])).toBeUndefined();
    expect(terminalSnapshot(1, [startedEvent("i"), customStatusEvent("i", 1, 2, "half")], [completedEvent("i", 1, 3)])).toBeUndefined();
    expect(terminalSnapshot(1, [startedEvent("i")], [customStatusEvent("i", 1, 2, null), completedEvent("i", 1, 3)])).toBeUndefined();
    expect(terminalSnapshot(1, null, [failed(99_999)])).toBeUndefined();
  });

  test("a turn that did not end the instance has none", () => {
    expect(terminalSnapshot(1, [startedEvent("i")], [event("i", 1, 2, { type: "ActivityScheduled", name: "A", input: "{}" })])).toBeUndefined();
    expect(terminalSnapshot(1, [startedEvent("i")], [])).toBeUndefined();
  });
});

// Every activity waits for the gate, opened once the waiter made its first check: the end then
// reaches the waiter as a wake-up, never as the answer of that first check.
let gate = Promise.withResolvers<void>();
const activities = ActivityRegistry.builder()
  .register("Echo", async (_ctx, x: unknown) => {
    await gate.promise;
    return x;
  })
  .build();
const orchestrations = OrchestrationRegistry.builder()
  .register("Plain", function* (ctx, n: number) {
    const a = yield* ctx.scheduleActivity<number>("Echo", n);
    return { doubled: a * 2 };
  })
  .register("Fails", function* (ctx) {
    yield* ctx.scheduleActivity("Echo", 1);
    throw new Error("nope");
  })
  .register("WithStatus", function* (ctx) {
    ctx.setCustomStatus("one");
    yield* ctx.scheduleActivity("Echo", 1);
    ctx.setCustomStatus("two");
    yield* ctx.scheduleActivity("Echo", 2);
    return "done";
  })
  .register("Again", function* (ctx, round: number) {
    yield* ctx.scheduleActivity("Echo", round);
    if (round < 2) return yield* ctx.continueAsNew(round + 1);
    return round;
  })
  .build();

/** `p` with its status reads (the management view's getInstanceInfo, and history reads) counted; `onRead` after each. */
function counted(p: Provider, onRead: () => void): { provider: Provider; reads: () => number } {
  let reads = 0;
  const count = <A extends unknown[], R>(f: (...a: A) => Promise<R>) => async (...a: A): Promise<R> => {
    reads++;
    try {
      return await f(...a);
    } finally {
      onRead();
    }
  };
  const spy = Object.create(p) as Provider;
  const admin = p.asManagementCapability() as ProviderAdmin;
  const countedAdmin = Object.create(admin) as ProviderAdmin;
  countedAdmin.getInstanceInfo = count((id: string) => admin.getInstanceInfo(id));
  spy.asManagementCapability = () => countedAdmin;
  spy.read = count((id: string) => p.read(id));
  return { provider: spy, reads: () => reads };
}

for (const [name, make] of [
  ["MemoryProvider", () => MemoryProvider.create()],
  ["SqliteProvider", () => SqliteProvider.inMemory()],
] as const) {
  describe(`waitForOrchestration woken by the completing turn (${name})`, () => {
    async function run(orchestration: string, input: unknown): Promise<{ waited: unknown; read: unknown; readsDuringWait: number }> {
      const base = await make();
      gate = Promise.withResolvers<void>();
      let waitStarted = false;
      const { provider, reads } = counted(base, () => {
        if (waitStarted) gate.resolve();
      });
      const rt = await Runtime.start(provider, activities, orchestrations, { logLevel: "off", dispatcherPollIntervalMs: 10 });
      try {
        const client = new Client(provider);
        await client.startOrchestration("w", orchestration, input);
        const before = reads();
        waitStarted = true;
        const waited = await client.waitForOrchestration("w", { timeoutMs: 10_000 });
        const readsDuringWait = reads() - before;
        return { waited, read: await client.getOrchestrationStatus("w"), readsDuringWait };
      } finally {
        await rt.shutdown();
        await (base as { close(): unknown }).close();
      }
    }

    test("a completion: no read after the wake-up, and the same status a read returns", async () => {
      const r = await run("Plain", 21);
      expect(r.waited).toEqual({ status: "Completed", output: { doubled: 42 }, customStatus: null, customStatusVersion: 0 });
      expect(r.waited).toEqual(r.read);
      // The check before sleeping (one instance-row read); none after the snapshot woke it.
      expect(r.readsDuringWait).toBe(1);
    });

    test("a failure: no read after the wake-up, and the same details and message a read returns", async () => {
      const r = await run("Fails", null);
      expect(r.waited).toMatchObject({ status: "Failed", message: expect.stringContaining("nope") });
      expect(r.waited).toEqual(r.read);
      expect(r.readsDuringWait).toBe(1);
    });

    test("custom status set: read after the wake-up, with the stored version", async () => {
      const r = await run("WithStatus", null);
      expect(r.waited).toEqual({ status: "Completed", output: "done", customStatus: "two", customStatusVersion: 2 });
      expect(r.waited).toEqual(r.read);
      expect(r.readsDuringWait).toBeGreaterThan(1);
    });

    test("a later execution (continue-as-new): read after the wake-up", async () => {
      const r = await run("Again", 1);
      expect(r.waited).toEqual({ status: "Completed", output: 2, customStatus: null, customStatusVersion: 0 });
      expect(r.waited).toEqual(r.read);
      expect(r.readsDuringWait).toBeGreaterThan(1);
    });
  });
}

describe("a snapshot in the client (no runtime)", () => {
  test("every waiter woken by one snapshot gets its own objects, and a read-free answer; waitForStatusChange takes it too", async () => {
    const p = await MemoryProvider.create();
    await createRunningInstance(p, "s");
    const client = new Client(p);
    const a = client.waitForOrchestration("s", { timeoutMs: 10_000 });
    const b = client.waitForOrchestration("s", { timeoutMs: 10_000 });
    const c = client.waitForStatusChange("s", 0, { timeoutMs: 10_000 });
    // Each wait subscribed before its first check (synchronously, in the call): the notify reaches all three.
    // Nothing was stored: only the snapshot can make these answers.
    const signals = instanceSignals(p);
    signals.notify("s", true, { snapshot: { end: { status: "Failed", details }, customStatus: "cs", customStatusVersion: 7 }, mark: signals.mark() });
    const [x, y, z] = await Promise.all([a, b, c]);
    expect(x).toEqual({ status: "Failed", details, message: "boom", customStatus: "cs", customStatusVersion: 7 });
    expect(y).toEqual(x);
    expect(z).toEqual(x);
    expect(x.status === "Failed" && y.status === "Failed" && x.details !== y.details && x.details !== details).toBe(true);
    p.close();
  });

  test("a snapshot on a wake-up that is not terminal is dropped: the waiter reads", async () => {
    const p = await MemoryProvider.create();
    await createRunningInstance(p, "t");
    const client = new Client(p);
    const waiting = client.waitForStatusChange("t", 0, { timeoutMs: 300 });
    const signals = instanceSignals(p);
    signals.notify("t", false, { snapshot: { end: { status: "Completed", output: "1" }, customStatus: null, customStatusVersion: 0 }, mark: signals.mark() });
    await expect(waiting).rejects.toMatchObject({ code: "Timeout" });
    p.close();
  });

  test("a waiter that subscribed after the mark (after the write the snapshot reports was sent) reads instead", async () => {
    const p = await MemoryProvider.create();
    await createRunningInstance(p, "u");
    const client = new Client(p);
    const signals = instanceSignals(p);
    const mark = signals.mark();
    const waiting = client.waitForOrchestration("u", { timeoutMs: 300 });
    // Still Running in the store: a read says so, and the wait times out rather than take the snapshot.
    signals.notify("u", true, { snapshot: { end: { status: "Completed", output: "1" }, customStatus: null, customStatusVersion: 0 }, mark });
    await expect(waiting).rejects.toMatchObject({ code: "Timeout" });
    p.close();
  });
});

// Found by a hostile review: between a turn's commit and the runtime's notify (the ack's answer
// travelling back), the instance can be deleted and started again under the same id. A wait that
// began after the commit must not be answered with the old incarnation's end.
const stale = OrchestrationRegistry.builder()
  .register("Quick", function* (_ctx, x: string) {
    return x;
  })
  .register("Waits", function* (ctx) {
    return yield* ctx.scheduleWait("go");
  })
  .build();

for (const [name, make] of [
  ["MemoryProvider", () => MemoryProvider.create()],
  ["SqliteProvider", () => SqliteProvider.inMemory()],
] as const) {
  test(`${name}: a wait begun after the ending turn committed, on the instance started anew, is not answered with the old end`, async () => {
    const base = (await make()) as Provider & { close(): unknown };
    // The first ack's answer reaches the runtime late: committed, not yet notified.
    const answered = Promise.withResolvers<void>();
    const committed = Promise.withResolvers<void>();
    let holdNext = true;
    const p = Object.create(base) as Provider;
    p.ackOrchestrationItem = async (...a: Parameters<Provider["ackOrchestrationItem"]>) => {
      await base.ackOrchestrationItem(...a);
      if (holdNext) {
        holdNext = false;
        committed.resolve();
        await answered.promise;
      }
    };
    const rt = await Runtime.start(p, ActivityRegistry.builder().build(), stale, { logLevel: "off", dispatcherPollIntervalMs: 10 });
    try {
      const client = new Client(p);
      await client.startOrchestration("x", "Quick", "first incarnation");
      await committed.promise;
      expect(await client.getOrchestrationStatus("x")).toMatchObject({ status: "Completed" });
      await client.deleteInstance("x");
      await client.startOrchestration("x", "Waits");
      // The new incarnation's first turn commits while the old turn's answer is still held.
      for (const deadline = Date.now() + 10_000; (await client.getOrchestrationStatus("x")).status !== "Running"; ) {
        if (Date.now() > deadline) throw new Error("the new incarnation never started");
        await Bun.sleep(5);
      }
      // The wait subscribes in the call; the late notify then reaches it.
      const waited = client.waitForOrchestration("x", { timeoutMs: 500 }).then(
        (s) => ({ resolved: s }),
        (e) => ({ rejected: (e as { code?: string }).code }),
      );
      answered.resolve();
      // Every read during this wait says Running: it times out.
      expect(await waited).toEqual({ rejected: "Timeout" });
      expect((await client.getOrchestrationStatus("x")).status).toBe("Running");
    } finally {
      answered.resolve();
      await rt.shutdown();
      await base.close();
    }
  });
}
