/**
 * The activity (worker) dispatcher: `workerConcurrency` slots, each fetching one ActivityExecute,
 * running its handler with an AbortSignal, renewing the work item's lock meanwhile, and acking the
 * completion atomically. A failed renewal means the row is gone (the orchestration cancelled the
 * activity or ended): the signal fires and the eventual result is dropped.
 */
import type { ErrorDetails } from "../core/error-details.ts";
import { ProviderError } from "../core/errors.ts";
import { decodePayload, tryEncodePayload } from "../core/payload.ts";
import type { FetchedWorkItem, ScheduledActivityIdentifier, SessionFetchConfig } from "../core/queue-types.ts";
import type { WorkItem, WorkItemOf } from "../core/work-items.ts";
import type { Provider } from "../provider.ts";
import { Client } from "../client.ts";
import { DispatchLoops, waitAtMost, type Processed } from "./dispatch-loop.ts";
import type { ActivityContext } from "./handler-types.ts";
import { renewalIntervalMs, unregisteredBackoffMs, type ResolvedRuntimeOptions } from "./options.ts";
import type { ActivityRegistry } from "./registry.ts";
import { activityFailureDetails } from "./activity-failure.ts";
import { activityTimeoutReason, watchActivity } from "./activity-watch.ts";
import { ActivityAttempt, GRACE_EXPIRED, SHUT_DOWN, TIMED_OUT, type AttemptEnd } from "./activity-attempt.ts";
import { keepLeaseAlive } from "./lease-renewal.ts";
import type { ActivityOutcome, RuntimeMetrics } from "./metrics/runtime-metrics.ts";
import { activityFields } from "./logging/log-fields.ts";

type Execute = WorkItemOf<"ActivityExecute">;

/** Pauses between tries of a completion's ack that failed retryably (null: the last try). */
const ACK_RETRY_PAUSES_MS = [10, 20, 50, 100, 250, 1_000, null] as const;

/** A held item older than this renews its lease before it runs (the run's renewals count from its start). */
const RENEW_HELD_AFTER_MS = 100;

/** A slot's next activity, claimed while its current one runs (docs/runtime-semantics.md §6.4). */
interface Prefetch {
  claim: Promise<FetchedWorkItem | null>;
  /** The claimed item while it waits for the slot; null before the claim returns and after hand-over or release. */
  held: FetchedWorkItem | null;
  claimedAt: number;
  expiry: ReturnType<typeof setTimeout> | null;
}

/** An activity that ran at least this long waited on something: its slot is latency-bound (§1.5). */
const DEFER_ACK_AFTER_MS = 1;

/** Runs `fn` one macrotask later: after the microtasks that start the slot's next activity. */
function afterNextActivityStarts(fn: () => Promise<void>): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(() => resolve(fn())));
}

export class WorkerDispatcher {
  private readonly loops: DispatchLoops<FetchedWorkItem>;
  private readonly client: Client;
  /** Running attempts by "instance|execution|id", for shutdown and cancellation. */
  private readonly running = new Map<string, { attempt: ActivityAttempt; stopRenewal(): void; lockToken: string }>();
  /** Distinct sessions with an activity in flight, for maxSessionsPerRuntime. */
  private readonly sessionsInFlight = new Map<string, number>();
  private readonly slotOwners: string[];
  private sessionTimers: ReturnType<typeof setInterval>[] = [];
  private readonly prefetches: (Prefetch | null)[];
  private stopping = false;
  /** Shutdown has cut the activities still running: an attempt starting after that ends at once. */
  private isCut = false;

  constructor(
    private readonly provider: Provider,
    private readonly registry: ActivityRegistry,
    private readonly options: ResolvedRuntimeOptions,
    runtimeId: string,
    private readonly metrics: RuntimeMetrics,
    /** What `ctx.client` of activities uses: the user's provider (activity code, not the runtime's calls). */
    clientProvider: Provider = provider,
  ) {
    this.client = new Client(clientProvider);
    this.slotOwners = Array.from({ length: options.workerConcurrency }, (_, i) => options.workerNodeId ?? `work-${i}-${runtimeId}`);
    this.prefetches = Array.from({ length: options.workerConcurrency }, () => null);
    this.loops = new DispatchLoops({
      name: `work-${runtimeId}`,
      concurrency: options.workerConcurrency,
      pollIntervalMs: options.dispatcherPollIntervalMs,
      logger: options.logger,
      fetch: (slot, signal) => this.fetch(slot, signal),
      process: (w, slot) => this.process(w, slot),
      release: (w) => provider.abandonWorkItem(w.lockToken, null, true),
    });
  }

