/**
 * The writing half of PostgresProviderAdmin: deletes and prunes, with the same semantics as the
 * SQLite admin (src/providers/sqlite/admin.ts, docs/provider-contract.md §7.3–§7.5), and the
 * hierarchy query the reads share.
 *
 * SQLite gets its safety from a single writer; here a delete locks what it deletes first, inside
 * its transaction, and only then checks and deletes:
 * 1. the transaction advisory lock of every instance, the same key `fetch_orch` try-locks while it
 *    claims an instance (schema.ts): a fetch racing the delete skips the instance, and a fetch
 *    already claiming it finishes first, so its lock row is visible to step 2. Advisory locks
 *    take entries in the server's shared lock table (about 64 per connection for the whole
 *    server), so beyond ADVISORY_LIMIT instances a call inserts a placeholder `instance_locks`
 *    row per instance instead (deleted with the rest): a claim's upsert waits on it and then
 *    finds nothing to claim, and a claim already in progress is waited for by the insert;
 * 2. the instances' `instance_locks` rows, FOR UPDATE: an ack in flight (it holds its lock row
 *    FOR UPDATE) commits before the delete goes on, and an ack that comes later waits, then finds
 *    its lock row gone and fails with LockLost (R16). No turn can write to the instances again;
 * 3. the instance rows FOR UPDATE (serializes with prunes and other admin calls), the checks and
 *    the worker rows (a worker ack in flight commits its completion first, so step 4 sees it);
 * 4. everything else, counted, in one statement.
 * Locks are taken in a fixed order (advisory, instance_locks, instances), the order an ack takes
 * the rows it shares with a delete (instance_locks, then instances).
 * The round trips of a call do not grow with the number of instances; a bulk call is cut into
 * chunks of BULK_CHUNK roots, one transaction each (../bulk-chunks.ts).
 */
import type { SQL } from "bun";
import type { DeleteInstanceResult, PruneResult } from "../../core/admin-types.ts";
import { ProviderError } from "../../core/errors.ts";
import type { BulkPage } from "../bulk-chunks.ts";

type Row = Record<string, unknown>;

/** Most advisory locks one call takes; larger calls lock with placeholder rows (module comment). */
export const ADVISORY_LIMIT = 512;
const TERMINAL_SQL = "('Completed', 'Failed', 'ContinuedAsNew')";
const TERMINAL = new Set(["Completed", "Failed", "ContinuedAsNew"]);

export const notFound = (op: string, instance: string) => ProviderError.notFound(op, `instance ${instance} not found`);

export const emptyDelete = (): DeleteInstanceResult => ({ instances_deleted: 0, executions_deleted: 0, events_deleted: 0, queue_messages_deleted: 0 });

/** One row of the hierarchy query: a queried root (`is_root`) or one of its descendants. */
export interface TreeRow {
  is_root: boolean;
  instance_id: string;
  parent_instance_id: string | null;
  created_at: number;
  /** The current execution's status (root rows only; null without an execution row). */
  status: string | null;
}

/**
 * The roots' own rows and all their descendants in one round trip ($1: root ids). A descendant
 * already on its path is not followed again, so a cycle in bad data ends.
 */
export function treeSql(q: string): string {
  return `WITH RECURSIVE t(instance_id, parent_instance_id, created_at, path) AS (
      SELECT c.instance_id, c.parent_instance_id, c.created_at, ARRAY[c.parent_instance_id, c.instance_id]
        FROM ${q}.instances AS c WHERE c.parent_instance_id = ANY ($1::text[])
      UNION ALL
      SELECT c.instance_id, c.parent_instance_id, c.created_at, t.path || c.instance_id
        FROM t JOIN ${q}.instances AS c ON c.parent_instance_id = t.instance_id
       WHERE c.instance_id <> ALL (t.path))
    SELECT false AS is_root, instance_id, parent_instance_id, created_at, NULL::text AS status FROM t
    UNION ALL
    SELECT true, i.instance_id, i.parent_instance_id, i.created_at, e.status
      FROM ${q}.instances AS i
      LEFT JOIN ${q}.executions AS e ON e.instance_id = i.instance_id AND e.execution_id = i.current_execution_id
     WHERE i.instance_id = ANY ($1::text[])`;
}

