/**
 * SqliteProvider: the embedded Provider on bun:sqlite (the `duroxide/sqlite` entry).
 *
 * Every mutating method is one `BEGIN IMMEDIATE` transaction, so a select-then-update can never
 * interleave with another connection or process on the same file; a method either commits all of
 * its writes or none. Times are integer ms from `Date.now()`. Statements on the hot path are
 * prepared once in the constructor.
 *
 * This class is the contract's surface: argument checks, long polling and wake-ups. What runs
 * inside the transactions lives in ./sqlite/: the statements, the orchestration fetch and ack, the
 * worker fetch, the history cache and the fetched-lock bookkeeping they share, the connection's
 * transaction wrappers, opening and migrating, and the management capability.
 */
import type { Database, Statement } from "bun:sqlite";
import { ProviderError } from "../core/errors.ts";
import { decodeEvent, type Event } from "../core/events.ts";
import type {
  DispatcherCapabilityFilter,
  ExecutionMetadata,
  FetchedOrchestration,
  FetchedWorkItem,
  ScheduledActivityIdentifier,
  SessionFetchConfig,
  TagFilter,
} from "../core/queue-types.ts";
import { workItemInstance, type WorkItem } from "../core/work-items.ts";
import type { Provider, ProviderAdmin, ProviderCapabilities } from "../provider.ts";
import { SqliteProviderAdmin } from "./sqlite/admin.ts";
import { Connection } from "./sqlite/connection.ts";
import { FetchedLocks } from "./sqlite/fetched-locks.ts";
import { HistoryCache } from "./sqlite/history-cache.ts";
import { sqliteError } from "./sqlite/errors.ts";
import { busyTimeoutOf, checkPollingOptions, openDatabase, openMemoryDatabase, parseSqliteUrl, type SqliteProviderOptions } from "./sqlite/open.ts";
import { commitTurn, encodeTurn } from "./sqlite/orchestration-ack.ts";
import { fetchOrchestration, pickInstance } from "./sqlite/orchestration-fetch.ts";
import { prepareStatements, type Statements } from "./sqlite/statements.ts";
import { suiteFactory, type StoreAccess, type SuiteFactory } from "./sqlite/suite-factory.ts";
import { claimWorkItem, isLostSessionRace, WorkerPicks } from "./sqlite/worker-fetch.ts";
import { validateProviderInput } from "./validate-args.ts";
import { WakeSignal } from "./wake-signal.ts";

export { parseSqliteUrl, type SqliteProviderOptions };

const PROVIDER_VERSION = "0.1.0";

/** The way in for sqliteSuiteFactory's hooks; set by SqliteProvider's static block, never exported. */
let internalsOf!: (p: SqliteProvider) => StoreAccess;

/**
 * The provider's state is TypeScript-private rather than `#private`: wrappers that call its
 * methods with another `this` (a Proxy, an `Object.create(provider)` spy) must keep working.
 */
export class SqliteProvider implements Provider {
  private readonly conn: Connection;
  private readonly s: Statements;
  /** Decoded history of recently fetched instances. */
  private readonly history: HistoryCache;
  /** What each outstanding orchestration lock's fetch saw, for its ack. */
  private readonly locks = new FetchedLocks();
  private readonly workerPicks: WorkerPicks;
  private readonly admin: SqliteProviderAdmin;
  private readonly longPolling: boolean;
  private readonly pollIntervalMs: number;
  private readonly orchestratorWork = new WakeSignal();
  private readonly workerWork = new WakeSignal();
  /**
   * Whether the last fetch of each queue found nothing. Only then is the cheap read-only
   * emptiness check worth doing before taking the write lock; under load it would be pure overhead.
   */
  private orchIdle = true;
  private workerIdle = true;
  /** On a file (several processes may share it), not a private `:memory:` database. */
  private readonly fileBacked: boolean;

  static {
    // The one way in from outside the class, for the suite's corruption hooks only.
    internalsOf = (p) => ({ db: p.conn.db, history: p.history });
  }

