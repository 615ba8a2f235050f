/**
 * The runtime's metrics (docs/runtime-semantics.md §9): every `duroxide_*` family, and the hooks
 * the dispatchers call (one call per event, `turnRan`, `turnCommitted`, `activityFinished`, ...).
 *
 * Cost (§9.4): series are resolved once per orchestration (name, version) or activity (name, tag)
 * and kept in bundles, so a hook is a Map lookup plus field updates; durations come from times the
 * dispatcher already took. A disabled instance (`metrics: false`) returns from every hook at once.
 */
import type { ErrorDetails } from "../../core/error-details.ts";
import type { EventOf } from "../../core/events.ts";
import type { FetchedOrchestration, FetchedWorkItem } from "../../core/queue-types.ts";
import type { WorkItemOf } from "../../core/work-items.ts";
import type { InstanceCacheStats } from "../instance-cache.ts";
import type { Logger } from "../options.ts";
import type { TurnDecision } from "../orchestration-turn.ts";
import { BoundedBundles, MetricRegistry, type HistogramSeries, type MetricFamily, type ValueSeries } from "./instruments.ts";
import { OtelBridge, type OtelMeter } from "./otel-bridge.ts";
import type { MetricSnapshot, MetricsSnapshot } from "./snapshot.ts";

/** Default cap on distinct (name, version) / (name, tag) label sets per group (§9.3). */
export const DEFAULT_MAX_LABEL_SETS = 1_000;

const ORCHESTRATION_DURATION_S = [0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 600, 1800, 3600];
const HISTORY_SIZE_EVENTS = [10, 50, 100, 500, 1000, 5000, 10000];
const TURN_DURATION_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const ACTIVITY_DURATION_S = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
const PROVIDER_DURATION_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5];

/** How an execution ended, as the `status` label says it. */
const COMPLETION_STATUSES = ["success", "failed", "cancelled", "continuedAsNew"] as const;
/** How it was started (`initiated_by`). */
const INITIATORS = ["client", "suborchestration", "continueAsNew"] as const;
/** Failure classes (`error_type`), from the ErrorDetails variant. */
const ERROR_TYPES = ["app_error", "infrastructure_error", "config_error", "poison"] as const;
type ErrorType = (typeof ERROR_TYPES)[number];

/** How one activity attempt ended (`outcome`). */
export type ActivityOutcome = "success" | "app_error" | "timeout" | "cancelled";
const ACTIVITY_OUTCOMES: readonly ActivityOutcome[] = ["success", "app_error", "timeout", "cancelled"];

/** Which lease a renewal kept (`lock`). */
export type LockKind = "orchestration" | "activity" | "session";

/** Series of one orchestration (name, version). */
interface OrchestrationSeries {
  starts: ValueSeries[]; // by INITIATORS index
  completions: ValueSeries[]; // by COMPLETION_STATUSES index
  durations: HistogramSeries[]; // by COMPLETION_STATUSES index
  failures: ValueSeries[]; // by ERROR_TYPES index
  infraErrors: ValueSeries;
  configErrors: ValueSeries;
  continueAsNew: ValueSeries;
  historySize: HistogramSeries;
  turns: ValueSeries;
  turnDuration: HistogramSeries;
}

/** Series of one activity (name, tag). */
interface ActivitySeries {
  executions: ValueSeries[]; // by ACTIVITY_OUTCOMES index
  durations: HistogramSeries[];
  retries: ValueSeries;
}

/** Series of one provider method (see instrumented-provider.ts). */
export interface ProviderOperationSeries {
  ok: HistogramSeries;
  error: HistogramSeries;
  /** Error counters by ProviderError kind, created on first use. */
  errorsByKind: Map<string, ValueSeries>;
  errorsFamily: MetricFamily<ValueSeries>;
  operation: string;
}

export interface RuntimeMetricsOptions {
  enabled: boolean;
  /** Distinct label sets per group before the `__other__` bucket (§9.3). */
  maxLabelSets: number;
  /** Also report every family to this OpenTelemetry Meter (otel-bridge.ts). */
  meter?: OtelMeter;
  /** Told (once, at warn) when the Meter's instruments throw while recording. */
  logger?: Logger;
}

/** Queue depths as the gauges take them. */
export interface SampledQueueDepths {
  orchestrator: number;
  worker: number;
}

/** Where the values read at snapshot time (not counted on the hot path) come from. */
export interface MetricSources {
  cacheStats(): InstanceCacheStats;
  /** Null when the provider cannot tell (no management capability). */
  queueDepths(): Promise<SampledQueueDepths | null>;
}