  start(): void {
    this.loops.start();
    // workerConcurrency 0 (an orchestration-only runtime) owns no sessions: nothing to renew.
    if (this.options.workerConcurrency > 0) this.startSessionManager();
  }

  /**
   * Graceful shutdown (docs/runtime-semantics.md §1.9): stops fetching (idle long polls are
   * cancelled), hands prefetched items back, waits up to `timeoutMs` for running activities, then
   * signals the rest and hands their items back at once (a restarted runtime gets them without
   * waiting for the lock to expire; a handler that ignores its signal may still finish, its result
   * is dropped). Resolves when every loop has ended, then releases this runtime's own sessions.
   */
  async shutdown(timeoutMs: number): Promise<void> {
    for (const t of this.sessionTimers) clearInterval(t);
    this.stopping = true;
    this.loops.stopFetching();
    // Prefetched items go back at once: another runtime can take them now.
    await Promise.all(this.prefetches.map((_, slot) => this.releasePrefetch(slot)));
    await waitAtMost(this.loops.shutdown(), timeoutMs);
    this.isCut = true;
    for (const r of this.running.values()) {
      r.attempt.abort(new Error("runtime shutting down"));
      r.stopRenewal();
      r.attempt.cut();
    }
    await this.loops.finished();
    await this.releaseOwnSessions();
  }

  /**
   * Hands this runtime's sessions on (docs/runtime-semantics.md §1.7): without `workerNodeId` the
   * owners are this runtime's own slots, which no other runtime will ever use, so their sessions
   * are released and continue elsewhere at once. With `workerNodeId` the sessions belong to the
   * node id, shared by every runtime started with it and kept across restarts: they stay.
   */
  private async releaseOwnSessions(): Promise<void> {
    if (this.options.workerNodeId !== undefined || this.options.workerConcurrency === 0) return;
    if (typeof this.provider.releaseSessionLocks !== "function") return; // optional: the lease lapses instead
    try {
      await this.provider.releaseSessionLocks([...new Set(this.slotOwners)], null);
    } catch (err) {
      // A provider the user already closed: nothing to hand on, and nothing to worry about.
      const closed = err instanceof ProviderError && err.kind === "Closed";
      this.options.logger.log(
        closed ? "debug" : "warn",
        `shutdown could not release this runtime's sessions (${(err as Error).message}); ` +
          `another runtime can take them once their lease lapses (sessionLockTimeoutMs = ${this.options.sessionLockTimeoutMs} ms)`,
        {},
      );
    }
  }

  /**
   * Signals activities of this process that an orchestration turn just cancelled. Their rows are
   * already deleted, so this only makes the signal prompt; other processes notice at lock renewal.
   */
  cancelActivities(ids: readonly ScheduledActivityIdentifier[]): void {
    for (const c of ids) this.running.get(activityKey(c.instance, c.execution_id, c.activity_id))?.attempt.abort(new Error("activity cancelled"));
  }

  /**
   * The slot's next item. A prefetched item already claimed (the common case while work keeps
   * coming) is handed over without an await, so the next activity starts a few microtask hops
   * sooner (docs/runtime-semantics.md §1.5).
   */
  private fetch(slot: number, signal: AbortSignal): FetchedWorkItem | Promise<FetchedWorkItem | null> {
    const pre = this.prefetches[slot] ?? null;
    const w = pre?.held ?? null;
    if (pre !== null && w !== null && performance.now() - pre.claimedAt <= RENEW_HELD_AFTER_MS) {
      this.prefetches[slot] = null;
      pre.held = null;
      if (pre.expiry !== null) clearTimeout(pre.expiry);
      return w;
    }
    return this.fetchAfterPrefetch(slot, signal);
  }

