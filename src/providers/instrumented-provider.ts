/**
 * InstrumentedProvider: wraps the provider a runtime uses so every call it makes is timed and its
 * failures counted by method (`duroxide_provider_operation_duration_seconds`,
 * `duroxide_provider_errors_total`), and lease renewals are counted (`duroxide_lock_renewals_total`,
 * `duroxide_lock_losses_total`); docs/runtime-semantics.md §9.2.
 *
 * Created once per runtime (Runtime.start, when metrics are on): each method's series are
 * resolved here, so a call costs two `performance.now()` reads and one histogram observation.
 * Everything else (name, capabilities, the management capability, in-process instance signals)
 * is the inner provider's, so clients on the inner provider still see this runtime's commits.
 */
import { ProviderError } from "../core/errors.ts";
import type { Event } from "../core/events.ts";
import type {
  DispatcherCapabilityFilter,
  ExecutionMetadata,
  FetchedOrchestration,
  FetchedWorkItem,
  ScheduledActivityIdentifier,
  SessionFetchConfig,
  TagFilter,
} from "../core/queue-types.ts";
import type { WorkItem } from "../core/work-items.ts";
import { shareInstanceSignals } from "../instance-signals.ts";
import { PROVIDER_DATA_METHODS, type Provider, type ProviderAdmin, type ProviderCapabilities, type ProviderDataMethod } from "../provider.ts";
import type { LockKind, ProviderOperationSeries, RuntimeMetrics } from "../runtime/metrics/runtime-metrics.ts";

/** The wrapper times every data method of the contract. */
const TIMED_METHODS = PROVIDER_DATA_METHODS;
type TimedMethod = ProviderDataMethod;

export class InstrumentedProvider implements Provider {
  private readonly ops: Record<TimedMethod, ProviderOperationSeries>;
  readonly capabilities?: () => ProviderCapabilities;
  /** Present exactly when the inner provider has it (the runtime checks for it at shutdown). */
  readonly releaseSessionLocks?: (ownerIds: string[], sessionIds?: string[] | null) => Promise<number>;

  constructor(
    readonly inner: Provider,
    private readonly metrics: RuntimeMetrics,
  ) {
    this.ops = Object.fromEntries(TIMED_METHODS.map((m) => [m, metrics.providerOperation(m)])) as Record<TimedMethod, ProviderOperationSeries>;
    if (typeof inner.capabilities === "function") this.capabilities = () => inner.capabilities!();
    if (typeof inner.releaseSessionLocks === "function") {
      this.releaseSessionLocks = (ownerIds, sessionIds) =>
        this.track(this.ops.releaseSessionLocks, performance.now(), inner.releaseSessionLocks!(ownerIds, sessionIds));
    }
    shareInstanceSignals(this, inner);
  }

  name(): string {
    return this.inner.name();
  }

  version(): string {
    return this.inner.version();
  }

  asManagementCapability(): ProviderAdmin | null {
    return this.inner.asManagementCapability();
  }

  /**
   * Times and counts `call` on a side chain and hands the caller the provider's own promise: no
   * extra async frame or microtask on the caller's path (the budget is a few per cent of the
   * stress workload, docs/runtime-semantics.md §9.4).
   */
  private track<T>(op: ProviderOperationSeries, t0: number, call: Promise<T>, lock?: LockKind): Promise<T> {
    call.then(
      (r) => {
        op.ok.observe((performance.now() - t0) / 1_000);
        // renewSessionLock renews every session of its owners in one call and says how many: a call
        // that found none (an idle runtime's heartbeat) renewed nothing (docs/runtime-semantics.md §9.2).
        if (lock !== undefined) this.metrics.lockRenewed(lock, lock === "session" && typeof r === "number" ? r : 1);
      },
      (err: unknown) => {
        op.error.observe((performance.now() - t0) / 1_000);
        const kind = ProviderError.from(op.operation, err).kind;
        let c = op.errorsByKind.get(kind);
        if (c === undefined) op.errorsByKind.set(kind, (c = op.errorsFamily.with(op.operation, kind)));
        c.inc();
        if (lock !== undefined && (kind === "LockLost" || kind === "NotFound")) this.metrics.lockLost(lock);
      },
    );
    return call;
  }


  enqueueForOrchestrator(item: WorkItem, delayMs?: number | null): Promise<void> {
    return this.track(this.ops.enqueueForOrchestrator, performance.now(), this.inner.enqueueForOrchestrator(item, delayMs));
  }

