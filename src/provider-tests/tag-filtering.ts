/**
 * tag_filtering: fetchWorkItem honours the worker's TagFilter. DefaultOnly = untagged only,
 * Tags = only the named tags, DefaultAnd = untagged plus the named tags, Any = everything,
 * None = nothing. The tag must be stored on both enqueue paths (enqueueForWorker and the worker
 * items of an orchestration ack) and survive abandon/refetch.
 */
import { expect } from "bun:test";
import type { FetchedWorkItem } from "../core/queue-types.ts";
import { TagFilter } from "../core/queue-types.ts";
import type { WorkItem, WorkItemOf } from "../core/work-items.ts";
import type { Provider } from "../provider.ts";
import type { ProviderModule } from "./harness.ts";
import { activityItem, fetchOrch, runningMeta, startItem, startedEvent } from "./helpers.ts";

/** Work-item lock long enough that nothing lapses during a case. */
const WORK_LOCK_MS = 30_000;

type ActivityExecute = WorkItemOf<"ActivityExecute">;

/** An activity named `Activity<id>`, tagged when `tag` is given. */
function tagged(instance: string, id: number, tag?: string): ActivityExecute {
  return activityItem(instance, id, tag === undefined ? { name: `Activity${id}` } : { name: `Activity${id}`, tag });
}

function asActivity(item: WorkItem): ActivityExecute {
  expect(item.type).toBe("ActivityExecute");
  return item as ActivityExecute;
}

/** Tag of a fetched item, with "absent" and null both reported as null. */
function tagOf(item: ActivityExecute): string | null {
  return item.tag ?? null;
}

function fetchWith(p: Provider, filter: TagFilter): Promise<FetchedWorkItem | null> {
  return p.fetchWorkItem(WORK_LOCK_MS, 0, null, filter);
}

/** Fetch with `filter` and require an ActivityExecute. */
async function take(p: Provider, filter: TagFilter): Promise<{ act: ActivityExecute; token: string; attempt: number }> {
  const f = await fetchWith(p, filter);
  if (f === null) throw new Error(`expected a work item for tag filter ${describeFilter(filter)}, got null`);
  return { act: asActivity(f.item), token: f.lockToken, attempt: f.attemptCount };
}

function describeFilter(filter: TagFilter): string {
  return "tags" in filter ? `${filter.type}{${[...filter.tags].join(",")}}` : filter.type;
}

