/**
 * § numbers in this file refer to docs/runtime-semantics.md.
 * An instance whose orchestration no runtime has registered (§5.3, §5.4): its first delivery
 * records that it waits (an instance row, Running, no history, a message naming what is missing),
 * its start goes back to the queue carrying the deliveries it had, later deliveries back off, and
 * the poison failure names the orchestration and says how to fix it. Pure planTurn tests.
 */
import { describe, expect, test } from "bun:test";
import type { ErrorDetails } from "../../src/core/error-details.ts";
import type { FetchedOrchestration } from "../../src/core/queue-types.ts";
import type { WorkItem, WorkItemOf } from "../../src/core/work-items.ts";
import { resolveRuntimeOptions, type RuntimeOptions } from "../../src/runtime/options.ts";
import { planTurn, type TurnDecision } from "../../src/runtime/orchestration-turn.ts";
import { OrchestrationRegistry } from "../../src/runtime/registry.ts";

const I = "ghost-1";
const NOW = 1_700_000_000_000;

const start = (opts: { name?: string; version?: string; parent?: [string, number]; prior?: number } = {}): WorkItemOf<"StartOrchestration"> => ({
  type: "StartOrchestration",
  instance: I,
  orchestration: opts.name ?? "Ghost",
  input: JSON.stringify({ x: 1 }),
  version: opts.version ?? null,
  parent_instance: opts.parent?.[0] ?? null,
  parent_id: opts.parent?.[1] ?? null,
  execution_id: 1,
  ...(opts.prior !== undefined ? { prior_attempts: opts.prior } : {}),
});
const cancel: WorkItem = { type: "CancelInstance", instance: I, reason: "stop" };
const raised: WorkItem = { type: "ExternalRaised", instance: I, name: "Go", data: "1" };

function fetched(messages: WorkItem[], attempt = 1): FetchedOrchestration {
  return {
    item: { instance: I, orchestration_name: "Ghost", execution_id: 1, version: "unknown", history: [], messages, history_error: null, kv_snapshot: {} },
    lockToken: "t",
    attemptCount: attempt,
  };
}

const registered = OrchestrationRegistry.builder()
  .register("Other", function* () { return 1; })
  .build();

function plan(f: FetchedOrchestration, options: RuntimeOptions = {}, registry = registered): TurnDecision {
  return planTurn(f, { registry, options: resolveRuntimeOptions({ maxAttempts: 4, logLevel: "off", ...options }), now: NOW, runtimeVersion: "0.1.0" });
}

function ack(d: TurnDecision): Extract<TurnDecision, { type: "ack" }> {
  if (d.type !== "ack") throw new Error(`expected an ack, got ${JSON.stringify(d)}`);
  return d;
}
function abandon(d: TurnDecision): Extract<TurnDecision, { type: "abandon" }> {
  if (d.type !== "abandon") throw new Error(`expected an abandon, got ${JSON.stringify(d)}`);
  return d;
}

describe("the first delivery records that the instance waits for its orchestration (§5.3)", () => {
  test("an ack creates the instance row, Running, no history, with a message naming the orchestration; the start goes back to the queue", () => {
    const d = ack(plan(fetched([start()])));
    expect(d.outcome).toEqual({ type: "WaitingForHandler" });
    expect(d.executionId).toBe(1);
    expect(d.delta).toEqual([]);
    expect(d.workerItems).toEqual([]);
    expect(d.cancelledActivities).toEqual([]);
    // Not pinned: any runtime that has the orchestration may take the instance.
    expect(d.metadata).toEqual({ orchestration_name: "Ghost", orchestration_version: "unknown", status: "Running", output: expect.any(String) });
    expect(d.metadata.output).toContain('orchestration "Ghost" (any version)');
    expect(d.metadata.output).toContain("not registered");
    expect(d.metadata.output).toContain("Register it on a runtime");
    expect(d.metadata.output).toContain("after 4 deliveries");
    // The same start, carrying the delivery it had.
    expect(d.orchestratorItems).toEqual([{ ...start(), prior_attempts: 1 }]);
  });

  test("a requested version is named; a child's parent link is written with the row", () => {
    const d = ack(plan(fetched([start({ version: "2.1.0", parent: ["parent-9", 4] })], 3)));
    expect(d.metadata).toMatchObject({ orchestration_name: "Ghost", orchestration_version: "2.1.0", parent_instance_id: "parent-9" });
    expect(d.metadata.output).toContain('orchestration "Ghost" version 2.1.0');
    expect(d.orchestratorItems).toEqual([{ ...start({ version: "2.1.0", parent: ["parent-9", 4] }), prior_attempts: 3 }]);
  });

  test("a cancel that came with the start goes back too, in order", () => {
    const d = ack(plan(fetched([start(), cancel])));
    expect(d.orchestratorItems).toEqual([{ ...start(), prior_attempts: 1 }, cancel]);
  });

  test("a batch holding an already re-queued start (a duplicate start came meanwhile) is not recorded again: it backs off", () => {
    const d = abandon(plan(fetched([start(), start({ prior: 2 })], 1), { unregisteredBackoff: { baseDelayMs: 100, maxDelayMs: 800 } }));
    expect(d).toMatchObject({ delayMs: 400, ignoreAttempt: false }); // 1 + 2 earlier deliveries = attempt 3
  });

  test("a batch that also holds events is not re-queued (they could overtake later ones): it backs off", () => {
    const d = abandon(plan(fetched([start(), raised]), { unregisteredBackoff: { baseDelayMs: 100, maxDelayMs: 800 } }));
    expect(d).toMatchObject({ delayMs: 100, ignoreAttempt: false });
  });
});

