/**
 * duroxide/memory: MemoryProvider, a complete Provider in plain JavaScript data structures.
 *
 * It is three things: the template a provider author copies (it imports nothing but the
 * duroxide/provider entry), the proof that the contract can be implemented from its documentation,
 * and the fastest store for unit tests of orchestrations. Nothing survives the process.
 *
 *   import { MemoryProvider } from "duroxide/memory";
 *   const provider = await MemoryProvider.create();
 *
 * How the contract's hard parts are met:
 * - Atomicity. Every method body runs synchronously from its first read to its last write (there
 *   is no `await` inside), so nothing can interleave with it: that is this store's transaction.
 *   What remains is all-or-nothing on failure, so each mutating method first checks everything
 *   that can fail (input, lock, duplicate event ids) and only then changes anything.
 * - Aliasing. Events and work items are stored as JSON text (the entry's codecs) and decoded on
 *   every read: nothing a caller kept or received shares an object with the store (store.ts).
 * - Long polling. An empty fetch waits on a WakeSignal up to its poll timeout; enqueues of this
 *   provider wake it, and it sleeps no longer than until the earliest delayed message or lapsing
 *   lock becomes fetchable (the head of the queue's ReadyQueue).
 *
 * Layout: memory/store.ts (the whole store), memory/instance-state.ts (one instance: row,
 * history, lock, KV), memory/orchestrator-queue.ts, memory/worker-queue.ts (with sessions),
 * memory/ready-queue.ts (the ordered index both queues use), memory/admin.ts (management).
 */
import {
  ProviderError,
  WakeSignal,
  decodeWorkItem,
  isTerminalStatus,
  validateProviderInput,
  workItemInstance,
  type DispatcherCapabilityFilter,
  type Event,
  type ExecutionMetadata,
  type FetchedOrchestration,
  type FetchedWorkItem,
  type Provider,
  type ProviderAdmin,
  type ProviderCapabilities,
  type ScheduledActivityIdentifier,
  type Semver,
  type SessionFetchConfig,
  type TagFilter,
  type WorkItem,
  type WorkItemOf,
} from "../provider-api.ts";
import { MemoryProviderAdmin } from "./memory/admin.ts";
import { identify, pinnedWithin } from "./memory/orchestrator-queue.ts";
import { MemoryStore } from "./memory/store.ts";
import {
  appendEvents,
  applyKvEvents,
  decodeHistory,
  duplicateEventId,
  kvMerged,
  kvSnapshot,
  mergeKv,
  type InstanceState,
  type OrchMessage,
} from "./memory/instance-state.ts";
import { workerRow } from "./memory/worker-queue.ts";

export const MEMORY_PROVIDER_VERSION = "0.1.0";

/**
 * How often a waiting fetch looks again when work is queued but not for it (another runtime's
 * version, another worker's session): nothing wakes it when that changes with time.
 */
const RECHECK_MS = 50;

/** Back-off for a batch nothing can process yet (an event raised before its instance started). */
const ORPHAN_BACKOFF_MS = { min: 1_000, max: 60_000 };

const isActivity = (w: WorkItem): w is WorkItemOf<"ActivityExecute"> => w.type === "ActivityExecute";

/** The store behind a provider, for the suite's corruption hooks only (set by the class's static block). */
let storeOf: (p: MemoryProvider) => MemoryStore;

export class MemoryProvider implements Provider {
  private readonly store = new MemoryStore();
  private readonly admin: MemoryProviderAdmin;
  private closed = false;
  private readonly orchestratorWork = new WakeSignal();
  private readonly workerWork = new WakeSignal();

  static {
    storeOf = (p) => p.store;
  }

  private constructor() {
    this.admin = new MemoryProviderAdmin(this.store, (op, body) => this.run(op, body));
  }

  /** A fresh, empty store. */
  static async create(): Promise<MemoryProvider> {
    return new MemoryProvider();
  }

  name(): string {
    return "memory";
  }

  version(): string {
    return MEMORY_PROVIDER_VERSION;
  }

  capabilities(): ProviderCapabilities {
    return { longPolling: true, management: true, multiProcess: false, crossProcessWakeups: false };
  }

  asManagementCapability(): ProviderAdmin {
    return this.admin;
  }

