/**
 * The management capability of MemoryProvider: listings, inspection, deletion and pruning. Each
 * method body runs synchronously inside the provider's `run` (refused once closed, errors mapped),
 * and the deletes check every refusal (running, not a root, would orphan) before removing anything.
 */
import {
  ProviderError,
  validateAdminInput,
  type DeleteInstanceResult,
  type Event,
  type ExecutionInfo,
  type InstanceFilter,
  type InstanceInfo,
  type InstanceTree,
  type ProviderAdmin,
  type PruneOptions,
  type PruneResult,
  type QueueDepths,
  type SystemMetrics,
  isTerminalStatus,
} from "../../provider-api.ts";
import { OrchestratorQueue } from "./orchestrator-queue.ts";
import { decodeHistory, type InstanceRow, type InstanceState } from "./instance-state.ts";
import type { MemoryStore } from "./store.ts";
import { forEachBulkChunk, type BulkWalk } from "../bulk-chunks.ts";

/** The provider's method runner: closed check, a timestamp, error mapping. */
export type Run = <T>(op: string, body: (now: number) => T) => T;

type Created = InstanceState & { row: InstanceRow };

const notFound = (op: string, instance: string) => ProviderError.notFound(op, `instance ${instance} not found`);

function sum<T extends object>(parts: T[], zero: T): T {
  const total = { ...zero } as Record<string, number>;
  for (const p of parts) for (const [k, v] of Object.entries(p)) total[k]! += v as number;
  return total as T;
}

const NO_DELETE: DeleteInstanceResult = { instances_deleted: 0, executions_deleted: 0, events_deleted: 0, queue_messages_deleted: 0 };
const NO_PRUNE: PruneResult = { instances_processed: 0, executions_deleted: 0, events_deleted: 0 };

export class MemoryProviderAdmin implements ProviderAdmin {
  constructor(
    private readonly store: MemoryStore,
    private readonly run: Run,
  ) {}

  // ------------------------------------------------------------------ reads

  /** Instances that have a row, oldest first. */
  private created(): Created[] {
    const out: Created[] = [];
    for (const s of this.store.instances.values()) if (s.row !== null) out.push(s as Created);
    return out.sort((a, b) => a.row.createdSeq - b.row.createdSeq);
  }

  private row(op: string, instance: string): Created {
    const s = this.store.instances.get(instance);
    if (s?.row == null) throw notFound(op, instance);
    return s as Created;
  }

  /** The current execution's status of an instance with a row. */
  private status(s: Created): string {
    return s.executions.get(s.row.currentExecutionId)?.status ?? "Running";
  }

  async listInstances(): Promise<string[]> {
    return this.run("listInstances", () => this.created().reverse().map((s) => s.id));
  }

  async listInstancesByStatus(status: string): Promise<string[]> {
    validateAdminInput.listInstancesByStatus(status);
    return this.run("listInstancesByStatus", () =>
      this.created()
        .reverse()
        .filter((s) => s.executions.get(s.row.currentExecutionId)?.status === status)
        .map((s) => s.id),
    );
  }

  async listExecutions(instance: string): Promise<number[]> {
    validateAdminInput.instance("listExecutions", instance);
    return this.run("listExecutions", () => [...(this.store.instances.get(instance)?.executions.keys() ?? [])].sort((a, b) => a - b));
  }

  async readHistoryWithExecutionId(instance: string, executionId: number): Promise<Event[]> {
    validateAdminInput.execution("readHistoryWithExecutionId", instance, executionId);
    return this.run("readHistoryWithExecutionId", () => decodeHistory(this.store.instances.get(instance)?.history.get(executionId)));
  }

  async readHistory(instance: string): Promise<Event[]> {
    validateAdminInput.instance("readHistory", instance);
    return this.run("readHistory", () => {
      const s = this.store.instances.get(instance);
      return s === undefined ? [] : decodeHistory(s.history.get(s.latestExecution() ?? 1));
    });
  }

  async latestExecutionId(instance: string): Promise<number> {
    validateAdminInput.instance("latestExecutionId", instance);
    return this.run("latestExecutionId", () => this.store.instances.get(instance)?.latestExecution() ?? 1);
  }

  async getInstanceInfo(instance: string): Promise<InstanceInfo> {
    const op = "getInstanceInfo";
    validateAdminInput.instance(op, instance);
    return this.run(op, () => {
      const s = this.row(op, instance);
      return {
        instance_id: s.id,
        orchestration_name: s.row.name,
        orchestration_version: s.row.version,
        current_execution_id: s.row.currentExecutionId,
        status: this.status(s),
        output: s.executions.get(s.row.currentExecutionId)?.output ?? null,
        created_at: s.row.createdAt,
        updated_at: s.row.updatedAt,
        parent_instance_id: s.row.parentId,
        custom_status: s.row.customStatus,
        custom_status_version: s.row.customStatusVersion,
      };
    });
  }