/** Values read when a snapshot is taken rather than counted on the hot path. */
export interface SampledValues {
  cache?: InstanceCacheStats;
  queueDepths?: SampledQueueDepths | null;
}

/** Longest a snapshot waits for the provider's queue depths before using the last known ones. */
const QUEUE_SAMPLE_TIMEOUT_MS = 1_000;

export class RuntimeMetrics {
  readonly enabled: boolean;
  private readonly registry: MetricRegistry;
  private readonly orchestrations: BoundedBundles<OrchestrationSeries>;
  private readonly activities: BoundedBundles<ActivitySeries>;

  // Families without user-data labels: their series are resolved here, once.
  private readonly orchPoison: ValueSeries;
  private readonly activityPoison: ValueSeries;
  private readonly slowTurns: ValueSeries;
  private readonly replays: ValueSeries;
  private readonly lockRenewals: Record<LockKind, ValueSeries>;
  private readonly lockLosses: Record<LockKind, ValueSeries>;
  private readonly cacheHits: ValueSeries;
  private readonly cacheMisses: ValueSeries;
  private readonly cacheEvictions: ValueSeries;
  private readonly cacheInvalidations: ValueSeries;
  private readonly cacheSize: ValueSeries;
  private readonly orchQueueDepth: ValueSeries;
  private readonly workerQueueDepth: ValueSeries;
  private readonly overflowOrch: ValueSeries;
  private readonly overflowActivity: ValueSeries;
  private readonly providerDuration: MetricFamily<HistogramSeries>;
  private readonly providerErrors: MetricFamily<ValueSeries>;
  private sources: MetricSources | null = null;
  private lastQueueDepths: SampledQueueDepths | null = null;
  private sampling: Promise<void> | null = null;