  /** Every later call fails with kind Closed; fetches waiting in a long poll return null. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.orchestratorWork.notify();
    this.workerWork.notify();
  }

  /** Runs one method body: refused once closed, synchronous (hence atomic), errors mapped. */
  private run<T>(op: string, body: (now: number) => T): T {
    if (this.closed) throw ProviderError.closed(op);
    try {
      return body(Date.now());
    } catch (err) {
      throw ProviderError.from(op, err); // stored data that does not decode: Corrupt
    }
  }

  /**
   * The long poll: tries `attempt` until it finds work or `pollTimeoutMs` has passed, sleeping until
   * woken by an enqueue, until the next item becomes fetchable (`nextAt`), or RECHECK_MS when
   * something is fetchable but was not for this caller.
   */
  private async poll<T>(
    op: string,
    pollTimeoutMs: number,
    signal: WakeSignal,
    nextAt: () => number | null,
    attempt: (now: number) => T | null,
    abort: AbortSignal | null | undefined,
  ): Promise<T | null> {
    const deadline = Date.now() + pollTimeoutMs;
    for (;;) {
      // An aborted fetch claims nothing (docs/provider-contract.md §3.2).
      if (abort?.aborted) return this.run(op, () => null);
      const found = this.run(op, attempt);
      if (found !== null) return found;
      const now = Date.now();
      if (now >= deadline) return null;
      const due = nextAt();
      await signal.wait(Math.min(deadline - now, due === null ? Infinity : due > now ? due - now : RECHECK_MS), abort);
      if (this.closed || abort?.aborted) return null;
    }
  }

  /** A new orchestrator-queue message (its text from the validator), not yet fetched. */
  private message(text: string, visibleAt: number, now: number): OrchMessage {
    return { seq: this.store.nextSeq(), text, visibleAt, createdAt: now, attempts: 0, batch: null };
  }

  // ------------------------------------------------------------------ orchestrator queue

  async enqueueForOrchestrator(item: WorkItem, delayMs?: number | null): Promise<void> {
    const v = validateProviderInput.enqueueForOrchestrator(item, delayMs);
    this.run("enqueueForOrchestrator", (now) => {
      // No instance row here: instances exist only once an ack names them.
      this.store.orchestrator.add(this.store.state(workItemInstance(v.item)), this.message(v.text, now + v.delayMs, now));
    });
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
    if (range === "none") return this.run(op, () => null); // an empty range list admits nothing
    // The filter is decided on stored metadata, before any lock or history decoding.
    const accept = range === null ? undefined : (s: InstanceState) => pinnedWithin(s, range);
    const queue = this.store.orchestrator;
    return this.poll(op, pollTimeoutMs, this.orchestratorWork, () => queue.nextAt(), (now) => {
      for (let s = queue.candidate(now, accept); s !== null; s = queue.candidate(now, accept)) {
        const fetched = this.lockBatch(s, now, lockTimeoutMs);
        if (fetched !== null) return fetched;
      }
      return null;
    }, signal);
  }

  /** Locks `state` and describes its batch; null (after dealing with the batch) when nothing can process it yet. */
  private lockBatch(state: InstanceState, now: number, lockTimeoutMs: number): FetchedOrchestration | null {
    const queue = this.store.orchestrator;
    // Decode first: a fetch that fails must not leave a lock behind.
    const visible = queue.visible(state, now);
    const messages = visible.map((m) => decodeWorkItem(m.text));
    const who = identify(state, messages);
    if (who === null) {
      // No instance, no history, no Start: nothing here can run (yet).
      if (messages.every((m) => m.type === "QueueMessage")) {
        queue.drop(state, visible); // persistent events for an instance that never started
        this.store.dropIfEmpty(state);
      } else {
        // An event raised before its Start, a completion for a deleted instance: look again later,
        // backing off with the message's age, so it neither blocks the queue nor costs every fetch.
        queue.hide(state, now, (m) => now + Math.min(Math.max(now - m.createdAt, ORPHAN_BACKOFF_MS.min), ORPHAN_BACKOFF_MS.max));
      }
      return null;
    }

    const { token, batch } = queue.lock(state, now, lockTimeoutMs);
    let history: Event[] = [];
    let historyError: string | null = null;
    try {
      history = decodeHistory(state.history.get(who.executionId));
    } catch (err) {
      // Never throw while holding a lock: the runtime poisons the instance from history_error.
      historyError = `history deserialization failed: ${(err as Error).message}`;
    }
    return {
      item: {
        instance: state.id,
        orchestration_name: who.name,
        execution_id: who.executionId,
        version: who.version ?? "unknown",
        history,
        messages,
        history_error: historyError,
        kv_snapshot: kvSnapshot(state),
      },
      lockToken: token,
      attemptCount: Math.max(...batch.map((m) => m.attempts)),
    };
  }

