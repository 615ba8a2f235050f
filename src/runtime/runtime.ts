/**
 * Runtime: owns the dispatchers for one provider. Start it with the registries; shut it down to
 * stop fetching, let in-flight work finish (up to a timeout) and signal the rest. Anything not
 * committed is redelivered to the next runtime by the provider's lock expiry.
 */
import { ConfigurationError } from "../core/errors.ts";
import type { Provider, ProviderDataMethod } from "../provider.ts";
import { SYSCALL_GET_KV, SYSCALL_NEW_GUID, SYSCALL_UTC_NOW } from "./context.ts";
import { waitAtMost } from "./dispatch-loop.ts";
import { OrchestrationDispatcher } from "./orchestration-dispatcher.ts";
import { checkShutdownTimeout, resolveRuntimeOptions, RUNTIME_VERSION, type ResolvedRuntimeOptions, type RuntimeOptions } from "./options.ts";
import { ProviderCalls } from "./provider-calls.ts";
import { ActivityRegistry, OrchestrationRegistry } from "./registry.ts";
import { WorkerDispatcher } from "./worker-dispatcher.ts";
import type { InstanceCacheStats } from "./instance-cache.ts";
import { readOrchestrationDescriptor, type OrchestrationDescriptor } from "./orchestration-descriptor.ts";
import { InstrumentedProvider } from "../providers/instrumented-provider.ts";
import { RuntimeMetrics } from "./metrics/runtime-metrics.ts";
import { queueDepthSampler } from "./metrics/queue-depths.ts";
import type { MetricsSnapshot } from "./metrics/snapshot.ts";

/**
 * The Provider methods a runtime calls, checked at start: a subset of PROVIDER_DATA_METHODS (the
 * type says so, so a rename there fails here), not all of it, so that a provider without the
 * methods only clients and tools use (appendWithExecution, the KV reads, ...) still runs.
 */
const PROVIDER_METHODS = [
  "fetchOrchestrationItem",
  "ackOrchestrationItem",
  "abandonOrchestrationItem",
  "renewOrchestrationItemLock",
  "fetchWorkItem",
  "ackWorkItem",
  "abandonWorkItem",
  "renewWorkItemLock",
  "renewSessionLock",
  "cleanupOrphanedSessions",
  "enqueueForOrchestrator",
  "read",
] as const satisfies readonly ProviderDataMethod[];

export class Runtime {
  /** Unique per start, used in dispatcher slot names. */
  readonly id = crypto.randomUUID().slice(0, 8);
  private readonly orchestrations: OrchestrationDispatcher;
  private readonly workers: WorkerDispatcher;
  private keepAlive: ReturnType<typeof setInterval> | null = null;
  private stopped: Promise<void> | null = null;
  /** What `metrics()` reads (docs/runtime-semantics.md §9); a no-op when `metrics: false`. */
  private readonly telemetry: RuntimeMetrics;
  /** Every provider call of this runtime, so shutdown knows when none is left (docs/runtime-semantics.md §1.9). */
  private readonly calls: ProviderCalls;

  private constructor(
    readonly provider: Provider,
    activities: ActivityRegistry,
    orchestrations: OrchestrationRegistry,
    readonly options: ResolvedRuntimeOptions,
  ) {
    this.telemetry = new RuntimeMetrics({ ...options.metrics, logger: options.logger });
    this.calls = new ProviderCalls(provider);
    const tracked = this.calls.provider;
    // The dispatchers' provider calls are timed through one wrapper made here (§9.4), around the
    // tracker that lets shutdown know when none is left (§1.9).
    const timed = this.telemetry.enabled ? new InstrumentedProvider(tracked, this.telemetry) : tracked;
    this.workers = new WorkerDispatcher(timed, withSystemActivities(activities, tracked), options, this.id, this.telemetry, provider);
    this.orchestrations = new OrchestrationDispatcher(timed, orchestrations, options, RUNTIME_VERSION, this.id, (ids) => this.workers.cancelActivities(ids), this.telemetry);
    this.telemetry.setSources({ cacheStats: () => this.orchestrations.instanceCacheStats(), queueDepths: queueDepthSampler(provider) });
  }

