/**
 * SqliteProvider: the embedded Provider on bun:sqlite.
 *
 * Every mutating method is one `BEGIN IMMEDIATE` transaction, so a select-then-update can never
 * interleave with another connection or process on the same file; a method either commits all of
 * its writes or none. Times are integer ms from `Date.now()`. Statements on the hot path are
 * prepared once in the constructor.
 */
import { Database, type Statement } from "bun:sqlite";
import { DecodeError, ProviderError, ValidationError } from "../core/errors.ts";
import { decodeEvent, type Event } from "../core/events.ts";
import type { Semver } from "../core/semver.ts";
import type {
  DispatcherCapabilityFilter,
  ExecutionMetadata,
  FetchedOrchestration,
  FetchedWorkItem,
  KvEntry,
  ScheduledActivityIdentifier,
  SessionFetchConfig,
  TagFilter,
} from "../core/queue-types.ts";
import { decodeWorkItem, encodeWorkItem, workItemInstance, type WorkItem } from "../core/work-items.ts";
import type { Provider, ProviderAdmin, ProviderCapabilities } from "../provider.ts";
import { SCHEMA_SQL, SCHEMA_VERSION } from "./sqlite-schema.ts";
import { GroupCommit } from "./group-commit.ts";
import { WakeSignal } from "./wake-signal.ts";
import { SqliteProviderAdmin } from "./sqlite-admin.ts";
import { validateProviderInput } from "./validate-args.ts";

export const PROVIDER_VERSION = "0.1.0";

export interface SqliteProviderOptions {
  /** `NORMAL` (default; durable at checkpoints, safe against corruption in WAL) or `FULL` (fsync every commit). */
  synchronous?: "NORMAL" | "FULL";
  /** How long a write waits for another connection's lock before failing with a retryable error. Default 60 000. */
  busyTimeoutMs?: number;
  /**
   * Long polling (default true): an empty fetch waits up to its pollTimeoutMs for work. Work
   * enqueued through this provider object wakes it at once; work from other processes, expired
   * locks and due timers are noticed within `pollIntervalMs`.
   */
  longPolling?: boolean;
  /** While long-polling, how often to look at the database again. Default 50 ms. */
  pollIntervalMs?: number;
  /**
   * Single-process mode (default false): `locking_mode=EXCLUSIVE` keeps the file lock for the
   * connection's lifetime, saving lock syscalls per commit. No other process can open the file.
   */
  exclusive?: boolean;
  /**
   * Group commit: writes requested in the same tick share one transaction (each in its own
   * savepoint), paying the commit cost once per batch; false commits every write alone. Default:
   * on for files (a commit writes WAL frames), off in memory (commits are nearly free there and the
   * batching delay costs more than it saves; measured with scripts/parallel_orchestrations.ts).
   */
  groupCommit?: boolean;
}

const TERMINAL = new Set(["Completed", "Failed", "ContinuedAsNew"]);

/**
 * Maps a storage failure to the contract's error kinds (docs/provider-contract.md §9):
 * undecodable stored rows are Corrupt, bad input InvalidArgument, constraint violations Conflict,
 * a busy or locked database Unavailable (retryable), anything else Internal (retryable: the
 * runtime backs off rather than failing an instance over a failure it cannot classify).
 */
