// Mutation check of the provider correctness suite: "a provider with a planted bug in any one
// method fails at least one case".
//
// Each mutant is the in-memory SqliteProvider behind a thin wrapper that is identical to it except
// for ONE realistic bug in ONE method, planted by changing that method's arguments or results (or,
// where the bug lives in SQL, by running the buggy statement on a second connection to the wrapped
// provider's database file); sqlite.ts itself is never edited. The suite's cases run programmatically against the mutant (not
// registered as bun tests), with long polling off and the long-poll-only cases skipped, the likely
// modules first, stopping at the first failing case. That case must then pass against the clean
// wrapper, so it is the planted bug, not the wrapper, that it caught.
import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { modules, type CaseContext, type ProviderCase } from "../../src/provider-tests/index.ts";
import type { DeleteInstanceResult, Provider, ProviderAdmin } from "../../src/provider.ts";
import { checkTagFilter } from "../../src/providers/validate-args.ts";
import { SqliteProvider, sqliteSuiteFactory } from "../../src/providers/sqlite.ts";

type ModuleName = keyof typeof modules;

interface Mutant {
  /** The Provider or ProviderAdmin method that carries the bug. */
  method: keyof Provider | keyof ProviderAdmin;
  bug: string;
  /** Modules tried first, in this order; every other module follows in catalog order. */
  likely: ModuleName[];
  /** `sql` is a second connection to the base provider's database, for bugs that live in SQL. */
  provider?: (base: SqliteProvider, sql: Database) => Partial<Provider>;
  admin?: (sql: Database, admin: ProviderAdmin) => Partial<ProviderAdmin>;
}

/** Methods deliberately left without a mutant, with the reason. Every other method must have one. */
const NOT_MUTATED: Partial<Record<keyof Provider | keyof ProviderAdmin, string>> = {
  name: "diagnostic string, no behaviour to get wrong",
  version: "diagnostic string, no behaviour to get wrong",
  asManagementCapability: "returning null is a legal answer (no management capability): the harness then skips the management cases",
  appendWithExecution: "unused by the runtime and by the suite's behaviour cases (only its argument validation is checked)",
};

// ---------------------------------------------------------------- the wrapper

/**
 * A fresh store: the provider on a new database file in `dir` (like the in-memory provider,
 * without group commit), and a second connection to that file for the mutants that live in SQL.
 */
async function openStore(dir: string): Promise<{ base: SqliteProvider; sql: Database }> {
  const path = join(dir, `${crypto.randomUUID()}.db`);
  const base = await SqliteProvider.open(path, { longPolling: false, groupCommit: false });
  return { base, sql: new Database(path) };
}

