// MemoryProvider (duroxide/memory): the whole provider correctness suite, corruption hooks
// included, then what is particular to a store in plain JavaScript objects: capabilities, close(),
// and that callers cannot reach stored state through objects they passed in or got back.
import { describe, expect, test } from "bun:test";
import { ProviderError, TagFilter, type WorkItem } from "../../src/provider-api.ts";
import { MemoryProvider, memorySuiteFactory } from "../../src/providers/memory.ts";
import { runAllTests } from "../../src/provider-tests/index.ts";
import { activityItem, kvSetEvent, runningMeta, startItem, startedEvent } from "../../src/provider-tests/helpers.ts";

await runAllTests(memorySuiteFactory());

describe("MemoryProvider", () => {
  test("declares long polling and management, and that it lives in one process", async () => {
    const p = await MemoryProvider.create();
    expect(p.capabilities()).toEqual({ longPolling: true, management: true, multiProcess: false, crossProcessWakeups: false });
    expect(p.asManagementCapability()).not.toBeNull();
    expect(p.name()).toBe("memory");
  });

  test("each create() is a separate, empty store", async () => {
    const a = await MemoryProvider.create();
    const b = await MemoryProvider.create();
    await a.enqueueForOrchestrator(startItem("only-in-a"), null);
    expect(await b.fetchOrchestrationItem(1000, 0)).toBeNull();
    expect((await a.fetchOrchestrationItem(1000, 0))?.item.instance).toBe("only-in-a");
  });

  test("after close() every method fails with kind Closed, admin included; close() is idempotent", async () => {
    const p = await MemoryProvider.create();
    await p.enqueueForOrchestrator(startItem("x"), null);
    p.close();
    p.close();
    const calls: [string, Promise<unknown>][] = [
      ["enqueueForOrchestrator", p.enqueueForOrchestrator(startItem("y"), null)],
      ["fetchOrchestrationItem", p.fetchOrchestrationItem(1000, 0)],
      ["fetchWorkItem", p.fetchWorkItem(1000, 0, null, TagFilter.defaultOnly())],
      ["ackWorkItem", p.ackWorkItem("token", null)],
      ["read", p.read("x")],
      ["getKvValue", p.getKvValue("x", "k")],
      ["renewSessionLock", p.renewSessionLock(["w"], 1000, 1000)],
      ["listInstances", p.asManagementCapability().listInstances()],
    ];
    for (const [op, call] of calls) {
      const err = await call.then(
        () => null,
        (e: unknown) => e,
      );
      expect(err, op).toBeInstanceOf(ProviderError);
      expect((err as ProviderError).kind, op).toBe("Closed");
      expect((err as ProviderError).retryable, op).toBe(false);
    }
  });

  test("close() ends waiting long polls at once with null", async () => {
    const p = await MemoryProvider.create();
    const started = performance.now();
    const orch = p.fetchOrchestrationItem(1000, 10_000);
    const work = p.fetchWorkItem(1000, 10_000, null, TagFilter.defaultOnly());
    await Bun.sleep(20);
    p.close();
    expect(await orch).toBeNull();
    expect(await work).toBeNull();
    expect(performance.now() - started).toBeLessThan(1000);
  });

  test("corrupt stored history: fetch reports history_error under a held lock, reads fail with Corrupt, an ack still appends", async () => {
    const factory = memorySuiteFactory();
    const p = await factory.createProvider();
    const id = "corrupt";
    await p.enqueueForOrchestrator(startItem(id), null);
    const f = await p.fetchOrchestrationItem(1000, 0);
    await p.ackOrchestrationItem(f!.lockToken, 1, [startedEvent(id)], [], [], runningMeta(), []);
    await factory.corruptInstanceHistory(id);

    for (const read of [p.read(id), p.readWithExecution(id, 1), p.asManagementCapability().readHistory(id)]) {
      const err = await read.then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ProviderError);
      expect((err as ProviderError).kind).toBe("Corrupt");
    }
    await p.enqueueForOrchestrator({ type: "ExternalRaised", instance: id, name: "poke", data: "{}" }, null);
    const g = await p.fetchOrchestrationItem(1000, 0);
    expect(g?.item.history).toEqual([]);
    expect(g?.item.history_error).toContain("history deserialization failed");
    expect(await p.fetchOrchestrationItem(1000, 0)).toBeNull(); // the lock is held
    await p.ackOrchestrationItem(g!.lockToken, 1, [startedEvent(id, 1, { eventId: 99_999 })], [], [], { status: "Failed", output: "poison" }, []);
    expect((await p.asManagementCapability().getExecutionInfo(id, 1)).event_count).toBe(2);
    expect(await factory.getMaxAttemptCount(id)).toBe(0); // the batch was consumed
  });

  test("a long poll wakes when a delayed message becomes visible, not only on enqueues", async () => {
    const p = await MemoryProvider.create();
    await p.enqueueForOrchestrator(startItem("later"), 150);
    const started = performance.now();
    const f = await p.fetchOrchestrationItem(1000, 5_000);
    const elapsed = performance.now() - started;
    expect(f?.item.instance).toBe("later");
    expect(elapsed).toBeGreaterThanOrEqual(140);
    expect(elapsed).toBeLessThan(1000);
  });
});