  private async fetchAfterPrefetch(slot: number, signal: AbortSignal): Promise<FetchedWorkItem | null> {
    const next = await this.takePrefetch(slot);
    if (next !== null) return next;
    const o = this.options;
    const atCapacity = this.sessionsInFlight.size >= o.maxSessionsPerRuntime;
    const session: SessionFetchConfig | null = atCapacity ? null : { owner_id: this.slotOwners[slot]!, lock_timeout: o.sessionLockTimeoutMs };
    // At capacity the fetch excludes session items: keep it short, so the slot asks again with a
    // session config as soon as a session place frees (a long poll would pin that choice for up to
    // dispatcherLongPollTimeoutMs and strand sessions this slot owns).
    const pollMs = atCapacity ? Math.min(o.dispatcherLongPollTimeoutMs, o.dispatcherPollIntervalMs) : o.dispatcherLongPollTimeoutMs;
    return this.provider.fetchWorkItem(o.workerLockTimeoutMs, pollMs, session, o.workerTagFilter, signal);
  }

  private process(w: FetchedWorkItem, slot: number): Promise<Processed> {
    // An activity without a session needs no bookkeeping around it: run it without an extra frame.
    if (w.item.type === "ActivityExecute" && w.item.session_id === undefined) return this.run(w, w.item, slot);
    return this.processWithSession(w, slot);
  }

  private async processWithSession(w: FetchedWorkItem, slot: number): Promise<Processed> {
    const o = this.options;
    if (w.item.type !== "ActivityExecute") {
      await this.provider.ackWorkItem(w.lockToken, null).catch(() => {});
      return;
    }
    const item = w.item;
    const sid = item.session_id;
    if (sid !== undefined) {
      const n = this.sessionsInFlight.get(sid) ?? 0;
      if (n === 0 && this.sessionsInFlight.size >= o.maxSessionsPerRuntime) {
        // Another slot took the last session place meanwhile: hand this one back without counting it.
        await this.provider.abandonWorkItem(w.lockToken, 100, true).catch(() => {});
        return;
      }
      this.sessionsInFlight.set(sid, n + 1);
    }
    try {
      return await this.run(w, item, slot);
    } finally {
      if (sid !== undefined) {
        const n = (this.sessionsInFlight.get(sid) ?? 1) - 1;
        if (n <= 0) this.sessionsInFlight.delete(sid);
        else this.sessionsInFlight.set(sid, n);
      }
    }
  }

  private async run(w: FetchedWorkItem, item: Execute, slot: number): Promise<Processed> {
    const o = this.options;
    if (w.attemptCount > o.maxAttempts) {
      const details: ErrorDetails = {
        type: "Poison",
        attempt_count: w.attemptCount,
        max_attempts: o.maxAttempts,
        message_type: { type: "Activity", instance: item.instance, execution_id: item.execution_id, activity_name: item.name, activity_id: item.id },
        message: `activity ${item.name}#${item.id} of ${item.instance} exceeded ${o.maxAttempts} attempts (attempt ${w.attemptCount})`,
      };
      this.metrics.activityPoisoned(w);
      await this.ack(w, failure(item, details));
      return;
    }
    const handler = this.registry.get(item.name);
    if (handler === undefined) {
      const delay = unregisteredBackoffMs(w.attemptCount, o.unregisteredBackoff);
      o.logger.log("warn", `activity "${item.name}" is not registered here; retrying in ${delay} ms`, activityFields(item, w));
      await this.provider.abandonWorkItem(w.lockToken, delay, false).catch(() => {});
      return;
    }

    const attempt = new ActivityAttempt(o.activityCancellationGracePeriodMs);
    const key = activityKey(item.instance, item.execution_id, item.id);
    const renewal = this.keepLockAlive(w, attempt, item);
    this.running.set(key, { attempt, stopRenewal: renewal.stop, lockToken: w.lockToken });
    const ctx = this.context(item, w, slot, attempt);
    const watch = watchActivity({
      timeoutMs: o.activityTimeoutMs,
      warnAfterMs: o.slowActivityWarningMs,
      onTimeout: () => attempt.timeOut(activityTimeoutReason(o.activityTimeoutMs)),
      onSlow: (ms) => o.logger.log("warn", slowActivityMessage(item, w.attemptCount, ms, o), activityFields(item, w)),
    });
    const runStart = performance.now();
    let outcome: AttemptEnd;
    try {
      attempt.run(() => handler(ctx, decodePayload(item.input)));
      if (this.isCut) attempt.cut();
      // Claimed once the handler has started (it runs until its first await): the claim's
      // provider work then overlaps the activity instead of delaying its start.
      this.prefetch(slot);
      outcome = await attempt.ended;
    } finally {
      watch.stop();
      renewal.stop();
      this.running.delete(key);
    }
    const elapsedMs = performance.now() - runStart;
    const dropped = outcome === GRACE_EXPIRED || outcome === SHUT_DOWN || (outcome !== TIMED_OUT && attempt.aborted);
    const settle = () => this.settle(w, item, outcome, dropped, elapsedMs);
    // The result is encoded, counted and acked while the slot fetches its next item (same group
    // commit). After an activity that waited (timers, I/O) that starts a macrotask later, once the
    // slot's next (prefetched) activity has started: encoding and a provider's synchronous write
    // (SQLite without group commit: ~0.15 ms) would otherwise sit between two activities of the
    // slot. After an activity that returned at once the slot is CPU-bound and the extra macrotask
    // only costs throughput, so it starts now; so does one with no next activity claimed for the
    // slot (the last of a fan-out: its ack is what the orchestration waits for) (docs/runtime-semantics.md §1.5).
    if (!dropped && elapsedMs >= DEFER_ACK_AFTER_MS && this.hasNextActivity(slot)) return { committing: afterNextActivityStarts(settle) };
    return { committing: settle() };
  }