  private constructor(db: Database, options: SqliteProviderOptions, path: string) {
    this.fileBacked = path !== ":memory:";
    this.longPolling = options.longPolling ?? true;
    this.pollIntervalMs = options.pollIntervalMs ?? 50;
    this.s = prepareStatements(db);
    this.history = new HistoryCache(this.s);
    const history = this.history;
    this.conn = new Connection(db, {
      groupCommit: options.groupCommit ?? this.fileBacked,
      busyTimeoutMs: busyTimeoutOf(options),
      path,
      onRollback: () => history.forget(),
    });
    this.workerPicks = new WorkerPicks(db);
    this.admin = new SqliteProviderAdmin(this.conn, this.history);
  }

  /**
   * Opens (creating if missing) a database file in WAL mode. Bad options are refused with a
   * ValidationError; a file that cannot be opened or used fails with a ProviderError (operation
   * "open") naming it (docs/provider-contract.md §14.5).
   */
  static async open(urlOrPath: string, options: SqliteProviderOptions = {}): Promise<SqliteProvider> {
    const path = parseSqliteUrl(urlOrPath);
    const db = await openDatabase(path, options);
    return SqliteProvider.over(db, options, path);
  }

  /** The provider over an opened database; closes it when preparing the provider fails. */
  private static over(db: Database, options: SqliteProviderOptions, path: string): SqliteProvider {
    try {
      return new SqliteProvider(db, options, path);
    } catch (err) {
      db.close();
      throw sqliteError("open", err, path);
    }
  }

  /** A private in-memory database: fast, gone when closed. For tests and ephemeral runs. */
  static async inMemory(options: Pick<SqliteProviderOptions, "longPolling" | "pollIntervalMs" | "groupCommit"> = {}): Promise<SqliteProvider> {
    checkPollingOptions(options);
    return SqliteProvider.over(openMemoryDatabase(), options, ":memory:");
  }

  name(): string {
    return "sqlite";
  }

  version(): string {
    return PROVIDER_VERSION;
  }

  /** Closes the database; fetches waiting in a long poll return null. */
  close(): void {
    if (!this.conn.close()) return;
    this.orchestratorWork.notify();
    this.workerWork.notify();
  }

  /**
   * Runs `attempt` until it yields work or `pollTimeoutMs` has passed, sleeping between attempts
   * until woken by this process's enqueues, the next message's visibility time, or the poll interval.
   */
  private async poll<T>(
    op: string,
    pollTimeoutMs: number,
    signal: WakeSignal,
    nextVisible: Statement<{ t: number | null }, [number]>,
    attempt: () => Promise<T | null>,
    abort: AbortSignal | null | undefined,
  ): Promise<T | null> {
    const deadline = Date.now() + pollTimeoutMs;
    for (;;) {
      // An aborted fetch claims nothing (docs/provider-contract.md §3.2); closed still answers Closed.
      if (abort?.aborted) return this.conn.read(op, () => null);
      const found = await attempt();
      // Closed while the attempt ran: a waiting fetch ends with null (or what it already locked).
      if (found !== null || !this.longPolling || this.conn.closed) return found;
      const now = Date.now();
      if (now >= deadline) return null;
      let wait = Math.min(deadline - now, this.pollIntervalMs);
      const due = (await this.conn.read(op, () => nextVisible.get(now)))?.t ?? null;
      if (due !== null) wait = Math.min(wait, Math.max(due - now, 1));
      await signal.wait(wait, abort);
      if (this.conn.closed || abort?.aborted) return null;
    }
  }

  // ------------------------------------------------------------------ orchestrator queue

  async enqueueForOrchestrator(item: WorkItem, delayMs?: number | null): Promise<void> {
    const op = "enqueueForOrchestrator";
    const v = validateProviderInput.enqueueForOrchestrator(item, delayMs);
    const now = Date.now();
    await this.conn.write(op, () => this.s.insertOrch.run(workItemInstance(v.item), v.item.type, v.text, now + v.delayMs, now));
    this.orchestratorWork.notify();
  }

