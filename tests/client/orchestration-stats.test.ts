// client.getOrchestrationStats (core/orchestration-stats.ts) and runtime.getOrchestrationDescriptor
// (runtime/orchestration-descriptor.ts), against a real runtime on in-memory SQLite.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Client } from "../../src/client.ts";
import { ClientError, ValidationError } from "../../src/core/errors.ts";
import type { Event } from "../../src/core/events.ts";
import { pendingQueueMessages } from "../../src/core/orchestration-stats.ts";
import type { OrchestrationContext } from "../../src/runtime/context.ts";
import { ActivityRegistry, OrchestrationRegistry } from "../../src/runtime/registry.ts";
import { Runtime } from "../../src/runtime/runtime.ts";
import { SqliteProvider } from "../../src/providers/sqlite.ts";

let provider: SqliteProvider;
let rt: Runtime;
let client: Client;

function* mailbox(ctx: OrchestrationContext, _input: unknown) {
  ctx.setValue("color", "blue");
  ctx.setValue("size", 42);
  ctx.setCustomStatus("ready");
  yield* ctx.dequeueEvent("inbox");
  yield* ctx.dequeueEvent("go");
  ctx.setCustomStatus("after go");
  yield* ctx.scheduleWait("never");
}

function* looping(ctx: OrchestrationContext, n: number) {
  if (n < 2) return yield* ctx.continueAsNew(n + 1);
  return n;
}

function* parent(ctx: OrchestrationContext, _input: unknown) {
  return yield* ctx.scheduleSubOrchestration<string>("Child", "x");
}

function* child(_ctx: OrchestrationContext, input: string) {
  return `child ${input}`;
}

beforeAll(async () => {
  provider = await SqliteProvider.inMemory();
  const orchestrations = OrchestrationRegistry.builder()
    .register("Mailbox", mailbox)
    .register("Looping", looping)
    .register("Parent", parent)
    .registerVersioned("Child", "1.2.0", child)
    .build();
  rt = await Runtime.start(provider, ActivityRegistry.empty(), orchestrations);
  client = new Client(provider);
});

afterAll(async () => {
  await rt.shutdown();
  provider.close();
});

describe("client.getOrchestrationStats", () => {
  test("history events and bytes, KV keys and bytes, executions and undequeued mailbox messages of a running instance", async () => {
    await client.startOrchestration("stats-1", "Mailbox", null);
    await client.waitForStatusChange("stats-1", 0, { timeoutMs: 10_000 });
    for (const m of ["a", "b", "c"]) await client.enqueueEvent("stats-1", "inbox", m);
    // Sent after the three messages (one orchestrator queue, FIFO): once the code has it, all three are in history.
    await client.enqueueEvent("stats-1", "go", null);
    for (let seen = 1; ; ) {
      const s = await client.waitForStatusChange("stats-1", seen, { timeoutMs: 10_000 });
      if (s.status === "Running" && s.customStatus === "after go") break;
      seen = s.status === "Running" ? s.customStatusVersion : seen;
    }
    const stats = await client.getOrchestrationStats("stats-1");
    const history = await client.readExecutionHistory("stats-1");
    expect(stats).toEqual({
      instanceId: "stats-1",
      orchestrationName: "Mailbox",
      orchestrationVersion: "1.0.0",
      currentExecutionId: 1,
      executionCount: 1,
      historyEventCount: history.length,
      historySizeBytes: history.reduce((n, e) => n + Buffer.byteLength(JSON.stringify(e)), 0),
      kvUserKeyCount: 2,
      kvTotalValueBytes: Buffer.byteLength('"blue"') + Buffer.byteLength("42"),
      queuePendingCount: 2,
    });
    expect(history.filter((e) => e.type === "ExternalEventPersistent" && e.name === "inbox")).toHaveLength(3);
  });

  test("executions after continue-as-new; null for an unknown instance; bad ids refused", async () => {
    await client.startOrchestration("stats-loop", "Looping", 0);
    await client.waitForOrchestration("stats-loop", { timeoutMs: 10_000 });
    const stats = await client.getOrchestrationStats("stats-loop");
    expect(stats).toMatchObject({ executionCount: 3, currentExecutionId: 3, kvUserKeyCount: 0, queuePendingCount: 0 });
    expect(stats!.historyEventCount).toBe((await client.readExecutionHistory("stats-loop")).length);
    expect(await client.getOrchestrationStats("no-such-instance")).toBeNull();
    await expect(client.getOrchestrationStats("" as string)).rejects.toThrow(ClientError);
    await expect(client.getOrchestrationStats(7 as never)).rejects.toThrow(/instanceId must be a non-empty string/);
  });

  test("pendingQueueMessages: carried-forward messages come first, a cancelled dequeue takes nothing", () => {
    const h = (kinds: object[]) =>
      kinds.map((k, i) => ({ event_id: i + 1, source_event_id: null, instance_id: "q", execution_id: 1, timestamp_ms: 0, duroxide_version: "0.1.0", ...k })) as Event[];
    const started = { type: "OrchestrationStarted", name: "Q", version: "1.0.0", input: "null", parent_instance: null, parent_id: null, carry_forward_events: [["inbox", '"old"']] };
    // event 2: a dequeue (takes the carried "old"); event 3: another dequeue, cancelled at event 4; event 5: an arrival nobody takes.
    const events = h([
      started,
      { type: "ExternalSubscribedPersistent", name: "inbox" },
      { type: "ExternalSubscribedPersistent", name: "inbox" },
      { type: "ExternalSubscribedPersistentCancelled", reason: "dropped_future" },
      { type: "ExternalEventPersistent", name: "inbox", data: '"new"' },
      { type: "ExternalEventPersistent", name: "other", data: "1" },
    ]);
    events[3]!.source_event_id = 3;
    expect(pendingQueueMessages(events)).toBe(2);
    events.splice(3, 1); // without the cancellation, the second dequeue takes "new"
    expect(pendingQueueMessages(events)).toBe(1);
  });
});

describe("runtime.getOrchestrationDescriptor", () => {
  test("name, version and parent link of a root and of its child; null for an unknown instance; bad ids refused", async () => {
    await client.startOrchestration("desc-1", "Parent", null);
    await client.waitForOrchestration("desc-1", { timeoutMs: 10_000 });
    expect(await rt.getOrchestrationDescriptor("desc-1")).toEqual({ name: "Parent", version: "1.0.0", parentInstance: null, parentId: null });
    expect(await rt.getOrchestrationDescriptor("desc-1::sub::2")).toEqual({ name: "Child", version: "1.2.0", parentInstance: "desc-1", parentId: 2 });
    expect(await rt.getOrchestrationDescriptor("desc-unknown")).toBeNull();
    await expect(rt.getOrchestrationDescriptor("\u0000")).rejects.toThrow(ValidationError);
  });
});