  /** Turns an attempt's outcome into its completion, counts it, and acks it (or hands the row back). */
  private async settle(
    w: FetchedWorkItem,
    item: Execute,
    outcome: AttemptEnd,
    dropped: boolean,
    elapsedMs: number,
  ): Promise<void> {
    const o = this.options;
    let completion: WorkItem | null = null;
    let kind: ActivityOutcome = "cancelled";
    if (outcome === TIMED_OUT) {
      o.logger.log("warn", timeoutMessage(item, o.activityTimeoutMs), activityFields(item, w));
      completion = failure(item, timeoutDetails(item, o.activityTimeoutMs));
      kind = "timeout";
    } else if (!dropped && outcome !== GRACE_EXPIRED && outcome !== SHUT_DOWN) {
      completion = outcome.ok ? success(item, outcome.value, o.maxPayloadBytes) : failure(item, outcome.details);
      kind = completion.type === "ActivityCompleted" ? "success" : "app_error";
    }
    this.metrics.activityFinished(item, kind, elapsedMs);
    if (completion === null) {
      // Cancelled (row gone) or shutting down: drop the result. Hand the row back if it still exists.
      await this.provider.abandonWorkItem(w.lockToken, null, true).catch(() => {});
      return;
    }
    await this.ack(w, completion);
  }

  /**
   * Acks the completion. A retryable failure (a connection cut by a database restart, say) is
   * retried a few times while the lease is still good, so a finished activity is not run again
   * for a blip; an ack that did commit but lost its reply then fails as LockLost, which is
   * dropped like any lost lease. After the last try the item goes back to the queue.
   */
  private async ack(w: FetchedWorkItem, completion: WorkItem): Promise<void> {
    for (const pauseMs of ACK_RETRY_PAUSES_MS) {
      try {
        await this.provider.ackWorkItem(w.lockToken, completion);
        return;
      } catch (err) {
        // The error policy of docs/provider-contract.md §9: classify whatever was thrown.
        const pe = ProviderError.from("ackWorkItem", err);
        if (pe.kind === "LockLost" || pe.kind === "NotFound") return; // row gone: cancelled or lease lost
        if (!pe.retryable) {
          // Not about this item (a read-only or corrupt store): say so rather than drop the
          // result silently, and hand the item back so that it runs again once the store recovers.
          this.options.logger.log("error", `ack of activity #${w.item.type === "ActivityExecute" ? w.item.id : "?"} failed permanently (${pe.kind}: ${pe.message}); the item goes back to the queue`, w.item.type === "ActivityExecute" ? activityFields(w.item, w) : {});
          break;
        }
        if (pauseMs === null || this.stopping) break;
        await new Promise((r) => setTimeout(r, pauseMs));
      }
    }
    await this.provider.abandonWorkItem(w.lockToken, 100, false).catch(() => {});
  }