  async fetchOrchestrationItem(
    lockTimeoutMs: number,
    pollTimeoutMs: number,
    filter?: DispatcherCapabilityFilter | null,
    signal?: AbortSignal | null,
  ): Promise<FetchedOrchestration | null> {
    const op = "fetchOrchestrationItem";
    const { range } = validateProviderInput.fetchOrchestrationItem(lockTimeoutMs, pollTimeoutMs, filter, signal);
    if (range === "none") return this.conn.read(op, () => null); // admits nothing (closed: Closed)
    return this.poll(op, pollTimeoutMs, this.orchestratorWork, this.s.nextOrchVisible, async () => {
      // An empty queue is answered from a read, without taking the database's write lock: idle
      // pollers in other processes then never contend with the ones doing work.
      if (this.orchIdle && (await this.conn.read(op, () => pickInstance(this.s, Date.now(), range))) === null) return null;
      const found = await this.conn.write(op, () => fetchOrchestration(this.s, this.history, this.locks, lockTimeoutMs, range));
      this.orchIdle = found === null;
      return found;
    }, signal);
  }

  async ackOrchestrationItem(
    lockToken: string,
    executionId: number,
    historyDelta: Event[],
    workerItems: WorkItem[],
    orchestratorItems: WorkItem[],
    metadata: ExecutionMetadata,
    cancelledActivities: ScheduledActivityIdentifier[],
  ): Promise<void> {
    const op = "ackOrchestrationItem";
    const valid = validateProviderInput.ackOrchestrationItem(
      lockToken,
      executionId,
      historyDelta,
      workerItems,
      orchestratorItems,
      metadata,
      cancelledActivities,
    );
    const turn = encodeTurn(lockToken, executionId, valid);
    // A terminal turn drops its instance's cached history inside the transaction (commitTurn).
    await this.conn.write(op, () => commitTurn(this.s, this.locks, this.history, op, turn));
    this.locks.forget(lockToken);
    // Messages that arrived during the turn are fetchable now that the lock is gone.
    this.orchestratorWork.notify();
    if (turn.workerItems.length > 0) this.workerWork.notify();
  }

  async abandonOrchestrationItem(lockToken: string, delayMs: number | null, ignoreAttempt: boolean): Promise<void> {
    const op = "abandonOrchestrationItem";
    validateProviderInput.abandonOrchestrationItem(lockToken, delayMs);
    await this.conn.write(op, () => {
      const s = this.s;
      const now = Date.now();
      const lock = s.lockByToken.get(lockToken);
      if (lock === null) throw ProviderError.lockLost(op, `Invalid lock token: ${lockToken} (unknown, expired and re-locked, or already released)`);
      s.releaseLock.run(lock.instance_id, lockToken);
      if (ignoreAttempt) s.decrementBatchAttempts.run(lockToken);
      if (delayMs != null && delayMs > 0) s.delayVisible.run(now + delayMs, lock.instance_id, now);
      s.untagBatch.run(lockToken);
    });
    this.locks.forget(lockToken);
    this.orchestratorWork.notify();
  }

  async renewOrchestrationItemLock(lockToken: string, extendForMs: number): Promise<void> {
    const op = "renewOrchestrationItemLock";
    validateProviderInput.renewOrchestrationItemLock(lockToken, extendForMs);
    await this.conn.write(op, () => {
      const now = Date.now();
      if (this.s.renewLock.run(now + extendForMs, lockToken, now).changes === 0) {
        throw ProviderError.lockLost(op, `cannot renew lock ${lockToken}: it expired, was released, or the instance was deleted`);
      }
    });
  }

  // ------------------------------------------------------------------ worker queue

  async enqueueForWorker(item: WorkItem): Promise<void> {
    const op = "enqueueForWorker";
    const { item: w, text } = validateProviderInput.enqueueForWorker(item);
    if (w.type !== "ActivityExecute") return;
    const now = Date.now();
    await this.conn.write(op, () =>
      this.s.insertWorker.run(text, now, now, w.instance, w.execution_id, w.id, w.session_id ?? null, w.tag ?? null),
    );
    this.workerWork.notify();
  }

