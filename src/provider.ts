/**
 * The storage contract. Every runtime and client operation goes through a Provider; a third-party
 * provider implements this interface (camelCase of the original contract, every method async) and
 * proves itself with `duroxide/provider-tests`.
 *
 * Rules every implementation keeps (see the provider correctness suite):
 * - a returned fetch result means a lock is held; a thrown error means none is;
 * - an ack is all-or-nothing, including the lock release, and checks the lock is still live;
 * - errors are ProviderError: retryable for transient trouble, permanent for bad input / lost locks.
 */
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
} from "./core/admin-types.ts";
import type { Event } from "./core/events.ts";
import type {
  DispatcherCapabilityFilter,
  ExecutionMetadata,
  FetchedOrchestration,
  FetchedWorkItem,
  ScheduledActivityIdentifier,
  SessionFetchConfig,
  TagFilter,
} from "./core/queue-types.ts";
import type { WorkItem } from "./core/work-items.ts";

export { ProviderError, PROVIDER_ERROR_KINDS, type ProviderErrorKind } from "./core/errors.ts";

/**
 * What a provider can do beyond the core contract, declared by the provider itself so that the
 * runtime and the correctness suite need no flags from the caller. Every field is optional; a
 * missing field means the conservative answer (false).
 */
export interface ProviderCapabilities {
  /**
   * Fetches with an empty queue wait up to `pollTimeoutMs` for work and return as soon as an
   * enqueue of this process (or, for a database with notifications, of any process) makes some
   * visible. False: a fetch on an empty queue returns null at once.
   */
  longPolling?: boolean;
  /** `asManagementCapability()` returns a ProviderAdmin (listing, metrics, deletes, prune). */
  management?: boolean;
  /**
   * Several processes (and machines, for a server database) may share one store: locks and queues
   * are safe across them. False for a store that lives in one process's memory.
   */
  multiProcess?: boolean;
  /** Enqueues made by other processes wake this process's waiting fetches (LISTEN/NOTIFY, say). */
  crossProcessWakeups?: boolean;
  /**
   * An instance reaching a terminal status in any process wakes this process's waiters
   * (`instanceSignals(provider).notify`), so a client waiting for completion needs no quick polls.
   * Without it only a runtime on this same provider object signals; other processes are noticed
   * by polling.
   */
  terminalWakeups?: boolean;
}
export type * from "./core/admin-types.ts";
export type * from "./core/queue-types.ts";
export { TagFilter, MAX_WORKER_TAGS } from "./core/queue-types.ts";

/**
 * The data methods of the Provider contract (everything but the identity methods, capabilities and
 * the management capability), for wrappers that treat every call alike: the metrics wrapper times
 * them, the fault-injecting provider can fail them. `releaseSessionLocks` is optional.
 */
export const PROVIDER_DATA_METHODS = [
  "enqueueForOrchestrator",
  "fetchOrchestrationItem",
  "ackOrchestrationItem",
  "abandonOrchestrationItem",
  "renewOrchestrationItemLock",
  "enqueueForWorker",
  "fetchWorkItem",
  "ackWorkItem",
  "abandonWorkItem",
  "renewWorkItemLock",
  "renewSessionLock",
  "cleanupOrphanedSessions",
  "releaseSessionLocks",
  "read",
  "readWithExecution",
  "appendWithExecution",
  "getCustomStatus",
  "getKvValue",
  "getKvAllValues",
] as const;
export type ProviderDataMethod = (typeof PROVIDER_DATA_METHODS)[number];

export interface Provider {
  /** Diagnostic name, e.g. "sqlite". */
  name(): string;
  /** Diagnostic version of the implementation. */
  version(): string;

  // ---- orchestrator queue ----
  /** Enqueue one message for the item's routing instance, visible after `delayMs` (default 0). */
  enqueueForOrchestrator(item: WorkItem, delayMs?: number | null): Promise<void>;
  /**
   * Lock the oldest visible instance's batch. `pollTimeoutMs` is an upper bound for long-poll
   * providers; `signal` (optional) ends an idle wait early with null and, once aborted, no new
   * claim is attempted (a shutting-down runtime cancels its waits, docs/provider-contract.md §3.2).
   */
  fetchOrchestrationItem(
    lockTimeoutMs: number,
    pollTimeoutMs: number,
    filter?: DispatcherCapabilityFilter | null,
    signal?: AbortSignal | null,
  ): Promise<FetchedOrchestration | null>;
  /** Atomically commit a turn: history delta, new work, cancellations, metadata; releases the lock. */
  ackOrchestrationItem(
    lockToken: string,
    executionId: number,
    historyDelta: Event[],
    workerItems: WorkItem[],
    orchestratorItems: WorkItem[],
    metadata: ExecutionMetadata,
    cancelledActivities: ScheduledActivityIdentifier[],
  ): Promise<void>;
  abandonOrchestrationItem(lockToken: string, delayMs: number | null, ignoreAttempt: boolean): Promise<void>;
  renewOrchestrationItemLock(lockToken: string, extendForMs: number): Promise<void>;

