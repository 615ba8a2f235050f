/**
 * The management capability of PostgresProvider: listing, inspection, deletion and pruning, the
 * PostgreSQL port of the SQLite admin (src/providers/sqlite/admin.ts) with the same results, orders,
 * error kinds and validation (docs/provider-contract.md §7).
 *
 * Reads are single statements. Deletes run in one transaction each and prunes in one statement
 * each, with their locks and checks inside (./admin-delete.ts); bulk calls run one per chunk
 * (../bulk-chunks.ts). Times are the database server's
 * clock (`now_ms()`). Where SQLite breaks ties by rowid (insertion order), this breaks them by
 * instance id: PostgreSQL rows have no insertion order.
 */
import type { SQL } from "bun";
import type {
  DeleteInstanceResult,
  ExecutionInfo,
  InstanceFilter,
  InstanceInfo,
  InstanceTree,
  PruneOptions,
  PruneResult,
  QueueDepths,
  SystemMetrics,
} from "../../core/admin-types.ts";
import { ProviderError } from "../../core/errors.ts";
import { decodeEvent, type Event } from "../../core/events.ts";
import type { ProviderAdmin } from "../../provider.ts";
import { validateAdminInput } from "../validate-args.ts";
import { forEachBulkChunk } from "../bulk-chunks.ts";
import { AdminWrites, breadthFirst, emptyDelete, notFound, toTreeRows, treeSql, type BulkCursor } from "./admin-delete.ts";
import { postgresError } from "./errors.ts";
import { quoted } from "./options.ts";
import { decodeText } from "./text-codec.ts";

type Row = Record<string, unknown>;

const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

function statements(q: string) {
  return {
    listInstances: `SELECT instance_id FROM ${q}.instances ORDER BY created_at DESC, instance_id COLLATE "C" DESC`,
    listByStatus: `SELECT i.instance_id FROM ${q}.instances AS i
        JOIN ${q}.executions AS e ON e.instance_id = i.instance_id AND e.execution_id = i.current_execution_id
       WHERE e.status = $1::text ORDER BY i.created_at DESC, i.instance_id COLLATE "C" DESC`,
    listExecutions: `SELECT execution_id FROM ${q}.executions WHERE instance_id = $1::text ORDER BY execution_id`,
    history: `SELECT event_data FROM ${q}.history WHERE instance_id = $1::text AND execution_id = $2::bigint ORDER BY event_id`,
    latestHistory: `SELECT event_data FROM ${q}.history
       WHERE instance_id = $1::text
         AND execution_id = (SELECT coalesce(max(execution_id), 1) FROM ${q}.executions WHERE instance_id = $1::text)
       ORDER BY event_id`,
    latest: `SELECT coalesce(max(execution_id), 1) AS m FROM ${q}.executions WHERE instance_id = $1::text`,
    instanceInfo: `SELECT i.instance_id, i.orchestration_name, i.orchestration_version, i.current_execution_id,
              e.status, e.output, i.created_at, i.updated_at, i.parent_instance_id, i.custom_status, i.custom_status_version
         FROM ${q}.instances AS i
         LEFT JOIN ${q}.executions AS e ON e.instance_id = i.instance_id AND e.execution_id = i.current_execution_id
        WHERE i.instance_id = $1::text`,
    executionInfo: `SELECT e.execution_id, e.status, e.output, e.started_at, e.completed_at,
              (SELECT count(*) FROM ${q}.history AS h WHERE h.instance_id = e.instance_id AND h.execution_id = e.execution_id) AS event_count
         FROM ${q}.executions AS e WHERE e.instance_id = $1::text AND e.execution_id = $2::bigint`,
    // Each instance classified once, by its current execution's status.
    metrics: `SELECT (SELECT count(*) FROM ${q}.instances) AS total_instances,
              (SELECT count(*) FROM ${q}.executions) AS total_executions,
              count(*) FILTER (WHERE e.status = 'Running') AS running_instances,
              count(*) FILTER (WHERE e.status = 'Completed') AS completed_instances,
              count(*) FILTER (WHERE e.status = 'Failed') AS failed_instances,
              (SELECT count(*) FROM ${q}.history) AS total_events
         FROM ${q}.instances AS i
         LEFT JOIN ${q}.executions AS e ON e.instance_id = i.instance_id AND e.execution_id = i.current_execution_id`,
    // A message counts as queued unless it belongs to a batch under a live lock; stale tags left by
    // expired or abandoned locks do not hide it (docs/provider-contract.md Q9).
    queueDepths: `WITH clock AS (SELECT ${q}.now_ms() AS now)
       SELECT (SELECT count(*) FROM ${q}.orchestrator_queue AS m
                 LEFT JOIN ${q}.instance_locks AS l
                   ON l.instance_id = m.instance_id AND l.lock_token = m.lock_token AND l.locked_until > (SELECT now FROM clock)
                WHERE l.instance_id IS NULL) AS orch,
              (SELECT count(*) FROM ${q}.worker_queue
                WHERE lock_token IS NULL OR locked_until <= (SELECT now FROM clock)) AS worker`,
    children: `SELECT instance_id FROM ${q}.instances WHERE parent_instance_id = $1::text ORDER BY created_at, instance_id COLLATE "C"`,
    parent: `SELECT parent_instance_id FROM ${q}.instances WHERE instance_id = $1::text`,
    tree: treeSql(q),
  };
}