  async fetchWorkItem(
    lockTimeoutMs: number,
    pollTimeoutMs: number,
    session: SessionFetchConfig | null,
    tagFilter: TagFilter,
    signal?: AbortSignal | null,
  ): Promise<FetchedWorkItem | null> {
    const op = "fetchWorkItem";
    const { session: sess, tagFilter: tf } = validateProviderInput.fetchWorkItem(lockTimeoutMs, pollTimeoutMs, session, tagFilter, signal);
    if (tf.type === "None") return this.conn.read(op, () => null); // an orchestrator-only node
    // Preparing a filter's first pick statement touches the database: inside read(), so a closed or
    // failing database answers with a ProviderError.
    const pick = await this.conn.read(op, () => this.workerPicks.get(tf, sess !== null));
    const tags = tf.type === "Tags" || tf.type === "DefaultAnd" ? JSON.stringify([...tf.tags]) : "[]";
    const owner = sess?.owner_id ?? "";

    return this.poll(op, pollTimeoutMs, this.workerWork, this.s.nextWorkerVisible, async () => {
      if (this.workerIdle && (await this.conn.read(op, () => pick.get(Date.now(), tags, owner))) === null) return null; // as above
      let found: FetchedWorkItem | null;
      try {
        found = await this.conn.write(op, () => claimWorkItem(this.s, pick, tags, owner, lockTimeoutMs, sess));
      } catch (err) {
        if (!isLostSessionRace(err)) throw err;
        found = null;
      }
      this.workerIdle = found === null;
      return found;
    }, signal);
  }

  async ackWorkItem(lockToken: string, completion: WorkItem | null): Promise<void> {
    const op = "ackWorkItem";
    const done = validateProviderInput.ackWorkItem(lockToken, completion);
    await this.conn.write(op, () => {
      const s = this.s;
      const now = Date.now();
      const row = s.deleteLockedWorker.get(lockToken, now);
      if (row === null) {
        throw ProviderError.lockLost(op, `work item lock ${lockToken} is gone: the activity was cancelled, its lock expired, or it was already acked`);
      }
      if (row.session_id !== null) s.touchSession.run(now, row.session_id, now);
      if (done !== null) s.insertOrch.run(workItemInstance(done.item), done.item.type, done.text, now, now);
    });
    if (done !== null) this.orchestratorWork.notify();
  }

  async abandonWorkItem(lockToken: string, delayMs: number | null, ignoreAttempt: boolean): Promise<void> {
    const op = "abandonWorkItem";
    validateProviderInput.abandonWorkItem(lockToken, delayMs);
    await this.conn.write(op, () => {
      const now = Date.now();
      if (this.s.abandonWorker.run(now + (delayMs ?? 0), ignoreAttempt ? 1 : 0, lockToken).changes === 0) {
        throw ProviderError.lockLost(op, `unknown work item lock token ${lockToken}`);
      }
    });
    this.workerWork.notify();
  }

  async renewWorkItemLock(lockToken: string, extendForMs: number): Promise<void> {
    const op = "renewWorkItemLock";
    validateProviderInput.renewWorkItemLock(lockToken, extendForMs);
    await this.conn.write(op, () => {
      const now = Date.now();
      const row = this.s.renewWorker.get(now + extendForMs, lockToken, now);
      if (row === null) throw ProviderError.lockLost(op, `work item lock ${lockToken} is gone: cancelled, expired or acked`);
      if (row.session_id !== null) this.s.touchSession.run(now, row.session_id, now);
    });
  }

  // ------------------------------------------------------------------ sessions

  async renewSessionLock(ownerIds: string[], extendForMs: number, idleTimeoutMs: number): Promise<number> {
    const op = "renewSessionLock";
    validateProviderInput.renewSessionLock(ownerIds, extendForMs, idleTimeoutMs);
    if (ownerIds.length === 0) return this.conn.read(op, () => 0);
    return this.conn.write(op, () => {
      const now = Date.now();
      return this.s.renewSessions.run(now + extendForMs, JSON.stringify(ownerIds), now, now - idleTimeoutMs).changes;
    });
  }

  async releaseSessionLocks(ownerIds: string[], sessionIds?: string[] | null): Promise<number> {
    const op = "releaseSessionLocks";
    const v = validateProviderInput.releaseSessionLocks(ownerIds, sessionIds);
    if (v.owners.length === 0 || v.sessionIds?.length === 0) return this.conn.read(op, () => 0);
    return this.conn.write(op, () => {
      const now = Date.now();
      return this.s.releaseSessions.run(now, JSON.stringify(v.owners), now, v.sessionIds === null ? null : JSON.stringify(v.sessionIds)).changes;
    });
  }

