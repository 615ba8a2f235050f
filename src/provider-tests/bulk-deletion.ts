/**
 * bulk_deletion: deleteInstanceBulk picks terminal root instances by filter, silently skips the
 * rest, honours the limit and deletes each candidate's whole tree (docs/provider-contract.md §7.4,
 * R17); explicit ids are all processed, beyond the default limit, without holding the event loop.
 */
import { expect } from "bun:test";
import type { ProviderAdmin } from "../provider.ts";
import type { ProviderModule } from "./harness.ts";
import {
  createCompletedInstance,
  createCompletedInstances,
  createRunningInstance,
  eventLoopTurned,
  expectProviderError,
  requireAdmin,
  sleep,
  expectGone,
} from "./helpers.ts";

async function exists(admin: ProviderAdmin, instance: string): Promise<boolean> {
  try {
    await admin.getInstanceInfo(instance);
    return true;
  } catch {
    return false;
  }
}


export const bulkDeletion: ProviderModule = {
  name: "bulk_deletion",
  cases: [
    {
      name: "deleteInstanceBulk by ids deletes exactly those, unknown ids delete nothing, an empty filter deletes every remaining terminal instance (test_delete_instance_bulk_filter_combinations)",
      requires: ["management"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const admin = requireAdmin(p);
        const ids = [0, 1, 2, 3, 4].map((i) => `bulk-del-filter-${i}`);
        for (const id of ids) await createCompletedInstance(p, id);

        const byIds = await admin.deleteInstanceBulk({ instance_ids: [ids[0]!, ids[1]!] });
        expect(byIds.instances_deleted).toBe(2);
        expect(byIds.executions_deleted).toBe(2);
        await expectGone(admin, ids[0]!);
        await expectGone(admin, ids[1]!);
        expect(await exists(admin, ids[2]!)).toBe(true);

        const unknown = await admin.deleteInstanceBulk({ instance_ids: ["does-not-exist-1", "does-not-exist-2"] });
        expect(unknown.instances_deleted).toBe(0);
        // An empty id list selects nothing (it is not "no id filter").
        const emptyList = await admin.deleteInstanceBulk({ instance_ids: [] });
        expect(emptyList.instances_deleted).toBe(0);
        expect((await admin.listInstances()).toSorted()).toEqual(ids.slice(2).toSorted());

        const rest = await admin.deleteInstanceBulk({});
        expect(rest.instances_deleted).toBe(3);
        for (const id of ids.slice(2)) await expectGone(admin, id);
        expect(await admin.listInstances()).toEqual([]);
      },
    },
    {
      name: "deleteInstanceBulk silently skips Running instances and deletes at most `limit` per call (test_delete_instance_bulk_safety_and_limits)",
      requires: ["management"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const admin = requireAdmin(p);
        const completed = ["bulk-del-safe-completed-1", "bulk-del-safe-completed-2"];
        const running = ["bulk-del-safe-running-1", "bulk-del-safe-running-2"];
        for (const id of completed) await createCompletedInstance(p, id);
        for (const id of running) await createRunningInstance(p, id);

        const mixed = await admin.deleteInstanceBulk({ instance_ids: [...completed, ...running] });
        expect(mixed.instances_deleted).toBe(2);
        for (const id of completed) await expectGone(admin, id);
        for (const id of running) expect((await admin.getInstanceInfo(id)).status).toBe("Running");

        const batch = [0, 1, 2, 3].map((i) => `bulk-del-batch-${i}`);
        for (const id of batch) await createCompletedInstance(p, id);
        expect((await admin.deleteInstanceBulk({ limit: 2 })).instances_deleted).toBe(2);
        expect((await admin.deleteInstanceBulk({ limit: 2 })).instances_deleted).toBe(2);
        expect((await admin.deleteInstanceBulk({ limit: 2 })).instances_deleted).toBe(0);
        for (const id of batch) await expectGone(admin, id);
        // Only the Running instances are left.
        expect((await admin.listInstances()).toSorted()).toEqual(running.toSorted());
      },
    },
    {
      name: "deleteInstanceBulk with completed_before deletes only instances completed before the cutoff (test_delete_instance_bulk_completed_before_filter)",
      requires: ["management"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const admin = requireAdmin(p);
        const ids = ["bulk-del-time-1", "bulk-del-time-2"];
        const before = Date.now();
        // Millisecond clocks: keep the completions strictly inside (before, after).
        await sleep(10);
        for (const id of ids) await createCompletedInstance(p, id);
        await sleep(10);
        const after = Date.now();

        const early = await admin.deleteInstanceBulk({ instance_ids: ids, completed_before: before });
        expect(early.instances_deleted).toBe(0);
        for (const id of ids) expect(await exists(admin, id)).toBe(true);

        const late = await admin.deleteInstanceBulk({ instance_ids: ids, completed_before: after });
        expect(late.instances_deleted).toBe(2);
        for (const id of ids) await expectGone(admin, id);
      },
    },
    {
      name: "deleteInstanceBulk deletes each selected root's children too and counts whole trees (test_delete_instance_bulk_cascades_to_children)",
      requires: ["management"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const admin = requireAdmin(p);
        const parent1 = "bulk-del-cascade-parent1";
        const parent2 = "bulk-del-cascade-parent2";
        const standalone = "bulk-del-cascade-standalone";
        const child1 = "bulk-del-cascade-child1";
        const children2 = ["a", "b", "c"].map((s) => `bulk-del-cascade-child2${s}`);
        await createCompletedInstance(p, parent1);
        await createCompletedInstance(p, child1, { parentInstance: parent1 });
        await createCompletedInstance(p, parent2);
        for (const c of children2) await createCompletedInstance(p, c, { parentInstance: parent2 });
        await createCompletedInstance(p, standalone);
        const all = [parent1, child1, parent2, ...children2, standalone];
        for (const id of all) expect(await exists(admin, id)).toBe(true);

        // Only roots are candidates: naming a sub-orchestration alone deletes nothing.
        const childOnly = await admin.deleteInstanceBulk({ instance_ids: [child1, children2[0]!] });
        expect(childOnly.instances_deleted).toBe(0);
        for (const id of all) expect(await exists(admin, id)).toBe(true);

        const r = await admin.deleteInstanceBulk({ instance_ids: [parent1, parent2, standalone] });
        // 3 roots + 1 + 3 children.
        expect(r.instances_deleted).toBe(7);
        expect(r.executions_deleted).toBe(7);
        for (const id of all) await expectGone(admin, id);
        expect(await admin.listInstances()).toEqual([]);
      },
    },
      {
      name: "deleteInstanceBulk with explicit instance_ids deletes every listed terminal root, beyond the default limit of 1000 (1,001 ids), and lets the event loop turn while it works",
      requires: ["management"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const admin = requireAdmin(p);
        const ids = Array.from({ length: 1_002 }, (_, i) => `bulk-del-many-${i}`);
        await createCompletedInstances(p, ids, ctx.lockTimeoutMs);
        const listed = ids.slice(0, 1_001);

        const turned = eventLoopTurned();
        const r = await admin.deleteInstanceBulk({ instance_ids: listed });
        // A synchronous store must work in chunks and yield between them (docs/provider-contract.md §7.4).
        expect(turned()).toBe(true);
        expect(r.instances_deleted).toBe(1_001);
        expect(r.executions_deleted).toBe(1_001);
        expect(r.events_deleted).toBe(2_002);
        expect(await admin.listInstances()).toEqual([ids[1_001]!]);
        // Listing an id twice deletes it once; nothing is left to delete.
        expect((await admin.deleteInstanceBulk({ instance_ids: [...listed, ...listed] })).instances_deleted).toBe(0);
      },
    },
    {
      name: "deleteInstanceBulk with instance_ids and a limit deletes the oldest `limit` of the listed terminal roots",
      requires: ["management"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const admin = requireAdmin(p);
        const ids = ["bulk-del-lim-a", "bulk-del-lim-b", "bulk-del-lim-c"];
        for (const id of ids) {
          await createCompletedInstance(p, id);
          await sleep(5); // distinct creation times: "oldest" is then unambiguous
        }
        const r = await admin.deleteInstanceBulk({ instance_ids: [ids[2]!, ids[1]!, ids[0]!], limit: 2 });
        expect(r.instances_deleted).toBe(2);
        await expectGone(admin, ids[0]!);
        await expectGone(admin, ids[1]!);
        expect(await exists(admin, ids[2]!)).toBe(true);
      },
    },
  ],
};