  fetchOrchestrationItem(lockTimeoutMs: number, pollTimeoutMs: number, filter?: DispatcherCapabilityFilter | null, signal?: AbortSignal | null): Promise<FetchedOrchestration | null> {
    // The signal is passed on: a shutting-down runtime cancels idle long polls through it (§1.9).
    return this.track(this.ops.fetchOrchestrationItem, performance.now(), this.inner.fetchOrchestrationItem(lockTimeoutMs, pollTimeoutMs, filter, signal));
  }

  ackOrchestrationItem(
    lockToken: string,
    executionId: number,
    historyDelta: Event[],
    workerItems: WorkItem[],
    orchestratorItems: WorkItem[],
    metadata: ExecutionMetadata,
    cancelledActivities: ScheduledActivityIdentifier[],
  ): Promise<void> {
    const t0 = performance.now();
    return this.track(this.ops.ackOrchestrationItem, t0, this.inner.ackOrchestrationItem(lockToken, executionId, historyDelta, workerItems, orchestratorItems, metadata, cancelledActivities));
  }

  abandonOrchestrationItem(lockToken: string, delayMs: number | null, ignoreAttempt: boolean): Promise<void> {
    return this.track(this.ops.abandonOrchestrationItem, performance.now(), this.inner.abandonOrchestrationItem(lockToken, delayMs, ignoreAttempt));
  }

  renewOrchestrationItemLock(lockToken: string, extendForMs: number): Promise<void> {
    return this.track(this.ops.renewOrchestrationItemLock, performance.now(), this.inner.renewOrchestrationItemLock(lockToken, extendForMs), "orchestration");
  }

  enqueueForWorker(item: WorkItem): Promise<void> {
    return this.track(this.ops.enqueueForWorker, performance.now(), this.inner.enqueueForWorker(item));
  }

  fetchWorkItem(lockTimeoutMs: number, pollTimeoutMs: number, session: SessionFetchConfig | null, tagFilter: TagFilter, signal?: AbortSignal | null): Promise<FetchedWorkItem | null> {
    return this.track(this.ops.fetchWorkItem, performance.now(), this.inner.fetchWorkItem(lockTimeoutMs, pollTimeoutMs, session, tagFilter, signal));
  }

  ackWorkItem(lockToken: string, completion: WorkItem | null): Promise<void> {
    return this.track(this.ops.ackWorkItem, performance.now(), this.inner.ackWorkItem(lockToken, completion));
  }

  abandonWorkItem(lockToken: string, delayMs: number | null, ignoreAttempt: boolean): Promise<void> {
    return this.track(this.ops.abandonWorkItem, performance.now(), this.inner.abandonWorkItem(lockToken, delayMs, ignoreAttempt));
  }

  renewWorkItemLock(lockToken: string, extendForMs: number): Promise<void> {
    return this.track(this.ops.renewWorkItemLock, performance.now(), this.inner.renewWorkItemLock(lockToken, extendForMs), "activity");
  }

  renewSessionLock(ownerIds: string[], extendForMs: number, idleTimeoutMs: number): Promise<number> {
    return this.track(this.ops.renewSessionLock, performance.now(), this.inner.renewSessionLock(ownerIds, extendForMs, idleTimeoutMs), "session");
  }

  cleanupOrphanedSessions(idleTimeoutMs: number): Promise<number> {
    return this.track(this.ops.cleanupOrphanedSessions, performance.now(), this.inner.cleanupOrphanedSessions(idleTimeoutMs));
  }

  read(instance: string): Promise<Event[]> {
    return this.track(this.ops.read, performance.now(), this.inner.read(instance));
  }

  readWithExecution(instance: string, executionId: number): Promise<Event[]> {
    return this.track(this.ops.readWithExecution, performance.now(), this.inner.readWithExecution(instance, executionId));
  }

  appendWithExecution(instance: string, executionId: number, events: Event[]): Promise<void> {
    return this.track(this.ops.appendWithExecution, performance.now(), this.inner.appendWithExecution(instance, executionId, events));
  }

  getCustomStatus(instance: string, lastSeenVersion: number): Promise<{ status: string | null; version: number } | null> {
    return this.track(this.ops.getCustomStatus, performance.now(), this.inner.getCustomStatus(instance, lastSeenVersion));
  }

  getKvValue(instance: string, key: string): Promise<string | null> {
    return this.track(this.ops.getKvValue, performance.now(), this.inner.getKvValue(instance, key));
  }

  getKvAllValues(instance: string): Promise<Record<string, string>> {
    return this.track(this.ops.getKvAllValues, performance.now(), this.inner.getKvAllValues(instance));
  }
}
