/**
 * management: the read side of the optional ProviderAdmin capability (listings, instance and
 * execution info, metrics, queue depths) reflects what acks and enqueues wrote.
 */
import { expect } from "bun:test";
import type { Event } from "../core/events.ts";
import type { Provider, ProviderAdmin } from "../provider.ts";
import type { ProviderModule } from "./harness.ts";
import {
  activityItem,
  continueAsNewItem,
  continuedAsNewEvent,
  createCompletedInstance,
  createRunningInstance,
  fetchOrch,
  requireAdmin,
  runningMeta,
  startItem,
  startedEvent,
  terminalMeta,
} from "./helpers.ts";

/**
 * An instance continued as new once: execution 1 (OrchestrationStarted, OrchestrationContinuedAsNew)
 * ended ContinuedAsNew with output "{}"; execution 2 (OrchestrationStarted) is Running.
 */
async function createContinuedInstance(p: Provider, instance: string, lockTimeoutMs: number): Promise<void> {
  await p.enqueueForOrchestrator(startItem(instance), null);
  const f1 = await fetchOrch(p, lockTimeoutMs);
  await p.ackOrchestrationItem(
    f1.lockToken,
    1,
    [startedEvent(instance, 1), continuedAsNewEvent(instance, 1, 2)],
    [],
    [continueAsNewItem(instance)],
    terminalMeta("ContinuedAsNew", "{}"),
    [],
  );
  const f2 = await fetchOrch(p, lockTimeoutMs);
  expect(f2.item.instance).toBe(instance);
  await p.ackOrchestrationItem(f2.lockToken, 2, [startedEvent(instance, 2)], [], [], runningMeta(), []);
}

const shape = (events: Event[]) => events.map((e) => [e.execution_id, e.type]);

/** [orchestrator, worker, timer] depths; timers ride the orchestrator queue, so the last is always 0. */
async function depths(admin: ProviderAdmin): Promise<number[]> {
  const d = await admin.getQueueDepths();
  return [d.orchestrator_queue, d.worker_queue, d.timer_queue];
}

