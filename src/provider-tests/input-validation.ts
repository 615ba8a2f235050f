/**
 * input_validation (this port's own module): every Provider method checks its arguments and answers
 * bad input with a permanent ProviderError that says what was wrong, without writing anything; and
 * the port's fixes of the original's quirks (docs/provider-contract.md §8 and §12: Q1, Q2, Q6, Q7,
 * Q8, Q9).
 *
 * Bad values are passed with `as never` on purpose: the suite must also protect providers from
 * JavaScript callers and from data that bypassed the type checker.
 */
import { expect } from "bun:test";
import type { Event } from "../core/events.ts";
import { MAX_ID_BYTES } from "../core/ids.ts";
import { TagFilter } from "../core/queue-types.ts";
import type { Semver, SemverRange } from "../core/semver.ts";
import type { WorkItem } from "../core/work-items.ts";
import type { Provider } from "../provider.ts";
import type { ProviderModule } from "./harness.ts";
import {
  activityCompletedItem,
  activityItem,
  activityScheduledEvent,
  cancelInstanceItem,
  completedEvent,
  continueAsNewItem,
  createCompletedInstance,
  createRunningInstance,
  event,
  expectProviderError,
  externalRaisedItem,
  fetchOrch,
  fetchWork,
  requireAdmin,
  runningMeta,
  sleep,
  startedEvent,
  startItem,
  terminalMeta,
  timerFiredItem,
} from "./helpers.ts";

/** Requires a permanent InvalidArgument ProviderError. */
function invalid(promise: Promise<unknown>) {
  return expectProviderError(promise, "InvalidArgument");
}

/** An empty token is malformed (InvalidArgument, or LockLost for a provider that looks it up); an unknown one is LockLost. */
function badToken(token: string, promise: Promise<unknown>) {
  return expectProviderError(promise, token === "" ? ["InvalidArgument", "LockLost"] : "LockLost");
}

/** Neither queue holds anything fetchable; with the management capability, also no depth at all. */
async function expectQueuesEmpty(p: Provider, lockTimeoutMs: number): Promise<void> {
  expect(await p.fetchOrchestrationItem(lockTimeoutMs, 0)).toBeNull();
  expect(await p.fetchWorkItem(lockTimeoutMs, 0, null, TagFilter.any())).toBeNull();
  const admin = p.asManagementCapability();
  if (admin !== null) {
    const depths = await admin.getQueueDepths();
    expect(depths.orchestrator_queue).toBe(0);
    expect(depths.worker_queue).toBe(0);
  }
}

const SIX_TAGS = ["t1", "t2", "t3", "t4", "t5", "t6"];

/** Drains whatever the orchestrator queue delivers next with an empty ack. */
async function drainOrch(p: Provider, lockTimeoutMs: number): Promise<void> {
  for (;;) {
    const f = await p.fetchOrchestrationItem(lockTimeoutMs, 0);
    if (f === null) return;
    await p.ackOrchestrationItem(f.lockToken, f.item.execution_id, [], [], [], {}, []);
  }
}

/**
 * Whether an instance pinned at `pinned` is fetched by a filter of the single range `range`.
 * Leaves the queue empty for the next probe.
 */
async function fetchableWithPinned(p: Provider, lockTimeoutMs: number, id: string, pinned: Semver, range: SemverRange) {
  await createRunningInstance(p, id, { metadata: { pinned_duroxide_version: pinned } });
  await p.enqueueForOrchestrator(externalRaisedItem(id, "probe"), null);
  const f = await p.fetchOrchestrationItem(lockTimeoutMs, 0, { supported_duroxide_versions: [range] });
  if (f !== null) {
    expect(f.item.instance).toBe(id);
    await p.ackOrchestrationItem(f.lockToken, 1, [], [], [], {}, []);
  }
  await drainOrch(p, lockTimeoutMs);
  return f !== null;
}

const v = (major: number, minor: number, patch: number): Semver => ({ major, minor, patch });

