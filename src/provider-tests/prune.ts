/**
 * prune: pruneExecutions / pruneExecutionsBulk remove old ContinueAsNew generations but never the
 * current or a Running execution; bulk prune includes Running instances (docs/provider-contract.md
 * §7.5, R17).
 */
import { expect } from "bun:test";
import type { Provider } from "../provider.ts";
import type { ProviderModule } from "./harness.ts";
import {
  continueAsNewItem,
  createCompletedInstances,
  eventLoopTurned,
  expectProviderError,
  fetchOrch,
  requireAdmin,
  startedEvent,
  startItem,
} from "./helpers.ts";

/**
 * Builds a ContinueAsNew chain of `count` executions, one OrchestrationStarted event each: executions
 * 1..count-1 end ContinuedAsNew, the last ends with `lastStatus`.
 */
async function createChain(
  p: Provider,
  instance: string,
  count: number,
  lastStatus: "Completed" | "Running" = "Completed",
  name = "TestOrch",
): Promise<void> {
  for (let exec = 1; exec <= count; exec++) {
    const item = exec === 1 ? startItem(instance, { orchestration: name }) : continueAsNewItem(instance, { orchestration: name });
    await p.enqueueForOrchestrator(item, null);
    const f = await fetchOrch(p, 30_000);
    expect(f.item.instance).toBe(instance);
    const status = exec === count ? lastStatus : "ContinuedAsNew";
    await p.ackOrchestrationItem(
      f.lockToken,
      exec,
      [startedEvent(instance, exec, { name })],
      [],
      [],
      { orchestration_name: name, orchestration_version: "1.0.0", status, output: status === "Running" ? null : "{}" },
      [],
    );
  }
}

export const prune: ProviderModule = {
  name: "prune",
  cases: [
    {
      name: "pruneExecutions keep_last N keeps the newest N executions; empty options keep only the current one (test_prune_options_combinations)",
      requires: ["management"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const admin = requireAdmin(p);
        const id = "prune-options-test";
        await createChain(p, id, 4);
        expect(await admin.listExecutions(id)).toEqual([1, 2, 3, 4]);

        const r = await admin.pruneExecutions(id, { keep_last: 2 });
        expect(r.instances_processed).toBe(1);
        expect(r.executions_deleted).toBe(2);
        expect(r.events_deleted).toBe(2);
        expect(await admin.listExecutions(id)).toEqual([3, 4]);
        expect(await p.readWithExecution(id, 1)).toEqual([]);
        expect(await p.readWithExecution(id, 2)).toEqual([]);
        expect((await p.readWithExecution(id, 3)).length).toBe(1);

        const id2 = "prune-options-empty";
        await createChain(p, id2, 3);
        const current = (await admin.getInstanceInfo(id2)).current_execution_id;
        expect(current).toBe(3);
        const r2 = await admin.pruneExecutions(id2, {});
        expect(r2.instances_processed).toBe(1);
        expect(r2.executions_deleted).toBe(2);
        expect(await admin.listExecutions(id2)).toEqual([current]);
        // The other instance is not touched by a single-instance prune.
        expect(await admin.listExecutions(id)).toEqual([3, 4]);
      },
    },
    {
      name: "pruning never removes the current execution (keep_last 0/1/null alike) and an unknown instance is a permanent error (test_prune_safety)",
      requires: ["management"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const admin = requireAdmin(p);
        const id = "prune-safety-current";
        await createChain(p, id, 3);
        await admin.pruneExecutions(id, { keep_last: 0 });
        const info = await admin.getInstanceInfo(id);
        expect(info.current_execution_id).toBe(3);
        expect(info.status).toBe("Completed");
        expect(await admin.listExecutions(id)).toEqual([3]);
        const latest = await p.read(id);
        expect(latest.map((e) => [e.type, e.execution_id])).toEqual([["OrchestrationStarted", 3]]);

        await expectProviderError(admin.pruneExecutions("does-not-exist-prune", { keep_last: 1 }), "NotFound");

        for (const [label, keep_last] of [["null", null], ["0", 0], ["1", 1]] as const) {
          const inst = `prune-terminal-${label}`;
          await createChain(p, inst, 4);
          const before = await admin.getInstanceInfo(inst);
          expect(before.status).toBe("Completed");
          const r = await admin.pruneExecutions(inst, { keep_last });
          expect(await admin.listExecutions(inst)).toEqual([before.current_execution_id]);
          expect(before.current_execution_id).toBe(4);
          expect(r.executions_deleted).toBe(3);
        }
      },
    },
    {
      name: "pruneExecutionsBulk prunes exactly the instances the filter selects (test_prune_bulk)",
      requires: ["management"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const admin = requireAdmin(p);
        const ids = [0, 1, 2].map((i) => `prune-bulk-${i}`);
        for (const id of ids) await createChain(p, id, 4);

        const r = await admin.pruneExecutionsBulk({ instance_ids: [ids[0]!, ids[1]!] }, { keep_last: 1 });
        expect(r.instances_processed).toBe(2);
        expect(r.executions_deleted).toBe(6);
        expect(r.events_deleted).toBe(6);
        expect(await admin.listExecutions(ids[0]!)).toEqual([4]);
        expect(await admin.listExecutions(ids[1]!)).toEqual([4]);
        expect(await admin.listExecutions(ids[2]!)).toEqual([1, 2, 3, 4]);
      },
    },
    {
      name: "pruneExecutionsBulk includes Running instances and keeps their running current execution (test_prune_bulk_includes_running_instances)",
      requires: ["management"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const admin = requireAdmin(p);
        const id = "prune-running-inst";
        await createChain(p, id, 3, "Running", "LongRunning");
        expect(await admin.listExecutions(id)).toEqual([1, 2, 3]);
        const before = await admin.getInstanceInfo(id);
        expect(before.status).toBe("Running");
        expect(before.current_execution_id).toBe(3);

        const r = await admin.pruneExecutionsBulk({ instance_ids: [id] }, { keep_last: 1 });
        expect(r.instances_processed).toBe(1);
        expect(r.executions_deleted).toBe(2);
        expect(await admin.listExecutions(id)).toEqual([3]);
        const after = await admin.getInstanceInfo(id);
        expect(after.status).toBe("Running");
        expect(after.current_execution_id).toBe(3);
      },
    },
      {
      name: "pruneExecutionsBulk with explicit instance_ids processes every listed instance, beyond the default limit of 1000 (1,001 ids), and lets the event loop turn while it works",
      requires: ["management"],
      async run(ctx) {
        const p = await ctx.createProvider();
        const admin = requireAdmin(p);
        const ids = Array.from({ length: 1_001 }, (_, i) => `prune-many-${i}`);
        await createCompletedInstances(p, ids, ctx.lockTimeoutMs);
        // One of them with old executions to prune, listed last.
        const chained = "prune-many-chained";
        await createChain(p, chained, 3);

        const turned = eventLoopTurned();
        const r = await admin.pruneExecutionsBulk({ instance_ids: [...ids, chained] }, {});
        expect(turned()).toBe(true);
        expect(r.instances_processed).toBe(1_002);
        expect(r.executions_deleted).toBe(2);
        expect(await admin.listExecutions(chained)).toEqual([3]);
      },
    },
  ],
};