  async getExecutionInfo(instance: string, executionId: number): Promise<ExecutionInfo> {
    const op = "getExecutionInfo";
    validateAdminInput.execution(op, instance, executionId);
    return this.run(op, () => {
      const s = this.store.instances.get(instance);
      const e = s?.executions.get(executionId);
      if (e === undefined) throw ProviderError.notFound(op, `execution ${executionId} of instance ${instance} not found`);
      return {
        execution_id: executionId,
        status: e.status,
        output: e.output,
        started_at: e.startedAt,
        completed_at: e.completedAt,
        event_count: s!.history.get(executionId)?.length ?? 0,
      };
    });
  }

  async getSystemMetrics(): Promise<SystemMetrics> {
    return this.run("getSystemMetrics", () => {
      const m: SystemMetrics = { total_instances: 0, total_executions: 0, running_instances: 0, completed_instances: 0, failed_instances: 0, total_events: 0 };
      for (const s of this.store.instances.values()) {
        m.total_executions += s.executions.size;
        for (const h of s.history.values()) m.total_events += h.length;
        if (s.row === null) continue;
        m.total_instances++;
        const status = this.status(s as Created);
        if (status === "Running") m.running_instances++;
        else if (status === "Completed") m.completed_instances++;
        else if (status === "Failed") m.failed_instances++;
      }
      return m;
    });
  }

  async getQueueDepths(): Promise<QueueDepths> {
    return this.run("getQueueDepths", (now) => ({
      orchestrator_queue: OrchestratorQueue.depth(this.store.instances.values(), now),
      worker_queue: this.store.workers.depth(now),
      timer_queue: 0, // timers ride the orchestrator queue
    }));
  }

  // ------------------------------------------------------------------ hierarchy

  async listChildren(instance: string): Promise<string[]> {
    validateAdminInput.instance("listChildren", instance);
    return this.run("listChildren", () => [...(this.store.children.get(instance) ?? [])]);
  }

  async getParentId(instance: string): Promise<string | null> {
    const op = "getParentId";
    validateAdminInput.instance(op, instance);
    return this.run(op, () => this.row(op, instance).row.parentId);
  }

  async getInstanceTree(instance: string): Promise<InstanceTree> {
    validateAdminInput.instance("getInstanceTree", instance);
    return this.run("getInstanceTree", () => ({ root_id: instance, all_ids: this.tree(instance) }));
  }

  /** The root and all its descendants, breadth first (a visited set guards against cycles). */
  private tree(root: string): string[] {
    const out = [root];
    const seen = new Set(out);
    for (let i = 0; i < out.length; i++) {
      for (const c of this.store.children.get(out[i]!) ?? []) {
        if (seen.has(c)) continue;
        seen.add(c);
        out.push(c);
      }
    }
    return out;
  }

  // ------------------------------------------------------------------ deletion

  async deleteInstancesAtomic(ids: string[], force: boolean): Promise<DeleteInstanceResult> {
    const op = "deleteInstancesAtomic";
    const checked = validateAdminInput.deleteInstancesAtomic(ids);
    return this.run(op, () => this.deleteIds(op, checked, force));
  }

  /** Every refusal is checked before the first instance is removed: all of `ids` go, or none. */
  private deleteIds(op: string, ids: readonly string[], force: boolean): DeleteInstanceResult {
    const doomed = new Set(ids);
    for (const id of doomed) {
      const s = this.store.instances.get(id);
      if (!force && s?.row != null && this.status(s as Created) === "Running") {
        throw new ProviderError("InstanceRunning", op, `instance ${id} is still running; cancel it first or delete with force`);
      }
      for (const child of this.store.children.get(id) ?? []) {
        if (!doomed.has(child)) throw new ProviderError("WouldOrphan", op, `deleting ${id} would orphan its child ${child}: include the whole tree`);
      }
    }
    return sum([...doomed].map((id) => this.store.purge(id)), NO_DELETE);
  }

  /** Deletes a root with its whole tree; a sub-orchestration is refused even with `force`. */
  async deleteInstance(instance: string, force: boolean): Promise<DeleteInstanceResult> {
    const op = "deleteInstance";
    validateAdminInput.instance(op, instance);
    return this.run(op, () => {
      const parent = this.row(op, instance).row.parentId;
      if (parent !== null) throw new ProviderError("NotRoot", op, `instance ${instance} is a sub-orchestration of ${parent}: delete its root instead`);
      return this.deleteIds(op, this.tree(instance), force);
    });
  }

