/**
 * cancellation: activities stay deliverable whatever state their orchestration is in, and
 * activity cancellation is the deletion of worker rows (lock stealing), which the worker sees as a
 * failed renew or ack.
 */
import { expect } from "bun:test";
import type { Event } from "../core/events.ts";
import type { ExecutionMetadata, ScheduledActivityIdentifier } from "../core/queue-types.ts";
import type { WorkItem } from "../core/work-items.ts";
import type { Provider } from "../provider.ts";
import type { ProviderModule } from "./harness.ts";
import {
  activityItem,
  completedEvent,
  continuedAsNewEvent,
  createRunningInstance,
  defaultTags,
  expectProviderError,
  externalRaisedItem,
  failedEvent,
  fetchOrch,
  fetchWork,
  requireAdmin,
  startItem,
  startedEvent,
  terminalMeta,
} from "./helpers.ts";

/** Worker and orchestration locks these cases never let lapse. */
const LONG_LOCK_MS = 30_000;

function cancelId(instance: string, activityId: number, executionId = 1): ScheduledActivityIdentifier {
  return { instance, execution_id: executionId, activity_id: activityId };
}

/** Fetches the worker queue once; null when nothing is available. */
function tryFetchWork(p: Provider) {
  return p.fetchWorkItem(LONG_LOCK_MS, 0, null, defaultTags);
}

/** Requires the next worker fetch to return the ActivityExecute `instance`/`id` and returns its lock token. */
async function expectActivity(p: Provider, instance: string, id: number, name?: string): Promise<string> {
  const f = await fetchWork(p, LONG_LOCK_MS);
  expect(f.item.type).toBe("ActivityExecute");
  if (f.item.type !== "ActivityExecute") throw new Error("unreachable");
  expect(f.item.instance).toBe(instance);
  expect(f.item.id).toBe(id);
  if (name !== undefined) expect(f.item.name).toBe(name);
  return f.lockToken;
}

/**
 * First turn of `instance` that schedules activity 1 and ends the execution in the same ack
 * (the runtime does this when an orchestration completes with work still outstanding).
 */
async function startAndEndWithActivity(p: Provider, instance: string, terminal: Event, metadata: ExecutionMetadata): Promise<void> {
  await p.enqueueForOrchestrator(startItem(instance), null);
  const f = await fetchOrch(p, LONG_LOCK_MS);
  expect(f.item.instance).toBe(instance);
  await p.ackOrchestrationItem(f.lockToken, 1, [startedEvent(instance), terminal], [activityItem(instance, 1)], [], metadata, []);
}

/** Runs one more orchestration turn for `instance` (poked by an external event) acked with the given effects. */
async function runTurn(
  p: Provider,
  instance: string,
  effects: { delta?: Event[]; metadata?: ExecutionMetadata; cancelled?: ScheduledActivityIdentifier[] },
): Promise<void> {
  await p.enqueueForOrchestrator(externalRaisedItem(instance, "Trigger"), null);
  const f = await fetchOrch(p, LONG_LOCK_MS);
  expect(f.item.instance).toBe(instance);
  await p.ackOrchestrationItem(f.lockToken, 1, effects.delta ?? [], [], [], effects.metadata ?? {}, effects.cancelled ?? []);
}