export function toTreeRows(rows: Row[]): TreeRow[] {
  return rows.map((r) => ({
    is_root: r.is_root === true,
    instance_id: r.instance_id as string,
    parent_instance_id: (r.parent_instance_id as string | null) ?? null,
    created_at: Number(r.created_at),
    status: (r.status as string | null) ?? null,
  }));
}

const byAge = (a: TreeRow, b: TreeRow) =>
  a.created_at - b.created_at || (a.instance_id < b.instance_id ? -1 : a.instance_id > b.instance_id ? 1 : 0);

/**
 * Each root and its descendants breadth first, root by root, siblings oldest first (the SQLite
 * admin's order); a visited set guards against cycles in bad data.
 */
export function breadthFirst(roots: readonly string[], rows: readonly TreeRow[]): string[] {
  const children = new Map<string, TreeRow[]>();
  for (const r of rows) {
    if (r.is_root || r.parent_instance_id === null) continue;
    let list = children.get(r.parent_instance_id);
    if (list === undefined) children.set(r.parent_instance_id, (list = []));
    list.push(r);
  }
  for (const list of children.values()) list.sort(byAge);
  const seen = new Set<string>();
  const out: string[] = [];
  for (const root of roots) {
    if (seen.has(root)) continue;
    seen.add(root);
    const start = out.length;
    out.push(root);
    for (let i = start; i < out.length; i++) {
      for (const c of children.get(out[i]!) ?? []) {
        if (!seen.has(c.instance_id)) {
          seen.add(c.instance_id);
          out.push(c.instance_id);
        }
      }
    }
  }
  return out;
}

/** The filter, keyset and order of a bulk page ($1-$5 of bulkDeleteCandidates). */
const PAGE_WHERE = (i: string) => `($1::text[] IS NULL OR ${i}.instance_id = ANY ($1::text[]))
         AND ($2::float8 IS NULL OR e.completed_at < $2::float8)
         AND ($3::bigint IS NULL OR ${i}.created_at > $3::bigint
              OR (${i}.created_at = $3::bigint AND ${i}.instance_id COLLATE "C" > $4::text COLLATE "C"))
       ORDER BY ${i}.created_at, ${i}.instance_id COLLATE "C" LIMIT $5::bigint`;

/** A bulk page's position: the sort key of its last instance. */
export interface BulkCursor {
  createdAt: number;
  instanceId: string;
}

