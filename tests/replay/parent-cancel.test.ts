/**
 * § numbers in this file refer to docs/runtime-semantics.md.
 * A parent's CancelInstance names the call that sent it (`from`), and a child applies it only when
 * its own OrchestrationStarted carries that parent link (§3.6, §3.10). Hand-written histories run
 * through the pure replay engine (`runTurn`); the work item's `from` field through its decoder
 * and a provider's input checks.
 */
import { describe, expect, test } from "bun:test";
import { ProviderError } from "../../src/core/errors.ts";
import type { Event, EventKind, EventOf } from "../../src/core/events.ts";
import { decodeWorkItem, encodeWorkItem, type CancelSender, type WorkItem, type WorkItemOf } from "../../src/core/work-items.ts";
import { event } from "../../src/provider-tests/helpers.ts";
import { MemoryProvider } from "../../src/providers/memory.ts";
import type { OrchestrationContext } from "../../src/runtime/context.ts";
import type { LogLevel } from "../../src/runtime/options.ts";
import { runTurn, type TurnOutput } from "../../src/runtime/replay-engine.ts";

const KID = "kid";
const NOW = 1_700_000_000_000;

/** A child-side orchestration: waits for "go". */
function* waiter(ctx: OrchestrationContext) {
  yield* ctx.scheduleWait("go");
  return "done";
}

/** The child's history: started with `parent` = [instance, event id, execution id?] (none: a client start), then waiting for "go". */
function waitingChild(parent?: [string, number, number?]): Event[] {
  const started: EventKind = {
    type: "OrchestrationStarted",
    name: "Kid",
    version: "1.0.0",
    input: "null",
    parent_instance: parent?.[0] ?? null,
    parent_id: parent?.[1] ?? null,
    ...(parent?.[2] !== undefined ? { parent_execution_id: parent[2] } : {}),
  };
  return [event(KID, 1, 1, started), event(KID, 1, 2, { type: "ExternalSubscribed", name: "go" })];
}

const cancel = (reason: string, from?: CancelSender): WorkItemOf<"CancelInstance"> => ({ type: "CancelInstance", instance: KID, reason, ...(from ? { from } : {}) });

function childTurn(history: Event[], messages: WorkItem[]): { out: TurnOutput; logs: { level: LogLevel; message: string }[] } {
  const logs: { level: LogLevel; message: string }[] = [];
  const out = runTurn({
    instance: KID,
    executionId: 1,
    history,
    messages,
    handler: waiter,
    kvSnapshot: {},
    now: NOW,
    runtimeVersion: "0.1.0",
    log: (level, message) => logs.push({ level, message }),
  });
  return { out, logs };
}

const cancelRequests = (out: TurnOutput) => out.delta.filter((e): e is EventOf<"OrchestrationCancelRequested"> => e.type === "OrchestrationCancelRequested");

describe("a child applies a parent's CancelInstance only when it comes from the call that started it (§3.10)", () => {
  test("from its own parent call (instance, execution, event id all match): the child is cancelled", () => {
    const { out, logs } = childTurn(waitingChild(["p", 5, 2]), [cancel("parent dropped sub-orchestration future", { instance: "p", execution_id: 2, event_id: 5 })]);
    expect(out.outcome).toEqual({ type: "Cancelled", reason: "parent dropped sub-orchestration future" });
    expect(cancelRequests(out).map((e) => e.reason)).toEqual(["parent dropped sub-orchestration future"]);
    expect(logs.filter((l) => l.level === "warn")).toEqual([]);
  });

  test("a child started before parent_execution_id was recorded belongs to execution 1 of its parent", () => {
    const { out } = childTurn(waitingChild(["p", 5]), [cancel("parent canceled", { instance: "p", execution_id: 1, event_id: 5 })]);
    expect(out.outcome).toEqual({ type: "Cancelled", reason: "parent canceled" });
  });

  test.each([
    ["another parent instance", { instance: "q", execution_id: 2, event_id: 5 }],
    ["another execution of the parent", { instance: "p", execution_id: 3, event_id: 5 }],
    ["another call of the same parent execution", { instance: "p", execution_id: 2, event_id: 6 }],
  ] as const)("from %s: ignored with a warning, the child runs on and still completes", (_, from) => {
    const history = waitingChild(["p", 5, 2]);
    const { out, logs } = childTurn(history, [cancel("parent canceled", from)]);
    expect(out.outcome).toEqual({ type: "Continue" });
    expect(out.delta).toEqual([]);
    const warnings = logs.filter((l) => l.level === "warn").map((l) => l.message);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`ignored CancelInstance (reason "parent canceled") sent by parent "${from.instance}" (execution ${from.execution_id}, event ${from.event_id})`);
    expect(warnings[0]).toContain(`it is the child of "p" (execution 2, event 5)`);

    const next = childTurn(history, [{ type: "ExternalRaised", instance: KID, name: "go", data: "null" }]);
    expect(next.out.outcome).toEqual({ type: "Completed", output: JSON.stringify("done") });
  });

  test("to a client-started instance: every parent's cancel is ignored, naming that it has no parent", () => {
    const { out, logs } = childTurn(waitingChild(), [cancel("parent dropped sub-orchestration future", { instance: "b", execution_id: 1, event_id: 4 })]);
    expect(out.outcome).toEqual({ type: "Continue" });
    expect(cancelRequests(out)).toEqual([]);
    expect(logs.find((l) => l.level === "warn")?.message).toContain("it was not started by a parent orchestration");
  });

  test("a client's cancel (no from) cancels any instance, a child included, as before", () => {
    expect(childTurn(waitingChild(), [cancel("user")]).out.outcome).toEqual({ type: "Cancelled", reason: "user" });
    expect(childTurn(waitingChild(["p", 5, 2]), [cancel("user")]).out.outcome).toEqual({ type: "Cancelled", reason: "user" });
  });

  test("an ignored parent cancel does not take the place of a later cancel in the same batch", () => {
    const { out } = childTurn(waitingChild(["p", 5, 2]), [cancel("stray", { instance: "q", execution_id: 1, event_id: 2 }), cancel("user")]);
    expect(out.outcome).toEqual({ type: "Cancelled", reason: "user" });
    expect(cancelRequests(out).map((e) => e.reason)).toEqual(["user"]);
  });

  test("a child that continued as new keeps its parent link, so its parent's cancel still applies", () => {
    const history = waitingChild(["p", 5, 2]).map((e) => ({ ...e, execution_id: 2 }));
    const out = runTurn({ instance: KID, executionId: 2, history, messages: [cancel("parent canceled", { instance: "p", execution_id: 2, event_id: 5 })], handler: waiter, kvSnapshot: {}, now: NOW, runtimeVersion: "0.1.0" });
    expect(out.outcome).toEqual({ type: "Cancelled", reason: "parent canceled" });
  });
});