  /**
   * Claims the slot's next activity while its current one runs, so the slot need not wait for a
   * provider round trip between two activities. Only non-session items (a session claim would pin
   * the session to this slot early). The item waits at most workerPrefetchHoldMs (and never long
   * enough to need a renewal), then goes back to the queue, its attempt not counted.
   */
  private prefetch(slot: number): void {
    const o = this.options;
    if (!o.workerPrefetch || this.stopping || (this.prefetches[slot] ?? null) !== null) return;
    const pre: Prefetch = { claim: Promise.resolve(null), held: null, claimedAt: 0, expiry: null };
    this.prefetches[slot] = pre;
    pre.claim = this.provider.fetchWorkItem(o.workerLockTimeoutMs, 0, null, o.workerTagFilter).then(
      (w) => {
        if (w === null) {
          if (this.prefetches[slot] === pre) this.prefetches[slot] = null;
          return null;
        }
        if (this.stopping || this.prefetches[slot] !== pre) {
          // Shut down or handed over meanwhile: nobody will run it here.
          this.provider.abandonWorkItem(w.lockToken, null, true).catch(() => {});
          return null;
        }
        pre.held = w;
        pre.claimedAt = performance.now();
        const holdMs = Math.min(o.workerPrefetchHoldMs, Math.floor(o.workerLockTimeoutMs / 4));
        pre.expiry = setTimeout(() => void this.releasePrefetch(slot), holdMs);
        return w;
      },
      () => {
        if (this.prefetches[slot] === pre) this.prefetches[slot] = null;
        return null; // the slot's own fetch will meet (and report) the provider's trouble
      },
    );
  }

  /** A prefetched item is held for the slot, or its claim is still on the way. */
  private hasNextActivity(slot: number): boolean {
    const pre = this.prefetches[slot] ?? null;
    return pre !== null && (pre.held !== null || pre.claimedAt === 0);
  }

  /** The slot's prefetched item, if one is held and its lease is still good; null otherwise. */
  private async takePrefetch(slot: number): Promise<FetchedWorkItem | null> {
    const pre = this.prefetches[slot] ?? null;
    if (pre === null) return null;
    await pre.claim;
    if (this.prefetches[slot] !== pre) return null; // released meanwhile
    this.prefetches[slot] = null;
    const w = pre.held;
    pre.held = null;
    if (pre.expiry !== null) clearTimeout(pre.expiry);
    if (w === null) return null;
    if (performance.now() - pre.claimedAt > RENEW_HELD_AFTER_MS) {
      try {
        await this.provider.renewWorkItemLock(w.lockToken, this.options.workerLockTimeoutMs);
      } catch {
        // Cancelled while it waited (row gone), or the provider failed: hand it back (a no-op when
        // the row is gone) rather than leave it locked for a lease, and fetch afresh.
        await this.provider.abandonWorkItem(w.lockToken, null, true).catch(() => {});
        return null;
      }
    }
    return w;
  }

  /** Hands the slot's prefetched item back to the queue (hold expired, or shutting down). */
  private async releasePrefetch(slot: number): Promise<void> {
    const pre = this.prefetches[slot] ?? null;
    if (pre === null) return;
    this.prefetches[slot] = null;
    if (pre.expiry !== null) clearTimeout(pre.expiry);
    await pre.claim;
    const w = pre.held;
    pre.held = null;
    if (w !== null) await this.provider.abandonWorkItem(w.lockToken, null, true).catch(() => {});
  }

  /**
   * Renews the work item's lease while the activity runs (lease-renewal.ts). A permanent failure
   * means the row was deleted (cancellation) or the lease was lost: either way, stop the activity.
   */
  private keepLockAlive(w: FetchedWorkItem, attempt: ActivityAttempt, item: Execute): { stop(): void } {
    const o = this.options;
    const token = w.lockToken;
    return keepLeaseAlive({
      operation: "renewWorkItemLock",
      everyMs: renewalIntervalMs(o.workerLockTimeoutMs, o.workerLockRenewalBufferMs),
      renew: () => this.provider.renewWorkItemLock(token, o.workerLockTimeoutMs),
      onRetryable: (pe, retryMs) =>
        o.logger.log("warn", `lease renewal of activity "${item.name}" (#${item.id} of ${item.instance}) failed (${pe.kind}: ${pe.message}); retrying in ${retryMs} ms`, activityFields(item, w)),
      onLost: () => attempt.abort(new Error("activity cancelled")),
    });
  }