export const tagFiltering: ProviderModule = {
  name: "tag_filtering",
  cases: [
    {
      name: "a DefaultOnly filter returns only untagged items (1, then 3) and skips the \"gpu\" item (test_default_only_fetches_untagged)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await p.enqueueForWorker(tagged("inst-1", 1));
        await p.enqueueForWorker(tagged("inst-1", 2, "gpu"));
        await p.enqueueForWorker(tagged("inst-1", 3));

        const first = await take(p, TagFilter.defaultOnly());
        expect(first.act.id).toBe(1);
        expect(tagOf(first.act)).toBeNull();
        const second = await take(p, TagFilter.defaultOnly());
        expect(second.act.id).toBe(3);
        expect(tagOf(second.act)).toBeNull();
        expect(await fetchWith(p, TagFilter.defaultOnly())).toBeNull();
      },
    },
    {
      name: "a Tags{gpu} filter returns only the \"gpu\" items (2, then 4), never untagged or \"cpu\" ones (test_tags_fetches_only_matching)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await p.enqueueForWorker(tagged("inst-1", 1));
        await p.enqueueForWorker(tagged("inst-1", 2, "gpu"));
        await p.enqueueForWorker(tagged("inst-1", 3, "cpu"));
        await p.enqueueForWorker(tagged("inst-1", 4, "gpu"));

        const gpu = TagFilter.tags("gpu");
        const first = await take(p, gpu);
        expect(first.act.id).toBe(2);
        expect(tagOf(first.act)).toBe("gpu");
        const second = await take(p, gpu);
        expect(second.act.id).toBe(4);
        expect(tagOf(second.act)).toBe("gpu");
        expect(await fetchWith(p, gpu)).toBeNull();
      },
    },
    {
      name: "a DefaultAnd{gpu} filter returns untagged and \"gpu\" items in order (1, then 2), never \"cpu\" (test_default_and_fetches_untagged_and_matching)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await p.enqueueForWorker(tagged("inst-1", 1));
        await p.enqueueForWorker(tagged("inst-1", 2, "gpu"));
        await p.enqueueForWorker(tagged("inst-1", 3, "cpu"));

        const filter = TagFilter.defaultAnd("gpu");
        const first = await take(p, filter);
        expect(first.act.id).toBe(1);
        expect(tagOf(first.act)).toBeNull();
        const second = await take(p, filter);
        expect(second.act.id).toBe(2);
        expect(tagOf(second.act)).toBe("gpu");
        expect(await fetchWith(p, filter)).toBeNull();
      },
    },
    {
      name: "a None filter returns null even though tagged and untagged items are queued, and locks nothing (test_none_filter_returns_nothing)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await p.enqueueForWorker(tagged("inst-1", 1));
        await p.enqueueForWorker(tagged("inst-1", 2, "gpu"));

        expect(await fetchWith(p, TagFilter.none())).toBeNull();
        // The items are still there for a filter that accepts them.
        const any = await take(p, TagFilter.any());
        expect(any.act.id).toBe(1);
        expect(any.attempt).toBe(1);
      },
    },
    {
      name: "a multi-tag Tags{gpu,tpu} filter returns the \"gpu\" then the \"tpu\" item, never \"cpu\" or untagged ones (test_multi_tag_filter)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await p.enqueueForWorker(tagged("inst-1", 1, "gpu"));
        await p.enqueueForWorker(tagged("inst-1", 2, "tpu"));
        await p.enqueueForWorker(tagged("inst-1", 3, "cpu"));
        await p.enqueueForWorker(tagged("inst-1", 4));

        const filter = TagFilter.tags("gpu", "tpu");
        const first = await take(p, filter);
        expect(first.act.id).toBe(1);
        expect(tagOf(first.act)).toBe("gpu");
        const second = await take(p, filter);
        expect(second.act.id).toBe(2);
        expect(tagOf(second.act)).toBe("tpu");
        expect(await fetchWith(p, filter)).toBeNull();
      },
    },
    {
      name: "a fetched item keeps its tag and the rest of its content (test_tag_round_trip_preservation)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const sent = tagged("inst-1", 1, "gpu");
        await p.enqueueForWorker(sent);

        const got = await take(p, TagFilter.tags("gpu"));
        expect(tagOf(got.act)).toBe("gpu");
        expect(got.act.name).toBe("Activity1");
        expect(got.act.id).toBe(sent.id);
        expect(got.act.instance).toBe(sent.instance);
        expect(got.act.execution_id).toBe(sent.execution_id);
        expect(got.act.input).toBe(sent.input);
        expect(got.act.session_id ?? null).toBeNull();
      },
    },
    {
      name: "an Any filter returns every item regardless of tag, in FIFO order, then null (test_any_filter_fetches_everything)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await p.enqueueForWorker(tagged("inst-1", 1));
        await p.enqueueForWorker(tagged("inst-2", 2, "gpu"));
        await p.enqueueForWorker(tagged("inst-3", 3, "cpu"));

        const got: [number, string | null][] = [];
        for (let i = 0; i < 3; i++) {
          const f = await take(p, TagFilter.any());
          got.push([f.act.id, tagOf(f.act)]);
        }
        expect(got).toEqual([
          [1, null],
          [2, "gpu"],
          [3, "cpu"],
        ]);
        expect(await fetchWith(p, TagFilter.any())).toBeNull();
      },
    },
    {
      name: "after abandon, a Tags{gpu} fetch gets the same tagged item back (attempt >= 2, new lock token) and DefaultOnly sees only the untagged item (test_tag_survives_abandon_and_refetch)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await p.enqueueForWorker(tagged("inst-1", 1, "gpu"));
        await p.enqueueForWorker(tagged("inst-1", 2));

        const gpu = TagFilter.tags("gpu");
        const first = await take(p, gpu);
        expect(first.act.id).toBe(1);
        expect(tagOf(first.act)).toBe("gpu");

        await p.abandonWorkItem(first.token, null, false);

        const again = await take(p, gpu);
        expect(again.act.id).toBe(1);
        expect(tagOf(again.act)).toBe("gpu");
        expect(again.attempt).toBeGreaterThanOrEqual(2);
        expect(again.token).not.toBe(first.token);

        const untagged = await take(p, TagFilter.defaultOnly());
        expect(untagged.act.id).toBe(2);
        expect(tagOf(untagged.act)).toBeNull();
        expect(await fetchWith(p, TagFilter.defaultOnly())).toBeNull();
      },
    },
    {
      name: "workers with different filters on one queue each get only their items: DefaultOnly 1; {gpu,cpu} 2 and 3; {cpu,fpga} 4 then null; Any 5 then null (test_multi_runtime_tag_isolation)",
      async run(ctx) {
        const p = await ctx.createProvider();
        await p.enqueueForWorker(tagged("inst-1", 1));
        await p.enqueueForWorker(tagged("inst-2", 2, "gpu"));
        await p.enqueueForWorker(tagged("inst-3", 3, "cpu"));
        await p.enqueueForWorker(tagged("inst-4", 4, "fpga"));
        await p.enqueueForWorker(tagged("inst-5", 5, "gpu"));

        // Mutually exclusive: DefaultOnly sees only the untagged item.
        const def = await take(p, TagFilter.defaultOnly());
        expect(def.act.id).toBe(1);
        expect(tagOf(def.act)).toBeNull();
        expect(await fetchWith(p, TagFilter.defaultOnly())).toBeNull();

        // Partial overlap: {gpu,cpu} takes the oldest gpu and the cpu item.
        const gpuCpu = TagFilter.tags("gpu", "cpu");
        const a = await take(p, gpuCpu);
        const b = await take(p, gpuCpu);
        expect([a.act.id, b.act.id].sort((x, y) => x - y)).toEqual([2, 3]);

        // {cpu,fpga}: cpu is locked by the other worker, so only fpga remains.
        const cpuFpga = TagFilter.tags("cpu", "fpga");
        const c = await take(p, cpuFpga);
        expect(c.act.id).toBe(4);
        expect(tagOf(c.act)).toBe("fpga");
        expect(await fetchWith(p, cpuFpga)).toBeNull();

        // Full overlap: Any gets the one unlocked item left, the second gpu.
        const d = await take(p, TagFilter.any());
        expect(d.act.id).toBe(5);
        expect(tagOf(d.act)).toBe("gpu");
        expect(await fetchWith(p, TagFilter.any())).toBeNull();
      },
    },
    {
      name: "tags of worker items enqueued by an orchestration ack are stored: DefaultOnly gets only the untagged one, Tags{gpu} the tagged one (test_tag_preserved_through_ack_orchestration_item)",
      async run(ctx) {
        const p = await ctx.createProvider();
        const inst = "tag-ack-inst";
        await p.enqueueForOrchestrator(startItem(inst), null);
        const f = await fetchOrch(p, ctx.lockTimeoutMs);
        expect(f.item.instance).toBe(inst);

        const gpuWork = activityItem(inst, 10, { name: "GpuWork", input: '"model-v3"', tag: "gpu" });
        const cpuWork = activityItem(inst, 11, { name: "CpuWork", input: '"data"' });
        await p.ackOrchestrationItem(f.lockToken, 1, [startedEvent(inst)], [gpuWork, cpuWork], [], runningMeta(), []);

        const untagged = await take(p, TagFilter.defaultOnly());
        expect(untagged.act.name).toBe("CpuWork");
        expect(untagged.act.id).toBe(11);
        expect(tagOf(untagged.act)).toBeNull();
        await p.ackWorkItem(untagged.token, null);

        expect(await fetchWith(p, TagFilter.defaultOnly())).toBeNull();

        const gpu = await take(p, TagFilter.tags("gpu"));
        expect(gpu.act.name).toBe("GpuWork");
        expect(gpu.act.id).toBe(10);
        expect(tagOf(gpu.act)).toBe("gpu");
        expect(gpu.act.input).toBe('"model-v3"');
      },
    },
  ],
};