describe("a parent's CancelInstance names the call that sends it (§3.6, §3.10)", () => {
  test("dropping a child call and being cancelled both send from = {parent instance, execution, schedule event id}", () => {
    function* racer(ctx: OrchestrationContext) {
      const r = yield* ctx.race([ctx.scheduleSubOrchestration("Kid", null, { instanceId: "kid-a" }), ctx.scheduleWait("stop")]);
      yield* ctx.scheduleSubOrchestration("Kid", null, { instanceId: "kid-b" });
      return r.index;
    }
    const P = "parent";
    const started = event(P, 3, 1, { type: "OrchestrationStarted", name: "Racer", version: "1.0.0", input: "null", parent_instance: null, parent_id: null });
    const history = [started, event(P, 3, 2, { type: "SubOrchestrationScheduled", name: "Kid", instance: "kid-a", input: "null" }), event(P, 3, 3, { type: "ExternalSubscribed", name: "stop" })];
    const base = { instance: P, executionId: 3, handler: racer, kvSnapshot: {}, now: NOW, runtimeVersion: "0.1.0" };

    const dropped = runTurn({ ...base, history, messages: [{ type: "ExternalRaised", instance: P, name: "stop", data: "null" }] });
    expect(dropped.orchestratorItems.filter((w) => w.type === "CancelInstance")).toEqual([
      { type: "CancelInstance", instance: "kid-a", reason: "parent dropped sub-orchestration future", from: { instance: P, execution_id: 3, event_id: 2 } },
    ]);

    const cancelled = runTurn({ ...base, history, messages: [{ type: "CancelInstance", instance: P, reason: "user" }] });
    expect(cancelled.outcome).toEqual({ type: "Cancelled", reason: "user" });
    expect(cancelled.orchestratorItems.filter((w) => w.type === "CancelInstance")).toEqual([
      { type: "CancelInstance", instance: "kid-a", reason: "parent canceled", from: { instance: P, execution_id: 3, event_id: 2 } },
    ]);
  });
});

describe("CancelInstance.from on the wire (docs/provider-contract.md §2.3)", () => {
  const from: CancelSender = { instance: "p", execution_id: 2, event_id: 5 };

  test("decodes with and without from; old items without it are unchanged", () => {
    expect(decodeWorkItem(encodeWorkItem(cancel("r", from)))).toEqual(cancel("r", from));
    expect(decodeWorkItem(`{"type":"CancelInstance","instance":"kid","reason":"r"}`)).toEqual(cancel("r"));
  });

  test.each([
    ["not an object", "p", /field "from" of CancelInstance: expected \{instance/],
    ["an empty instance", { ...from, instance: "" }, /instance is ""/],
    ["execution_id 0", { ...from, execution_id: 0 }, /execution_id is 0/],
    ["no event_id", { instance: "p", execution_id: 2 }, /event_id is undefined/],
    ["a fractional event_id", { ...from, event_id: 1.5 }, /event_id is 1.5/],
  ])("rejects a from that is %s", (_, bad, message) => {
    expect(() => decodeWorkItem(JSON.stringify({ ...cancel("r"), from: bad }))).toThrow(message);
  });

  test("a provider stores from and hands it back; a malformed from is an InvalidArgument naming the field", async () => {
    const p = await MemoryProvider.create();
    const start: WorkItem = { type: "StartOrchestration", instance: KID, orchestration: "Kid", input: "null", version: null, parent_instance: "p", parent_id: 5, parent_execution_id: 2, execution_id: 1 };
    await p.enqueueForOrchestrator(start);
    await p.enqueueForOrchestrator(cancel("r", from));
    const err = await p.enqueueForOrchestrator({ ...cancel("r"), from: { ...from, execution_id: -1 } } as WorkItem).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as ProviderError).kind).toBe("InvalidArgument");
    expect((err as Error).message).toContain(`field "from" of CancelInstance`);
    const fetched = await p.fetchOrchestrationItem(1_000, 0);
    expect(fetched?.item.messages).toEqual([start, cancel("r", from)]);
  });
});