  /**
   * Force-deletes the trees of terminal roots the filter selects; anything else is skipped
   * silently. In chunks, yielding between them (../bulk-chunks.ts): all explicit ids are processed,
   * and a call over many instances does not hold the process.
   */
  async deleteInstanceBulk(filter: InstanceFilter): Promise<DeleteInstanceResult> {
    const op = "deleteInstanceBulk";
    const f = validateAdminInput.deleteInstanceBulk(filter);
    let total = NO_DELETE;
    await forEachBulkChunk(
      f,
      this.bulkWalk(op, f, (s) => s.row.parentId === null && isTerminalStatus(this.status(s)), (roots) => {
        total = sum([total, ...roots.map((s) => this.deleteIds(op, this.tree(s.id), true))], NO_DELETE);
      }),
    );
    return total;
  }

  /**
   * Pages and chunks of a bulk call over instances with a row that match the filter's
   * completed_before and `keep`, oldest first. Pages without ids walk one snapshot of the creation
   * order (taken at the first page) by creation sequence; every instance is re-checked when it is
   * paged and again when its chunk is processed (`apply`, in one synchronous step).
   */
  private bulkWalk(op: string, f: InstanceFilter, keep: (s: Created) => boolean, apply: (selected: Created[]) => void): BulkWalk<number> {
    const cutoff = f.completed_before ?? null;
    const live = (id: string): Created | null => {
      const s = this.store.instances.get(id);
      return s?.row != null ? (s as Created) : null;
    };
    const matches = (s: Created): boolean => {
      const done = s.executions.get(s.row.currentExecutionId)?.completedAt ?? null;
      return (cutoff === null || (done !== null && done < cutoff)) && keep(s);
    };
    const listed = (ids: string[]): Created[] =>
      ids
        .map(live)
        .filter((s): s is Created => s !== null && matches(s))
        .sort((a, b) => a.row.createdSeq - b.row.createdSeq);
    let order: Created[] | null = null;
    return {
      page: async (ids, after, n) =>
        this.run(op, () => {
          let rows: Created[];
          if (ids !== null) rows = listed(ids).slice(0, n);
          else {
            order ??= this.created();
            rows = [];
            for (let i = 0; i < order.length && rows.length < n; i++) {
              const s = order[i]!;
              if ((after === null || s.row.createdSeq > after) && live(s.id) === s && matches(s)) rows.push(s);
            }
          }
          return { ids: rows.map((s) => s.id), next: rows.at(-1)?.row.createdSeq ?? null };
        }),
      process: async (chunk) => this.run(op, () => apply(listed(chunk))),
    };
  }

  // ------------------------------------------------------------------ pruning

  async pruneExecutions(instance: string, options: PruneOptions): Promise<PruneResult> {
    const op = "pruneExecutions";
    const opts = validateAdminInput.pruneExecutions(instance, options);
    return this.run(op, () => this.prune(this.row(op, instance), opts));
  }

  /** Prunes every instance the filter selects, Running ones included, in chunks like deleteInstanceBulk. */
  async pruneExecutionsBulk(filter: InstanceFilter, options: PruneOptions): Promise<PruneResult> {
    const op = "pruneExecutionsBulk";
    const v = validateAdminInput.pruneExecutionsBulk(filter, options);
    let total = NO_PRUNE;
    await forEachBulkChunk(
      v.filter,
      this.bulkWalk(op, v.filter, () => true, (selected) => {
        total = sum([total, ...selected.map((s) => this.prune(s, v.options))], NO_PRUNE);
      }),
    );
    return total;
  }

  /**
   * Deletes old executions and their history: never the current one, never a Running one, keeping
   * the newest `keep_last` (null, 0 and 1 all mean "the current one only"). KV is left alone.
   */
  private prune(s: Created, opts: PruneOptions): PruneResult {
    const keep = Math.max(opts.keep_last ?? 1, 1);
    const cutoff = opts.completed_before ?? null;
    const newestFirst = [...s.executions.keys()].sort((a, b) => b - a);
    const victims = newestFirst.slice(keep).filter((id) => {
      const e = s.executions.get(id)!;
      return id !== s.row.currentExecutionId && e.status !== "Running" && (cutoff === null || (e.completedAt !== null && e.completedAt < cutoff));
    });
    let events = 0;
    for (const id of victims) {
      events += s.history.get(id)?.length ?? 0;
      s.history.delete(id);
      s.executions.delete(id);
    }
    return { instances_processed: 1, executions_deleted: victims.length, events_deleted: events };
  }
}