  constructor(options: RuntimeMetricsOptions = { enabled: true, maxLabelSets: DEFAULT_MAX_LABEL_SETS }) {
    this.enabled = options.enabled;
    const logger = options.logger;
    const bridge = options.enabled && options.meter !== undefined ? new OtelBridge(options.meter, (m) => logger?.log("warn", m, {})) : null;
    this.registry = new MetricRegistry(bridge);
    const r = this.registry;
    const O = ["orchestration_name", "version"];
    const A = ["activity_name", "tag"];
    const starts = r.counter("duroxide_orchestration_starts_total", "Executions started (initiated_by: client, suborchestration, continueAsNew).", [...O, "initiated_by"]);
    const completions = r.counter("duroxide_orchestration_completions_total", "Executions ended (status: success, failed, cancelled, continuedAsNew).", [...O, "status"]);
    const failures = r.counter("duroxide_orchestration_failures_total", "Executions failed, by error_type (app_error, infrastructure_error, config_error, poison).", [...O, "error_type"]);
    const infra = r.counter("duroxide_orchestration_infrastructure_errors_total", "Executions failed by an infrastructure error (a commit that could not be made).", ["orchestration_name"]);
    const config = r.counter("duroxide_orchestration_configuration_errors_total", "Executions failed by a configuration error (nondeterminism).", ["orchestration_name"]);
    const can = r.counter("duroxide_orchestration_continue_as_new_total", "Executions that continued as new.", O);
    const duration = r.histogram("duroxide_orchestration_duration_seconds", "Execution time from its start to its end, by status.", [...O, "status"], ORCHESTRATION_DURATION_S);
    const history = r.histogram("duroxide_orchestration_history_size", "History events of an execution when it ended.", ["orchestration_name"], HISTORY_SIZE_EVENTS);
    const turns = r.counter("duroxide_orchestration_turns_total", "Orchestration turns run (code executed for one fetched batch).", O);
    const turnDuration = r.histogram("duroxide_orchestration_turn_duration_seconds", "Synchronous run time of one turn (replay + new work).", O, TURN_DURATION_S);
    this.replays = r.counter("duroxide_orchestration_replays_total", "Turns that replayed the execution's history in full (not resumed from the instance cache).").with();
    this.slowTurns = r.counter("duroxide_orchestration_slow_turns_total", "Turns whose code ran as long as a lock renewal interval (docs/runtime-semantics.md §1.4.1).").with();
    this.orchPoison = r.counter("duroxide_orchestration_poison_total", "Orchestration batches delivered more than maxAttempts times (the instance failed).").with();
    const cache = (name: string, help: string) => r.counter(`duroxide_instance_cache_${name}_total`, help).with();
    this.cacheHits = cache("hits", "Turns resumed from a cached live state (no replay).");
    this.cacheMisses = cache("misses", "Turns of a started execution that replayed in full while the instance cache was on.");
    this.cacheEvictions = cache("evictions", "Instance cache entries dropped for room.");
    this.cacheInvalidations = cache("invalidations", "Instance cache entries found stale.");
    this.cacheSize = r.gauge("duroxide_instance_cache_size", "Instances held in the instance cache now.").with();

    const executions = r.counter("duroxide_activity_executions_total", "Activity attempts run, by outcome (success, app_error, timeout, cancelled).", [...A, "outcome"]);
    const activityDuration = r.histogram("duroxide_activity_duration_seconds", "Activity attempt run time, by outcome.", [...A, "outcome"], ACTIVITY_DURATION_S);
    const retries = r.counter("duroxide_activity_retries_total", "Activity attempts scheduled again by scheduleActivityWithRetry after a failure.", A);
    this.activityPoison = r.counter("duroxide_activity_poison_total", "Activities delivered more than maxAttempts times (failed as poison).").with();

    this.orchQueueDepth = r.gauge("duroxide_orchestrator_queue_depth", "Orchestrator queue items visible and unlocked, sampled when metrics are read.").with();
    this.workerQueueDepth = r.gauge("duroxide_worker_queue_depth", "Worker queue items visible and unlocked, sampled when metrics are read.").with();

    const renewals = r.counter("duroxide_lock_renewals_total", "Lease renewals that succeeded, by lock (orchestration, activity, session).", ["lock"]);
    const losses = r.counter("duroxide_lock_losses_total", "Lease renewals that found the lease gone (expired, stolen, or the work cancelled), by lock.", ["lock"]);
    const kinds: LockKind[] = ["orchestration", "activity", "session"];
    this.lockRenewals = Object.fromEntries(kinds.map((k) => [k, renewals.with(k)])) as Record<LockKind, ValueSeries>;
    this.lockLosses = Object.fromEntries(kinds.map((k) => [k, losses.with(k)])) as Record<LockKind, ValueSeries>;

    this.providerDuration = r.histogram("duroxide_provider_operation_duration_seconds", "Provider call time, by operation (method) and status (success, error).", ["operation", "status"], PROVIDER_DURATION_S);
    this.providerErrors = r.counter("duroxide_provider_errors_total", "Provider calls that failed, by operation and error_type (the ProviderError kind).", ["operation", "error_type"]);

    const overflow = r.counter("duroxide_metrics_label_overflow_total", "Events recorded under the __other__ label set because the group reached its cap of distinct label sets.", ["group"]);
    this.overflowOrch = overflow.with("orchestration");
    this.overflowActivity = overflow.with("activity");

    this.orchestrations = new BoundedBundles(options.maxLabelSets, (name, version) => ({
      starts: INITIATORS.map((i) => starts.with(name, version, i)),
      completions: COMPLETION_STATUSES.map((s) => completions.with(name, version, s)),
      durations: COMPLETION_STATUSES.map((s) => duration.with(name, version, s)),
      failures: ERROR_TYPES.map((t) => failures.with(name, version, t)),
      infraErrors: infra.with(name),
      configErrors: config.with(name),
      continueAsNew: can.with(name, version),
      historySize: history.with(name),
      turns: turns.with(name, version),
      turnDuration: turnDuration.with(name, version),
    }));
    this.activities = new BoundedBundles(options.maxLabelSets, (name, tag) => ({
      executions: ACTIVITY_OUTCOMES.map((o) => executions.with(name, tag, o)),
      durations: ACTIVITY_OUTCOMES.map((o) => activityDuration.with(name, tag, o)),
      retries: retries.with(name, tag),
    }));
    if (bridge !== null) {
      bridge.gaugeFamily = (name) => this.registry.families.find((f) => f.name === name) as MetricFamily<ValueSeries> | undefined;
      bridge.onCollect = () => {
        // Cache stats are in memory: apply them now; queue depths arrive for the next collection.
        this.refresh({ ...(this.sources ? { cache: this.sources.cacheStats() } : {}) });
        void this.sampleQueues();
      };
    }
  }

  /** Where sampled values come from (the runtime sets this once its dispatchers exist). */
  setSources(sources: MetricSources): void {
    this.sources = sources;
  }

  /**
   * Samples the queue depths (at most QUEUE_SAMPLE_TIMEOUT_MS; the last known values otherwise,
   * so a slow or failing store cannot hang a scrape) and returns a snapshot.
   */
  async collect(): Promise<MetricsSnapshot> {
    if (!this.enabled) return this.snapshot();
    await this.sampleQueues();
    return this.snapshot(this.sources ? { cache: this.sources.cacheStats() } : {});
  }