/** A Provider identical to `base` except for the mutant's overrides; `close()` closes `base`. */
function wrap(base: SqliteProvider, sql: Database, mutant: Mutant | null): Provider & { close(): void } {
  const a = base.asManagementCapability();
  const admin: ProviderAdmin = {
    listInstances: () => a.listInstances(),
    listInstancesByStatus: (status) => a.listInstancesByStatus(status),
    listExecutions: (instance) => a.listExecutions(instance),
    readHistoryWithExecutionId: (instance, executionId) => a.readHistoryWithExecutionId(instance, executionId),
    readHistory: (instance) => a.readHistory(instance),
    latestExecutionId: (instance) => a.latestExecutionId(instance),
    getInstanceInfo: (instance) => a.getInstanceInfo(instance),
    getExecutionInfo: (instance, executionId) => a.getExecutionInfo(instance, executionId),
    getSystemMetrics: () => a.getSystemMetrics(),
    getQueueDepths: () => a.getQueueDepths(),
    listChildren: (instance) => a.listChildren(instance),
    getParentId: (instance) => a.getParentId(instance),
    getInstanceTree: (instance) => a.getInstanceTree(instance),
    deleteInstancesAtomic: (ids, force) => a.deleteInstancesAtomic(ids, force),
    deleteInstance: (instance, force) => a.deleteInstance(instance, force),
    deleteInstanceBulk: (filter) => a.deleteInstanceBulk(filter),
    pruneExecutions: (instance, options) => a.pruneExecutions(instance, options),
    pruneExecutionsBulk: (filter, options) => a.pruneExecutionsBulk(filter, options),
  };
  const provider: Provider & { close(): void } = {
    name: () => base.name(),
    version: () => base.version(),
    enqueueForOrchestrator: (item, delayMs) => base.enqueueForOrchestrator(item, delayMs),
    fetchOrchestrationItem: (lockTimeoutMs, pollTimeoutMs, filter, signal) => base.fetchOrchestrationItem(lockTimeoutMs, pollTimeoutMs, filter, signal),
    ackOrchestrationItem: (token, exec, delta, worker, orch, metadata, cancelled) =>
      base.ackOrchestrationItem(token, exec, delta, worker, orch, metadata, cancelled),
    abandonOrchestrationItem: (token, delayMs, ignoreAttempt) => base.abandonOrchestrationItem(token, delayMs, ignoreAttempt),
    renewOrchestrationItemLock: (token, extendForMs) => base.renewOrchestrationItemLock(token, extendForMs),
    enqueueForWorker: (item) => base.enqueueForWorker(item),
    fetchWorkItem: (lockTimeoutMs, pollTimeoutMs, session, tagFilter, signal) => base.fetchWorkItem(lockTimeoutMs, pollTimeoutMs, session, tagFilter, signal),
    ackWorkItem: (token, completion) => base.ackWorkItem(token, completion),
    abandonWorkItem: (token, delayMs, ignoreAttempt) => base.abandonWorkItem(token, delayMs, ignoreAttempt),
    renewWorkItemLock: (token, extendForMs) => base.renewWorkItemLock(token, extendForMs),
    renewSessionLock: (owners, extendForMs, idleTimeoutMs) => base.renewSessionLock(owners, extendForMs, idleTimeoutMs),
    cleanupOrphanedSessions: (idleTimeoutMs) => base.cleanupOrphanedSessions(idleTimeoutMs),
    releaseSessionLocks: (owners, sessionIds) => base.releaseSessionLocks(owners, sessionIds),
    read: (instance) => base.read(instance),
    readWithExecution: (instance, executionId) => base.readWithExecution(instance, executionId),
    appendWithExecution: (instance, executionId, events) => base.appendWithExecution(instance, executionId, events),
    getCustomStatus: (instance, lastSeenVersion) => base.getCustomStatus(instance, lastSeenVersion),
    getKvValue: (instance, key) => base.getKvValue(instance, key),
    getKvAllValues: (instance) => base.getKvAllValues(instance),
    asManagementCapability: () => admin,
    close: () => base.close(),
  };
  if (mutant?.provider) Object.assign(provider, mutant.provider(base, sql));
  if (mutant?.admin) Object.assign(admin, mutant.admin(sql, a));
  return provider;
}

/** A positive delay replaced by "now"; invalid values still reach the real method and are rejected. */
const dropDelay = (delayMs: number | null | undefined) => (typeof delayMs === "number" && delayMs > 0 ? 0 : delayMs);

// ---------------------------------------------------------------- the mutants