export const cancellation: ProviderModule = {
  name: "cancellation",
  cases: [
    {
      name: "an activity scheduled by an ack of a running orchestration is fetchable by a worker (test_fetch_returns_running_state_for_active_orchestration)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await createRunningInstance(p, "inst-running", { workerItems: [activityItem("inst-running", 1)] });
        const f = await fetchWork(p, LONG_LOCK_MS);
        expect(f.item).toMatchObject({ type: "ActivityExecute", instance: "inst-running", execution_id: 1, id: 1, name: "TestActivity" });
        expect(f.attemptCount).toBe(1);
      },
    },
    {
      name: "an activity scheduled in the ack that completes the orchestration is still fetchable (test_fetch_returns_terminal_state_when_orchestration_completed)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "inst-completed";
        await startAndEndWithActivity(p, id, completedEvent(id, 1, 2, "done"), terminalMeta("Completed", "done"));
        await expectActivity(p, id, 1);
      },
    },
    {
      name: "an activity scheduled in the ack that fails the orchestration is still fetchable (test_fetch_returns_terminal_state_when_orchestration_failed)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "inst-failed";
        await startAndEndWithActivity(p, id, failedEvent(id, 1, 2, "boom"), terminalMeta("Failed", "boom"));
        await expectActivity(p, id, 1);
      },
    },
    {
      name: "an activity scheduled in the ack that continues the orchestration as new is still fetchable (test_fetch_returns_terminal_state_when_orchestration_continued_as_new)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "inst-can";
        await startAndEndWithActivity(p, id, continuedAsNewEvent(id, 1, 2, "new-input"), terminalMeta("ContinuedAsNew", "new-input"));
        await expectActivity(p, id, 1);
      },
    },
    {
      name: "an activity whose instance does not exist is still fetchable (test_fetch_returns_missing_state_when_instance_deleted)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await p.enqueueForWorker(activityItem("inst-missing", 1));
        await expectActivity(p, "inst-missing", 1);
      },
    },
    {
      name: "renewing a live worker lock succeeds while the orchestration runs and keeps the item locked (test_renew_returns_running_when_orchestration_active)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "inst-renew-run";
        await createRunningInstance(p, id, { workerItems: [activityItem(id, 1)] });
        const token = await expectActivity(p, id, 1);
        await p.renewWorkItemLock(token, LONG_LOCK_MS);
        expect(await tryFetchWork(p)).toBeNull();
        // The renewed lock is still the live one: the worker can finish with it.
        await p.ackWorkItem(token, null);
      },
    },
    {
      name: "renewing a worker lock still succeeds after a later ack completed the orchestration (test_renew_returns_terminal_when_orchestration_completed)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "inst-renew-term";
        await createRunningInstance(p, id, { workerItems: [activityItem(id, 1)] });
        const token = await expectActivity(p, id, 1);
        await runTurn(p, id, { delta: [completedEvent(id, 1, 2, "done")], metadata: { status: "Completed", output: "done" } });
        await p.renewWorkItemLock(token, LONG_LOCK_MS);
        // A completion for a finished orchestration is still enqueued and delivered; the runtime discards it.
        await p.ackWorkItem(token, { type: "ActivityCompleted", instance: id, execution_id: 1, id: 1, result: "late" });
        const f = await fetchOrch(p, LONG_LOCK_MS);
        expect(f.item.instance).toBe(id);
        expect(f.item.messages).toEqual([{ type: "ActivityCompleted", instance: id, execution_id: 1, id: 1, result: "late" }]);
      },
    },
    {
      name: "renewing a worker lock succeeds for an activity whose instance does not exist (test_renew_returns_missing_when_instance_deleted)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await p.enqueueForWorker(activityItem("inst-renew-missing", 1));
        const token = await expectActivity(p, "inst-renew-missing", 1);
        await p.renewWorkItemLock(token, LONG_LOCK_MS);
        expect(await tryFetchWork(p)).toBeNull();
      },
    },
    {
      name: "acking a work item with a null completion deletes it and enqueues nothing (test_ack_work_item_none_deletes_without_enqueue)",
      async run(ctx) {
        const p = await ctx.createProvider();
        // The instance exists, so any completion wrongly enqueued would be fetchable below.
        const id = "inst-ack-none";
        await createRunningInstance(p, id, { workerItems: [activityItem(id, 1)] });
        const token = await expectActivity(p, id, 1);
        await p.ackWorkItem(token, null);
        expect(await tryFetchWork(p)).toBeNull();
        expect(await p.fetchOrchestrationItem(ctx.lockTimeoutMs, 0)).toBeNull();
      },
    },
    {
      name: "activities listed in an ack's cancelled activities are deleted from the worker queue, even while a worker holds one (test_cancelled_activities_deleted_from_worker_queue)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "inst-cancel-delete";
        await createRunningInstance(p, id, {
          workerItems: [1, 2, 3].map((n) => activityItem(id, n, { name: `Activity${n}` })),
        });
        // A worker holds activity 1: cancellation steals the row regardless of the worker lock.
        const held = await expectActivity(p, id, 1, "Activity1");
        await runTurn(p, id, { cancelled: [cancelId(id, 1), cancelId(id, 2)] });
        await expectActivity(p, id, 3, "Activity3");
        expect(await tryFetchWork(p)).toBeNull();
        // The holder of the deleted row learns of the cancellation through its renew.
        await expectProviderError(p.renewWorkItemLock(held, LONG_LOCK_MS), "LockLost");
      },
    },
    {
      name: "acking a work item whose entry was already removed fails permanently and enqueues nothing (test_ack_work_item_fails_when_entry_deleted)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "inst-ack-stolen";
        await createRunningInstance(p, id, { workerItems: [activityItem(id, 1)] });
        const token = await expectActivity(p, id, 1);
        await p.ackWorkItem(token, null);
        const completion: WorkItem = { type: "ActivityCompleted", instance: id, execution_id: 1, id: 1, result: "done" };
        await expectProviderError(p.ackWorkItem(token, completion), "LockLost");
        // The failed ack had no effect: no completion reached the (existing) instance.
        expect(await p.fetchOrchestrationItem(ctx.lockTimeoutMs, 0)).toBeNull();
      },
    },
    {
      name: "renewing a worker lock whose entry was removed fails permanently: the worker's cancellation signal (test_renew_fails_when_entry_deleted)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await p.enqueueForWorker(activityItem("inst-renew-stolen", 1));
        const token = await expectActivity(p, "inst-renew-stolen", 1);
        await p.ackWorkItem(token, null);
        await expectProviderError(p.renewWorkItemLock(token, LONG_LOCK_MS), "LockLost");
      },
    },
    {
      name: "cancelling activities that are not queued does not fail the ack and leaves other rows alone (test_cancelling_nonexistent_activities_is_idempotent)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "inst-cancel-idempotent";
        // Rows that share part of the cancelled identity must survive: matching is on (instance, execution, activity).
        await p.enqueueForWorker(activityItem("other-instance", 1));
        await p.enqueueForWorker(activityItem(id, 1, { executionId: 2 }));
        await p.enqueueForOrchestrator(startItem(id), null);
        const f = await fetchOrch(p, LONG_LOCK_MS);
        expect(f.item.instance).toBe(id);
        await p.ackOrchestrationItem(
          f.lockToken,
          1,
          [startedEvent(id)],
          [activityItem(id, 2)],
          [],
          { orchestration_name: "TestOrch", orchestration_version: "1.0.0", status: "Running" },
          [cancelId(id, 999), cancelId(id, 1)],
        );
        // The ack committed in full: history written, lock released, no messages left.
        const history = await p.read(id);
        expect(history.map((e) => e.type)).toEqual(["OrchestrationStarted"]);
        expect(await p.fetchOrchestrationItem(ctx.lockTimeoutMs, 0)).toBeNull();
        const left: string[] = [];
        for (let i = 0; i < 3; i++) {
          const w = await fetchWork(p, LONG_LOCK_MS);
          if (w.item.type !== "ActivityExecute") throw new Error(`unexpected ${w.item.type}`);
          left.push(`${w.item.instance}/${w.item.execution_id}/${w.item.id}`);
        }
        expect(left).toEqual(["other-instance/1/1", `${id}/2/1`, `${id}/1/2`]);
        expect(await tryFetchWork(p)).toBeNull();
      },
    },
    {
      name: "five cancellations in one ack delete all five queued activities (test_batch_cancellation_deletes_multiple_activities)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "inst-batch-cancel";
        const ids = [1, 2, 3, 4, 5];
        await createRunningInstance(p, id, { workerItems: ids.map((n) => activityItem(id, n, { name: `Activity${n}` })) });
        // Confirm all five were queued (else an empty queue below would prove nothing), then put them back.
        const tokens: string[] = [];
        for (const n of ids) tokens.push(await expectActivity(p, id, n));
        for (const t of tokens) await p.abandonWorkItem(t, null, false);
        await runTurn(p, id, { cancelled: ids.map((n) => cancelId(id, n)) });
        expect(await tryFetchWork(p)).toBeNull();
      },
    },
    {
      name: "an activity both scheduled and cancelled in the same ack ends up absent: insert worker items before deleting cancellations (test_same_activity_in_worker_items_and_cancelled_is_noop)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const id = "inst-schedule-then-cancel";
        await p.enqueueForOrchestrator(startItem(id), null);
        const f = await fetchOrch(p, LONG_LOCK_MS);
        await p.ackOrchestrationItem(
          f.lockToken,
          1,
          [startedEvent(id)],
          [activityItem(id, 2, { name: "DroppedActivity" }), activityItem(id, 3, { name: "NormalActivity" })],
          [],
          { orchestration_name: "TestOrch", orchestration_version: "1.0.0", status: "Running" },
          [cancelId(id, 2)],
        );
        const token = await expectActivity(p, id, 3, "NormalActivity");
        await p.ackWorkItem(token, null);
        expect(await tryFetchWork(p)).toBeNull();
      },
    },
    {
      name: "force-deleting an instance with a queued activity succeeds; if the activity survives, its ack with a completion succeeds and does not recreate the instance (test_orphan_activity_after_instance_force_deletion)",
      requires: ["management"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const admin = requireAdmin(p);
        const id = "inst-orphan-activity";
        await createRunningInstance(p, id, { workerItems: [activityItem(id, 1, { input: "test-input" })] });
        const result = await admin.deleteInstance(id, true);
        expect(result.instances_deleted).toBe(1);
        await expectProviderError(admin.getInstanceInfo(id), "NotFound");
        // Worker rows may or may not be purged with the instance; both are valid.
        const w = await tryFetchWork(p);
        if (w !== null) {
          expect(w.item).toMatchObject({ type: "ActivityExecute", instance: id, id: 1, input: "test-input" });
          await p.ackWorkItem(w.lockToken, { type: "ActivityCompleted", instance: id, execution_id: 1, id: 1, result: "orphan-result" });
        }
        await expectProviderError(admin.getInstanceInfo(id), "NotFound");
      },
    },
  ],
};
