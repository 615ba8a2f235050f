/**
 * deletion: deleting single instances and whole trees through ProviderAdmin, the hierarchy
 * primitives (children, parent, tree) and the zombie-prevention rules (docs/provider-contract.md
 * §7.3, R16).
 */
import { expect } from "bun:test";
import type { ProviderAdmin } from "../provider.ts";
import type { ProviderModule } from "./harness.ts";
import { activityItem, activityScheduledEvent, createCompletedInstance, createRunningInstance, event, expectProviderError, externalRaisedItem, fetchOrch, fetchWork, requireAdmin, runningMeta, startedEvent, startItem, terminalMeta, expectGone } from "./helpers.ts";


async function expectPresent(admin: ProviderAdmin, instance: string): Promise<void> {
  const info = await admin.getInstanceInfo(instance);
  expect(info.instance_id).toBe(instance);
}

/** root -> child1, child2; child2 -> grandchild (all Completed). */
async function createTree(p: Parameters<typeof createCompletedInstance>[0], root: string) {
  const child1 = `${root}::sub::2`;
  const child2 = `${root}::sub::3`;
  const grandchild = `${child2}::sub::4`;
  await createCompletedInstance(p, root);
  await createCompletedInstance(p, child1, { parentInstance: root });
  await createCompletedInstance(p, child2, { parentInstance: root });
  await createCompletedInstance(p, grandchild, { parentInstance: child2 });
  return { root, child1, child2, grandchild };
}