const MUTANTS: Mutant[] = [
  // ---- orchestrator queue
  {
    method: "enqueueForOrchestrator",
    bug: "ignores delayMs: a delayed message (timer) is visible at once",
    likely: ["queueSemantics"],
    provider: (b) => ({ enqueueForOrchestrator: (item, delayMs) => b.enqueueForOrchestrator(item, dropDelay(delayMs)) }),
  },
  {
    method: "fetchOrchestrationItem",
    bug: "drops the last message of a multi-message batch (the ack still deletes it)",
    likely: ["instanceLocking"],
    provider: (b) => ({
      async fetchOrchestrationItem(lockTimeoutMs, pollTimeoutMs, filter) {
        const f = await b.fetchOrchestrationItem(lockTimeoutMs, pollTimeoutMs, filter);
        if (f === null || f.item.messages.length < 2) return f;
        return { ...f, item: { ...f.item, messages: f.item.messages.slice(0, -1) } };
      },
    }),
  },
  {
    method: "ackOrchestrationItem",
    bug: "ignores cancelledActivities: cancelled activities stay in the worker queue",
    likely: ["cancellation"],
    provider: (b) => ({
      ackOrchestrationItem: (token, exec, delta, worker, orch, metadata) => b.ackOrchestrationItem(token, exec, delta, worker, orch, metadata, []),
    }),
  },
  {
    method: "abandonOrchestrationItem",
    bug: "ignores delayMs: the abandoned batch is visible again at once",
    likely: ["inputValidation", "lockExpiration"],
    provider: (b) => ({
      abandonOrchestrationItem: (token, delayMs, ignoreAttempt) => b.abandonOrchestrationItem(token, dropDelay(delayMs) ?? null, ignoreAttempt),
    }),
  },
  {
    method: "renewOrchestrationItemLock",
    bug: "swallows errors: renewing an expired or unknown lock reports success",
    likely: ["lockExpiration"],
    provider: (b) => ({
      async renewOrchestrationItemLock(token, extendForMs) {
        try {
          await b.renewOrchestrationItemLock(token, extendForMs);
        } catch {
          // "best effort" renewal
        }
      },
    }),
  },
  // ---- worker queue
  {
    method: "enqueueForWorker",
    bug: "does not store the item's tag: a tagged activity is queued as untagged",
    likely: ["tagFiltering"],
    provider: (b) => ({
      async enqueueForWorker(item) {
        if (item?.type !== "ActivityExecute" || item.tag === undefined) return b.enqueueForWorker(item);
        const { tag: _dropped, ...untagged } = item;
        return b.enqueueForWorker(untagged);
      },
    }),
  },
  {
    method: "fetchWorkItem",
    bug: "ignores the tag filter (every valid filter acts as Any)",
    likely: ["tagFiltering"],
    provider: (b) => ({
      fetchWorkItem(lockTimeoutMs, pollTimeoutMs, session, tagFilter) {
        checkTagFilter("fetchWorkItem", tagFilter); // still rejects malformed filters
        return b.fetchWorkItem(lockTimeoutMs, pollTimeoutMs, session, { type: "Any" });
      },
    }),
  },
  {
    method: "ackWorkItem",
    bug: "not atomic: enqueues the completion before checking and deleting the locked row",
    likely: ["cancellation", "lockExpiration"],
    provider: (b) => ({
      async ackWorkItem(token, completion) {
        if (completion != null) await b.enqueueForOrchestrator(completion, null);
        await b.ackWorkItem(token, null);
      },
    }),
  },
  {
    method: "abandonWorkItem",
    bug: "ignores delayMs: the abandoned item is fetchable again at once",
    likely: ["lockExpiration", "queueSemantics"],
    provider: (b) => ({
      abandonWorkItem: (token, delayMs, ignoreAttempt) => b.abandonWorkItem(token, dropDelay(delayMs) ?? null, ignoreAttempt),
    }),
  },
  {
    method: "renewWorkItemLock",
    bug: "swallows errors: renewing a cancelled (deleted) or expired item reports success",
    likely: ["cancellation", "lockExpiration"],
    provider: (b) => ({
      async renewWorkItemLock(token, extendForMs) {
        try {
          await b.renewWorkItemLock(token, extendForMs);
        } catch {
          // "best effort" renewal
        }
      },
    }),
  },
  // ---- sessions
  {
    method: "renewSessionLock",
    bug: "ignores idleTimeoutMs: idle sessions are renewed too",
    likely: ["sessions"],
    provider: (b) => ({
      renewSessionLock: (owners, extendForMs, idleTimeoutMs) =>
        b.renewSessionLock(owners, extendForMs, typeof idleTimeoutMs === "number" && idleTimeoutMs >= 0 ? 1e12 : idleTimeoutMs),
    }),
  },
  {
    method: "cleanupOrphanedSessions",
    bug: "also removes expired sessions that still have queued items",
    likely: ["sessions"],
    provider: (b, sql) => ({
      async cleanupOrphanedSessions(idleTimeoutMs) {
        const n = await b.cleanupOrphanedSessions(idleTimeoutMs);
        return n + sql.run("DELETE FROM sessions WHERE locked_until <= ?", [Date.now()]).changes;
      },
    }),
  },
  {
    method: "releaseSessionLocks",
    bug: "ignores its owner list: releases every owner's live sessions",
    likely: ["sessions"],
    provider: (b, sql) => ({
      async releaseSessionLocks(owners, sessionIds) {
        const n = await b.releaseSessionLocks(owners, sessionIds);
        if (owners.length === 0) return n;
        const now = Date.now();
        return n + sql.run("UPDATE sessions SET locked_until = ? WHERE locked_until > ?", [now, now]).changes;
      },
    }),
  },
  // ---- history
  {
    method: "read",
    bug: "returns the first execution's history instead of the latest",
    likely: ["multiExecution"],
    provider: (b) => ({ read: (instance) => b.readWithExecution(instance, 1) }),
  },
  {
    method: "readWithExecution",
    bug: "ignores executionId and returns the latest execution's history",
    likely: ["multiExecution"],
    provider: (b) => ({
      async readWithExecution(instance, executionId) {
        await b.readWithExecution(instance, executionId); // keeps the argument checks
        return b.read(instance);
      },
    }),
  },
  // ---- custom status / KV
  {
    method: "getCustomStatus",
    bug: "compares with >= instead of >: returns the status when the version equals lastSeenVersion",
    likely: ["customStatus"],
    provider: (b) => ({ getCustomStatus: (instance, lastSeen) => b.getCustomStatus(instance, lastSeen - 1) }),
  },
  {
    method: "getKvValue",
    bug: "ignores the running execution's overlay: reads committed KV only",
    likely: ["kvStore"],
    provider: (b, sql) => ({
      async getKvValue(instance, key) {
        await b.getKvValue(instance, key); // keeps the argument checks
        return (
          sql.query<{ value: string }, [string, string]>("SELECT value FROM kv_store WHERE instance_id = ? AND key = ?").get(instance, key)?.value ??
          null
        );
      },
    }),
  },
  {
    method: "getKvAllValues",
    bug: "ignores overlay tombstones: a key cleared in the running execution still shows its committed value",
    likely: ["kvStore"],
    provider: (b, sql) => ({
      async getKvAllValues(instance) {
        await b.getKvAllValues(instance); // keeps the argument checks
        const out: Record<string, string> = {};
        for (const r of sql.query<{ key: string; value: string }, [string]>("SELECT key, value FROM kv_store WHERE instance_id = ?").all(instance)) {
          out[r.key] = r.value;
        }
        const overlay = sql
          .query<{ key: string; value: string }, [string]>("SELECT key, value FROM kv_delta WHERE instance_id = ? AND value IS NOT NULL ORDER BY rowid")
          .all(instance);
        for (const r of overlay) out[r.key] = r.value;
        return out;
      },
    }),
  },
  // ---- management capability
  {
    method: "listInstances",
    bug: "drops the oldest instance (off-by-one limit)",
    likely: ["management"],
    admin: (_sql, a) => ({ listInstances: async () => (await a.listInstances()).slice(0, -1) }),
  },
  {
    method: "listInstancesByStatus",
    bug: "matches the status of any execution, not of the current one",
    likely: ["management"],
    admin: (sql, a) => ({
      async listInstancesByStatus(status) {
        await a.listInstancesByStatus(status); // keeps the argument checks
        return sql
          .query<{ instance_id: string }, [string]>(
            `SELECT DISTINCT i.instance_id FROM instances AS i JOIN executions AS e ON e.instance_id = i.instance_id
              WHERE e.status = ? ORDER BY i.created_at DESC, i.rowid DESC`,
          )
          .all(status)
          .map((r) => r.instance_id);
      },
    }),
  },
  {
    method: "listExecutions",
    bug: "lists execution ids newest first instead of ascending",
    likely: ["prune", "management"],
    admin: (_sql, a) => ({ listExecutions: async (instance) => (await a.listExecutions(instance)).reverse() }),
  },
  {
    method: "readHistoryWithExecutionId",
    bug: "ignores executionId and returns the latest execution's history",
    likely: ["management"],
    admin: (_sql, a) => ({
      async readHistoryWithExecutionId(instance, executionId) {
        await a.readHistoryWithExecutionId(instance, executionId); // keeps the argument checks
        return a.readHistory(instance);
      },
    }),
  },
  {
    method: "readHistory",
    bug: "returns the first execution's history instead of the latest",
    likely: ["management"],
    admin: (_sql, a) => ({ readHistory: (instance) => a.readHistoryWithExecutionId(instance, 1) }),
  },
  {
    method: "latestExecutionId",
    bug: "returns the lowest execution id instead of the highest",
    likely: ["management"],
    admin: (_sql, a) => ({
      async latestExecutionId(instance) {
        await a.latestExecutionId(instance); // keeps the argument checks
        return (await a.listExecutions(instance))[0] ?? 1;
      },
    }),
  },
  {
    method: "getInstanceInfo",
    bug: "reports the first execution's status instead of the current execution's",
    likely: ["prune", "management"],
    admin: (sql, a) => ({
      async getInstanceInfo(instance) {
        const info = await a.getInstanceInfo(instance);
        const first = sql
          .query<{ status: string }, [string]>("SELECT status FROM executions WHERE instance_id = ? ORDER BY execution_id LIMIT 1")
          .get(instance);
        return { ...info, status: first?.status ?? info.status };
      },
    }),
  },
  {
    method: "getExecutionInfo",
    bug: "event_count counts the whole instance's history, not that execution's",
    likely: ["management"],
    admin: (sql, a) => ({
      async getExecutionInfo(instance, executionId) {
        const info = await a.getExecutionInfo(instance, executionId);
        const n = sql.query<{ n: number }, [string]>("SELECT COUNT(*) AS n FROM history WHERE instance_id = ?").get(instance)?.n ?? 0;
        return { ...info, event_count: n };
      },
    }),
  },
  {
    method: "getSystemMetrics",
    bug: "completed_instances also counts Failed instances",
    likely: ["management"],
    admin: (_sql, a) => ({
      async getSystemMetrics() {
        const m = await a.getSystemMetrics();
        return { ...m, completed_instances: m.completed_instances + m.failed_instances };
      },
    }),
  },
  {
    method: "getQueueDepths",
    bug: "counts messages of a batch under a live lock as queued",
    likely: ["inputValidation", "management"],
    admin: (sql, a) => ({
      async getQueueDepths() {
        const d = await a.getQueueDepths();
        const orch = sql.query<{ n: number }, []>("SELECT COUNT(*) AS n FROM orchestrator_queue").get()?.n ?? 0;
        return { ...d, orchestrator_queue: orch };
      },
    }),
  },
  {
    method: "listChildren",
    bug: "returns every descendant, not only direct children",
    likely: ["deletion"],
    admin: (_sql, a) => ({
      async listChildren(instance) {
        await a.listChildren(instance); // keeps the argument checks
        return (await a.getInstanceTree(instance)).all_ids.slice(1);
      },
    }),
  },
  {
    method: "getParentId",
    bug: "returns null for an unknown instance instead of a permanent 'not found' error",
    likely: ["deletion"],
    admin: (_sql, a) => ({
      async getParentId(instance) {
        try {
          return await a.getParentId(instance);
        } catch {
          return null;
        }
      },
    }),
  },
  {
    method: "getInstanceTree",
    bug: "omits the root from all_ids",
    likely: ["deletion"],
    admin: (_sql, a) => ({
      async getInstanceTree(instance) {
        const t = await a.getInstanceTree(instance);
        return { ...t, all_ids: t.all_ids.slice(1) };
      },
    }),
  },
  {
    method: "deleteInstancesAtomic",
    bug: "not atomic: deletes the ids one at a time, so a refusal half-way leaves earlier ids deleted",
    likely: ["deletion"],
    admin: (_sql, a) => ({
      async deleteInstancesAtomic(ids, force) {
        const total: DeleteInstanceResult = { instances_deleted: 0, executions_deleted: 0, events_deleted: 0, queue_messages_deleted: 0 };
        for (const id of ids) {
          const r = await a.deleteInstancesAtomic([id], force);
          total.instances_deleted += r.instances_deleted;
          total.executions_deleted += r.executions_deleted;
          total.events_deleted += r.events_deleted;
          total.queue_messages_deleted += r.queue_messages_deleted;
        }
        return total;
      },
    }),
  },
  {
    method: "deleteInstance",
    bug: "with force, deletes a sub-orchestration (and its subtree) directly instead of refusing",
    likely: ["deletion"],
    admin: (_sql, a) => ({
      async deleteInstance(instance, force) {
        if (force && (await a.getParentId(instance).catch(() => null)) !== null) {
          return a.deleteInstancesAtomic((await a.getInstanceTree(instance)).all_ids, true);
        }
        return a.deleteInstance(instance, force);
      },
    }),
  },
  {
    method: "deleteInstanceBulk",
    bug: "ignores the filter's limit",
    likely: ["bulkDeletion"],
    admin: (_sql, a) => ({
      deleteInstanceBulk: (filter) =>
        a.deleteInstanceBulk(typeof filter?.limit === "number" && filter.limit >= 0 ? { ...filter, limit: null } : filter),
    }),
  },
  {
    method: "pruneExecutions",
    bug: "keeps one execution too many (keep_last off by one)",
    likely: ["prune"],
    admin: (_sql, a) => ({
      pruneExecutions: (instance, options) =>
        a.pruneExecutions(
          instance,
          options?.keep_last != null && options.keep_last < 0 ? options : { ...options, keep_last: Math.max(options?.keep_last ?? 1, 1) + 1 },
        ),
    }),
  },
  {
    method: "pruneExecutionsBulk",
    bug: "ignores the filter's instance_ids and prunes every instance",
    likely: ["prune"],
    admin: (_sql, a) => ({
      pruneExecutionsBulk: (filter, options) =>
        a.pruneExecutionsBulk(Array.isArray(filter?.instance_ids) ? { ...filter, instance_ids: null } : filter, options),
    }),
  },
];