  /** Starts dispatching. Options are validated first (ConfigurationError names the bad one). */
  static async start(
    provider: Provider,
    activities: ActivityRegistry,
    orchestrations: OrchestrationRegistry,
    options?: RuntimeOptions,
  ): Promise<Runtime> {
    if (provider === null || typeof provider !== "object") throw new ConfigurationError("Runtime.start needs a Provider as its first argument");
    const missing = PROVIDER_METHODS.filter((m) => typeof (provider as unknown as Record<string, unknown>)[m] !== "function");
    if (missing.length > 0) throw new ConfigurationError(`the provider lacks ${missing.join(", ")}`);
    if (!(activities instanceof ActivityRegistry)) throw new ConfigurationError("activities must be built with ActivityRegistry.builder()...build()");
    if (!(orchestrations instanceof OrchestrationRegistry)) throw new ConfigurationError("orchestrations must be built with OrchestrationRegistry.builder()...build()");
    const rt = new Runtime(provider, activities, orchestrations, resolveRuntimeOptions(options));
    rt.orchestrations.start();
    rt.workers.start();
    // Idle fetches wait on unref'd timers; this keeps a runtime-only process alive until shutdown.
    rt.keepAlive = setInterval(() => {}, 1 << 30);
    return rt;
  }

  /**
   * Counters of the instance cache (`instanceCacheSize`, docs/runtime-semantics.md §2.12): turns
   * resumed from a cached live state (hits), full replays (misses), entries dropped for room
   * (evictions) or found stale (invalidations), and its current size.
   */
  instanceCacheStats(): InstanceCacheStats {
    return this.orchestrations.instanceCacheStats();
  }

  /**
   * Which orchestration `instanceId` runs: name, version and parent link of its latest execution
   * (runtime/orchestration-descriptor.ts); null when the instance has no history yet.
   */
  getOrchestrationDescriptor(instanceId: string): Promise<OrchestrationDescriptor | null> {
    return readOrchestrationDescriptor(this.provider, instanceId);
  }

  /**
   * A snapshot of this runtime's `duroxide_*` metrics (docs/runtime-semantics.md §9): counters and
   * histograms since start, gauges sampled now (queue depths from the provider's management
   * capability, waiting at most 1 s for it). `formatPrometheus(snapshot)` renders it for a
   * `/metrics` endpoint. Empty (`enabled: false`) when started with `metrics: false`.
   */
  metrics(): Promise<MetricsSnapshot> {
    return this.telemetry.collect();
  }

  /**
   * Graceful shutdown (docs/runtime-semantics.md §1.9): stops fetching (idle long polls are
   * cancelled, not waited out), waits up to `timeoutMs` (default 1000; an integer 0..2^31−1) for
   * in-flight turns and activities, signals the remaining activities' AbortSignals and hands their
   * items back, then releases this runtime's sessions. When it resolves, no provider call of this
   * runtime is in flight and none can start. Idempotent: later calls return the first promise.
   */
  shutdown(timeoutMs = 1_000): Promise<void> {
    try {
      checkShutdownTimeout(timeoutMs);
    } catch (err) {
      return Promise.reject(err);
    }
    this.stopped ??= this.stop(timeoutMs);
    return this.stopped;
  }

  private async stop(timeoutMs: number): Promise<void> {
    if (this.keepAlive !== null) clearInterval(this.keepAlive);
    const dispatchers = Promise.all([this.orchestrations.shutdown(), this.workers.shutdown(timeoutMs)]);
    // Turns and cut activities end within a few provider round trips; a provider call that never
    // returns must not hang shutdown silently: say which ones, then stop waiting for them.
    const graceMs = Math.min(timeoutMs + SHUTDOWN_CALL_GRACE_MS, MAX_TIMER_MS);
    let done = false;
    await waitAtMost(dispatchers.then(() => this.calls.drained()).then(() => (done = true)), graceMs);
    if (!done) {
      this.options.logger.log(
        "error",
        `shutdown: provider calls still running ${graceMs} ms after shutdown began (${this.calls.pending().join(", ") || "none"}); ` +
          `the runtime stops waiting for them and makes no further calls; check the store's health (a hung connection?)`,
        { runtime_id: this.id },
      );
    }
    this.calls.close();
  }
}

/** How long past its `timeoutMs` shutdown waits for provider calls already in flight. */
const SHUTDOWN_CALL_GRACE_MS = 10_000;
/** The longest delay a timer can represent. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The built-in activities behind ctx.newGuid, ctx.utcNow and ctx.getValueFromInstance. */
function withSystemActivities(activities: ActivityRegistry, provider: Provider): ActivityRegistry {
  return activities
    .toBuilder()
    .registerSystem(SYSCALL_NEW_GUID, async () => crypto.randomUUID())
    .registerSystem(SYSCALL_UTC_NOW, async () => Date.now())
    .registerSystem(SYSCALL_GET_KV, async (_ctx, input: { instanceId: string; key: string }) => provider.getKvValue(input.instanceId, input.key))
    .build();
}