export function sqliteError(op: string, err: unknown): ProviderError {
  if (err instanceof ProviderError) return err;
  if (err instanceof DecodeError) return ProviderError.corrupt(op, `stored data is unreadable: ${err.message}`, err);
  if (err instanceof ValidationError) return ProviderError.invalidArgument(op, err.message, err);
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  if (typeof code === "string" && code.startsWith("SQLITE_CONSTRAINT")) {
    const dup = code === "SQLITE_CONSTRAINT_PRIMARYKEY" || code === "SQLITE_CONSTRAINT_UNIQUE";
    return new ProviderError("Conflict", op, dup ? `duplicate key: ${message}` : message, { cause: err });
  }
  if (typeof code === "string" && (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED"))) {
    return ProviderError.unavailable(op, message, err);
  }
  return new ProviderError("Internal", op, message, { retryable: true, cause: err });
}

/** Accepts `sqlite:./x.db`, `sqlite://x.db`, `sqlite::memory:`, `:memory:` or a plain path; drops `?mode=...`. */
export function parseSqliteUrl(urlOrPath: string): string {
  if (typeof urlOrPath !== "string" || urlOrPath.trim().length === 0) {
    throw new ValidationError("SqliteProvider.open needs a path or a sqlite: URL, got an empty value");
  }
  let path = urlOrPath.trim();
  if (path.startsWith("sqlite://")) path = path.slice("sqlite://".length);
  else if (path.startsWith("sqlite:")) path = path.slice("sqlite:".length);
  const q = path.indexOf("?");
  if (q >= 0) path = path.slice(0, q);
  if (path.length === 0) throw new ValidationError(`"${urlOrPath}" names no database file`);
  return path;
}

interface OrchRow {
  id: number;
  kind: string;
  work_item: string;
  attempt_count: number;
}

interface WorkerRow {
  id: number;
  work_item: string;
  attempt_count: number;
  session_id: string | null;
}

function newToken(): string {
  return crypto.randomUUID();
}

export class SqliteProvider implements Provider {
  readonly db: Database;
  private readonly admin: SqliteProviderAdmin;
  private readonly s: ReturnType<typeof prepareStatements>;
  private closed = false;
  private readonly longPolling: boolean;
  private readonly pollIntervalMs: number;
  private readonly orchestratorWork = new WakeSignal();
  private readonly workerWork = new WakeSignal();
  /** BEGIN IMMEDIATE runner for the admin capability's synchronous transactions. */
  private readonly immediate: <T>(fn: () => T) => T;
  /** Every write of the Provider interface goes through here: one transaction per event-loop turn. */
  private readonly writes: GroupCommit | null;
  /**
   * Whether the last fetch of each queue found nothing. Only then is the cheap read-only
   * emptiness check worth doing before taking the write lock; under load it would be pure overhead.
   */
  private orchIdle = true;
  /** Decoded history of recently fetched instances (see loadHistory). */
  private readonly historyCache = new Map<string, CachedInstance>();
  /**
   * What each outstanding lock's fetch saw (instance existed, current execution, name, version), so
   * its ack can skip writes that would change nothing. Entries of locks that were never acked or
   * abandoned (expired) are dropped oldest first past a bound.
   */
  private readonly fetchedLocks = new Map<string, FetchedLock>();
  private workerIdle = true;

  private constructor(db: Database, options: SqliteProviderOptions, private readonly fileBacked: boolean) {
    this.db = db;
    this.longPolling = options.longPolling ?? true;
    this.pollIntervalMs = options.pollIntervalMs ?? 50;
    this.s = prepareStatements(db);
    this.immediate = db.transaction(<T>(fn: () => T): T => fn()).immediate as <T>(fn: () => T) => T;
    this.writes = (options.groupCommit ?? fileBacked) ? new GroupCommit(db) : null;
    this.admin = new SqliteProviderAdmin(this);
  }

  /** Opens (creating if missing) a database file in WAL mode. */
  static async open(urlOrPath: string, options: SqliteProviderOptions = {}): Promise<SqliteProvider> {
    const path = parseSqliteUrl(urlOrPath);
    checkPollingOptions(options);
    const sync = options.synchronous ?? "NORMAL";
    if (sync !== "NORMAL" && sync !== "FULL") throw new ValidationError(`synchronous must be "NORMAL" or "FULL", got ${JSON.stringify(sync)}`);
    const busy = options.busyTimeoutMs ?? 60_000;
    if (!Number.isSafeInteger(busy) || busy < 0) throw new ValidationError(`busyTimeoutMs must be a non-negative integer, got ${busy}`);
    if (path === ":memory:") return SqliteProvider.inMemory(options);
    const db = new Database(path, { create: true, readwrite: true });
    try {
      db.run(`PRAGMA busy_timeout = ${busy}`);
      db.run("PRAGMA journal_mode = WAL");
      db.run(`PRAGMA synchronous = ${sync}`);
      if (options.exclusive === true) db.run("PRAGMA locking_mode = EXCLUSIVE");
      // Write path tuning: a 16 MiB page cache keeps hot pages (no memory-mapping: mapped pages
      // would count towards RSS as the file grows, and measured no faster), and fewer, larger WAL
      // checkpoints write each hot page once per checkpoint, not once per commit.
      db.run("PRAGMA cache_size = -16384");
      db.run("PRAGMA wal_autocheckpoint = 10000");
      db.run("PRAGMA temp_store = MEMORY");
      SqliteProvider.migrate(db);
    } catch (err) {
      db.close();
      throw sqliteError("open", err);
    }
    return new SqliteProvider(db, options, true);
  }

  /** A private in-memory database: fast, gone when closed. For tests and ephemeral runs. */
  static async inMemory(options: Pick<SqliteProviderOptions, "longPolling" | "pollIntervalMs" | "groupCommit"> = {}): Promise<SqliteProvider> {
    checkPollingOptions(options);
    const db = new Database(":memory:");
    SqliteProvider.migrate(db);
    return new SqliteProvider(db, options, false);
  }

  private static migrate(db: Database): void {
    db.transaction(() => {
      const row = db.query<{ user_version: number }, []>("PRAGMA user_version").get();
      const v = row?.user_version ?? 0;
      if (v > SCHEMA_VERSION) {
        throw new ValidationError(`database schema version ${v} is newer than this duroxide (${SCHEMA_VERSION})`);
      }
      db.run(SCHEMA_SQL);
      db.run(`PRAGMA user_version = ${SCHEMA_VERSION}`);
    }).immediate();
  }

  name(): string {
    return "sqlite";
  }

  version(): string {
    return PROVIDER_VERSION;
  }

  /** Closes the database; fetches waiting in a long poll return null. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.orchestratorWork.notify();
    this.workerWork.notify();
    this.db.close();
  }

  /**
   * Runs `attempt` until it yields work or `pollTimeoutMs` has passed, sleeping between attempts
   * until woken by this process's enqueues, the next message's visibility time, or the poll interval.
   */
  private async poll<T>(pollTimeoutMs: number, signal: WakeSignal, nextVisible: Statement<{ t: number | null }, [number]>, attempt: () => Promise<T | null>): Promise<T | null> {
    const deadline = Date.now() + pollTimeoutMs;
    for (;;) {
      const found = await attempt();
      if (found !== null || !this.longPolling) return found;
      const now = Date.now();
      if (now >= deadline) return null;
      let wait = Math.min(deadline - now, this.pollIntervalMs);
      const due = nextVisible.get(now)?.t ?? null;
      if (due !== null) wait = Math.min(wait, Math.max(due - now, 1));
      await signal.wait(wait);
      if (this.closed) return null;
    }
  }

  /** Runs `fn` in one BEGIN IMMEDIATE transaction now, mapping failures to ProviderError (admin). */
  private tx<T>(op: string, fn: () => T): T {
    if (this.closed) throw ProviderError.closed(op);
    try {
      return this.immediate(fn);
    } catch (err) {
      throw sqliteError(op, err);
    }
  }

  /** Runs `fn` atomically in the next group commit, mapping failures to ProviderError. */
  private async write<T>(op: string, fn: () => T): Promise<T> {
    if (this.closed) throw ProviderError.closed(op);
    try {
      return this.writes === null ? this.immediate(fn) : await this.writes.run(fn);
    } catch (err) {
      throw sqliteError(op, err);
    }
  }

  private guard<T>(op: string, fn: () => T): T {
    if (this.closed) throw ProviderError.closed(op);
    try {
      return fn();
    } catch (err) {
      throw sqliteError(op, err);
    }
  }

  // ------------------------------------------------------------------ orchestrator queue

  async enqueueForOrchestrator(item: WorkItem, delayMs?: number | null): Promise<void> {
    const op = "enqueueForOrchestrator";
    validateProviderInput.enqueueForOrchestrator(item, delayMs);
    const now = Date.now();
    const encoded = encodeWorkItem(item);
    await this.write(op, () => this.s.insertOrch.run(workItemInstance(item), item.type, encoded, now + (delayMs ?? 0), now));
    this.orchestratorWork.notify();
  }

  async fetchOrchestrationItem(
    lockTimeoutMs: number,
    pollTimeoutMs: number,
    filter?: DispatcherCapabilityFilter | null,
  ): Promise<FetchedOrchestration | null> {
    const op = "fetchOrchestrationItem";
    const { range } = validateProviderInput.fetchOrchestrationItem(lockTimeoutMs, pollTimeoutMs, filter);
    if (range === "none") return null;
    return this.poll(pollTimeoutMs, this.orchestratorWork, this.s.nextOrchVisible, async () => {
      // An empty queue is answered from a read, without taking the database's write lock: idle
      // pollers in other processes then never contend with the ones doing work.
      if (this.orchIdle && this.guard(op, () => this.pick(Date.now(), range)) === null) return null;
      const found = await this.write(op, () => this.fetchOrchestrationTx(lockTimeoutMs, range));
      this.orchIdle = found === null;
      return found;
    });
  }

  private fetchOrchestrationTx(lockTimeoutMs: number, range: [Semver, Semver] | null): FetchedOrchestration | null {
    const now = Date.now();
    // Normally the first candidate is taken. A batch that cannot be resolved yet (no instance row,
    // no history, no Start) is deferred, so an orphan message never blocks the queue head
    // (docs/provider-contract.md §3.2 step 5, Q2).
    for (;;) {
      const cand = this.pick(now, range);
      if (cand === null) return null;
      const result = this.lockInstance(cand.instance_id, now, lockTimeoutMs);
      if (result !== "retry") return result;
    }
  }

  private pick(now: number, range: [Semver, Semver] | null): { instance_id: string } | null {
    const [min, max] = range ?? [ZERO, ZERO];
    return this.s.pickCandidate.get(now, range === null ? 0 : 1, min.major, min.minor, min.patch, max.major, max.minor, max.patch);
  }

  /**
   * The current execution's history, decoded. Every turn of an instance re-reads its history, so
   * decoded events are kept per instance and only rows past the cached ones are read and decoded;
   * a count/max check on the primary key detects any other change (another process, pruning,
   * deletion) and falls back to a full read. Direct SQL edits must call `invalidateCache`.
   */
  private loadHistory(instance: string, executionId: number): Event[] {
    const s = this.s;
    const cached = this.historyCache.get(instance);
    if (cached !== undefined && cached.executionId === executionId) {
      const shape = s.historyShape.get(instance, executionId)!;
      const have = cached.events;
      const firstId = have[0]?.event_id ?? null;
      const lastId = have.at(-1)?.event_id ?? 0;
      if (shape.n === have.length && (shape.n === 0 || (shape.min === firstId && shape.max === lastId))) {
        this.touchCache(instance, cached);
        return have.slice();
      }
      if (shape.n > have.length && (have.length === 0 || shape.min === firstId)) {
        const newer = s.historyAfter.all(instance, executionId, lastId);
        if (have.length + newer.length === shape.n) {
          const decoded = newer.map((r) => decodeEvent(r.event_data));
          for (const e of decoded) have.push(e);
          this.touchCache(instance, cached);
          return have.slice();
        }
      }
    }
    const events = s.historyRows.all(instance, executionId).map((r) => decodeEvent(r.event_data));
    this.touchCache(instance, { executionId, events, kv: null });
    return events.slice();
  }

  /** Committed KV of the instance, from the history cache entry when it is current. */
  private loadKv(instance: string, executionId: number): Record<string, KvEntry> {
    const cached = this.historyCache.get(instance);
    if (cached !== undefined && cached.executionId === executionId && cached.kv !== null) return { ...cached.kv };
    const kv: Record<string, KvEntry> = {};
    for (const r of this.s.kvStoreRows.all(instance)) kv[r.key] = { value: r.value, last_updated_at_ms: r.last_updated_at_ms };
    if (cached !== undefined && cached.executionId === executionId) cached.kv = { ...kv };
    return kv;
  }

  private touchCache(instance: string, entry: CachedInstance): void {
    // Map order is insertion order: re-inserting makes this the most recently used entry.
    this.historyCache.delete(instance);
    this.historyCache.set(instance, entry);
    if (this.historyCache.size > HISTORY_CACHE_INSTANCES) {
      const oldest = this.historyCache.keys().next().value;
      if (oldest !== undefined) this.historyCache.delete(oldest);
    }
  }

  /**
   * Forget cached decoded history (of one instance, or all). Only needed after writing to the
   * database behind the provider's back, e.g. a test corrupting rows with SQL.
   */
  invalidateCache(instance?: string): void {
    if (instance === undefined) this.historyCache.clear();
    else this.historyCache.delete(instance);
  }

  /** Claims one instance's batch; "retry" when there was nothing to claim and the caller should pick again. */
  private lockInstance(instance: string, now: number, lockTimeoutMs: number): FetchedOrchestration | "retry" | null {
    const s = this.s;
    let name: string | null = null;
    let version: string | null = null;
    let executionId = 1;
    const inst = s.instanceRow.get(instance);
    if (inst !== null) {
      name = inst.orchestration_name;
      version = inst.orchestration_version;
      executionId = inst.current_execution_id;
    } else {
      // Not created yet: take the identity from history, else from a Start/ContinueAsNew message.
      const maxExec = s.maxExecution.get(instance)?.m ?? null;
      if (maxExec !== null) {
        executionId = maxExec;
        const started = s.startedEvent.get(instance, maxExec);
        const e = started === null ? null : tryDecodeEvent(started.event_data);
        if (e?.type === "OrchestrationStarted") [name, version] = [e.name, e.version];
      }
    }

    const token = newToken();
    const until = now + lockTimeoutMs;
    if (s.claimLock.run(instance, token, until, now, token, until, now, now).changes === 0) return null; // lost a race
    // Tag every visible message of the instance and read the batch back in one statement.
    const rows = s.tagBatch.all(token, instance, now).sort((x, y) => x.id - y.id);
    const messages: WorkItem[] = [];
    let attemptCount = 0;
    for (const r of rows) {
      const item = tryDecodeWorkItem(r.work_item);
      if (item === null) {
        // An undecodable message can never be processed: park it rather than redeliver it forever.
        s.deadLetter.run("orchestrator", instance, r.work_item, "undecodable work item", now);
        s.deleteOrchRow.run(r.id);
        continue;
      }
      messages.push(item);
      if (r.attempt_count > attemptCount) attemptCount = r.attempt_count;
      if (name === null && (item.type === "StartOrchestration" || item.type === "ContinueAsNew")) [name, version] = [item.orchestration, item.version];
    }
    if (messages.length === 0) {
      s.releaseLock.run(instance, token);
      return "retry";
    }
    if (name === null) {
      // No instance, no history, no start: nothing here can be processed (yet). Give the batch back.
      if (messages.every((m) => m.type === "QueueMessage")) {
        // Only persistent events for an instance that never started: nothing can ever consume them.
        s.deleteBatch.run(token);
      } else {
        // An event raised before its start, a completion for a deleted instance: keep them, but look
        // again later, backing off with their age (1 s to 60 s), so they cost nothing on the hot path.
        s.untagUndoAttempt.run(token);
        s.deferOrphans.run(now, now, instance, now);
      }
      s.releaseLock.run(instance, token);
      return "retry";
    }

    let history: Event[] = [];
    let historyError: string | null = null;
    try {
      history = this.loadHistory(instance, executionId);
    } catch (err) {
      // Never throw while holding a lock: hand the runtime the error so it can poison the instance.
      history = [];
      historyError = `history deserialization failed: ${(err as Error).message}`;
    }
    const kv = this.loadKv(instance, executionId);
    if (this.fetchedLocks.size >= FETCHED_LOCKS_MAX) this.fetchedLocks.delete(this.fetchedLocks.keys().next().value!);
    this.fetchedLocks.set(token, { instance, executionId, existed: inst !== null, name, version });

    return {
      item: {
        instance,
        orchestration_name: name,
        execution_id: executionId,
        version: version ?? "unknown",
        history,
        messages,
        history_error: historyError,
        kv_snapshot: kv,
      },
      lockToken: token,
      attemptCount,
    };
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
    const { delta, metadata: md, cancelled } = validateProviderInput.ackOrchestrationItem(
      lockToken,
      executionId,
      historyDelta,
      workerItems,
      orchestratorItems,
      metadata,
      cancelledActivities,
    );
    // Encode before the transaction so the write lock is held as briefly as possible.
    const encodedEvents = delta.map((e) => JSON.stringify(e));
    const encodedWorker = workerItems.map(encodeWorkItem);
    const encodedOrch = orchestratorItems.map(encodeWorkItem);

    const ackedInstance = await this.write(op, () => {
      const s = this.s;
      const now = Date.now();
      const lock = s.lockByToken.get(lockToken);
      if (lock === null) throw ProviderError.lockLost(op, `Invalid lock token: ${lockToken} (unknown, already acked or abandoned, or the instance was deleted)`);
      if (lock.locked_until <= now) throw ProviderError.lockLost(op, `lock expired for instance ${lock.instance_id}: the turn took longer than the lock timeout`);
      const instance = lock.instance_id;
      // Writes that would change nothing are skipped when this lock's fetch already saw the
      // instance with this execution as its current one (the common case: every turn but the first).
      const seen = this.fetchedLocks.get(lockToken);
      const sameExecution = seen !== undefined && seen.existed && seen.instance === instance && seen.executionId === executionId;

      s.deleteBatch.run(lockToken);

      if (md.orchestration_name != null && md.orchestration_version != null) {
        if (!(sameExecution && seen.name === md.orchestration_name && seen.version === md.orchestration_version)) {
          s.createInstance.run(instance, md.orchestration_name, md.orchestration_version, executionId, md.parent_instance_id ?? null, now, now);
          s.updateInstanceNameVersion.run(md.orchestration_name, md.orchestration_version, now, instance);
        }
      }
      let freshExecution = false;
      if (!sameExecution) {
        freshExecution = s.createExecution.run(instance, executionId, now).changes === 1;
        s.raiseCurrentExecution.run(executionId, now, instance);
      }
      const pin = md.pinned_duroxide_version;
      if (pin != null) s.pinExecution.run(pin.major, pin.minor, pin.patch, instance, executionId);

      for (let i = 0; i < delta.length; i++) {
        const e = delta[i]!;
        s.insertHistory.run(instance, executionId, e.event_id, e.type, encodedEvents[i]!, now);
      }

      // A just-created execution already is Running with no output.
      if (md.status != null && !(freshExecution && md.status === "Running" && md.output == null)) {
        const terminal = TERMINAL.has(md.status);
        s.setExecutionStatus.run(md.status, md.output ?? null, terminal ? now : null, instance, executionId);
      }

      let lastStatus: Event | undefined;
      for (const e of delta) if (e.type === "CustomStatusUpdated") lastStatus = e;
      if (lastStatus !== undefined && lastStatus.type === "CustomStatusUpdated") {
        s.setCustomStatus.run(lastStatus.status, now, instance);
      }

      for (const e of delta) {
        if (e.type === "KeyValueSet") s.kvDeltaSet.run(instance, e.key, e.value, e.last_updated_at_ms ?? 0);
        else if (e.type === "KeyValueCleared") s.kvDeltaSet.run(instance, e.key, null, now);
        else if (e.type === "KeyValuesCleared") {
          s.kvDeltaTombstoneAll.run(now, instance);
          s.kvDeltaTombstoneCommitted.run(instance, now, instance);
        }
      }
      // The merge's three statements only when the execution wrote KV at all (one cheap probe).
      if (md.status != null && TERMINAL.has(md.status) && s.kvDeltaAny.get(instance) !== null) {
        s.kvMergeUpsert.run(instance);
        s.kvMergeDelete.run(instance);
        s.kvDeltaClear.run(instance);
      }

      for (let i = 0; i < workerItems.length; i++) {
        const w = workerItems[i]!;
        if (w.type !== "ActivityExecute") continue;
        s.insertWorker.run(encodedWorker[i]!, now, now, w.instance, w.execution_id, w.id, w.session_id ?? null, w.tag ?? null);
      }
      // After the inserts, so scheduling and cancelling one activity in the same turn is a no-op
      // (docs/provider-contract.md R5).
      for (const c of cancelled) s.deleteWorkerByIdentity.run(c.instance, c.execution_id, c.activity_id);

      for (let i = 0; i < orchestratorItems.length; i++) {
        const o = orchestratorItems[i]!;
        const visibleAt = o.type === "TimerFired" ? o.fire_at_ms : now;
        s.insertOrch.run(workItemInstance(o), o.type, encodedOrch[i]!, visibleAt, now);
      }

      s.releaseLock.run(instance, lockToken);
      return instance;
    });
    this.fetchedLocks.delete(lockToken);
    // A finished execution is not fetched again for a while: don't keep its history.
    if (md.status != null && TERMINAL.has(md.status)) this.historyCache.delete(ackedInstance);
    // Messages that arrived during the turn are fetchable now that the lock is gone.
    this.orchestratorWork.notify();
    if (workerItems.length > 0) this.workerWork.notify();
  }

  async abandonOrchestrationItem(lockToken: string, delayMs: number | null, ignoreAttempt: boolean): Promise<void> {
    const op = "abandonOrchestrationItem";
    validateProviderInput.abandonOrchestrationItem(lockToken, delayMs);
    await this.write(op, () => {
      const s = this.s;
      const now = Date.now();
      const lock = s.lockByToken.get(lockToken);
      if (lock === null) throw ProviderError.lockLost(op, `Invalid lock token: ${lockToken} (unknown, expired and re-locked, or already released)`);
      s.releaseLock.run(lock.instance_id, lockToken);
      if (ignoreAttempt) s.decrementBatchAttempts.run(lockToken);
      if (delayMs != null && delayMs > 0) s.delayVisible.run(now + delayMs, lock.instance_id, now);
      s.untagBatch.run(lockToken);
    });
    this.fetchedLocks.delete(lockToken);
    this.orchestratorWork.notify();
  }

  async renewOrchestrationItemLock(lockToken: string, extendForMs: number): Promise<void> {
    const op = "renewOrchestrationItemLock";
    validateProviderInput.renewOrchestrationItemLock(lockToken, extendForMs);
    await this.write(op, () => {
      const now = Date.now();
      if (this.s.renewLock.run(now + extendForMs, lockToken, now).changes === 0) {
        throw ProviderError.lockLost(op, `cannot renew lock ${lockToken}: it expired, was released, or the instance was deleted`);
      }
    });
  }

  // ------------------------------------------------------------------ worker queue

  async enqueueForWorker(item: WorkItem): Promise<void> {
    const op = "enqueueForWorker";
    validateProviderInput.enqueueForWorker(item);
    if (item.type !== "ActivityExecute") return;
    const now = Date.now();
    const encoded = encodeWorkItem(item);
    await this.write(op, () =>
      this.s.insertWorker.run(encoded, now, now, item.instance, item.execution_id, item.id, item.session_id ?? null, item.tag ?? null),
    );
    this.workerWork.notify();
  }

  async fetchWorkItem(
    lockTimeoutMs: number,
    pollTimeoutMs: number,
    session: SessionFetchConfig | null,
    tagFilter: TagFilter,
  ): Promise<FetchedWorkItem | null> {
    const op = "fetchWorkItem";
    const { session: sess, tagFilter: tf } = validateProviderInput.fetchWorkItem(lockTimeoutMs, pollTimeoutMs, session, tagFilter);
    if (tf.type === "None") return null;
    const pick = this.workerPickStatement(tf, sess !== null);
    const tags = tf.type === "Tags" || tf.type === "DefaultAnd" ? JSON.stringify([...tf.tags]) : "[]";
    const owner = sess?.owner_id ?? "";

    return this.poll(pollTimeoutMs, this.workerWork, this.s.nextWorkerVisible, async () => {
      if (this.workerIdle && this.guard(op, () => pick.get(Date.now(), tags, owner)) === null) return null; // as above
      const found = await this.claimWorkItem(op, pick, tags, owner, lockTimeoutMs, sess);
      this.workerIdle = found === null;
      return found;
    });
  }

  private async claimWorkItem(
    op: string,
    pick: Statement<WorkerRow, [number, string, string]>,
    tags: string,
    owner: string,
    lockTimeoutMs: number,
    sess: SessionFetchConfig | null,
  ): Promise<FetchedWorkItem | null> {
    try {
      return await this.write(op, () => {
        const s = this.s;
        const now = Date.now();
        for (;;) {
          const row = pick.get(now, tags, owner);
          if (row === null) return null;
          let item: WorkItem;
          try {
            item = decodeWorkItem(row.work_item);
          } catch (err) {
            // An undecodable row can never run: park it instead of failing every fetch behind it.
            s.deadLetter.run("worker", null, row.work_item, (err as Error).message, now);
            s.deleteWorkerRow.run(row.id);
            continue;
          }
          const token = newToken();
          s.lockWorker.run(token, now + lockTimeoutMs, row.id);
          if (row.session_id !== null && sess !== null) {
            const until = now + sess.lock_timeout;
            const claimed = s.claimSession.run(row.session_id, sess.owner_id, until, now, sess.owner_id, until, now, now, sess.owner_id);
            if (claimed.changes === 0) throw new LostSessionRace();
          }
          return { item, lockToken: token, attemptCount: row.attempt_count + 1 };
        }
      });
    } catch (err) {
      if (err instanceof ProviderError && err.cause instanceof LostSessionRace) return null;
      throw err;
    }
  }

  private readonly workerPicks = new Map<string, Statement<WorkerRow, [number, string, string]>>();

  /** One prepared statement per (tag filter kind, session or not); binds ?1 now, ?2 tags as JSON, ?3 owner. */
  private workerPickStatement(tf: TagFilter, withSession: boolean): Statement<WorkerRow, [number, string, string]> {
    const key = `${tf.type}|${withSession}`;
    let st = this.workerPicks.get(key);
    if (st !== undefined) return st;
    const tagPred =
      tf.type === "DefaultOnly"
        ? "w.tag IS NULL"
        : tf.type === "Tags"
          ? "w.tag IN (SELECT value FROM json_each(?2))"
          : tf.type === "DefaultAnd"
            ? "(w.tag IS NULL OR w.tag IN (SELECT value FROM json_each(?2)))"
            : "?2 = ?2";
    // Without a session config only plain rows qualify; with one, a session row qualifies when its
    // session is unowned, expired, or owned by this owner.
    const sql = withSession
      ? `SELECT w.id, w.work_item, w.attempt_count, w.session_id FROM worker_queue AS w
           LEFT JOIN sessions AS o ON o.session_id = w.session_id AND o.locked_until > ?1
          WHERE w.visible_at <= ?1 AND (w.lock_token IS NULL OR w.locked_until <= ?1) AND ${tagPred}
            AND (w.session_id IS NULL OR o.session_id IS NULL OR o.worker_id = ?3)
          ORDER BY w.visible_at, w.id LIMIT 1`
      : `SELECT w.id, w.work_item, w.attempt_count, w.session_id FROM worker_queue AS w
          WHERE w.visible_at <= ?1 AND (w.lock_token IS NULL OR w.locked_until <= ?1) AND ${tagPred}
            AND w.session_id IS NULL AND ?3 = ?3
          ORDER BY w.visible_at, w.id LIMIT 1`;
    st = this.db.prepare<WorkerRow, [number, string, string]>(sql);
    this.workerPicks.set(key, st);
    return st;
  }

  async ackWorkItem(lockToken: string, completion: WorkItem | null): Promise<void> {
    const op = "ackWorkItem";
    validateProviderInput.ackWorkItem(lockToken, completion);
    const encoded = completion == null ? null : encodeWorkItem(completion);
    await this.write(op, () => {
      const s = this.s;
      const now = Date.now();
      const row = s.deleteLockedWorker.get(lockToken, now);
      if (row === null) {
        throw ProviderError.lockLost(op, `work item lock ${lockToken} is gone: the activity was cancelled, its lock expired, or it was already acked`);
      }
      if (row.session_id !== null) s.touchSession.run(now, row.session_id, now);
      if (completion != null && encoded !== null) s.insertOrch.run(workItemInstance(completion), completion.type, encoded, now, now);
    });
    if (completion != null) this.orchestratorWork.notify();
  }

  async abandonWorkItem(lockToken: string, delayMs: number | null, ignoreAttempt: boolean): Promise<void> {
    const op = "abandonWorkItem";
    validateProviderInput.abandonWorkItem(lockToken, delayMs);
    await this.write(op, () => {
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
    await this.write(op, () => {
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
    if (ownerIds.length === 0) return 0;
    return this.write(op, () => {
      const now = Date.now();
      return this.s.renewSessions.run(now + extendForMs, JSON.stringify(ownerIds), now, now - idleTimeoutMs).changes;
    });
  }

  async cleanupOrphanedSessions(idleTimeoutMs: number): Promise<number> {
    const op = "cleanupOrphanedSessions";
    validateProviderInput.cleanupOrphanedSessions(idleTimeoutMs);
    return this.write(op, () => this.s.cleanupSessions.run(Date.now()).changes);
  }

  // ------------------------------------------------------------------ history

  async read(instance: string): Promise<Event[]> {
    const op = "read";
    validateProviderInput.read(instance);
    return this.guard(op, () => {
      const exec = this.s.maxExecution.get(instance)?.m ?? 1;
      return this.s.historyRows.all(instance, exec).map((r) => decodeEvent(r.event_data));
    });
  }

  async readWithExecution(instance: string, executionId: number): Promise<Event[]> {
    const op = "readWithExecution";
    validateProviderInput.readWithExecution(instance, executionId);
    return this.guard(op, () => this.s.historyRows.all(instance, executionId).map((r) => decodeEvent(r.event_data)));
  }

  async appendWithExecution(instance: string, executionId: number, events: Event[]): Promise<void> {
    const op = "appendWithExecution";
    const evs = validateProviderInput.appendWithExecution(instance, executionId, events);
    this.invalidateCache(instance);
    await this.write(op, () => {
      const now = Date.now();
      for (const e of evs) this.s.insertHistory.run(instance, executionId, e.event_id, e.type, JSON.stringify(e), now);
    });
  }

  // ------------------------------------------------------------------ custom status / KV

  async getCustomStatus(instance: string, lastSeenVersion: number): Promise<{ status: string | null; version: number } | null> {
    const op = "getCustomStatus";
    validateProviderInput.getCustomStatus(instance, lastSeenVersion);
    return this.guard(op, () => {
      const row = this.s.customStatus.get(instance, lastSeenVersion);
      return row === null ? null : { status: row.custom_status, version: row.custom_status_version };
    });
  }

  async getKvValue(instance: string, key: string): Promise<string | null> {
    const op = "getKvValue";
    validateProviderInput.getKvValue(instance, key);
    return this.guard(op, () => {
      const overlay = this.s.kvDeltaGet.get(instance, key);
      if (overlay !== null) return overlay.value;
      return this.s.kvStoreGet.get(instance, key)?.value ?? null;
    });
  }

  async getKvAllValues(instance: string): Promise<Record<string, string>> {
    const op = "getKvAllValues";
    validateProviderInput.getKvAllValues(instance);
    return this.guard(op, () => {
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

  /** Internal: lets the admin capability share this provider's transaction and error mapping. */
  runTx<T>(op: string, fn: () => T): T {
    return this.tx(op, fn);
  }

  runRead<T>(op: string, fn: () => T): T {
    return this.guard(op, fn);
  }
}

/** Thrown inside a fetch transaction to roll it back when a session claim lost a race. */
class LostSessionRace extends Error {}

function checkPollingOptions(o: SqliteProviderOptions): void {
  if (typeof o !== "object" || o === null) throw new ValidationError("SqliteProvider options must be an object");
  for (const k of ["longPolling", "exclusive", "groupCommit"] as const) {
    if (o[k] !== undefined && typeof o[k] !== "boolean") throw new ValidationError(`${k} must be a boolean, got ${JSON.stringify(o[k])}`);
  }
  const i = o.pollIntervalMs;
  if (i !== undefined && (typeof i !== "number" || !Number.isFinite(i) || i < 1)) throw new ValidationError(`pollIntervalMs must be a number >= 1, got ${String(i)}`);
}

interface CachedInstance {
  executionId: number;
  events: Event[];
  /** Committed KV (changes only at terminal acks, which drop the entry). */
  kv: Record<string, KvEntry> | null;
}

interface FetchedLock {
  instance: string;
  executionId: number;
  /** The instance row existed at fetch, with `executionId` as its current execution. */
  existed: boolean;
  name: string | null;
  version: string | null;
}

const FETCHED_LOCKS_MAX = 10_000;

/** Instances whose decoded history is kept; least recently fetched ones are dropped first. */
const HISTORY_CACHE_INSTANCES = 1_000;

const ZERO: Semver = { major: 0, minor: 0, patch: 0 };

function tryDecodeEvent(text: string): Event | null {
  try {
    return decodeEvent(text);
  } catch {
    return null;
  }
}

function tryDecodeWorkItem(text: string): WorkItem | null {
  try {
    return decodeWorkItem(text);
  } catch {
    return null;
  }
}

function prepareStatements(db: Database) {
  return {
    insertOrch: db.prepare<never, [string, string, string, number, number]>(
      "INSERT INTO orchestrator_queue (instance_id, kind, work_item, visible_at, created_at) VALUES (?, ?, ?, ?, ?)",
    ),
    // Oldest visible message first: ordered by (visible_at, id) so the pick walks an index and stops
    // at the first eligible row instead of sorting every visible message (FIFO by becoming visible).
    // ?2 = 0: no capability filter. Otherwise the current execution's pinned version must be NULL or
    // inside [?3.?4.?5, ?6.?7.?8], compared as tuples, not packed integers
    // (docs/provider-contract.md Q7).
    pickCandidate: db.prepare<{ instance_id: string }, [number, number, number, number, number, number, number, number]>(
      `SELECT m.instance_id FROM orchestrator_queue AS m
         LEFT JOIN instance_locks AS lk ON lk.instance_id = m.instance_id
         LEFT JOIN instances AS i ON ?2 = 1 AND i.instance_id = m.instance_id
         LEFT JOIN executions AS e ON ?2 = 1 AND e.instance_id = m.instance_id AND e.execution_id = i.current_execution_id
        WHERE m.visible_at <= ?1 AND (lk.locked_until IS NULL OR lk.locked_until <= ?1)
          AND (?2 = 0 OR e.duroxide_version_major IS NULL OR (
               (e.duroxide_version_major, e.duroxide_version_minor, e.duroxide_version_patch) >= (?3, ?4, ?5)
           AND (e.duroxide_version_major, e.duroxide_version_minor, e.duroxide_version_patch) <= (?6, ?7, ?8)))
        ORDER BY m.visible_at, m.id LIMIT 1`,
    ),
    nextOrchVisible: db.prepare<{ t: number | null }, [number]>("SELECT MIN(visible_at) AS t FROM orchestrator_queue WHERE visible_at > ?"),
    nextWorkerVisible: db.prepare<{ t: number | null }, [number]>("SELECT MIN(visible_at) AS t FROM worker_queue WHERE visible_at > ?"),
    deferOrphans: db.prepare<never, [number, number, string, number]>(
      `UPDATE orchestrator_queue SET visible_at = ?1 + min(max(?2 - created_at, 1000), 60000)
        WHERE instance_id = ?3 AND visible_at <= ?4`,
    ),
    instanceRow: db.prepare<{ orchestration_name: string; orchestration_version: string | null; current_execution_id: number }, [string]>(
      "SELECT orchestration_name, orchestration_version, current_execution_id FROM instances WHERE instance_id = ?",
    ),
    maxExecution: db.prepare<{ m: number | null }, [string]>("SELECT MAX(execution_id) AS m FROM executions WHERE instance_id = ?"),
    startedEvent: db.prepare<{ event_data: string }, [string, number]>(
      "SELECT event_data FROM history WHERE instance_id = ? AND execution_id = ? AND event_type = 'OrchestrationStarted' ORDER BY event_id LIMIT 1",
    ),
    claimLock: db.prepare<never, [string, string, number, number, string, number, number, number]>(
      `INSERT INTO instance_locks (instance_id, lock_token, locked_until, locked_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (instance_id) DO UPDATE SET lock_token = ?, locked_until = ?, locked_at = ?
       WHERE instance_locks.locked_until <= ?`,
    ),
    tagBatch: db.prepare<OrchRow, [string, string, number]>(
      `UPDATE orchestrator_queue SET lock_token = ?, attempt_count = attempt_count + 1 WHERE instance_id = ? AND visible_at <= ?
       RETURNING id, kind, work_item, attempt_count`,
    ),
    untagUndoAttempt: db.prepare<never, [string]>(
      "UPDATE orchestrator_queue SET lock_token = NULL, attempt_count = max(attempt_count - 1, 0) WHERE lock_token = ?",
    ),
    untagBatch: db.prepare<never, [string]>("UPDATE orchestrator_queue SET lock_token = NULL WHERE lock_token = ?"),
    deleteOrchRow: db.prepare<never, [number]>("DELETE FROM orchestrator_queue WHERE id = ?"),
    deleteBatch: db.prepare<never, [string]>("DELETE FROM orchestrator_queue WHERE lock_token = ?"),
    deadLetter: db.prepare<never, [string, string | null, string, string, number]>(
      "INSERT INTO dead_letters (queue, instance_id, work_item, error, created_at) VALUES (?, ?, ?, ?, ?)",
    ),
    releaseLock: db.prepare<never, [string, string]>("DELETE FROM instance_locks WHERE instance_id = ? AND lock_token = ?"),
    historyShape: db.prepare<{ n: number; min: number | null; max: number | null }, [string, number]>(
      "SELECT COUNT(*) AS n, MIN(event_id) AS min, MAX(event_id) AS max FROM history WHERE instance_id = ? AND execution_id = ?",
    ),
    historyAfter: db.prepare<{ event_data: string }, [string, number, number]>(
      "SELECT event_data FROM history WHERE instance_id = ? AND execution_id = ? AND event_id > ? ORDER BY event_id",
    ),
    historyRows: db.prepare<{ event_data: string }, [string, number]>(
      "SELECT event_data FROM history WHERE instance_id = ? AND execution_id = ? ORDER BY event_id",
    ),
    kvStoreRows: db.prepare<{ key: string; value: string; last_updated_at_ms: number }, [string]>(
      "SELECT key, value, last_updated_at_ms FROM kv_store WHERE instance_id = ?",
    ),
    kvDeltaRows: db.prepare<{ key: string; value: string | null }, [string]>("SELECT key, value FROM kv_delta WHERE instance_id = ? ORDER BY rowid"),
    kvDeltaGet: db.prepare<{ value: string | null }, [string, string]>("SELECT value FROM kv_delta WHERE instance_id = ? AND key = ?"),
    kvStoreGet: db.prepare<{ value: string }, [string, string]>("SELECT value FROM kv_store WHERE instance_id = ? AND key = ?"),
    lockByToken: db.prepare<{ instance_id: string; locked_until: number }, [string]>(
      "SELECT instance_id, locked_until FROM instance_locks WHERE lock_token = ?",
    ),
    createInstance: db.prepare<never, [string, string, string, number, string | null, number, number]>(
      `INSERT OR IGNORE INTO instances (instance_id, orchestration_name, orchestration_version, current_execution_id,
         parent_instance_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
    updateInstanceNameVersion: db.prepare<never, [string, string, number, string]>(
      `UPDATE instances SET orchestration_name = ?1, orchestration_version = ?2, updated_at = ?3
        WHERE instance_id = ?4 AND (orchestration_name IS NOT ?1 OR orchestration_version IS NOT ?2)`,
    ),
    createExecution: db.prepare<never, [string, number, number]>(
      "INSERT OR IGNORE INTO executions (instance_id, execution_id, status, started_at) VALUES (?, ?, 'Running', ?)",
    ),
    pinExecution: db.prepare<never, [number, number, number, string, number]>(
      `UPDATE executions SET duroxide_version_major = ?, duroxide_version_minor = ?, duroxide_version_patch = ?
        WHERE instance_id = ? AND execution_id = ?`,
    ),
    raiseCurrentExecution: db.prepare<never, [number, number, string]>(
      "UPDATE instances SET current_execution_id = ?1, updated_at = ?2 WHERE instance_id = ?3 AND current_execution_id < ?1",
    ),
    insertHistory: db.prepare<never, [string, number, number, string, string, number]>(
      "INSERT INTO history (instance_id, execution_id, event_id, event_type, event_data, created_at) VALUES (?, ?, ?, ?, ?, ?)",
    ),
    setExecutionStatus: db.prepare<never, [string, string | null, number | null, string, number]>(
      `UPDATE executions SET status = ?1, output = ?2, completed_at = coalesce(?3, completed_at)
        WHERE instance_id = ?4 AND execution_id = ?5 AND (status IS NOT ?1 OR output IS NOT ?2 OR ?3 IS NOT NULL)`,
    ),
    setCustomStatus: db.prepare<never, [string | null, number, string]>(
      "UPDATE instances SET custom_status = ?, custom_status_version = custom_status_version + 1, updated_at = ? WHERE instance_id = ?",
    ),
    kvDeltaSet: db.prepare<never, [string, string, string | null, number]>(
      `INSERT INTO kv_delta (instance_id, key, value, last_updated_at_ms) VALUES (?, ?, ?, ?)
       ON CONFLICT (instance_id, key) DO UPDATE SET value = excluded.value, last_updated_at_ms = excluded.last_updated_at_ms`,
    ),
    kvDeltaTombstoneAll: db.prepare<never, [number, string]>("UPDATE kv_delta SET value = NULL, last_updated_at_ms = ? WHERE instance_id = ?"),
    kvDeltaTombstoneCommitted: db.prepare<never, [string, number, string]>(
      `INSERT OR IGNORE INTO kv_delta (instance_id, key, value, last_updated_at_ms)
       SELECT ?, key, NULL, ? FROM kv_store WHERE instance_id = ?`,
    ),
    kvMergeUpsert: db.prepare<never, [string]>(
      `INSERT INTO kv_store (instance_id, key, value, last_updated_at_ms)
       SELECT instance_id, key, value, last_updated_at_ms FROM kv_delta WHERE instance_id = ? AND value IS NOT NULL
       ON CONFLICT (instance_id, key) DO UPDATE SET value = excluded.value, last_updated_at_ms = excluded.last_updated_at_ms`,
    ),
    kvMergeDelete: db.prepare<never, [string]>(
      `DELETE FROM kv_store WHERE instance_id = ?1
         AND key IN (SELECT key FROM kv_delta WHERE instance_id = ?1 AND value IS NULL)`,
    ),
    kvDeltaClear: db.prepare<never, [string]>("DELETE FROM kv_delta WHERE instance_id = ?"),
    kvDeltaAny: db.prepare<{ one: number }, [string]>("SELECT 1 AS one FROM kv_delta WHERE instance_id = ? LIMIT 1"),
    insertWorker: db.prepare<never, [string, number, number, string, number, number, string | null, string | null]>(
      `INSERT INTO worker_queue (work_item, visible_at, created_at, instance_id, execution_id, activity_id, session_id, tag)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    deleteWorkerByIdentity: db.prepare<never, [string, number, number]>(
      "DELETE FROM worker_queue WHERE instance_id = ? AND execution_id = ? AND activity_id = ?",
    ),
    decrementBatchAttempts: db.prepare<never, [string]>(
      "UPDATE orchestrator_queue SET attempt_count = max(attempt_count - 1, 0) WHERE lock_token = ?",
    ),
    delayVisible: db.prepare<never, [number, string, number]>(
      "UPDATE orchestrator_queue SET visible_at = ? WHERE instance_id = ? AND visible_at <= ?",
    ),
    renewLock: db.prepare<never, [number, string, number]>(
      "UPDATE instance_locks SET locked_until = ? WHERE lock_token = ? AND locked_until > ?",
    ),
    lockWorker: db.prepare<never, [string, number, number]>(
      "UPDATE worker_queue SET lock_token = ?, locked_until = ?, attempt_count = attempt_count + 1 WHERE id = ?",
    ),
    deleteWorkerRow: db.prepare<never, [number]>("DELETE FROM worker_queue WHERE id = ?"),
    claimSession: db.prepare<never, [string, string, number, number, string, number, number, number, string]>(
      `INSERT INTO sessions (session_id, worker_id, locked_until, last_activity_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (session_id) DO UPDATE SET worker_id = ?, locked_until = ?, last_activity_at = ?
       WHERE sessions.locked_until <= ? OR sessions.worker_id = ?`,
    ),
    deleteLockedWorker: db.prepare<{ session_id: string | null }, [string, number]>(
      "DELETE FROM worker_queue WHERE lock_token = ? AND locked_until > ? RETURNING session_id",
    ),
    touchSession: db.prepare<never, [number, string, number]>(
      "UPDATE sessions SET last_activity_at = ? WHERE session_id = ? AND locked_until > ?",
    ),
    abandonWorker: db.prepare<never, [number, number, string]>(
      `UPDATE worker_queue SET lock_token = NULL, locked_until = NULL, visible_at = ?,
              attempt_count = CASE WHEN ? THEN max(attempt_count - 1, 0) ELSE attempt_count END
        WHERE lock_token = ?`,
    ),
    renewWorker: db.prepare<{ session_id: string | null }, [number, string, number]>(
      "UPDATE worker_queue SET locked_until = ? WHERE lock_token = ? AND locked_until > ? RETURNING session_id",
    ),
    renewSessions: db.prepare<never, [number, string, number, number]>(
      `UPDATE sessions SET locked_until = ?
        WHERE worker_id IN (SELECT value FROM json_each(?)) AND locked_until > ? AND last_activity_at > ?`,
    ),
    cleanupSessions: db.prepare<never, [number]>(
      `DELETE FROM sessions WHERE locked_until <= ?
         AND session_id NOT IN (SELECT session_id FROM worker_queue WHERE session_id IS NOT NULL)`,
    ),
    customStatus: db.prepare<{ custom_status: string | null; custom_status_version: number }, [string, number]>(
      "SELECT custom_status, custom_status_version FROM instances WHERE instance_id = ? AND custom_status_version > ?",
    ),
  };
}