  /** The instance a lock token holds; LockLost unless the lock is still live. */
  private lockedInstance(op: string, token: string, now: number): InstanceState {
    const state = this.store.orchestrator.locked(token);
    if (state === undefined) {
      throw ProviderError.lockLost(op, `unknown lock token ${token}: never issued, already acked or abandoned, re-locked after it lapsed, or its instance was deleted`);
    }
    if (state.lock!.until <= now) throw ProviderError.lockLost(op, `the lock on ${state.id} lapsed: the turn took longer than the lock timeout`);
    return state;
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
    const v = validateProviderInput.ackOrchestrationItem(lockToken, executionId, historyDelta, workerItems, orchestratorItems, metadata, cancelledActivities);
    this.run(op, (now) => {
      // Everything that can fail, before anything changes: a failed ack leaves no trace. (The
      // validator already proved every event and item encodes and decodes: nothing below throws.)
      const state = this.lockedInstance(op, lockToken, now);
      const dup = duplicateEventId(state.history.get(executionId), v.delta);
      if (dup !== null) throw new ProviderError("Conflict", op, `event_id ${dup} already exists in execution ${executionId} of ${state.id}`);
      this.commitTurn(state, lockToken, executionId, v.delta, v.metadata, now);
      for (const w of v.workerItems.filter(isActivity)) this.store.workers.add(workerRow(w, this.store.nextSeq(), now));
      // After the inserts: an activity scheduled and cancelled in the same turn ends up absent.
      for (const c of v.cancelled) this.store.workers.cancel(c.instance, c.execution_id, c.activity_id);
      v.orchestratorItems.forEach((o, i) => {
        const visibleAt = o.type === "TimerFired" ? o.fire_at_ms : now; // a timer fires at its time
        this.store.orchestrator.add(this.store.state(workItemInstance(o)), this.message(v.orchestratorTexts[i]!, visibleAt, now));
      });
      this.store.orchestrator.unlock(state); // messages that arrived during the turn are next
      this.store.dropIfEmpty(state);
    });
    this.orchestratorWork.notify();
    if (v.workerItems.length > 0) this.workerWork.notify();
  }

  /** The instance's own writes of a turn: batch consumed, rows, history, status, custom status, KV. */
  private commitTurn(state: InstanceState, token: string, executionId: number, delta: Event[], md: ExecutionMetadata, now: number): void {
    this.store.orchestrator.consume(state, token);
    if (md.orchestration_name != null && md.orchestration_version != null) {
      if (state.row === null) {
        this.store.createRow(state, {
          name: md.orchestration_name,
          version: md.orchestration_version,
          currentExecutionId: executionId,
          parentId: md.parent_instance_id ?? null, // write-once
          customStatus: null,
          customStatusVersion: 0,
          createdAt: now,
          updatedAt: now,
          createdSeq: this.store.nextSeq(),
        });
      }
      state.row!.name = md.orchestration_name;
      state.row!.version = md.orchestration_version;
    }
    // The runtime names the execution (ContinueAsNew acks as current + 1); never invent one.
    let exec = state.executions.get(executionId);
    if (exec === undefined) state.executions.set(executionId, (exec = { status: "Running", output: null, startedAt: now, completedAt: null, pinned: null }));
    if (md.pinned_duroxide_version != null) exec.pinned = copySemver(md.pinned_duroxide_version);
    appendEvents(state, executionId, delta);
    if (md.status != null) {
      exec.status = md.status;
      exec.output = md.output ?? null;
      if (isTerminalStatus(md.status)) exec.completedAt = now;
    }
    const row = state.row;
    if (row !== null) {
      row.currentExecutionId = Math.max(row.currentExecutionId, executionId);
      row.updatedAt = now;
      // Only the last status update of a turn counts, and the version moves by exactly one.
      const status = delta.findLast((e) => e.type === "CustomStatusUpdated");
      if (status?.type === "CustomStatusUpdated") {
        row.customStatus = status.status;
        row.customStatusVersion++;
      }
    }
    applyKvEvents(state, delta, now);
    if (isTerminalStatus(md.status)) mergeKv(state);
  }