describe("MemoryProvider keeps no reference to callers' objects", () => {
  test("mutating an enqueued item after the call changes nothing stored", async () => {
    const p = await MemoryProvider.create();
    const start = startItem("alias-enqueue");
    await p.enqueueForOrchestrator(start, null);
    start.input = "mutated";
    (start as { instance: string }).instance = "elsewhere";
    const act = activityItem("alias-enqueue", 1, { input: "original" });
    await p.enqueueForWorker(act);
    act.input = "mutated";

    const f = await p.fetchOrchestrationItem(1000, 0);
    expect(f?.item.instance).toBe("alias-enqueue");
    expect(f?.item.messages).toEqual([startItem("alias-enqueue")]);
    const w = await p.fetchWorkItem(1000, 0, null, TagFilter.defaultOnly());
    expect(w?.item).toEqual(activityItem("alias-enqueue", 1, { input: "original" }));
  });

  test("mutating acked events, items and metadata after the ack changes nothing stored", async () => {
    const p = await MemoryProvider.create();
    const id = "alias-ack";
    await p.enqueueForOrchestrator(startItem(id), null);
    const f = await p.fetchOrchestrationItem(1000, 0);
    const started = startedEvent(id, 1, { input: "original" });
    const kv = kvSetEvent(id, 1, 2, "k", "v");
    const next: WorkItem = { type: "ExternalRaised", instance: id, name: "self", data: "original" };
    const meta = runningMeta("Orch", "1.0.0", { pinned_duroxide_version: { major: 1, minor: 0, patch: 0 } });
    await p.ackOrchestrationItem(f!.lockToken, 1, [started, kv], [], [next], meta, []);
    if (started.type === "OrchestrationStarted") started.input = "mutated";
    started.event_id = 7;
    if (next.type === "ExternalRaised") next.data = "mutated";
    meta.pinned_duroxide_version!.major = 99;

    const history = await p.read(id);
    expect(history.map((e) => e.event_id)).toEqual([1, 2]);
    expect(history[0]).toMatchObject({ type: "OrchestrationStarted", input: "original" });
    const g = await p.fetchOrchestrationItem(1000, 0, { supported_duroxide_versions: [{ min: { major: 1, minor: 0, patch: 0 }, max: { major: 1, minor: 0, patch: 0 } }] });
    expect(g?.item.messages).toEqual([{ type: "ExternalRaised", instance: id, name: "self", data: "original" }]);
  });

  test("mutating what a read or fetch returned changes nothing stored", async () => {
    const p = await MemoryProvider.create();
    const id = "alias-read";
    await p.enqueueForOrchestrator(startItem(id), null);
    const f = await p.fetchOrchestrationItem(1000, 0);
    f!.item.messages.length = 0;
    await p.ackOrchestrationItem(f!.lockToken, 1, [startedEvent(id, 1, { input: "original" })], [], [], runningMeta(), []);

    const read = await p.read(id);
    if (read[0]?.type === "OrchestrationStarted") read[0].input = "mutated";
    read.push(read[0]!);
    await p.enqueueForOrchestrator(startItem(id), null);
    const again = await p.fetchOrchestrationItem(1000, 0);
    expect(again?.item.history).toHaveLength(1);
    expect(again?.item.history[0]).toMatchObject({ type: "OrchestrationStarted", input: "original" });
    again!.item.history[0]!.event_id = 5;
    expect((await p.read(id))[0]?.event_id).toBe(1);
    const info = await p.asManagementCapability().readHistory(id);
    expect(info[0]).toMatchObject({ event_id: 1, input: "original" });
  });
});