  async cleanupOrphanedSessions(idleTimeoutMs: number): Promise<number> {
    const op = "cleanupOrphanedSessions";
    validateProviderInput.cleanupOrphanedSessions(idleTimeoutMs);
    return this.conn.write(op, () => this.s.cleanupSessions.run(Date.now()).changes);
  }

  // ------------------------------------------------------------------ history

  async read(instance: string): Promise<Event[]> {
    const op = "read";
    validateProviderInput.read(instance);
    return this.conn.read(op, () => {
      const exec = this.s.maxExecution.get(instance)?.m ?? 1;
      return this.s.historyRows.all(instance, exec).map((r) => decodeEvent(r.event_data));
    });
  }

  async readWithExecution(instance: string, executionId: number): Promise<Event[]> {
    const op = "readWithExecution";
    validateProviderInput.readWithExecution(instance, executionId);
    return this.conn.read(op, () => this.s.historyRows.all(instance, executionId).map((r) => decodeEvent(r.event_data)));
  }

  async appendWithExecution(instance: string, executionId: number, events: Event[]): Promise<void> {
    const op = "appendWithExecution";
    const v = validateProviderInput.appendWithExecution(instance, executionId, events);
    await this.conn.write(op, () => {
      const now = Date.now();
      v.events.forEach((e, i) => this.s.insertHistory.run(instance, executionId, e.event_id, e.type, v.texts[i]!, now));
      this.history.forget(instance); // in the transaction: no fetch between the insert and this sees a stale entry
    });
  }

  // ------------------------------------------------------------------ custom status / KV

  async getCustomStatus(instance: string, lastSeenVersion: number): Promise<{ status: string | null; version: number } | null> {
    const op = "getCustomStatus";
    validateProviderInput.getCustomStatus(instance, lastSeenVersion);
    return this.conn.read(op, () => {
      const row = this.s.customStatus.get(instance, lastSeenVersion);
      return row === null ? null : { status: row.custom_status, version: row.custom_status_version };
    });
  }

  async getKvValue(instance: string, key: string): Promise<string | null> {
    const op = "getKvValue";
    validateProviderInput.getKvValue(instance, key);
    return this.conn.read(op, () => {
      const overlay = this.s.kvDeltaGet.get(instance, key);
      if (overlay !== null) return overlay.value;
      return this.s.kvStoreGet.get(instance, key)?.value ?? null;
    });
  }

  async getKvAllValues(instance: string): Promise<Record<string, string>> {
    const op = "getKvAllValues";
    validateProviderInput.getKvAllValues(instance);
    return this.conn.read(op, () => {
      const out: Record<string, string> = {};
      for (const r of this.s.kvStoreRows.all(instance)) out[r.key] = r.value;
      for (const r of this.s.kvDeltaRows.all(instance)) {
        if (r.value === null) delete out[r.key];
        else out[r.key] = r.value;
      }
      return out;
    });
  }

  /** Long-polls unless opened with `longPolling: false`; several processes may share a file (not `:memory:`). */
  capabilities(): ProviderCapabilities {
    return { longPolling: this.longPolling, management: true, multiProcess: this.fileBacked, crossProcessWakeups: false };
  }

  asManagementCapability(): ProviderAdmin {
    return this.admin;
  }
}

export type SqliteSuiteFactory = SuiteFactory<SqliteProvider>;

/**
 * The provider correctness suite's factory for the SqliteProviders `create` makes, with the hooks
 * that need the store's tables (corruptInstanceHistory, getMaxAttemptCount): this is how a test
 * outside the provider gets them, since the connection is not public. The hooks act on the
 * provider created last. In a provider repo's test file:
 *
 *   import { runAllTests } from "duroxide/provider-tests";
 *   import { SqliteProvider, sqliteSuiteFactory } from "duroxide/sqlite";
 *   await runAllTests(sqliteSuiteFactory(() => SqliteProvider.inMemory()));
 */
export function sqliteSuiteFactory(create: () => Promise<SqliteProvider>): SqliteSuiteFactory {
  return suiteFactory(create, internalsOf);
}