  async abandonOrchestrationItem(lockToken: string, delayMs: number | null, ignoreAttempt: boolean): Promise<void> {
    const op = "abandonOrchestrationItem";
    const v = validateProviderInput.abandonOrchestrationItem(lockToken, delayMs);
    this.run(op, (now) => {
      const queue = this.store.orchestrator;
      const state = queue.locked(lockToken); // a lapsed lock nobody re-fetched may still be given back
      if (state === undefined) throw ProviderError.lockLost(op, `unknown lock token ${lockToken}: never issued, already released, or re-locked after it lapsed`);
      queue.untag(state, lockToken, ignoreAttempt === true);
      if (v.delayMs > 0) queue.hide(state, now, () => now + v.delayMs);
      queue.unlock(state);
    });
    this.orchestratorWork.notify();
  }

  async renewOrchestrationItemLock(lockToken: string, extendForMs: number): Promise<void> {
    const op = "renewOrchestrationItemLock";
    validateProviderInput.renewOrchestrationItemLock(lockToken, extendForMs);
    this.run(op, (now) => {
      const state = this.lockedInstance(op, lockToken, now);
      state.lock!.until = now + extendForMs;
      this.store.orchestrator.reschedule(state);
    });
  }

  // ------------------------------------------------------------------ worker queue

  async enqueueForWorker(item: WorkItem): Promise<void> {
    const { item: checked } = validateProviderInput.enqueueForWorker(item);
    this.run("enqueueForWorker", (now) => {
      if (isActivity(checked)) this.store.workers.add(workerRow(checked, this.store.nextSeq(), now));
    });
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
    const v = validateProviderInput.fetchWorkItem(lockTimeoutMs, pollTimeoutMs, session, tagFilter, signal);
    if (v.tagFilter.type === "None") return this.run(op, () => null); // an orchestrator-only node
    const workers = this.store.workers;
    return this.poll(op, pollTimeoutMs, this.workerWork, () => workers.nextAt(v.tagFilter, v.session !== null), (now) => {
      const row = workers.pick(now, v.session, v.tagFilter);
      if (row === null) return null;
      const item = decodeWorkItem(row.text); // before locking: a failed fetch holds no lock
      const token = workers.lock(row, now, lockTimeoutMs, v.session);
      return { item, lockToken: token, attemptCount: row.attempts };
    }, signal);
  }

  async ackWorkItem(lockToken: string, completion: WorkItem | null): Promise<void> {
    const op = "ackWorkItem";
    const checked = validateProviderInput.ackWorkItem(lockToken, completion);
    this.run(op, (now) => {
      const row = this.store.workers.live(lockToken, now);
      if (row === null) throw ProviderError.lockLost(op, `work item lock ${lockToken} is gone: the activity was cancelled, its lock lapsed, or it was already acked`);
      this.store.workers.remove(row);
      this.store.workers.touchSession(row.sessionId, now);
      if (checked !== null) this.store.orchestrator.add(this.store.state(workItemInstance(checked.item)), this.message(checked.text, now, now));
    });
    if (checked !== null) this.orchestratorWork.notify();
  }

  async abandonWorkItem(lockToken: string, delayMs: number | null, ignoreAttempt: boolean): Promise<void> {
    const op = "abandonWorkItem";
    const v = validateProviderInput.abandonWorkItem(lockToken, delayMs);
    this.run(op, (now) => {
      const row = this.store.workers.held(lockToken);
      if (row === undefined) throw ProviderError.lockLost(op, `unknown work item lock token ${lockToken}`);
      this.store.workers.release(row, now + v.delayMs, ignoreAttempt === true);
    });
    this.workerWork.notify();
  }

  /** Fails with LockLost once the row is gone: that is how a running activity learns it was cancelled. */
  async renewWorkItemLock(lockToken: string, extendForMs: number): Promise<void> {
    const op = "renewWorkItemLock";
    validateProviderInput.renewWorkItemLock(lockToken, extendForMs);
    this.run(op, (now) => {
      const row = this.store.workers.live(lockToken, now);
      if (row === null) throw ProviderError.lockLost(op, `work item lock ${lockToken} is gone: cancelled, lapsed or acked`);
      this.store.workers.extend(row, now + extendForMs);
      this.store.workers.touchSession(row.sessionId, now);
    });
  }

  // ------------------------------------------------------------------ sessions

  async renewSessionLock(ownerIds: string[], extendForMs: number, idleTimeoutMs: number): Promise<number> {
    const owners = validateProviderInput.renewSessionLock(ownerIds, extendForMs, idleTimeoutMs);
    return this.run("renewSessionLock", (now) => this.store.workers.renewSessions(owners, now, extendForMs, idleTimeoutMs));
  }