  // ---- worker queue ----
  enqueueForWorker(item: WorkItem): Promise<void>;
  fetchWorkItem(
    lockTimeoutMs: number,
    pollTimeoutMs: number,
    session: SessionFetchConfig | null,
    tagFilter: TagFilter,
    /** As for fetchOrchestrationItem: aborting ends an idle wait with null and claims nothing more. */
    signal?: AbortSignal | null,
  ): Promise<FetchedWorkItem | null>;
  /** Delete the locked row and (atomically) enqueue its completion; fails permanently if the lock is gone. */
  ackWorkItem(lockToken: string, completion: WorkItem | null): Promise<void>;
  abandonWorkItem(lockToken: string, delayMs: number | null, ignoreAttempt: boolean): Promise<void>;
  /** Fails permanently when the row is gone: that is the worker's cancellation signal. */
  renewWorkItemLock(lockToken: string, extendForMs: number): Promise<void>;

  // ---- sessions ----
  renewSessionLock(ownerIds: string[], extendForMs: number, idleTimeoutMs: number): Promise<number>;
  cleanupOrphanedSessions(idleTimeoutMs: number): Promise<number>;
  /**
   * Optional. Ends the live session locks of `ownerIds` now (only those in `sessionIds` when
   * given), so any owner can claim them at once; returns how many. A runtime calls it on graceful
   * shutdown; without it a stopped runtime's sessions wait for their lease to lapse
   * (docs/provider-contract.md §5.3).
   */
  releaseSessionLocks?(ownerIds: string[], sessionIds?: string[] | null): Promise<number>;

  // ---- history ----
  /** Events of the latest execution, by event_id; [] for an unknown instance. */
  read(instance: string): Promise<Event[]>;
  readWithExecution(instance: string, executionId: number): Promise<Event[]>;
  appendWithExecution(instance: string, executionId: number, events: Event[]): Promise<void>;

  // ---- custom status / KV ----
  getCustomStatus(
    instance: string,
    lastSeenVersion: number,
  ): Promise<{ status: string | null; version: number } | null>;
  getKvValue(instance: string, key: string): Promise<string | null>;
  getKvAllValues(instance: string): Promise<Record<string, string>>;

  /** The management capability, or null when the provider has none. */
  asManagementCapability(): ProviderAdmin | null;

  /** What this provider can do (optional; absent means every capability is false but `management`, which is probed). */
  capabilities?(): ProviderCapabilities;
}

export interface ProviderAdmin {
  /** All instance ids, newest first. */
  listInstances(): Promise<string[]>;
  /** Instances whose current execution has this status. */
  listInstancesByStatus(status: string): Promise<string[]>;
  /** Execution ids ascending; [] for an unknown instance. */
  listExecutions(instance: string): Promise<number[]>;
  readHistoryWithExecutionId(instance: string, executionId: number): Promise<Event[]>;
  readHistory(instance: string): Promise<Event[]>;
  /** Highest execution id, 1 if none. */
  latestExecutionId(instance: string): Promise<number>;
  getInstanceInfo(instance: string): Promise<InstanceInfo>;
  getExecutionInfo(instance: string, executionId: number): Promise<ExecutionInfo>;
  getSystemMetrics(): Promise<SystemMetrics>;
  getQueueDepths(): Promise<QueueDepths>;
  /** Direct children only; [] for unknown. */
  listChildren(instance: string): Promise<string[]>;
  /** Parent id or null; permanent "not found" error for an unknown instance. */
  getParentId(instance: string): Promise<string | null>;
  /** The root and all its descendants. */
  getInstanceTree(instance: string): Promise<InstanceTree>;
  /** One transaction: refuses running instances without `force` and any delete that would orphan a child. */
  deleteInstancesAtomic(ids: string[], force: boolean): Promise<DeleteInstanceResult>;
  /** Deletes a root and its whole tree; refuses sub-orchestrations even with `force`. */
  deleteInstance(instance: string, force: boolean): Promise<DeleteInstanceResult>;
  deleteInstanceBulk(filter: InstanceFilter): Promise<DeleteInstanceResult>;
  pruneExecutions(instance: string, options: PruneOptions): Promise<PruneResult>;
  pruneExecutionsBulk(filter: InstanceFilter, options: PruneOptions): Promise<PruneResult>;
}