function statements(q: string) {
  const ids = "ANY ($1::text[])";
  const prune = (selection: string) => `WITH sel AS (${selection}),
      ranked AS (
        SELECT e.instance_id, e.execution_id, e.status, e.completed_at, s.current_execution_id,
               row_number() OVER (PARTITION BY e.instance_id ORDER BY e.execution_id DESC) AS rn
          FROM ${q}.executions AS e JOIN sel AS s ON s.instance_id = e.instance_id),
      v AS (
        SELECT instance_id, execution_id FROM ranked
         WHERE execution_id <> current_execution_id AND status <> 'Running' AND rn > $2::bigint
           AND ($3::float8 IS NULL OR completed_at < $3::float8)),
      h AS (DELETE FROM ${q}.history AS h USING v WHERE h.instance_id = v.instance_id AND h.execution_id = v.execution_id RETURNING 1),
      x AS (DELETE FROM ${q}.executions AS x USING v WHERE x.instance_id = v.instance_id AND x.execution_id = v.execution_id RETURNING 1)
    SELECT (SELECT count(*) FROM sel) AS instances, (SELECT count(*) FROM x) AS executions, (SELECT count(*) FROM h) AS events`;
  return {
    tree: treeSql(q),
    // Sorted by key, so two deletes sharing instances cannot deadlock on these. $2: the schema
    // prefix of fetch_orch's key ('"schema".' || instance).
    advisoryLock: `SELECT pg_advisory_xact_lock(k) FROM (
        SELECT DISTINCT hashtextextended($2::text || id, 0) AS k FROM unnest($1::text[]) AS id ORDER BY k) AS s`,
    // Live, never-visible-to-others rows (a far future, unique tokens), in id order.
    placeholderLock: `INSERT INTO ${q}.instance_locks (instance_id, lock_token, locked_until, locked_at)
        SELECT id, 'admin-delete:' || gen_random_uuid()::text, ${q}.now_ms() + 31536000000, ${q}.now_ms()
          FROM unnest($1::text[]) AS id ORDER BY id
        ON CONFLICT (instance_id) DO NOTHING`,
    lockRows: `SELECT instance_id FROM ${q}.instance_locks WHERE instance_id = ${ids} ORDER BY instance_id FOR UPDATE`,
    // Checks (inside the transaction, after the locks: Q5) and the worker rows. $2: force.
    checkAndDeleteWork: `WITH locked AS (
          SELECT instance_id FROM ${q}.instances WHERE instance_id = ${ids} ORDER BY instance_id FOR UPDATE),
        work AS (DELETE FROM ${q}.worker_queue WHERE instance_id = ${ids} RETURNING 1)
      SELECT (SELECT count(*) FROM locked) AS locked,
             (SELECT count(*) FROM work) AS worker,
             (SELECT i.instance_id FROM ${q}.instances AS i
                JOIN ${q}.executions AS e ON e.instance_id = i.instance_id AND e.execution_id = i.current_execution_id
               WHERE NOT $2::boolean AND i.instance_id = ${ids} AND e.status = 'Running'
               ORDER BY i.instance_id LIMIT 1) AS running,
             o.instance_id AS orphan, o.parent_instance_id AS orphan_parent
        FROM (SELECT 1) AS one
        LEFT JOIN LATERAL (
          SELECT instance_id, parent_instance_id FROM ${q}.instances
           WHERE parent_instance_id = ${ids} AND instance_id <> ALL ($1::text[])
           ORDER BY instance_id LIMIT 1) AS o ON true`,
    deleteRest: `WITH h AS (DELETE FROM ${q}.history WHERE instance_id = ${ids} RETURNING 1),
        x AS (DELETE FROM ${q}.executions WHERE instance_id = ${ids} RETURNING 1),
        o AS (DELETE FROM ${q}.orchestrator_queue WHERE instance_id = ${ids} RETURNING 1),
        l AS (DELETE FROM ${q}.instance_locks WHERE instance_id = ${ids}),
        ks AS (DELETE FROM ${q}.kv_store WHERE instance_id = ${ids}),
        kd AS (DELETE FROM ${q}.kv_delta WHERE instance_id = ${ids}),
        i AS (DELETE FROM ${q}.instances WHERE instance_id = ${ids} RETURNING 1)
      SELECT (SELECT count(*) FROM i) AS instances, (SELECT count(*) FROM x) AS executions,
             (SELECT count(*) FROM h) AS events, (SELECT count(*) FROM o) AS orchestrator`,
    // Roots whose current execution is terminal, oldest first. $1 ids or null, $2 cutoff or null,
    // $3/$4 the keyset cursor (created_at, instance_id) or nulls, $5 limit.
    bulkDeleteCandidates: `SELECT i.instance_id, i.created_at FROM ${q}.instances AS i
        JOIN ${q}.executions AS e ON e.instance_id = i.instance_id AND e.execution_id = i.current_execution_id
       WHERE i.parent_instance_id IS NULL AND e.status IN ${TERMINAL_SQL} AND ${PAGE_WHERE("i")}`,
    // Instances of any status a bulk prune selects, oldest first; parameters as above.
    bulkPruneCandidates: `SELECT i.instance_id, i.created_at FROM ${q}.instances AS i
        LEFT JOIN ${q}.executions AS e ON e.instance_id = i.instance_id AND e.execution_id = i.current_execution_id
       WHERE ${PAGE_WHERE("i")}`,
    // One statement each (its own transaction): the instance rows are locked FOR UPDATE, so a
    // concurrent delete or prune goes first or after; an ack in flight on the current execution
    // cannot touch what is pruned (never the current or a Running execution).
    // $1 instance, $2 keep_last, $3 cutoff or null.
    pruneOne: prune(`SELECT instance_id, current_execution_id FROM ${q}.instances WHERE instance_id = $1::text FOR UPDATE`),
    // $1 ids or null, $2 keep_last, $3 prune cutoff or null, $4 selection cutoff or null, $5 limit.
    // Selected oldest first, locked in id order like a delete's instance rows (no deadlock).
    pruneBulk: prune(`SELECT i.instance_id, i.current_execution_id FROM ${q}.instances AS i
        JOIN (SELECT c.instance_id FROM ${q}.instances AS c
                LEFT JOIN ${q}.executions AS e ON e.instance_id = c.instance_id AND e.execution_id = c.current_execution_id
               WHERE ($1::text[] IS NULL OR c.instance_id = ANY ($1::text[]))
                 AND ($4::float8 IS NULL OR e.completed_at < $4::float8)
               ORDER BY c.created_at, c.instance_id COLLATE "C" LIMIT $5::bigint) AS picked ON picked.instance_id = i.instance_id
       ORDER BY i.instance_id FOR UPDATE OF i`),
  };
}