export const deletion: ProviderModule = {
  name: "deletion",
  cases: [
    {
      name: "Completed, Failed and cancelled instances delete without force and report their rows (test_delete_terminal_instances)",
      requires: ["management"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const admin = requireAdmin(p);
        await createCompletedInstance(p, "del-completed");
        await createCompletedInstance(p, "del-failed", { status: "Failed", output: "error: something went wrong" });
        // A cancelled orchestration is stored as Failed with a cancel rendering.
        await createCompletedInstance(p, "del-cancelled", { status: "Failed", output: "canceled: user requested" });

        for (const id of ["del-completed", "del-failed", "del-cancelled"]) {
          await expectPresent(admin, id);
          const r = await admin.deleteInstance(id, false);
          // Each instance has one execution with OrchestrationStarted + a terminal event.
          expect(r.instances_deleted).toBe(1);
          expect(r.executions_deleted).toBe(1);
          expect(r.events_deleted).toBe(2);
          await expectGone(admin, id);
          expect(await p.read(id)).toEqual([]);
        }
        expect(await admin.listInstances()).toEqual([]);
      },
    },
    {
      name: "deleting a Running instance without force fails with InstanceRunning and keeps it; force deletes it (test_delete_running_rejected_force_succeeds)",
      requires: ["management"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const admin = requireAdmin(p);
        await createRunningInstance(p, "del-running");

        await expectProviderError(admin.deleteInstance("del-running", false), "InstanceRunning");
        const info = await admin.getInstanceInfo("del-running");
        expect(info.status).toBe("Running");
        expect((await p.read("del-running")).map((e) => e.type)).toEqual(["OrchestrationStarted"]);

        const r = await admin.deleteInstance("del-running", true);
        expect(r.instances_deleted).toBe(1);
        expect(r.executions_deleted).toBe(1);
        await expectGone(admin, "del-running");
        expect(await p.read("del-running")).toEqual([]);
      },
    },
    {
      name: "deleting an unknown instance fails with NotFound (test_delete_nonexistent_instance)",
      requires: ["management"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const admin = requireAdmin(p);
        await expectProviderError(admin.deleteInstance("does-not-exist-12345", false), "NotFound");
        await expectProviderError(admin.deleteInstance("does-not-exist-12345", true), "NotFound");
      },
    },
    {
      name: "delete purges queued messages (both queues) and the instance lock, so the id can be restarted as a new orchestration (test_delete_cleans_queues_and_locks)",
      requires: ["management"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const admin = requireAdmin(p);
        const id = "del-queues-locks";
        await p.enqueueForOrchestrator(startItem(id), null);
        await p.enqueueForWorker(activityItem(id, 1));
        const first = await fetchOrch(p, 30_000);
        await p.ackOrchestrationItem(
          first.lockToken,
          1,
          [startedEvent(id), event(id, 1, 2, { type: "OrchestrationCompleted", output: "done" })],
          [],
          [],
          terminalMeta("Completed", "done"),
          [],
        );
        // A late message whose batch is locked for 30 s: only the delete can release that lock.
        await p.enqueueForOrchestrator(externalRaisedItem(id, "late"), null);
        const held = await fetchOrch(p, 30_000);
        expect(held.item.instance).toBe(id);

        const r = await admin.deleteInstance(id, false);
        expect(r.instances_deleted).toBe(1);
        // The worker activity and the locked ExternalRaised.
        expect(r.queue_messages_deleted).toBe(2);
        expect(await p.fetchWorkItem(30_000, 0, null, { type: "Any" })).toBeNull();
        expect(await p.fetchOrchestrationItem(30_000, 0)).toBeNull();

        await p.enqueueForOrchestrator(
          startItem(id, { orchestration: "ReusedOrch", version: "2.0.0", input: '{"reused":true}' }),
          null,
        );
        const again = await fetchOrch(p, 30_000);
        expect(again.item.instance).toBe(id);
        expect(again.item.orchestration_name).toBe("ReusedOrch");
        expect(again.item.history).toEqual([]);
        expect(again.item.messages.map((m) => m.type)).toEqual(["StartOrchestration"]);
        await p.ackOrchestrationItem(
          again.lockToken,
          1,
          [startedEvent(id, 1, { name: "ReusedOrch", version: "2.0.0", input: '{"reused":true}' })],
          [],
          [],
          runningMeta("ReusedOrch", "2.0.0"),
          [],
        );
        const info = await admin.getInstanceInfo(id);
        expect(info.orchestration_name).toBe("ReusedOrch");
        expect(info.orchestration_version).toBe("2.0.0");
        expect(info.status).toBe("Running");
        expect(info.current_execution_id).toBe(1);
        const history = await p.read(id);
        expect(history.map((e) => e.type)).toEqual(["OrchestrationStarted"]);
      },
    },
    {
      name: "a child or grandchild cannot be deleted directly (even forced); deleting the root removes the whole tree (test_cascade_delete_hierarchy)",
      requires: ["management"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const admin = requireAdmin(p);
        const root = "cascade-root";
        const child1 = "cascade-child1";
        const child2 = "cascade-child2";
        const grandchild = "cascade-grandchild";
        await createCompletedInstance(p, root);
        await createCompletedInstance(p, child1, { parentInstance: root });
        await createCompletedInstance(p, child2, { parentInstance: root });
        await createCompletedInstance(p, grandchild, { parentInstance: child1 });

                await expectProviderError(admin.deleteInstance(child1, false), "NotRoot");
        await expectProviderError(admin.deleteInstance(child1, true), "NotRoot");
        await expectProviderError(admin.deleteInstance(grandchild, false), "NotRoot");
        await expectProviderError(admin.deleteInstance(grandchild, true), "NotRoot");
        for (const id of [root, child1, child2, grandchild]) await expectPresent(admin, id);

        const r = await admin.deleteInstance(root, false);
        expect(r.instances_deleted).toBe(4);
        expect(r.executions_deleted).toBeGreaterThanOrEqual(4);
        expect(r.events_deleted).toBeGreaterThanOrEqual(8);
        for (const id of [root, child1, child2, grandchild]) await expectGone(admin, id);
        expect(await admin.listInstances()).toEqual([]);
      },
    },
    {
      name: "force-deleting an instance during a held turn makes that turn's ack fail and the instance is not recreated (test_force_delete_prevents_ack_recreation)",
      requires: ["management"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const admin = requireAdmin(p);
        const id = "zombie-prevention";
        await createRunningInstance(p, id);
        await p.enqueueForOrchestrator(externalRaisedItem(id, "test-event"), null);
        const turn = await fetchOrch(p, 30_000);
        expect(turn.item.instance).toBe(id);

        const r = await admin.deleteInstance(id, true);
        expect(r.instances_deleted).toBe(1);

        await expectProviderError(
          p.ackOrchestrationItem(
            turn.lockToken,
            1,
            [event(id, 1, 2, { type: "ExternalEvent", name: "test-event", data: "{}" })],
            [],
            [],
            runningMeta(),
            [],
          ),
          "LockLost",
        );
        await expectGone(admin, id);
        expect(await p.read(id)).toEqual([]);
        expect(await admin.listExecutions(id)).toEqual([]);
        expect(await admin.listInstances()).toEqual([]);
      },
    },
    {
      name: "listChildren returns direct children only; a leaf or unknown id has none (test_list_children)",
      requires: ["management"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const admin = requireAdmin(p);
        const t = await createTree(p, "list-children-root");
        expect((await admin.listChildren(t.root)).toSorted()).toEqual([t.child1, t.child2].toSorted());
        expect(await admin.listChildren(t.child2)).toEqual([t.grandchild]);
        expect(await admin.listChildren(t.child1)).toEqual([]);
        expect(await admin.listChildren(t.grandchild)).toEqual([]);
        expect(await admin.listChildren("non-existent")).toEqual([]);
      },
    },
    {
      name: "getParentId: root -> null, child -> its parent, unknown -> permanent 'not found' (test_delete_get_parent_id)",
      requires: ["management"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const admin = requireAdmin(p);
        const root = "parent-id-root";
        const child = `${root}::sub::2`;
        const grandchild = `${child}::sub::3`;
        await createCompletedInstance(p, root);
        await createCompletedInstance(p, child, { parentInstance: root });
        await createCompletedInstance(p, grandchild, { parentInstance: child });
        expect(await admin.getParentId(root)).toBeNull();
        expect(await admin.getParentId(child)).toBe(root);
        expect(await admin.getParentId(grandchild)).toBe(child);
        await expectProviderError(admin.getParentId("non-existent"), "NotFound");
      },
    },
    {
      name: "getInstanceTree of a root lists the root and every descendant; a leaf's tree is just itself (test_delete_get_instance_tree)",
      requires: ["management"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const admin = requireAdmin(p);
        const t = await createTree(p, "tree-root");
        const tree = await admin.getInstanceTree(t.root);
        expect(tree.root_id).toBe(t.root);
        expect(tree.all_ids.toSorted()).toEqual([t.root, t.child1, t.child2, t.grandchild].toSorted());

        const leaf = await admin.getInstanceTree(t.grandchild);
        expect(leaf.root_id).toBe(t.grandchild);
        expect(leaf.all_ids).toEqual([t.grandchild]);

        const mid = await admin.getInstanceTree(t.child2);
        expect(mid.all_ids.toSorted()).toEqual([t.child2, t.grandchild].toSorted());
      },
    },
    {
      name: "deleteInstancesAtomic deletes several completed instances in one call (test_delete_instances_atomic)",
      requires: ["management"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const admin = requireAdmin(p);
        const ids = ["atomic-del-1", "atomic-del-2", "atomic-del-3"];
        for (const id of ids) await createCompletedInstance(p, id);
        await createCompletedInstance(p, "atomic-keep");

        const r = await admin.deleteInstancesAtomic(ids, false);
        expect(r.instances_deleted).toBe(3);
        expect(r.executions_deleted).toBe(3);
        expect(r.events_deleted).toBe(6);
        for (const id of ids) await expectGone(admin, id);
        // An instance not named in the call is untouched.
        expect(await admin.listInstances()).toEqual(["atomic-keep"]);
        expect((await p.read("atomic-keep")).length).toBe(2);
      },
    },
    {
      name: "deleteInstancesAtomic with a Running instance fails without force (nothing deleted) and succeeds with force (test_delete_instances_atomic_force)",
      requires: ["management"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const admin = requireAdmin(p);
        await createCompletedInstance(p, "atomic-force-completed");
        await createRunningInstance(p, "atomic-force-running");
        const ids = ["atomic-force-completed", "atomic-force-running"];

        await expectProviderError(admin.deleteInstancesAtomic(ids, false), "InstanceRunning");
        // All-or-nothing: the completed one survived the refused call too.
        await expectPresent(admin, "atomic-force-completed");
        await expectPresent(admin, "atomic-force-running");
        expect((await p.read("atomic-force-completed")).length).toBe(2);

        const r = await admin.deleteInstancesAtomic(ids, true);
        expect(r.instances_deleted).toBe(2);
        expect(r.executions_deleted).toBe(2);
        for (const id of ids) await expectGone(admin, id);
      },
    },
    {
      name: "deleteInstancesAtomic refuses to orphan a child (WouldOrphan, nothing deleted); root + child succeeds (test_delete_instances_atomic_orphan_detection)",
      requires: ["management"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const admin = requireAdmin(p);
        const root = "orphan-detect-root";
        const child = `${root}::sub::2`;
        await createCompletedInstance(p, root);
        await createCompletedInstance(p, child, { parentInstance: root });

        await expectProviderError(admin.deleteInstancesAtomic([root], false), "WouldOrphan");
        // Force does not bypass the orphan check either.
        await expectProviderError(admin.deleteInstancesAtomic([root], true), "WouldOrphan");
        await expectPresent(admin, root);
        await expectPresent(admin, child);
        expect((await p.read(root)).length).toBe(2);

        const r = await admin.deleteInstancesAtomic([root, child], false);
        expect(r.instances_deleted).toBe(2);
        await expectGone(admin, root);
        await expectGone(admin, child);
      },
    },
    {
      name: "after force delete and recreate of the same id, the old worker's ack fails and its completion never reaches the new instance (test_stale_activity_after_delete_recreate)",
      requires: ["management"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const admin = requireAdmin(p);
        const id = "stale-activity-recreate";
        await createRunningInstance(p, id, {
          extraEvents: [activityScheduledEvent(id, 1, 2, "OldActivity", "old-input")],
          workerItems: [activityItem(id, 2, { name: "OldActivity", input: "old-input" })],
        });
        const oldWork = await fetchWork(p, 30_000);
        expect(oldWork.item.type).toBe("ActivityExecute");

        const r = await admin.deleteInstance(id, true);
        expect(r.instances_deleted).toBe(1);
        await expectGone(admin, id);

        await createRunningInstance(p, id);
        expect((await admin.getInstanceInfo(id)).status).toBe("Running");

        await expectProviderError(
          p.ackWorkItem(oldWork.lockToken, {
            type: "ActivityCompleted",
            instance: id,
            execution_id: 1,
            id: 2,
            result: "stale-result-from-old-instance",
          }),
          "LockLost",
        );

        await p.enqueueForOrchestrator(externalRaisedItem(id, "probe-event"), null);
        const probe = await fetchOrch(p, 30_000);
        expect(probe.item.instance).toBe(id);
        // Only the probe: the stale completion was never enqueued.
        expect(probe.item.messages).toEqual([externalRaisedItem(id, "probe-event")]);
        expect(probe.item.history.map((e) => e.type)).toEqual(["OrchestrationStarted"]);
        expect(await p.fetchWorkItem(30_000, 0, null, { type: "Any" })).toBeNull();
      },
    },
  ],
};