export const inputValidation: ProviderModule = {
  name: "input_validation",
  cases: [
    // ---------------------------------------------------------------- JSON encoding
    {
      name: "events and work items whose JSON encoding differs from what was checked (a toJSON method, a BigInt field) are refused with InvalidArgument, nothing is stored and the queue keeps working",
      async run(ctx) {
        const p = await ctx.createProvider();
        // toJSON turns a well-formed item into something else at encoding time; BigInt cannot be encoded.
        const sneaky = { ...startItem("json-sneaky"), toJSON: () => ({ type: "Bogus" }) };
        await invalid(p.enqueueForOrchestrator(sneaky as never, null));
        await invalid(p.enqueueForOrchestrator({ ...startItem("json-bigint"), extra: 1n } as never, null));
        await invalid(p.enqueueForWorker({ ...activityItem("json-w", 1), toJSON: () => "x" } as never));
        await expectQueuesEmpty(p, ctx.lockTimeoutMs);

        const id = "json-events";
        await p.enqueueForOrchestrator(startItem(id), null);
        const f = await fetchOrch(p, ctx.lockTimeoutMs);
        const badEvent = { ...startedEvent(id), toJSON: () => ({ not: "an event" }) };
        await invalid(p.ackOrchestrationItem(f.lockToken, 1, [badEvent as Event], [], [], runningMeta(), []));
        await invalid(p.ackOrchestrationItem(f.lockToken, 1, [startedEvent(id)], [{ ...activityItem(id, 2), extra: 1n } as never], [], runningMeta(), []));
        // The lock survived the refused acks; a good ack commits, and history reads back cleanly.
        await p.ackOrchestrationItem(f.lockToken, 1, [startedEvent(id)], [], [], runningMeta(), []);
        await invalid(p.appendWithExecution(id, 1, [{ ...activityScheduledEvent(id, 1, 2), toJSON: () => "{" } as never]));
        expect((await p.read(id)).map((e) => e.type)).toEqual(["OrchestrationStarted"]);

        await createRunningInstance(p, "json-worker", { extraEvents: [activityScheduledEvent("json-worker", 1, 2)], workerItems: [activityItem("json-worker", 2)] });
        const w = await fetchWork(p, ctx.lockTimeoutMs);
        await invalid(p.ackWorkItem(w.lockToken, { ...activityCompletedItem("json-worker", 2), result: 1n } as never));
        // The worker lock is still held and a good completion goes through.
        await p.ackWorkItem(w.lockToken, activityCompletedItem("json-worker", 2));
      },
    },
    // ---------------------------------------------------------------- enqueue
    {
      name: "enqueueForOrchestrator rejects empty instance ids and malformed items permanently and enqueues nothing",
      async run(ctx) {
        const p = await ctx.createProvider();
        await invalid(p.enqueueForOrchestrator(startItem(""), null));
        await invalid(p.enqueueForOrchestrator(externalRaisedItem(""), null));
        await invalid(p.enqueueForOrchestrator(cancelInstanceItem(""), null));
        await invalid(
          p.enqueueForOrchestrator(
            { type: "SubOrchCompleted", parent_instance: "", parent_execution_id: 1, parent_id: 2, result: "r" },
            null,
          ));
        // Missing fields, unknown type, not an object at all.
        await invalid(p.enqueueForOrchestrator({ type: "StartOrchestration", instance: "x" } as never, null));
        await invalid(p.enqueueForOrchestrator({ type: "Bogus", instance: "x" } as never, null));
        await invalid(p.enqueueForOrchestrator(null as never, null));
        await invalid(p.enqueueForOrchestrator({ ...startItem("x"), input: 42 } as never, null));
        await expectQueuesEmpty(p, ctx.lockTimeoutMs);

        // The provider still works: a valid start round-trips.
        await p.enqueueForOrchestrator(startItem("after-bad-enqueue"), null);
        const f = await fetchOrch(p, ctx.lockTimeoutMs);
        expect(f.item.instance).toBe("after-bad-enqueue");
        expect(f.item.messages).toEqual([startItem("after-bad-enqueue")]);
        expect(f.attemptCount).toBe(1);
      },
    },
    {
      name: "each queue accepts only its own items: enqueueForOrchestrator(ActivityExecute) and enqueueForWorker(non-ActivityExecute or malformed) fail permanently",
      async run(ctx) {
        const p = await ctx.createProvider();
        await invalid(p.enqueueForOrchestrator(activityItem("inst", 1), null));
        await invalid(p.enqueueForWorker(startItem("inst")));
        await invalid(p.enqueueForWorker(activityCompletedItem("inst", 1)));
        await invalid(p.enqueueForWorker(activityItem("", 1)));
        await invalid(p.enqueueForWorker({ type: "ActivityExecute", instance: "inst", execution_id: 1, id: 1 } as never));
        await invalid(p.enqueueForWorker({ ...activityItem("inst", 1), tag: 7 } as never));
        await expectQueuesEmpty(p, ctx.lockTimeoutMs);

        await p.enqueueForWorker(activityItem("inst", 3, { name: "Valid" }));
        const w = await fetchWork(p, ctx.lockTimeoutMs);
        expect(w.item).toEqual(activityItem("inst", 3, { name: "Valid" }));
        expect(w.attemptCount).toBe(1);
      },
    },
    {
      name: "enqueueForOrchestrator rejects a negative or non-finite delay; null, undefined and 0 mean 'now'",
      async run(ctx) {
        const p = await ctx.createProvider();
        await invalid(p.enqueueForOrchestrator(startItem("neg-delay"), -5));
        await invalid(p.enqueueForOrchestrator(startItem("neg-delay"), Number.NaN));
        await invalid(p.enqueueForOrchestrator(startItem("neg-delay"), Number.POSITIVE_INFINITY));
        await invalid(p.enqueueForOrchestrator(startItem("neg-delay"), "10" as never));
        await expectQueuesEmpty(p, ctx.lockTimeoutMs);

        await p.enqueueForOrchestrator(startItem("d-null"), null);
        await p.enqueueForOrchestrator(startItem("d-undef"));
        await p.enqueueForOrchestrator(startItem("d-zero"), 0);
        const seen: string[] = [];
        for (let i = 0; i < 3; i++) seen.push((await fetchOrch(p, ctx.lockTimeoutMs)).item.instance);
        expect(seen).toEqual(["d-null", "d-undef", "d-zero"]);
      },
    },
    // ---------------------------------------------------------------- fetch
    {
      name: "fetchOrchestrationItem rejects a negative or non-finite lock or poll timeout without locking or counting a delivery",
      async run(ctx) {
        const p = await ctx.createProvider();
        await p.enqueueForOrchestrator(startItem("fetch-args"), null);
        await invalid(p.fetchOrchestrationItem(-1, 0));
        await invalid(p.fetchOrchestrationItem(Number.NaN, 0));
        await invalid(p.fetchOrchestrationItem(Number.POSITIVE_INFINITY, 0));
        await invalid(p.fetchOrchestrationItem(ctx.lockTimeoutMs, -1));
        await invalid(p.fetchOrchestrationItem(ctx.lockTimeoutMs, Number.NaN));

        const f = await fetchOrch(p, ctx.lockTimeoutMs);
        expect(f.item.instance).toBe("fetch-args");
        // First delivery: the refused fetches neither locked nor counted.
        expect(f.attemptCount).toBe(1);
      },
    },
    {
      name: "fetchWorkItem rejects bad timeouts, tag filters with 0 or more than 5 tags (or an empty tag) and a session config without owner or with lock_timeout <= 0",
      async run(ctx) {
        const p = await ctx.createProvider();
        await p.enqueueForWorker(activityItem("fetch-work-args", 1));
        const dflt = TagFilter.defaultOnly();
        await invalid(p.fetchWorkItem(-1, 0, null, dflt));
        await invalid(p.fetchWorkItem(Number.NaN, 0, null, dflt));
        await invalid(p.fetchWorkItem(ctx.lockTimeoutMs, -1, null, dflt));
        await invalid(p.fetchWorkItem(ctx.lockTimeoutMs, 0, null, TagFilter.tags()));
        await invalid(p.fetchWorkItem(ctx.lockTimeoutMs, 0, null, TagFilter.tags(...SIX_TAGS)));
        await invalid(p.fetchWorkItem(ctx.lockTimeoutMs, 0, null, TagFilter.tags("")));
        await invalid(p.fetchWorkItem(ctx.lockTimeoutMs, 0, null, TagFilter.defaultAnd()));
        await invalid(p.fetchWorkItem(ctx.lockTimeoutMs, 0, null, TagFilter.defaultAnd(...SIX_TAGS)));
        await invalid(p.fetchWorkItem(ctx.lockTimeoutMs, 0, null, { type: "Bogus" } as never));
        await invalid(p.fetchWorkItem(ctx.lockTimeoutMs, 0, { owner_id: "", lock_timeout: 1000 }, dflt));
        await invalid(p.fetchWorkItem(ctx.lockTimeoutMs, 0, { owner_id: "w", lock_timeout: 0 }, dflt));
        await invalid(p.fetchWorkItem(ctx.lockTimeoutMs, 0, { owner_id: "w", lock_timeout: -5 }, dflt));

        // Five tags is the maximum, not an error (nothing matches them here).
        expect(await p.fetchWorkItem(ctx.lockTimeoutMs, 0, null, TagFilter.tags(...SIX_TAGS.slice(0, 5)))).toBeNull();
        const w = await fetchWork(p, ctx.lockTimeoutMs);
        expect(w.item).toEqual(activityItem("fetch-work-args", 1));
        expect(w.attemptCount).toBe(1);
      },
    },
    // ---------------------------------------------------------------- ack orchestration
    {
      name: "ackOrchestrationItem rejects an execution id that is not a positive integer and keeps the lock for a correct ack",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "ack-exec-id";
        await p.enqueueForOrchestrator(startItem(id), null);
        const f = await fetchOrch(p, ctx.lockTimeoutMs);
        for (const bad of [0, -1, 1.5, Number.NaN]) {
          await invalid(p.ackOrchestrationItem(f.lockToken, bad, [startedEvent(id)], [], [], runningMeta(), []));
        }
        expect(await p.read(id)).toEqual([]);
        // Still locked by the same token.
        expect(await p.fetchOrchestrationItem(ctx.lockTimeoutMs, 0)).toBeNull();
        await p.ackOrchestrationItem(f.lockToken, 1, [startedEvent(id)], [], [], runningMeta(), []);
        expect((await p.read(id)).map((e) => e.event_id)).toEqual([1]);
      },
    },
    {
      name: "ackOrchestrationItem with event_id 0 fails permanently, writes nothing (history, worker and orchestrator items) and keeps the lock",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "ack-event-zero";
        await p.enqueueForOrchestrator(startItem(id), null);
        const f = await fetchOrch(p, ctx.lockTimeoutMs);
        const good = [startedEvent(id), activityScheduledEvent(id, 1, 2)];
        const worker = [activityItem(id, 2)];
        const orch = [externalRaisedItem(id, "self")];

        await invalid(
          p.ackOrchestrationItem(f.lockToken, 1, [startedEvent(id), activityScheduledEvent(id, 1, 0)], worker, orch, runningMeta(), []));
        expect(await p.read(id)).toEqual([]);
        expect(await p.fetchWorkItem(ctx.lockTimeoutMs, 0, null, TagFilter.any())).toBeNull();
        expect(await p.fetchOrchestrationItem(ctx.lockTimeoutMs, 0)).toBeNull();

        await p.ackOrchestrationItem(f.lockToken, 1, good, worker, orch, runningMeta(), []);
        expect((await p.read(id)).map((e) => [e.event_id, e.type])).toEqual([
          [1, "OrchestrationStarted"],
          [2, "ActivityScheduled"],
        ]);
        expect((await fetchWork(p, ctx.lockTimeoutMs)).item).toEqual(activityItem(id, 2));
        expect((await fetchOrch(p, ctx.lockTimeoutMs)).item.messages).toEqual(orch);
      },
    },
    {
      name: "ackOrchestrationItem rejects malformed history events (unknown type, missing or mistyped field) and rolls back",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "ack-bad-event";
        await p.enqueueForOrchestrator(startItem(id), null);
        const f = await fetchOrch(p, ctx.lockTimeoutMs);
        const base = activityScheduledEvent(id, 1, 2);
        const malformed: unknown[] = [
          { ...base, type: "Bogus" },
          { ...base, name: undefined },
          { ...base, event_id: 1.5 },
          { ...base, event_id: "2" },
          null,
        ];
        for (const bad of malformed) {
          await invalid(p.ackOrchestrationItem(f.lockToken, 1, [startedEvent(id), bad as Event], [], [], runningMeta(), []));
        }
        expect(await p.read(id)).toEqual([]);
        await p.ackOrchestrationItem(f.lockToken, 1, [startedEvent(id), base], [], [], runningMeta(), []);
        expect((await p.read(id)).map((e) => e.type)).toEqual(["OrchestrationStarted", "ActivityScheduled"]);
      },
    },
    {
      name: "ackOrchestrationItem rejects misrouted or malformed work items and cancellations, rolls back and keeps the lock",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "ack-bad-items";
        await p.enqueueForOrchestrator(startItem(id), null);
        const f = await fetchOrch(p, ctx.lockTimeoutMs);
        const ack = (workerItems: WorkItem[], orchItems: WorkItem[], cancelled: { instance: string; execution_id: number; activity_id: number }[] = []) =>
          p.ackOrchestrationItem(f.lockToken, 1, [startedEvent(id)], workerItems, orchItems, runningMeta(), cancelled);

        await invalid(ack([startItem("other")], []));
        await invalid(ack([], [activityItem(id, 2)]));
        await invalid(ack([activityItem("", 2)], []));
        await invalid(ack([], [{ type: "TimerFired", instance: id } as never]));
        await invalid(ack([], [startItem("")]));
        await invalid(ack([], [], [{ instance: id } as never]));

        expect(await p.read(id)).toEqual([]);
        expect(await p.fetchWorkItem(ctx.lockTimeoutMs, 0, null, TagFilter.any())).toBeNull();
        expect(await p.fetchOrchestrationItem(ctx.lockTimeoutMs, 0)).toBeNull();
        await ack([activityItem(id, 2)], [timerFiredItem(id, 3, Date.now())]);
        expect((await p.read(id)).length).toBe(1);
        expect((await fetchWork(p, ctx.lockTimeoutMs)).item).toEqual(activityItem(id, 2));
      },
    },
    {
      name: "ackOrchestrationItem rejects an unknown metadata status and a malformed pinned version, rolling back",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "ack-bad-meta";
        await p.enqueueForOrchestrator(startItem(id), null);
        const f = await fetchOrch(p, ctx.lockTimeoutMs);
        const ack = (meta: unknown) => p.ackOrchestrationItem(f.lockToken, 1, [startedEvent(id)], [], [], meta as never, []);

        await invalid(ack({ ...runningMeta(), status: "Bogus" }));
        await invalid(ack({ ...runningMeta(), status: "completed" }));
        await invalid(ack({ ...runningMeta(), pinned_duroxide_version: v(1, -1, 0) }));
        await invalid(ack({ ...runningMeta(), pinned_duroxide_version: v(1, 0.5, 0) }));
        await invalid(ack({ ...runningMeta(), pinned_duroxide_version: "1.0.0" }));
        await invalid(ack({ ...runningMeta(), pinned_duroxide_version: { major: 1, minor: 0 } }));
        expect(await p.read(id)).toEqual([]);

        await ack({ ...runningMeta(), status: null, pinned_duroxide_version: v(1, 2, 3) });
        expect((await p.read(id)).length).toBe(1);
        const admin = p.asManagementCapability();
        if (admin !== null) expect((await admin.getInstanceInfo(id)).status).toBe("Running");
      },
    },
    // ---------------------------------------------------------------- lock tokens
    {
      name: "orchestration lock tokens: empty or unknown tokens fail permanently for ack, abandon and renew; the real lock is untouched",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "orch-tokens";
        await p.enqueueForOrchestrator(startItem(id), null);
        const f = await fetchOrch(p, ctx.lockTimeoutMs);
        for (const tok of ["", "no-such-token"]) {
          await badToken(tok, p.ackOrchestrationItem(tok, 1, [startedEvent(id)], [], [], runningMeta(), []));
          await badToken(tok, p.abandonOrchestrationItem(tok, null, false));
          await badToken(tok, p.renewOrchestrationItemLock(tok, ctx.lockTimeoutMs));
        }
        await invalid(p.ackOrchestrationItem(42 as never, 1, [startedEvent(id)], [], [], runningMeta(), []));
        expect(await p.read(id)).toEqual([]);
        expect(await p.fetchOrchestrationItem(ctx.lockTimeoutMs, 0)).toBeNull();

        await p.renewOrchestrationItemLock(f.lockToken, ctx.lockTimeoutMs);
        await p.ackOrchestrationItem(f.lockToken, 1, [startedEvent(id)], [], [], runningMeta(), []);
        expect((await p.read(id)).length).toBe(1);
      },
    },
    {
      name: "worker lock tokens: empty or unknown tokens fail permanently for ack, abandon and renew; the real lock is untouched",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "worker-tokens";
        await createRunningInstance(p, id, { extraEvents: [activityScheduledEvent(id, 1, 2)], workerItems: [activityItem(id, 2)] });
        const w = await fetchWork(p, ctx.lockTimeoutMs);
        for (const tok of ["", "no-such-token"]) {
          await badToken(tok, p.ackWorkItem(tok, activityCompletedItem(id, 2)));
          await badToken(tok, p.abandonWorkItem(tok, null, false));
          await badToken(tok, p.renewWorkItemLock(tok, ctx.lockTimeoutMs));
        }
        // No completion leaked into the orchestrator queue; the row is still locked.
        expect(await p.fetchOrchestrationItem(ctx.lockTimeoutMs, 0)).toBeNull();
        expect(await p.fetchWorkItem(ctx.lockTimeoutMs, 0, null, TagFilter.any())).toBeNull();

        await p.renewWorkItemLock(w.lockToken, ctx.lockTimeoutMs);
        await p.ackWorkItem(w.lockToken, activityCompletedItem(id, 2, "real"));
        const f = await fetchOrch(p, ctx.lockTimeoutMs);
        expect(f.item.messages).toEqual([activityCompletedItem(id, 2, "real")]);
      },
    },
    // ---------------------------------------------------------------- durations on abandon / renew
    {
      name: "abandon and renew (both queues) reject negative or non-finite durations and leave the lock as it was",
      async run(ctx) {
        const p = await ctx.createProvider();
        await p.enqueueForOrchestrator(startItem("abandon-args"), null);
        await p.enqueueForWorker(activityItem("abandon-args", 1));
        const f = await fetchOrch(p, ctx.lockTimeoutMs);
        const w = await fetchWork(p, ctx.lockTimeoutMs);

        await invalid(p.abandonOrchestrationItem(f.lockToken, -1, false));
        await invalid(p.abandonOrchestrationItem(f.lockToken, Number.NaN, false));
        await invalid(p.renewOrchestrationItemLock(f.lockToken, -1));
        await invalid(p.renewOrchestrationItemLock(f.lockToken, Number.POSITIVE_INFINITY));
        await invalid(p.abandonWorkItem(w.lockToken, -1, false));
        await invalid(p.abandonWorkItem(w.lockToken, Number.POSITIVE_INFINITY, false));
        await invalid(p.renewWorkItemLock(w.lockToken, -1));
        await invalid(p.renewWorkItemLock(w.lockToken, Number.NaN));

        // Both locks still held.
        expect(await p.fetchOrchestrationItem(ctx.lockTimeoutMs, 0)).toBeNull();
        expect(await p.fetchWorkItem(ctx.lockTimeoutMs, 0, null, TagFilter.any())).toBeNull();

        await p.abandonOrchestrationItem(f.lockToken, null, false);
        await p.abandonWorkItem(w.lockToken, 0, false);
        // Exactly one more delivery each: the refused calls counted nothing.
        expect((await fetchOrch(p, ctx.lockTimeoutMs)).attemptCount).toBe(2);
        expect((await fetchWork(p, ctx.lockTimeoutMs)).attemptCount).toBe(2);
      },
    },
    // ---------------------------------------------------------------- worker ack completion
    {
      name: "ackWorkItem rejects a completion that is not a well-formed ActivityCompleted/ActivityFailed; the row stays locked and the same token then acks",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "bad-completion";
        await createRunningInstance(p, id, { extraEvents: [activityScheduledEvent(id, 1, 2)], workerItems: [activityItem(id, 2)] });
        const w = await fetchWork(p, ctx.lockTimeoutMs);

        await invalid(p.ackWorkItem(w.lockToken, startItem(id)));
        await invalid(p.ackWorkItem(w.lockToken, externalRaisedItem(id)));
        await invalid(p.ackWorkItem(w.lockToken, activityItem(id, 2)));
        await invalid(
          p.ackWorkItem(w.lockToken, { type: "ActivityCompleted", instance: id, execution_id: 1, id: 2 } as never));
        await invalid(p.ackWorkItem(w.lockToken, activityCompletedItem("", 2)));
        await invalid(
          p.ackWorkItem(w.lockToken, { type: "ActivityFailed", instance: id, execution_id: 1, id: 2, details: { type: "Nope" } } as never));

        expect(await p.fetchOrchestrationItem(ctx.lockTimeoutMs, 0)).toBeNull();
        expect(await p.fetchWorkItem(ctx.lockTimeoutMs, 0, null, TagFilter.any())).toBeNull();
        await p.ackWorkItem(w.lockToken, activityCompletedItem(id, 2, "ok"));
        const f = await fetchOrch(p, ctx.lockTimeoutMs);
        expect(f.item.messages).toEqual([activityCompletedItem(id, 2, "ok")]);
      },
    },
    // ---------------------------------------------------------------- ids (the shared id rule)
    {
      name: "ids that are not well-formed text (an unpaired surrogate, NUL), only whitespace or over MAX_ID_BYTES are refused with InvalidArgument wherever they enter, so two ids never become one",
      async run(ctx) {
        const p = await ctx.createProvider();
        const tooLong = "i".repeat(MAX_ID_BYTES + 1);
        const badIds = ["k\ud800", "k\udc00", "nul\u0000id", "   ", tooLong];
        for (const id of badIds) {
          await invalid(p.enqueueForOrchestrator(startItem(id), null));
          await invalid(p.enqueueForOrchestrator(externalRaisedItem(id), null));
          await invalid(p.enqueueForWorker(activityItem(id, 1)));
          await invalid(p.read(id));
          await invalid(p.readWithExecution(id, 1));
          await invalid(p.getKvAllValues(id));
        }
        // Session ids follow the rule; names and keys must at least be well-formed text.
        await invalid(p.enqueueForWorker(activityItem("ok", 1, { sessionId: "s\ud800" })));
        await invalid(p.enqueueForOrchestrator(startItem("ok", { orchestration: "Orch\udfff" }), null));
        await invalid(p.enqueueForOrchestrator(externalRaisedItem("ok", "Evt\u0000"), null));
        await invalid(p.getKvValue("ok", "k\ud800"));
        await expectQueuesEmpty(p, ctx.lockTimeoutMs);

        // An ack naming a bad child id (event and Start) is refused and rolled back; the lock survives.
        const id = "ids-parent";
        await p.enqueueForOrchestrator(startItem(id), null);
        const f = await fetchOrch(p, ctx.lockTimeoutMs);
        const child = "child\ud800";
        await invalid(
          p.ackOrchestrationItem(
            f.lockToken,
            1,
            [startedEvent(id), event(id, 1, 2, { type: "SubOrchestrationScheduled", name: "Child", instance: child, input: "{}" })],
            [],
            [startItem(child, { parentInstance: id, parentId: 2 })],
            runningMeta(),
            [],
          ),
        );
        await p.ackOrchestrationItem(f.lockToken, 1, [startedEvent(id)], [], [], runningMeta(), []);
        expect((await p.read(id)).map((e) => e.type)).toEqual(["OrchestrationStarted"]);

        const admin = p.asManagementCapability();
        if (admin !== null) {
          for (const bad of badIds) {
            await invalid(admin.getInstanceInfo(bad));
            await invalid(admin.deleteInstance(bad, true));
            await invalid(admin.deleteInstanceBulk({ instance_ids: [id, bad] }));
            await invalid(admin.pruneExecutionsBulk({ instance_ids: [bad] }, {}));
          }
          expect(await admin.listInstances()).toEqual([id]);
        }

        // A well-formed surrogate pair and an id of exactly MAX_ID_BYTES bytes are fine.
        const longest = "é".repeat(MAX_ID_BYTES / 2);
        for (const ok of ["emoji-\ud83d\ude00", longest]) {
          await p.enqueueForOrchestrator(startItem(ok), null);
          const g = await fetchOrch(p, ctx.lockTimeoutMs);
          expect(g.item.instance).toBe(ok);
          await p.ackOrchestrationItem(g.lockToken, 1, [startedEvent(ok)], [], [], runningMeta(), []);
          expect((await p.read(ok)).length).toBe(1);
        }
      },
    },
    // ---------------------------------------------------------------- reads / append / KV
    {
      name: "history, custom-status and KV reads reject an empty instance id or an execution id that is not a positive integer",
      async run(ctx) {
        const p = await ctx.createProvider();
        await createRunningInstance(p, "reads");
        await invalid(p.read(""));
        await invalid(p.readWithExecution("", 1));
        await invalid(p.readWithExecution("reads", 0));
        await invalid(p.readWithExecution("reads", -1));
        await invalid(p.readWithExecution("reads", 1.5));
        await invalid(p.getCustomStatus("", 0));
        await invalid(p.getKvValue("", "k"));
        await invalid(p.getKvAllValues(""));
        await invalid(p.read(undefined as never));

        // Valid reads still answer normally, including for unknown instances.
        expect((await p.read("reads")).map((e) => e.type)).toEqual(["OrchestrationStarted"]);
        expect((await p.readWithExecution("reads", 1)).length).toBe(1);
        expect(await p.read("unknown")).toEqual([]);
        expect(await p.getKvValue("unknown", "k")).toBeNull();
        expect(await p.getKvAllValues("unknown")).toEqual({});
        expect(await p.getCustomStatus("unknown", 0)).toBeNull();
      },
    },
    {
      name: "appendWithExecution rejects an empty instance, a bad execution id, event_id 0 and malformed events, appending nothing",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "append-args";
        await createRunningInstance(p, id);
        const next = activityScheduledEvent(id, 1, 2);
        await invalid(p.appendWithExecution("", 1, [next]));
        await invalid(p.appendWithExecution(id, 0, [next]));
        await invalid(p.appendWithExecution(id, -3, [next]));
        // The good event in front must not be half-appended.
        await invalid(p.appendWithExecution(id, 1, [next, activityScheduledEvent(id, 1, 0)]));
        await invalid(p.appendWithExecution(id, 1, [next, { ...next, event_id: 3, type: "Bogus" } as never]));
        expect((await p.read(id)).map((e) => e.event_id)).toEqual([1]);

        await p.appendWithExecution(id, 1, [next]);
        expect((await p.read(id)).map((e) => e.event_id)).toEqual([1, 2]);
      },
    },
    {
      name: "session maintenance rejects negative or non-finite durations",
      async run(ctx) {
        const p = await ctx.createProvider();
        await invalid(p.renewSessionLock(["w"], -1, 1000));
        await invalid(p.renewSessionLock(["w"], Number.NaN, 1000));
        await invalid(p.renewSessionLock(["w"], 1000, -1));
        await invalid(p.cleanupOrphanedSessions(-1));
        await invalid(p.cleanupOrphanedSessions(Number.POSITIVE_INFINITY));
        expect(await p.renewSessionLock(["w"], 1000, 1000)).toBe(0);
        expect(await p.renewSessionLock([], 1000, 1000)).toBe(0);
        expect(await p.cleanupOrphanedSessions(0)).toBe(0);
      },
    },
    {
      name: "admin: pruneExecutions with keep_last -1 and deleteInstanceBulk with limit -1 fail permanently and change nothing",
      requires: ["management"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const admin = requireAdmin(p);
        const id = "admin-args";
        // Two executions: the first ends ContinuedAsNew, the second Completed.
        await p.enqueueForOrchestrator(startItem(id), null);
        const f1 = await fetchOrch(p, ctx.lockTimeoutMs);
        await p.ackOrchestrationItem(f1.lockToken, 1, [startedEvent(id)], [], [continueAsNewItem(id)], terminalMeta("ContinuedAsNew", "{}"), []);
        const f2 = await fetchOrch(p, ctx.lockTimeoutMs);
        await p.ackOrchestrationItem(f2.lockToken, 2, [startedEvent(id, 2), completedEvent(id, 2, 2)], [], [], terminalMeta("Completed", "done"), []);
        expect(await admin.listExecutions(id)).toEqual([1, 2]);

        await invalid(admin.pruneExecutions(id, { keep_last: -1 }));
        await invalid(admin.pruneExecutions(id, { keep_last: 1.5 }));
        await invalid(admin.pruneExecutionsBulk({ instance_ids: [id] }, { keep_last: -1 }));
        await invalid(admin.deleteInstanceBulk({ limit: -1 }));
        await invalid(admin.deleteInstanceBulk({ instance_ids: [id], limit: -1 }));

        expect(await admin.listExecutions(id)).toEqual([1, 2]);
        expect((await admin.getInstanceInfo(id)).status).toBe("Completed");
        expect((await admin.pruneExecutions(id, { keep_last: 1 })).executions_deleted).toBe(1);
        expect((await admin.deleteInstanceBulk({ instance_ids: [id], limit: 1 })).instances_deleted).toBe(1);
      },
    },
    // ---------------------------------------------------------------- quirk fixes (docs/provider-contract.md §12)
    {
      name: "lock tokens are unique across 100 fetch/abandon cycles of one instance (Q1)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await p.enqueueForOrchestrator(startItem("token-unique"), null);
        const tokens = new Set<string>();
        for (let i = 1; i <= 100; i++) {
          const f = await fetchOrch(p, ctx.lockTimeoutMs);
          expect(typeof f.lockToken).toBe("string");
          expect(f.lockToken.length).toBeGreaterThan(0);
          expect(f.attemptCount).toBe(i);
          tokens.add(f.lockToken);
          await p.abandonOrchestrationItem(f.lockToken, null, false);
        }
        expect(tokens.size).toBe(100);
      },
    },
    {
      name: "an orphan CancelInstance / ExternalRaised at the head of the queue does not block a later Start of another instance (Q2)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await p.enqueueForOrchestrator(cancelInstanceItem("ghost-cancel"), null);
        await p.enqueueForOrchestrator(externalRaisedItem("ghost-event"), null);
        await p.enqueueForOrchestrator(startItem("real"), null);

        const f = await fetchOrch(p, ctx.lockTimeoutMs);
        expect(f.item.instance).toBe("real");
        expect(f.item.messages).toEqual([startItem("real")]);
        await p.ackOrchestrationItem(f.lockToken, 1, [startedEvent("real")], [], [], runningMeta(), []);

        // Later work for a started instance is not starved by the ghosts either.
        await p.enqueueForOrchestrator(externalRaisedItem("real", "later"), null);
        const g = await fetchOrch(p, ctx.lockTimeoutMs);
        expect(g.item.instance).toBe("real");
        expect(g.item.messages).toEqual([externalRaisedItem("real", "later")]);
      },
    },
    {
      name: "the capability filter compares versions as (major, minor, patch) tuples, not packed integers (Q7)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const L = ctx.lockTimeoutMs;
        const r1 = { min: v(1, 0, 0), max: v(1, 999, 999) };
        expect(await fetchableWithPinned(p, L, "q7-a", v(1, 1000, 0), r1)).toBe(false);
        expect(await fetchableWithPinned(p, L, "q7-b", v(1, 2, 0), r1)).toBe(true);
        // Packed, 2.0.0 == 1.1000.0 and 1.0.1000 == 1.1.0; as tuples they are outside.
        expect(await fetchableWithPinned(p, L, "q7-c", v(2, 0, 0), { min: v(1, 0, 0), max: v(1, 1000, 0) })).toBe(false);
        expect(await fetchableWithPinned(p, L, "q7-d", v(1, 0, 1000), { min: v(1, 1, 0), max: v(1, 9, 0) })).toBe(false);
        expect(await fetchableWithPinned(p, L, "q7-e", v(1, 1000, 0), { min: v(1, 0, 0), max: v(1, 1000, 0) })).toBe(true);
      },
    },
    {
      name: "abandon with ignoreAttempt decrements only the abandoned batch, not messages that were outside it (Q8)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "q8";
        const hideMs = 500;
        await createRunningInstance(p, id);
        const e1 = externalRaisedItem(id, "e1");
        const e2 = externalRaisedItem(id, "e2");

        // e1: delivered once, then hidden for hideMs (attempt stays 1).
        await p.enqueueForOrchestrator(e1, null);
        const f1 = await fetchOrch(p, ctx.lockTimeoutMs);
        expect(f1.item.messages).toEqual([e1]);
        await p.abandonOrchestrationItem(f1.lockToken, hideMs, false);

        // e2 alone forms the next batches; abandoning them with ignoreAttempt must not touch e1.
        await p.enqueueForOrchestrator(e2, null);
        const f2 = await fetchOrch(p, ctx.lockTimeoutMs);
        expect(f2.item.messages).toEqual([e2]);
        expect(f2.attemptCount).toBe(1);
        await p.abandonOrchestrationItem(f2.lockToken, null, true);
        const f3 = await fetchOrch(p, ctx.lockTimeoutMs);
        expect(f3.item.messages).toEqual([e2]);
        expect(f3.attemptCount).toBe(1);
        await p.abandonOrchestrationItem(f3.lockToken, null, true);

        await sleep(hideMs + 100);
        const f4 = await fetchOrch(p, ctx.lockTimeoutMs);
        expect(f4.item.messages).toEqual([e1, e2]);
        // e1 delivered twice (2), e2 net once (1): the max is 2.
        expect(f4.attemptCount).toBe(2);
      },
    },
    {
      name: "getQueueDepths counts an abandoned message as queued again, and a locked one as not (Q9)",
      requires: ["management"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const admin = requireAdmin(p);
        expect(await admin.getQueueDepths()).toEqual({ orchestrator_queue: 0, worker_queue: 0, timer_queue: 0 });
        await p.enqueueForOrchestrator(startItem("q9"), null);
        await p.enqueueForWorker(activityItem("q9", 1));
        expect(await admin.getQueueDepths()).toEqual({ orchestrator_queue: 1, worker_queue: 1, timer_queue: 0 });

        const f = await fetchOrch(p, ctx.lockTimeoutMs);
        const w = await fetchWork(p, ctx.lockTimeoutMs);
        expect(await admin.getQueueDepths()).toEqual({ orchestrator_queue: 0, worker_queue: 0, timer_queue: 0 });

        await p.abandonOrchestrationItem(f.lockToken, null, false);
        await p.abandonWorkItem(w.lockToken, null, false);
        expect(await admin.getQueueDepths()).toEqual({ orchestrator_queue: 1, worker_queue: 1, timer_queue: 0 });

        // A batch whose lock lapsed (never abandoned, so any batch tag is still on it) is queued again.
        const shortLockMs = 300;
        const lapsing = await p.fetchOrchestrationItem(shortLockMs, 0);
        expect(lapsing?.item.instance).toBe("q9");
        expect((await admin.getQueueDepths()).orchestrator_queue).toBe(0);
        await sleep(shortLockMs + 100);
        expect((await admin.getQueueDepths()).orchestrator_queue).toBe(1);

        const f2 = await fetchOrch(p, ctx.lockTimeoutMs);
        await p.ackOrchestrationItem(f2.lockToken, 1, [startedEvent("q9")], [], [], runningMeta(), []);
        expect((await admin.getQueueDepths()).orchestrator_queue).toBe(0);
      },
    },
    {
      name: "an execution's completed_at is set only by a terminal status, not by a Running ack (Q6)",
      requires: ["management"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const admin = requireAdmin(p);
        const id = "q6";
        await createRunningInstance(p, id);
        const running = await admin.getExecutionInfo(id, 1);
        expect(running.status).toBe("Running");
        expect(running.completed_at).toBeNull();

        // A second explicit Running turn must not stamp it either.
        await p.enqueueForOrchestrator(externalRaisedItem(id, "tick"), null);
        const f = await fetchOrch(p, ctx.lockTimeoutMs);
        await p.ackOrchestrationItem(
          f.lockToken,
          1,
          [event(id, 1, 2, { type: "ExternalEvent", name: "tick", data: "{}" })],
          [],
          [],
          { status: "Running" },
          [],
        );
        expect((await admin.getExecutionInfo(id, 1)).completed_at).toBeNull();

        await p.enqueueForOrchestrator(externalRaisedItem(id, "finish"), null);
        const g = await fetchOrch(p, ctx.lockTimeoutMs);
        const beforeAck = Date.now();
        await p.ackOrchestrationItem(g.lockToken, 1, [completedEvent(id, 1, 3, "out")], [], [], terminalMeta("Completed", "out"), []);
        const done = await admin.getExecutionInfo(id, 1);
        expect(done.status).toBe("Completed");
        expect(done.output).toBe("out");
        expect(typeof done.completed_at).toBe("number");
        expect(done.completed_at!).toBeGreaterThanOrEqual(beforeAck - 1000);
        expect(done.completed_at!).toBeGreaterThanOrEqual(done.started_at);

        // A failed instance is stamped too.
        await createCompletedInstance(p, "q6-failed", { status: "Failed", output: "boom" });
        expect(typeof (await admin.getExecutionInfo("q6-failed", 1)).completed_at).toBe("number");
      },
    },
  ],
};