/** Deletes and prunes; every call runs in the transaction (or the single statement) its caller opened. */
export class AdminWrites {
  private readonly s: ReturnType<typeof statements>;
  /** fetch_orch's advisory key prefix: `'__S__.'` with the quoted schema. */
  private readonly lockPrefix: string;

  /** `advisoryLimit`: most advisory locks per call (tests lower it to exercise the placeholders). */
  constructor(
    q: string,
    private readonly advisoryLimit = ADVISORY_LIMIT,
  ) {
    this.s = statements(q);
    this.lockPrefix = `${q}.`;
  }

  /**
   * Steps 1 and 2 of the module comment: no fetch, ack or other delete can touch `ids` until
   * commit. `already`: how many instances this call has locked before.
   */
  private async lock(tx: SQL, ids: string[], already = 0): Promise<void> {
    if (already + ids.length <= this.advisoryLimit) await tx.unsafe(this.s.advisoryLock, [ids, this.lockPrefix]);
    else await tx.unsafe(this.s.placeholderLock, [ids]);
    // A separate statement: its snapshot includes lock rows a fetch committed while we waited.
    await tx.unsafe(this.s.lockRows, [ids]);
  }

  /**
   * Reads the roots' trees, locks them and reads again until nothing new appeared (a child
   * created by a turn that committed before its parent was locked). `select` sees the roots'
   * own rows (after the locks on the final pass) and returns the roots to keep, or throws.
   */
  private async lockTrees(tx: SQL, roots: string[], select: (rootRows: Map<string, TreeRow>) => string[]): Promise<string[]> {
    const locked = new Set<string>();
    for (;;) {
      const rows = toTreeRows(await tx.unsafe(this.s.tree, [roots]));
      const rootRows = new Map(rows.filter((r) => r.is_root).map((r) => [r.instance_id, r]));
      const ids = breadthFirst(select(rootRows), rows);
      const fresh = ids.filter((id) => !locked.has(id));
      if (fresh.length === 0) return ids;
      await this.lock(tx, fresh, locked.size);
      for (const id of fresh) locked.add(id);
    }
  }

  /** Steps 3 and 4: checks, then every row of `ids` (locked by `lock`), counted. */
  private async deleteLocked(tx: SQL, op: string, ids: string[], force: boolean): Promise<DeleteInstanceResult> {
    if (ids.length === 0) return emptyDelete();
    const c = (await tx.unsafe(this.s.checkAndDeleteWork, [ids, force]))[0]!;
    if (c.running !== null) {
      throw new ProviderError("InstanceRunning", op, `instance ${c.running as string} is still running; cancel it first or delete with force`);
    }
    if (c.orphan !== null) {
      throw new ProviderError(
        "WouldOrphan",
        op,
        `deleting ${c.orphan_parent as string} would orphan its child ${c.orphan as string}: include the whole tree`,
      );
    }
    const d = (await tx.unsafe(this.s.deleteRest, [ids]))[0]!;
    return {
      instances_deleted: Number(d.instances),
      executions_deleted: Number(d.executions),
      events_deleted: Number(d.events),
      queue_messages_deleted: Number(d.orchestrator) + Number(c.worker),
    };
  }

