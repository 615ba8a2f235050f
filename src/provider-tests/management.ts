/**
 * management: the read side of the optional ProviderAdmin capability (listings, instance and
 * execution info, metrics, queue depths) reflects what acks and enqueues wrote.
 */
import { expect } from "bun:test";
import type { ProviderAdmin } from "../provider.ts";
import type { ProviderModule } from "./harness.ts";
import {
  activityItem,
  createCompletedInstance,
  createRunningInstance,
  fetchOrch,
  requireAdmin,
  startItem,
  startedEvent,
} from "./helpers.ts";

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
  ],
};