  private sampleQueues(): Promise<void> {
    const src = this.sources;
    if (src === null) return Promise.resolve();
    // One sample in flight at a time: concurrent scrapes share it.
    this.sampling ??= (async () => {
      let expire = (_: undefined) => {};
      const timeout = new Promise<undefined>((resolve) => (expire = resolve));
      const timer = setTimeout(() => expire(undefined), QUEUE_SAMPLE_TIMEOUT_MS);
      try {
        const q = await Promise.race([src.queueDepths().catch(() => undefined), timeout]);
        if (q !== undefined && q !== null) this.lastQueueDepths = q;
      } finally {
        clearTimeout(timer);
        this.sampling = null;
      }
    })();
    return this.sampling;
  }

  // ------------------------------------------------------------------ orchestration hooks

  /**
   * A turn ran (its code executed, or the batch was poisoned or failed without running it):
   * counted whether or not its commit later succeeds. `turnMs` is the synchronous run time the
   * dispatcher measured; `renewEveryMs` the lock renewal interval (a slower turn is "slow").
   */
  turnRan(f: FetchedOrchestration, d: Extract<TurnDecision, { type: "ack" }>, turnMs: number, renewEveryMs: number): void {
    if (!this.enabled) return;
    const t = d.outcome.type;
    if (t === "Dropped" || t === "WaitingForHandler") return;
    const started = startedOf(f, d);
    const s = this.orchestrationSeries(started?.name ?? f.item.orchestration_name, started?.version ?? f.item.version);
    s.turns.inc();
    s.turnDuration.observe(turnMs / 1_000);
    if (turnMs >= renewEveryMs) this.slowTurns.inc();
    // Counted from the turn's own verdict (orchestration-turn.ts): a cache hit, a poisoned or an
    // aborted batch ran no code over the history, so none of them is a replay (§9.2).
    if (d.replayed === true) this.replays.inc();
  }

  /** A turn's ack succeeded: count what it started and ended, and the activity retries it scheduled. */
  turnCommitted(f: FetchedOrchestration, d: Extract<TurnDecision, { type: "ack" }>): void {
    if (!this.enabled) return;
    const retries = d.activityRetries;
    if (retries !== undefined) for (const r of retries) this.activityRetried(r.name, r.tag);
    const o = d.outcome;
    if (o.type === "Dropped" || o.type === "WaitingForHandler") return;
    const first = d.delta[0];
    const fresh = first !== undefined && first.type === "OrchestrationStarted" ? first : undefined;
    if (fresh === undefined && o.type === "Continue") return; // the common turn: nothing starts or ends
    const started = fresh ?? startedOf(f, d);
    const s = this.orchestrationSeries(started?.name ?? f.item.orchestration_name, started?.version ?? f.item.version);
    if (fresh !== undefined) {
      const by = fresh.execution_id > 1 ? 2 : fresh.parent_instance !== null ? 1 : 0;
      s.starts[by]!.inc();
    }
    if (o.type === "Continue") return;
    // Index into COMPLETION_STATUSES (success, failed, cancelled, continuedAsNew).
    let statusIndex: number;
    switch (o.type) {
      case "Completed":
        statusIndex = 0;
        break;
      case "Failed":
        statusIndex = 1;
        this.countFailure(s, o.details);
        break;
      case "Cancelled":
        statusIndex = 2;
        break;
      default:
        statusIndex = 3;
        s.continueAsNew.inc();
    }
    s.completions[statusIndex]!.inc();
    if (started !== undefined) s.durations[statusIndex]!.observe(Math.max(0, Date.now() - started.timestamp_ms) / 1_000);
    s.historySize.observe(f.item.history.length * (d.executionId === f.item.execution_id ? 1 : 0) + d.delta.length);
  }

  /**
   * The turn's own ack failed permanently and the dispatcher ended the execution with an
   * infrastructure failure instead (orchestration-dispatcher.ts failInstance).
   */
  infrastructureFailure(f: FetchedOrchestration, d: Extract<TurnDecision, { type: "ack" }>, details: ErrorDetails): void {
    if (!this.enabled) return;
    // That ack committed only the start and the failure: none of the turn's activity retries.
    const { activityRetries: _notCommitted, ...rest } = d;
    this.turnCommitted(f, { ...rest, outcome: { type: "Failed", details } });
  }

  private countFailure(s: OrchestrationSeries, details: ErrorDetails): void {
    const type = errorTypeOf(details);
    s.failures[ERROR_TYPES.indexOf(type)]!.inc();
    if (type === "infrastructure_error") s.infraErrors.inc();
    else if (type === "config_error") s.configErrors.inc();
    else if (type === "poison") this.orchPoison.inc();
  }

  // ------------------------------------------------------------------ activity hooks