  /** deleteInstancesAtomic: exactly `ids` (deduplicated), refusing running ones without force and any orphan. */
  async deleteIds(tx: SQL, op: string, ids: string[], force: boolean): Promise<DeleteInstanceResult> {
    const list = [...new Set(ids)];
    if (list.length === 0) return emptyDelete();
    await this.lock(tx, list);
    return this.deleteLocked(tx, op, list, force);
  }

  /** deleteInstance: a root and its whole tree; NotFound for an unknown id, NotRoot for a sub-orchestration. */
  async deleteTree(tx: SQL, op: string, instance: string, force: boolean): Promise<DeleteInstanceResult> {
    const ids = await this.lockTrees(tx, [instance], (rootRows) => {
      const root = rootRows.get(instance);
      if (root === undefined) throw notFound(op, instance);
      if (root.parent_instance_id !== null) {
        throw new ProviderError("NotRoot", op, `instance ${instance} is a sub-orchestration of ${root.parent_instance_id}: delete its root instead`);
      }
      return [instance];
    });
    return this.deleteLocked(tx, op, ids, force);
  }

  /**
   * One page of a bulk selection (../bulk-chunks.ts): up to `n` terminal roots (`delete`) or
   * instances of any status (`prune`), oldest first, among `ids` when given, after `after`.
   */
  async page(
    sql: SQL,
    kind: "delete" | "prune",
    ids: string[] | null,
    completedBefore: number | null | undefined,
    after: BulkCursor | null,
    n: number,
  ): Promise<BulkPage<BulkCursor>> {
    const rows: Row[] = await sql.unsafe(kind === "delete" ? this.s.bulkDeleteCandidates : this.s.bulkPruneCandidates, [
      ids,
      completedBefore ?? null,
      after?.createdAt ?? null,
      after?.instanceId ?? null,
      n,
    ]);
    const last = rows.at(-1);
    return {
      ids: rows.map((r) => r.instance_id as string),
      next: last === undefined ? null : { createdAt: Number(last.created_at), instanceId: last.instance_id as string },
    };
  }

  /**
   * One chunk of deleteInstanceBulk: the terminal roots among `ids` and their trees, forced. A
   * candidate that stopped being a terminal root before it was locked is skipped (R17).
   */
  async deleteBulkChunk(tx: SQL, op: string, ids: string[], completedBefore: number | null | undefined): Promise<DeleteInstanceResult> {
    const candidates = (await this.page(tx, "delete", ids, completedBefore, null, ids.length)).ids;
    if (candidates.length === 0) return emptyDelete();
    const locked = await this.lockTrees(tx, candidates, (rootRows) =>
      candidates.filter((id) => {
        const r = rootRows.get(id);
        return r !== undefined && r.parent_instance_id === null && r.status !== null && TERMINAL.has(r.status);
      }),
    );
    return this.deleteLocked(tx, op, locked, true);
  }

  /** pruneExecutions as one statement; NotFound (nothing deleted) for an unknown instance. */
  async pruneOne(sql: SQL, op: string, instance: string, keepLast: number | null | undefined, completedBefore: number | null | undefined): Promise<PruneResult> {
    const r = (await sql.unsafe(this.s.pruneOne, [instance, keep(keepLast), completedBefore ?? null]))[0]!;
    if (Number(r.instances) === 0) throw notFound(op, instance);
    return { instances_processed: 1, executions_deleted: Number(r.executions), events_deleted: Number(r.events) };
  }

  /** One chunk of pruneExecutionsBulk as one statement: the instances among `ids` the filter selects, of any status, summed. */
  async pruneBulkChunk(
    sql: SQL,
    ids: string[],
    selectionCutoff: number | null | undefined,
    keepLast: number | null | undefined,
    completedBefore: number | null | undefined,
  ): Promise<PruneResult> {
    const r = (await sql.unsafe(this.s.pruneBulk, [ids, keep(keepLast), completedBefore ?? null, selectionCutoff ?? null, ids.length]))[0]!;
    return { instances_processed: Number(r.instances), executions_deleted: Number(r.executions), events_deleted: Number(r.events) };
  }
}

/** keep_last null, 0 and 1 all mean "only the current execution survives". */
function keep(keepLast: number | null | undefined): number {
  return Math.max(keepLast ?? 1, 1);
}