export class PostgresProviderAdmin implements ProviderAdmin {
  private readonly s: ReturnType<typeof statements>;
  private readonly writes: AdminWrites;

  /**
   * `sql` is the provider's pool; `schema` its (unquoted) schema name. `isClosed`, when given,
   * tells whether the provider was closed: calls then fail with kind Closed rather than with the
   * closed pool's connection error.
   */
  constructor(
    private readonly sql: SQL,
    schema: string,
    private readonly isClosed: () => boolean = () => false,
  ) {
    const q = quoted(schema);
    this.s = statements(q);
    this.writes = new AdminWrites(q);
  }

  /** Runs `fn`, mapping every failure to a ProviderError of `op`. */
  private async run<T>(op: string, fn: () => Promise<T>): Promise<T> {
    if (this.isClosed()) throw ProviderError.closed(op);
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof ProviderError) && this.isClosed()) throw ProviderError.closed(op);
      throw postgresError(op, err);
    }
  }

  private query(text: string, params: unknown[] = []): Promise<Row[]> {
    return this.sql.unsafe(text, params) as Promise<Row[]>;
  }

  /** Runs `fn` in one transaction (rolled back when it throws). */
  private tx<T>(op: string, fn: (tx: SQL) => Promise<T>): Promise<T> {
    return this.run(op, () => this.sql.begin((tx) => fn(tx)) as Promise<T>);
  }

  async listInstances(): Promise<string[]> {
    return this.run("listInstances", async () => (await this.query(this.s.listInstances)).map((r) => r.instance_id as string));
  }

  async listInstancesByStatus(status: string): Promise<string[]> {
    validateAdminInput.listInstancesByStatus(status);
    return this.run("listInstancesByStatus", async () =>
      (await this.query(this.s.listByStatus, [status])).map((r) => r.instance_id as string),
    );
  }

  async listExecutions(instance: string): Promise<number[]> {
    const op = "listExecutions";
    validateAdminInput.instance(op, instance);
    return this.run(op, async () => (await this.query(this.s.listExecutions, [instance])).map((r) => Number(r.execution_id)));
  }

  async readHistoryWithExecutionId(instance: string, executionId: number): Promise<Event[]> {
    const op = "readHistoryWithExecutionId";
    validateAdminInput.execution(op, instance, executionId);
    return this.run(op, async () => (await this.query(this.s.history, [instance, executionId])).map((r) => decodeEvent(r.event_data as string)));
  }

  async readHistory(instance: string): Promise<Event[]> {
    const op = "readHistory";
    validateAdminInput.instance(op, instance);
    return this.run(op, async () => (await this.query(this.s.latestHistory, [instance])).map((r) => decodeEvent(r.event_data as string)));
  }

  async latestExecutionId(instance: string): Promise<number> {
    const op = "latestExecutionId";
    validateAdminInput.instance(op, instance);
    return this.run(op, async () => Number((await this.query(this.s.latest, [instance]))[0]?.m ?? 1));
  }

  async getInstanceInfo(instance: string): Promise<InstanceInfo> {
    const op = "getInstanceInfo";
    validateAdminInput.instance(op, instance);
    return this.run(op, async () => {
      const r = (await this.query(this.s.instanceInfo, [instance]))[0];
      if (r === undefined) throw notFound(op, instance);
      return {
        instance_id: r.instance_id as string,
        orchestration_name: r.orchestration_name as string,
        orchestration_version: (r.orchestration_version as string | null) ?? "unknown",
        current_execution_id: Number(r.current_execution_id),
        status: (r.status as string | null) ?? "Running",
        output: decodeText((r.output as string | null) ?? null),
        created_at: Number(r.created_at),
        updated_at: Number(r.updated_at),
        parent_instance_id: (r.parent_instance_id as string | null) ?? null,
        custom_status: decodeText((r.custom_status as string | null) ?? null),
        custom_status_version: Number(r.custom_status_version),
      };
    });
  }

  async getExecutionInfo(instance: string, executionId: number): Promise<ExecutionInfo> {
    const op = "getExecutionInfo";
    validateAdminInput.execution(op, instance, executionId);
    return this.run(op, async () => {
      const r = (await this.query(this.s.executionInfo, [instance, executionId]))[0];
      if (r === undefined) throw ProviderError.notFound(op, `execution ${executionId} of instance ${instance} not found`);
      return {
        execution_id: Number(r.execution_id),
        status: r.status as string,
        output: decodeText((r.output as string | null) ?? null),
        started_at: Number(r.started_at),
        completed_at: numOrNull(r.completed_at),
        event_count: Number(r.event_count),
      };
    });
  }

  async getSystemMetrics(): Promise<SystemMetrics> {
    return this.run("getSystemMetrics", async () => {
      const r = (await this.query(this.s.metrics))[0]!;
      return {
        total_instances: Number(r.total_instances),
        total_executions: Number(r.total_executions),
        running_instances: Number(r.running_instances),
        completed_instances: Number(r.completed_instances),
        failed_instances: Number(r.failed_instances),
        total_events: Number(r.total_events),
      };
    });
  }

  async getQueueDepths(): Promise<QueueDepths> {
    return this.run("getQueueDepths", async () => {
      const r = (await this.query(this.s.queueDepths))[0];
      return { orchestrator_queue: Number(r?.orch ?? 0), worker_queue: Number(r?.worker ?? 0), timer_queue: 0 };
    });
  }

  async listChildren(instance: string): Promise<string[]> {
    const op = "listChildren";
    validateAdminInput.instance(op, instance);
    return this.run(op, async () => (await this.query(this.s.children, [instance])).map((r) => r.instance_id as string));
  }

  async getParentId(instance: string): Promise<string | null> {
    const op = "getParentId";
    validateAdminInput.instance(op, instance);
    return this.run(op, async () => {
      const r = (await this.query(this.s.parent, [instance]))[0];
      if (r === undefined) throw notFound(op, instance);
      return (r.parent_instance_id as string | null) ?? null;
    });
  }

  /** The root (known or not) and all its descendants, breadth first, siblings oldest first. */
  async getInstanceTree(instance: string): Promise<InstanceTree> {
    const op = "getInstanceTree";
    validateAdminInput.instance(op, instance);
    return this.run(op, async () => ({
      root_id: instance,
      all_ids: breadthFirst([instance], toTreeRows(await this.query(this.s.tree, [[instance]]))),
    }));
  }

  async deleteInstancesAtomic(ids: string[], force: boolean): Promise<DeleteInstanceResult> {
    const op = "deleteInstancesAtomic";
    const list = validateAdminInput.deleteInstancesAtomic(ids);
    if (list.length === 0) return this.run(op, async () => emptyDelete());
    return this.tx(op, (tx) => this.writes.deleteIds(tx, op, list, force));
  }

  async deleteInstance(instance: string, force: boolean): Promise<DeleteInstanceResult> {
    const op = "deleteInstance";
    validateAdminInput.instance(op, instance);
    return this.tx(op, (tx) => this.writes.deleteTree(tx, op, instance, force));
  }

  /** In chunks, one transaction each (../bulk-chunks.ts): every explicit id is processed. */
  async deleteInstanceBulk(filter: InstanceFilter): Promise<DeleteInstanceResult> {
    const op = "deleteInstanceBulk";
    const f = validateAdminInput.deleteInstanceBulk(filter);
    const total = emptyDelete();
    // An empty id list selects nothing (it is not "no id filter"); still refused once closed.
    if (f.instance_ids != null && f.instance_ids.length === 0) return this.run(op, async () => total);
    await forEachBulkChunk<BulkCursor>(f, {
      page: (ids, after, n) => this.run(op, () => this.writes.page(this.sql, "delete", ids, f.completed_before, after, n)),
      process: async (chunk) => {
        const r = await this.tx(op, (tx) => this.writes.deleteBulkChunk(tx, op, chunk, f.completed_before));
        total.instances_deleted += r.instances_deleted;
        total.executions_deleted += r.executions_deleted;
        total.events_deleted += r.events_deleted;
        total.queue_messages_deleted += r.queue_messages_deleted;
      },
    });
    return total;
  }

  async pruneExecutions(instance: string, options: PruneOptions): Promise<PruneResult> {
    const op = "pruneExecutions";
    const opts = validateAdminInput.pruneExecutions(instance, options);
    return this.run(op, () => this.writes.pruneOne(this.sql, op, instance, opts.keep_last, opts.completed_before));
  }

  async pruneExecutionsBulk(filter: InstanceFilter, options: PruneOptions): Promise<PruneResult> {
    const op = "pruneExecutionsBulk";
    const { filter: f, options: opts } = validateAdminInput.pruneExecutionsBulk(filter, options);
    const total = { instances_processed: 0, executions_deleted: 0, events_deleted: 0 };
    if (f.instance_ids != null && f.instance_ids.length === 0) return this.run(op, async () => total);
    await forEachBulkChunk<BulkCursor>(f, {
      page: (ids, after, n) => this.run(op, () => this.writes.page(this.sql, "prune", ids, f.completed_before, after, n)),
      process: async (chunk) => {
        const r = await this.run(op, () => this.writes.pruneBulkChunk(this.sql, chunk, f.completed_before, opts.keep_last, opts.completed_before));
        total.instances_processed += r.instances_processed;
        total.executions_deleted += r.executions_deleted;
        total.events_deleted += r.events_deleted;
      },
    });
    return total;
  }
}