// ---------------------------------------------------------------- running cases

const CASE_TIMEOUT_MS = 20_000;

const root = mkdtempSync(join(tmpdir(), "duroxide-mutants-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface NamedCase {
  module: ModuleName;
  c: ProviderCase;
}

/** Every case the harness would run for a short-polling provider with management and both hooks. */
function casesInOrder(likely: readonly ModuleName[]): NamedCase[] {
  const order = [...likely, ...(Object.keys(modules) as ModuleName[]).filter((m) => !likely.includes(m))];
  return order.flatMap((m) =>
    modules[m].cases.filter((c) => !(c.requires ?? []).includes("longPolling")).map((c) => ({ module: m, c })),
  );
}

/**
 * Runs one case like harness.ts does, with fresh stores behind the (mutated) wrapper and the
 * corruption hooks of sqliteSuiteFactory. Returns the failure or null.
 */
async function runCase(c: ProviderCase, mutant: Mutant | null): Promise<unknown> {
  const dir = mkdtempSync(join(root, "case-"));
  const stores = new Map<SqliteProvider, Database>();
  const hooks = sqliteSuiteFactory(async () => {
    const { base, sql } = await openStore(dir);
    stores.set(base, sql);
    return base;
  });
  const ctx: CaseContext = {
    async createProvider() {
      const base = await hooks.createProvider();
      return wrap(base, stores.get(base)!, mutant);
    },
    lockTimeoutMs: 1000,
    shortPollThresholdMs: 100,
    longPolling: false,
    corruptInstanceHistory: hooks.corruptInstanceHistory,
    getMaxAttemptCount: hooks.getMaxAttemptCount,
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      c.run(ctx),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`case timed out after ${CASE_TIMEOUT_MS} ms`)), CASE_TIMEOUT_MS);
      }),
    ]);
    return null;
  } catch (err) {
    return err ?? new Error("case threw a nullish value");
  } finally {
    clearTimeout(timer);
    for (const [base, sql] of stores) {
      sql.close();
      base.close();
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

const firstLine = (err: unknown) => (err instanceof Error ? err.message : String(err)).split("\n").find((l) => l.trim().length > 0) ?? "";

// ---------------------------------------------------------------- tests

describe("planted bugs: each one-method bug fails at least one suite case", () => {
  test("every Provider and ProviderAdmin method has a mutant or a stated reason to have none", async () => {
    const { base, sql } = await openStore(root);
    const p = wrap(base, sql, null);
    const methods = [...Object.keys(p), ...Object.keys(p.asManagementCapability()!)].filter((k) => k !== "close");
    sql.close();
    p.close();
    const mutated = new Set<string>(MUTANTS.map((m) => m.method));
    const uncovered = methods.filter((m) => !mutated.has(m) && !(m in NOT_MUTATED));
    expect(uncovered).toEqual([]);
    for (const m of MUTANTS) expect(methods).toContain(m.method);
  });

  test("baseline: the unmutated wrapper passes a sample of cases from every module", async () => {
    // The first case of each module (plus the first management-requiring one where it differs).
    const sample = (Object.keys(modules) as ModuleName[]).flatMap((m) => {
      const cs = modules[m].cases.filter((c) => !(c.requires ?? []).includes("longPolling"));
      const mgmt = cs.find((c) => (c.requires ?? []).includes("management"));
      return [...new Set([cs[0], mgmt])].filter((c): c is ProviderCase => c !== undefined).map((c) => ({ module: m, c }));
    });
    expect(sample.length).toBeGreaterThanOrEqual(20);
    for (const { module, c } of sample) {
      const err = await runCase(c, null);
      expect(err === null ? "passed" : `${module} > ${c.name}: ${firstLine(err)}`).toBe("passed");
    }
  }, 60_000);

  for (const mutant of MUTANTS) {
    test(`${mutant.method}: ${mutant.bug}`, async () => {
      let caught: { module: ModuleName; c: ProviderCase; err: unknown } | null = null;
      let ran = 0;
      for (const { module, c } of casesInOrder(mutant.likely)) {
        ran++;
        const err = await runCase(c, mutant);
        if (err !== null) {
          caught = { module, c, err };
          break;
        }
      }
      if (caught === null) {
        throw new Error(`NOT CAUGHT: no suite case (${ran} run) fails with the planted bug in ${mutant.method}: ${mutant.bug}`);
      }
      console.log(`[planted-bugs] ${mutant.method}: caught by ${caught.module} > ${caught.c.name} — ${firstLine(caught.err)}`);
      // The catching case passes on the clean wrapper: it is the bug that failed it.
      const clean = await runCase(caught.c, null);
      expect(clean === null ? "passes unmutated" : `fails unmutated too: ${firstLine(clean)}`).toBe("passes unmutated");
    }, 120_000);
  }
});