  /** An activity attempt ended with `outcome` after `ms` of run time. */
  activityFinished(item: WorkItemOf<"ActivityExecute">, outcome: ActivityOutcome, ms: number): void {
    if (!this.enabled) return;
    const s = this.activitySeries(item.name, item.tag);
    const i = ACTIVITY_OUTCOMES.indexOf(outcome);
    s.executions[i]!.inc();
    s.durations[i]!.observe(ms / 1_000);
  }

  /** An activity was failed as poison (delivered more than maxAttempts times). */
  activityPoisoned(_w: FetchedWorkItem): void {
    if (!this.enabled) return;
    this.activityPoison.inc();
  }

  /** A committed turn scheduled another attempt of a failed activity (scheduleActivityWithRetry). */
  activityRetried(name: string, tag: string | undefined): void {
    if (!this.enabled) return;
    this.activitySeries(name, tag).retries.inc();
  }

  // ------------------------------------------------------------------ provider and lock hooks

  /** The series of one provider method, resolved once by the instrumented provider. */
  providerOperation(operation: string): ProviderOperationSeries {
    return {
      ok: this.providerDuration.with(operation, "success"),
      error: this.providerDuration.with(operation, "error"),
      errorsByKind: new Map(),
      errorsFamily: this.providerErrors,
      operation,
    };
  }

  /** `n` leases of `kind` were renewed (a session renewal call renews several, or none). */
  lockRenewed(kind: LockKind, n = 1): void {
    if (n > 0) this.lockRenewals[kind].inc(n);
  }

  lockLost(kind: LockKind): void {
    this.lockLosses[kind].inc();
  }

  // ------------------------------------------------------------------ reading

  /** A copy of every metric; `sampled` fills the values read at this moment (cache, queues). */
  snapshot(sampled: SampledValues = {}): MetricsSnapshot {
    const takenAtMs = Date.now();
    if (!this.enabled) return { takenAtMs, enabled: false, metrics: [] };
    this.refresh(sampled);
    const metrics: MetricSnapshot[] = [];
    for (const f of this.registry.families) {
      const labelNames = [...f.labelNames];
      const m: MetricSnapshot = { name: f.name, help: f.help, type: f.type, labelNames, series: [] };
      if (f.type === "histogram") m.buckets = [...f.bounds];
      for (const s of f.all()) {
        const labels: Record<string, string> = {};
        labelNames.forEach((n, i) => (labels[n] = s.labelValues[i]!));
        if ("counts" in s) {
          const cumulative: number[] = [];
          let acc = 0;
          for (const c of s.counts) cumulative.push((acc += c));
          m.series.push({ labels, value: s.count, bucketCounts: cumulative, sum: s.sum, count: s.count });
        } else {
          m.series.push({ labels, value: s.value });
        }
      }
      metrics.push(m);
    }
    return { takenAtMs, enabled: true, metrics };
  }

  /** Copies sampled values into their gauges and counters. */
  private refresh(sampled: SampledValues): void {
    const c = sampled.cache;
    if (c !== undefined) {
      this.cacheHits.set(c.hits);
      this.cacheMisses.set(c.misses);
      this.cacheEvictions.set(c.evictions);
      this.cacheInvalidations.set(c.invalidations);
      this.cacheSize.set(c.size);
    }
    const q = sampled.queueDepths ?? this.lastQueueDepths;
    if (q) {
      this.orchQueueDepth.set(q.orchestrator);
      this.workerQueueDepth.set(q.worker);
    }
    this.overflowOrch.set(this.orchestrations.overflowed);
    this.overflowActivity.set(this.activities.overflowed);
  }

  private orchestrationSeries(name: string, version: string): OrchestrationSeries {
    return this.orchestrations.get(name, version);
  }

  private activitySeries(name: string, tag: string | undefined): ActivitySeries {
    return this.activities.get(name, tag ?? "");
  }
}

/** The execution's OrchestrationStarted: written by this turn, else the first persisted event. */
function startedOf(f: FetchedOrchestration, d: Extract<TurnDecision, { type: "ack" }>): EventOf<"OrchestrationStarted"> | undefined {
  const first = d.delta[0];
  if (first !== undefined && first.type === "OrchestrationStarted") return first;
  const h = f.item.history[0];
  return h !== undefined && h.type === "OrchestrationStarted" && d.executionId === f.item.execution_id ? h : undefined;
}

function errorTypeOf(d: ErrorDetails): ErrorType {
  switch (d.type) {
    case "Infrastructure":
      return "infrastructure_error";
    case "Configuration":
      return "config_error";
    case "Poison":
      return "poison";
    default:
      return "app_error";
  }
}