  async releaseSessionLocks(ownerIds: string[], sessionIds?: string[] | null): Promise<number> {
    const v = validateProviderInput.releaseSessionLocks(ownerIds, sessionIds);
    return this.run("releaseSessionLocks", (now) => this.store.workers.releaseSessions(v.owners, v.sessionIds, now));
  }

  async cleanupOrphanedSessions(idleTimeoutMs: number): Promise<number> {
    validateProviderInput.cleanupOrphanedSessions(idleTimeoutMs);
    return this.run("cleanupOrphanedSessions", (now) => this.store.workers.cleanupSessions(now));
  }

  // ------------------------------------------------------------------ history

  async read(instance: string): Promise<Event[]> {
    validateProviderInput.read(instance);
    return this.run("read", () => {
      const state = this.store.instances.get(instance);
      return state === undefined ? [] : decodeHistory(state.history.get(state.latestExecution() ?? 1));
    });
  }

  async readWithExecution(instance: string, executionId: number): Promise<Event[]> {
    validateProviderInput.readWithExecution(instance, executionId);
    return this.run("readWithExecution", () => decodeHistory(this.store.instances.get(instance)?.history.get(executionId)));
  }

  /** Appends events as given (no instance or execution rows are created). */
  async appendWithExecution(instance: string, executionId: number, events: Event[]): Promise<void> {
    const op = "appendWithExecution";
    const checked = validateProviderInput.appendWithExecution(instance, executionId, events);
    this.run(op, () => {
      const dup = duplicateEventId(this.store.instances.get(instance)?.history.get(executionId), checked.events);
      if (dup !== null) throw new ProviderError("Conflict", op, `event_id ${dup} already exists in execution ${executionId} of ${instance}`);
      if (checked.events.length > 0) appendEvents(this.store.state(instance), executionId, checked.events);
    });
  }

  // ------------------------------------------------------------------ custom status / KV

  async getCustomStatus(instance: string, lastSeenVersion: number): Promise<{ status: string | null; version: number } | null> {
    validateProviderInput.getCustomStatus(instance, lastSeenVersion);
    return this.run("getCustomStatus", () => {
      const row = this.store.instances.get(instance)?.row;
      return row == null || row.customStatusVersion <= lastSeenVersion ? null : { status: row.customStatus, version: row.customStatusVersion };
    });
  }

  async getKvValue(instance: string, key: string): Promise<string | null> {
    validateProviderInput.getKvValue(instance, key);
    return this.run("getKvValue", () => {
      const state = this.store.instances.get(instance);
      const running = state?.kvDelta.get(key);
      return running !== undefined ? running.value : (state?.kv.get(key)?.value ?? null);
    });
  }

  async getKvAllValues(instance: string): Promise<Record<string, string>> {
    validateProviderInput.getKvAllValues(instance);
    return this.run("getKvAllValues", () => Object.fromEntries(kvMerged(this.store.instances.get(instance))));
  }
}

function copySemver(v: Semver): Semver {
  return { major: v.major, minor: v.minor, patch: v.patch };
}

// ------------------------------------------------------------------ the correctness suite's hooks

/** A factory for duroxide/provider-tests (its ProviderFactory shape), with the corruption hooks. */
export interface MemorySuiteFactory {
  createProvider(): Promise<MemoryProvider>;
  /** Makes every stored history event of the instance undecodable. */
  corruptInstanceHistory(instanceId: string): Promise<void>;
  /** The highest attempt count over the instance's orchestrator-queue messages. */
  getMaxAttemptCount(instanceId: string): Promise<number>;
}

/**
 * Fresh providers for the suite, plus the hooks it needs to plant corrupt data and read attempt
 * counts. The hooks act on the provider created last (the cases that use them create one).
 */
export function memorySuiteFactory(): MemorySuiteFactory {
  let last: MemoryProvider | null = null;
  const instance = (id: string) => {
    if (last === null) throw new Error("no provider created yet");
    return storeOf(last).instances.get(id);
  };
  return {
    async createProvider() {
      return (last = await MemoryProvider.create());
    },
    async corruptInstanceHistory(id) {
      for (const events of instance(id)?.history.values() ?? []) for (const e of events) e.text = "NOT_VALID_JSON{{{";
    },
    async getMaxAttemptCount(id) {
      return Math.max(0, ...(instance(id)?.queue.map((m) => m.attempts) ?? []));
    },
  };
}