  private context(item: Execute, w: FetchedWorkItem, slot: number, attempt: ActivityAttempt): ActivityContext {
    const logger = this.options.logger;
    // Trace lines carry the activity's context (docs/runtime-semantics.md §10.2).
    const fields = activityFields(item, w);
    return {
      instanceId: item.instance,
      executionId: item.execution_id,
      activityId: item.id,
      activityName: item.name,
      orchestrationName: item.orchestration_name ?? "",
      orchestrationVersion: item.orchestration_version ?? "",
      attempt: w.attemptCount,
      sessionId: item.session_id,
      tag: item.tag,
      workerId: this.slotOwners[slot]!,
      // Made on first use (activity-attempt.ts): most handlers never look.
      get signal() {
        return attempt.signal;
      },
      isCancelled: () => attempt.aborted,
      client: this.client,
      traceInfo: (m) => logger.log("info", m, fields),
      traceWarn: (m) => logger.log("warn", m, fields),
      traceError: (m) => logger.log("error", m, fields),
      traceDebug: (m) => logger.log("debug", m, fields),
    };
  }

  /** Heartbeats this runtime's sessions and sweeps orphaned ones. */
  private startSessionManager(): void {
    const o = this.options;
    const owners = [...new Set(this.slotOwners)];
    const every = renewalIntervalMs(o.sessionLockTimeoutMs, o.sessionLockRenewalBufferMs);
    const renew = setInterval(() => {
      this.provider.renewSessionLock(owners, o.sessionLockTimeoutMs, o.sessionIdleTimeoutMs).catch(() => {});
    }, every);
    const sweep = setInterval(() => {
      this.provider.cleanupOrphanedSessions(o.sessionIdleTimeoutMs).catch(() => {});
    }, o.sessionCleanupIntervalMs);
    for (const t of [renew, sweep]) (t as { unref?: () => void }).unref?.();
    this.sessionTimers = [renew, sweep];
  }
}

function activityKey(instance: string, executionId: number, id: number): string {
  return `${instance}|${executionId}|${id}`;
}

function success(item: Execute, value: unknown, maxBytes: number): WorkItem {
  let encoded: ReturnType<typeof tryEncodePayload>;
  try {
    encoded = tryEncodePayload(value);
  } catch (err) {
    // A toJSON throwing something that cannot even be printed: report it like a thrown error.
    const d = activityFailureDetails(err);
    return failure(item, { ...d, message: `activity result is not JSON-serializable: ${d.message}` });
  }
  if (!encoded.ok) return failure(item, { type: "Application", kind: "ActivityFailed", message: `activity result is ${encoded.problem}`, retryable: false });
  const result = encoded.text;
  if (Buffer.byteLength(result) > maxBytes) {
    return failure(item, { type: "Application", kind: "ActivityFailed", message: `activity result too large: ${Buffer.byteLength(result)} bytes (maxPayloadBytes ${maxBytes})`, retryable: false });
  }
  return { type: "ActivityCompleted", instance: item.instance, execution_id: item.execution_id, id: item.id, result };
}

function timeoutDetails(item: Execute, timeoutMs: number): ErrorDetails {
  return { type: "Application", kind: "ActivityFailed", message: timeoutMessage(item, timeoutMs), retryable: true, error_name: "TimeoutError", code: "ActivityTimeout" };
}

function timeoutMessage(item: Execute, timeoutMs: number): string {
  return (
    `activity "${item.name}" (#${item.id} of ${item.instance}) timed out after ${timeoutMs} ms (activityTimeoutMs): ` +
    `its signal was aborted and a late result is dropped; raise activityTimeoutMs if it needs longer`
  );
}

function slowActivityMessage(item: Execute, attempt: number, elapsedMs: number, o: ResolvedRuntimeOptions): string {
  const bound =
    o.activityTimeoutMs > 0
      ? `it will be stopped at activityTimeoutMs (${o.activityTimeoutMs} ms)`
      : `if it is stuck, make it honour ctx.signal and set activityTimeoutMs to bound each attempt`;
  return (
    `activity "${item.name}" (#${item.id} of ${item.instance}, attempt ${attempt}) has been running for ${elapsedMs} ms ` +
    `and holds one of ${o.workerConcurrency} worker slots; ${bound} (this warning: slowActivityWarningMs)`
  );
}

function failure(item: Execute, details: ErrorDetails): WorkItem {
  return { type: "ActivityFailed", instance: item.instance, execution_id: item.execution_id, id: item.id, details };
}