describe("after that, deliveries back off and count toward poison (§5.3, §5.4)", () => {
  const options: RuntimeOptions = { unregisteredBackoff: { baseDelayMs: 100, maxDelayMs: 800 } };

  test("the re-queued start backs off by its total deliveries, writing nothing", () => {
    expect(abandon(plan(fetched([start({ prior: 1 })], 1), options))).toMatchObject({ delayMs: 200, ignoreAttempt: false });
    expect(abandon(plan(fetched([start({ prior: 1 })], 2), options))).toMatchObject({ delayMs: 400, ignoreAttempt: false });
  });

  test("events raised while it waits are given back (attempts not counted) to meet the start", () => {
    expect(abandon(plan(fetched([raised], 1), options))).toMatchObject({ delayMs: 100, ignoreAttempt: true });
  });

  test("registered in time, the waiting start runs normally and the first turn resets the status", () => {
    const withGhost = OrchestrationRegistry.builder().register("Ghost", function* (_ctx, input: { x: number }) { return input.x + 1; }).build();
    const d = ack(plan(fetched([start({ prior: 3 }), raised], 1), options, withGhost));
    expect(d.outcome).toEqual({ type: "Completed", output: "2" });
    expect(d.delta[0]).toMatchObject({ type: "OrchestrationStarted", name: "Ghost" });
  });

  test("deliveries before the re-queue count: the batch is poisoned once their sum exceeds maxAttempts", () => {
    // maxAttempts 4: 1 earlier delivery + this 4th = 5.
    const d = ack(plan(fetched([start({ prior: 1 })], 4), options));
    const details = (d.outcome as { details: ErrorDetails }).details;
    expect(details).toMatchObject({ type: "Poison", attempt_count: 5, max_attempts: 4, message_type: { type: "Orchestration", instance: I, execution_id: 1 } });
    expect(d.delta.map((e) => e.type)).toEqual(["OrchestrationStarted", "OrchestrationFailed"]);
    expect(d.metadata.status).toBe("Failed");
    // One delivery fewer still backs off.
    expect(plan(fetched([start({ prior: 1 })], 3), options).type).toBe("abandon");
  });
});

describe("the poison failure names the orchestration and how to fix it (§5.4)", () => {
  function poisonMessage(d: TurnDecision): string {
    const a = ack(d);
    const details = (a.outcome as { details: ErrorDetails }).details;
    expect(details.type).toBe("Poison");
    expect(a.metadata.output).toBe(`poison: ${(details as { message: string }).message}`);
    return (details as { message: string }).message;
  }

  test("an unregistered orchestration: its name, 'any version', the instance, the deliveries and the fix", () => {
    const m = poisonMessage(plan(fetched([start({ prior: 1 })], 4)));
    expect(m).toContain('orchestration "Ghost" (any version) is not registered');
    expect(m).toContain(I);
    expect(m).toContain("5 deliveries (maxAttempts 4)");
    expect(m).toContain("Register it (OrchestrationRegistry.builder().register(...)) on a runtime that uses this store");
  });

  test("an unregistered version: the version and registerVersioned", () => {
    const m = poisonMessage(plan(fetched([start({ version: "3.0.0" })], 5)));
    expect(m).toContain('orchestration "Ghost" version 3.0.0 is not registered');
    expect(m).toContain("registerVersioned");
  });

  test("a registered orchestration poisoned for another reason is not called unregistered", () => {
    const withGhost = OrchestrationRegistry.builder().register("Ghost", function* () { return 1; }).build();
    const m = poisonMessage(plan(fetched([start()], 5), {}, withGhost));
    expect(m).not.toContain("not registered");
    expect(m).toContain(`instance ${I} of orchestration "Ghost" (any version) exceeded 4 attempts (attempt 5)`);
  });
});
