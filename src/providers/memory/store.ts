/**
 * The data MemoryProvider keeps, as plain JavaScript structures: one `InstanceState` per instance
 * id (its row, executions, history, orchestrator messages, lock and KV), plus the worker queue and
 * sessions (worker-queue.ts). These are the "tables" a database provider would have; a provider
 * for another store maps each field here to its own storage.
 *
 * Aliasing: everything a caller hands in or gets back that is an object (events, work items) is
 * stored as JSON text made by the entry's codecs and decoded again on every read. No stored value
 * can then be changed through a reference the caller kept, and no returned value shares anything
 * with the store. It is also what a durable provider does at its boundary, and it makes corrupt
 * stored data a real case (a read that cannot decode it reports Corrupt / history_error).
 * Strings (KV values, custom status, outputs) are immutable and stored as they are.
 */
import type { DeleteInstanceResult } from "../../provider-api.ts";
import { InstanceState, type InstanceRow } from "./instance-state.ts";
import { OrchestratorQueue } from "./orchestrator-queue.ts";
import { WorkerQueue } from "./worker-queue.ts";

/** The whole store of one MemoryProvider. */
export class MemoryStore {
  readonly instances = new Map<string, InstanceState>();
  /** Parent id -> ids of instance rows naming it as parent (children, trees, cascade delete). */
  readonly children = new Map<string, Set<string>>();
  readonly orchestrator = new OrchestratorQueue();
  readonly workers = new WorkerQueue();
  private seq = 0;

  /** Enqueue order of both queues (and creation order of instance rows). */
  nextSeq(): number {
    return ++this.seq;
  }

  /** The instance's state, created empty on first use. */
  state(id: string): InstanceState {
    let s = this.instances.get(id);
    if (s === undefined) this.instances.set(id, (s = new InstanceState(id)));
    return s;
  }

  /** Drops the state once nothing is left in it, so consumed ids cost no memory. */
  dropIfEmpty(state: InstanceState): void {
    if (state.isEmpty() && this.instances.get(state.id) === state) this.instances.delete(state.id);
  }

  createRow(state: InstanceState, row: InstanceRow): void {
    state.row = row;
    if (row.parentId === null) return;
    let kids = this.children.get(row.parentId);
    if (kids === undefined) this.children.set(row.parentId, (kids = new Set()));
    kids.add(state.id);
  }

  /**
   * Deletes everything stored under the id: row, executions, history, both queues' messages (its
   * lock too, so an in-flight ack fails with LockLost), KV. Returns what it removed.
   */
  purge(id: string): DeleteInstanceResult {
    const state = this.instances.get(id);
    const workerRows = this.workers.purgeInstance(id);
    if (state === undefined) return { instances_deleted: 0, executions_deleted: 0, events_deleted: 0, queue_messages_deleted: workerRows };
    let events = 0;
    for (const h of state.history.values()) events += h.length;
    const result = {
      instances_deleted: state.row === null ? 0 : 1,
      executions_deleted: state.executions.size,
      events_deleted: events,
      queue_messages_deleted: workerRows + this.orchestrator.purge(state),
    };
    const parent = state.row?.parentId;
    const siblings = parent == null ? undefined : this.children.get(parent);
    siblings?.delete(id);
    if (siblings?.size === 0) this.children.delete(parent!);
    this.instances.delete(id);
    return result;
  }
}