export const management: ProviderModule = {
  name: "management",
  cases: [
    {
      name: "listInstances returns every created instance (test_list_instances)",
      requires: ["management"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const admin = requireAdmin(p);
        const ids = ["mgmt-inst-0", "mgmt-inst-1", "mgmt-inst-2"];
        for (const id of ids) await createRunningInstance(p, id, { lockTimeoutMs: ctx.lockTimeoutMs });
        // The store starts empty, so the listing is exactly these three (order is newest-first, not checked).
        expect([...(await admin.listInstances())].sort()).toEqual(ids);
      },
    },
    {
      name: "listInstancesByStatus filters on the current execution's status (test_list_instances_by_status)",
      requires: ["management"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const admin = requireAdmin(p);
        await p.enqueueForOrchestrator(startItem("mgmt-completed"), null);
        const f = await fetchOrch(p, ctx.lockTimeoutMs);
        await p.ackOrchestrationItem(
          f.lockToken,
          1,
          [startedEvent("mgmt-completed", 1)],
          [],
          [],
          { status: "Completed", output: "done", orchestration_name: "TestOrch", orchestration_version: "1.0.0" },
          [],
        );
        await createRunningInstance(p, "mgmt-running", { lockTimeoutMs: ctx.lockTimeoutMs });

        expect(await admin.listInstancesByStatus("Completed")).toEqual(["mgmt-completed"]);
        expect(await admin.listInstancesByStatus("Running")).toEqual(["mgmt-running"]);
        expect(await admin.listInstancesByStatus("Failed")).toEqual([]);
      },
    },
    {
      name: "listExecutions lists execution 1 after the first ack, even one with empty metadata (test_list_executions)",
      requires: ["management"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const admin = requireAdmin(p);
        await p.enqueueForOrchestrator(startItem("mgmt-multi-exec"), null);
        const f = await fetchOrch(p, ctx.lockTimeoutMs);
        await p.ackOrchestrationItem(f.lockToken, 1, [startedEvent("mgmt-multi-exec", 1)], [], [], {}, []);

        expect(await admin.listExecutions("mgmt-multi-exec")).toEqual([1]);
        expect(await admin.listExecutions("mgmt-unknown")).toEqual([]);
      },
    },
    {
      name: "getInstanceInfo returns the id, name, version and current execution from the instance row (test_get_instance_info)",
      requires: ["management"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const admin = requireAdmin(p);
        await p.enqueueForOrchestrator(startItem("mgmt-info"), null);
        const f = await fetchOrch(p, ctx.lockTimeoutMs);
        await p.ackOrchestrationItem(
          f.lockToken,
          1,
          [startedEvent("mgmt-info", 1, { name: "InfoOrch", version: "2.0.0", input: "test" })],
          [],
          [],
          { orchestration_name: "InfoOrch", orchestration_version: "2.0.0" },
          [],
        );

        const info = await admin.getInstanceInfo("mgmt-info");
        expect(info.instance_id).toBe("mgmt-info");
        expect(info.orchestration_name).toBe("InfoOrch");
        expect(info.orchestration_version).toBe("2.0.0");
        expect(info.current_execution_id).toBe(1);
        expect(info.status).toBe("Running");
        expect(info.parent_instance_id).toBeNull();
      },
    },
    {
      name: "getExecutionInfo reports the status and output the ack's metadata stored (test_get_execution_info)",
      requires: ["management"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const admin = requireAdmin(p);
        await p.enqueueForOrchestrator(startItem("mgmt-exec-info"), null);
        const f = await fetchOrch(p, ctx.lockTimeoutMs);
        // Status without name/version (a partial combination the runtime may send); the event's
        // instance_id is deliberately different: routing follows the lock token.
        await p.ackOrchestrationItem(
          f.lockToken,
          1,
          [startedEvent("mgmt-other-id", 1)],
          [],
          [],
          { status: "Completed", output: "result" },
          [],
        );

        const info = await admin.getExecutionInfo("mgmt-exec-info", 1);
        expect(info.execution_id).toBe(1);
        expect(info.status).toBe("Completed");
        expect(info.output).toBe("result");
        expect(info.event_count).toBe(1);
        expect(info.completed_at).not.toBeNull();
      },
    },
    {
      name: "getSystemMetrics counts instances, executions and events as they are created (test_get_system_metrics)",
      requires: ["management"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const admin = requireAdmin(p);
        const before = await admin.getSystemMetrics();
        expect(before.total_instances).toBe(0);
        expect(before.total_events).toBe(0);

        await createRunningInstance(p, "mgmt-metrics", { lockTimeoutMs: ctx.lockTimeoutMs });
        await createCompletedInstance(p, "mgmt-metrics-done");

        const after = await admin.getSystemMetrics();
        expect(after.total_instances).toBe(2);
        expect(after.total_executions).toBe(2);
        expect(after.running_instances).toBe(1);
        expect(after.completed_instances).toBe(1);
        expect(after.failed_instances).toBe(0);
        // One OrchestrationStarted plus Started + Completed.
        expect(after.total_events).toBe(3);
      },
    },
    {
      name: "getQueueDepths counts unclaimed messages per queue and grows with each enqueue (test_get_queue_depths)",
      requires: ["management"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const admin = requireAdmin(p);
        expect(await depths(admin)).toEqual([0, 0, 0]);

        await p.enqueueForOrchestrator(startItem("mgmt-queue"), null);
        expect(await depths(admin)).toEqual([1, 0, 0]);

        await p.enqueueForWorker(activityItem("mgmt-queue", 1));
        expect(await depths(admin)).toEqual([1, 1, 0]);
      },
    },
    // ---- beyond the catalog: rules no catalog case checks (each catches a planted one-method bug)
    {
      name: "listInstancesByStatus looks only at the current execution: an instance continued as new is listed as Running, not as ContinuedAsNew",
      requires: ["management"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const admin = requireAdmin(p);
        await createContinuedInstance(p, "mgmt-status-can", ctx.lockTimeoutMs);
        await createCompletedInstance(p, "mgmt-status-done");

        expect(await admin.listInstancesByStatus("Running")).toEqual(["mgmt-status-can"]);
        expect(await admin.listInstancesByStatus("ContinuedAsNew")).toEqual([]);
        expect(await admin.listInstancesByStatus("Completed")).toEqual(["mgmt-status-done"]);
      },
    },
    {
      name: "getExecutionInfo describes only the named execution: its own status, output, completed_at and event_count",
      requires: ["management"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const admin = requireAdmin(p);
        const id = "mgmt-exec-info-can";
        await createContinuedInstance(p, id, ctx.lockTimeoutMs);

        const first = await admin.getExecutionInfo(id, 1);
        expect(first).toMatchObject({ execution_id: 1, status: "ContinuedAsNew", output: "{}", event_count: 2 });
        expect(first.completed_at).not.toBeNull();
        const second = await admin.getExecutionInfo(id, 2);
        expect(second).toMatchObject({ execution_id: 2, status: "Running", output: null, event_count: 1, completed_at: null });
      },
    },
    {
      name: "getSystemMetrics classifies each instance once, by its current execution's status, and counts every execution and event",
      requires: ["management"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const admin = requireAdmin(p);
        await createRunningInstance(p, "mgmt-metrics-running", { lockTimeoutMs: ctx.lockTimeoutMs });
        await createCompletedInstance(p, "mgmt-metrics-completed");
        await createCompletedInstance(p, "mgmt-metrics-failed", { status: "Failed" });
        await createContinuedInstance(p, "mgmt-metrics-can", ctx.lockTimeoutMs);

        expect(await admin.getSystemMetrics()).toMatchObject({
          total_instances: 4,
          total_executions: 5,
          // The continued instance counts once, as Running (its execution 2).
          running_instances: 2,
          completed_instances: 1,
          failed_instances: 1,
          // 1 (running) + 2 (completed) + 2 (failed) + 2 + 1 (the two executions of the continued one).
          total_events: 8,
        });
      },
    },
    {
      name: "readHistory returns the latest execution's events and readHistoryWithExecutionId the named execution's, the same as read and readWithExecution",
      requires: ["management"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const admin = requireAdmin(p);
        const id = "mgmt-read-history";
        await createContinuedInstance(p, id, ctx.lockTimeoutMs);

        expect(shape(await admin.readHistory(id))).toEqual([[2, "OrchestrationStarted"]]);
        expect(shape(await admin.readHistoryWithExecutionId(id, 1))).toEqual([
          [1, "OrchestrationStarted"],
          [1, "OrchestrationContinuedAsNew"],
        ]);
        expect(shape(await admin.readHistoryWithExecutionId(id, 2))).toEqual([[2, "OrchestrationStarted"]]);
        expect(await admin.readHistory(id)).toEqual(await p.read(id));
        expect(await admin.readHistoryWithExecutionId(id, 1)).toEqual(await p.readWithExecution(id, 1));
      },
    },
    {
      name: "latestExecutionId is the highest execution id (2 after one ContinueAsNew), and 1 for an unknown instance",
      requires: ["management"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const admin = requireAdmin(p);
        await createRunningInstance(p, "mgmt-latest-single", { lockTimeoutMs: ctx.lockTimeoutMs });
        await createContinuedInstance(p, "mgmt-latest-can", ctx.lockTimeoutMs);

        expect(await admin.latestExecutionId("mgmt-latest-single")).toBe(1);
        expect(await admin.latestExecutionId("mgmt-latest-can")).toBe(2);
        expect(await admin.latestExecutionId("mgmt-latest-unknown")).toBe(1);
      },
    },
  ],
};
