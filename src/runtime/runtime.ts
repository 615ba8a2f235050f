/**
 * Runtime: owns the dispatchers for one provider. Start it with the registries; shut it down to
 * stop fetching, let in-flight work finish (up to a timeout) and signal the rest. Anything not
 * committed is redelivered to the next runtime by the provider's lock expiry.
 */
import { ConfigurationError } from "../core/errors.ts";
import type { Provider } from "../provider.ts";
import { SYSCALL_GET_KV, SYSCALL_NEW_GUID, SYSCALL_UTC_NOW } from "./context.ts";
import { waitAtMost } from "./dispatch-loop.ts";
import { OrchestrationDispatcher } from "./orchestration-dispatcher.ts";
import { resolveRuntimeOptions, RUNTIME_VERSION, type ResolvedRuntimeOptions, type RuntimeOptions } from "./options.ts";
import { ActivityRegistry, OrchestrationRegistry } from "./registry.ts";
import { WorkerDispatcher } from "./worker-dispatcher.ts";
import type { InstanceCacheStats } from "./instance-cache.ts";
import { readOrchestrationDescriptor, type OrchestrationDescriptor } from "./orchestration-descriptor.ts";
import { InstrumentedProvider } from "../providers/instrumented-provider.ts";
import { RuntimeMetrics } from "./metrics/runtime-metrics.ts";
import { queueDepthSampler } from "./metrics/queue-depths.ts";
import type { MetricsSnapshot } from "./metrics/snapshot.ts";

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
] as const;

export class Runtime {
  /** Unique per start, used in dispatcher slot names. */
  readonly id = crypto.randomUUID().slice(0, 8);
  private readonly orchestrations: OrchestrationDispatcher;
  private readonly workers: WorkerDispatcher;
  private keepAlive: ReturnType<typeof setInterval> | null = null;
  private stopped: Promise<void> | null = null;
  /** What `metrics()` reads (docs/runtime-semantics.md §9); a no-op when `metrics: false`. */
  private readonly telemetry: RuntimeMetrics;

  private constructor(
    readonly provider: Provider,
    activities: ActivityRegistry,
    orchestrations: OrchestrationRegistry,
    readonly options: ResolvedRuntimeOptions,
  ) {
    this.telemetry = new RuntimeMetrics({ ...options.metrics, logger: options.logger });
    // The dispatchers' provider calls are timed through one wrapper made here (§9.4).
    const timed = this.telemetry.enabled ? new InstrumentedProvider(provider, this.telemetry) : provider;
    this.workers = new WorkerDispatcher(timed, withSystemActivities(activities, provider), options, this.id, this.telemetry);
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
   * Stops fetching, waits up to `timeoutMs` (default 1000) for in-flight turns and activities,
   * then signals the remaining activities' AbortSignals and returns. Idempotent.
   */
  shutdown(timeoutMs = 1_000): Promise<void> {
    if (typeof timeoutMs !== "number" || !Number.isFinite(timeoutMs) || timeoutMs < 0) {
      return Promise.reject(new ConfigurationError(`shutdown timeoutMs must be a finite number >= 0, got ${String(timeoutMs)}`));
    }
    this.stopped ??= (async () => {
      if (this.keepAlive !== null) clearInterval(this.keepAlive);
      await Promise.all([
        waitAtMost(this.orchestrations.shutdown(), timeoutMs),
        this.workers.shutdown(timeoutMs),
      ]);
    })();
    return this.stopped;
  }
}

/** The built-in activities behind ctx.newGuid, ctx.utcNow and ctx.getValueFromInstance. */
function withSystemActivities(activities: ActivityRegistry, provider: Provider): ActivityRegistry {
  return activities
    .toBuilder()
    .registerSystem(SYSCALL_NEW_GUID, async () => crypto.randomUUID())
    .registerSystem(SYSCALL_UTC_NOW, async () => Date.now())
    .registerSystem(SYSCALL_GET_KV, async (_ctx, input: { instanceId: string; key: string }) => provider.getKvValue(input.instanceId, input.key))
    .build();
}
