/**
 * The orchestration dispatcher: fetch a locked batch, decide the turn (planTurn, pure), commit it
 * with one ack, and keep the instance lock alive while that takes time.
 */
import { ProviderError } from "../core/errors.ts";
import type { DispatcherCapabilityFilter, FetchedOrchestration, ScheduledActivityIdentifier } from "../core/queue-types.ts";
import type { Provider } from "../provider.ts";
import { DispatchLoops, sleep, type Processed } from "./dispatch-loop.ts";
import { instanceSignals } from "../instance-signals.ts";
import { renewalIntervalMs, type LogLevel, type ResolvedRuntimeOptions } from "./options.ts";
import { planTurn, type TurnDecision } from "./orchestration-turn.ts";
import type { OrchestrationRegistry } from "./registry.ts";
import { keepLeaseAlive } from "./lease-renewal.ts";
import { SlowTurns, slowTurnDetails, type SlowTurn } from "./slow-turns.ts";
import { InstanceCache, type InstanceCacheStats } from "./instance-cache.ts";
import type { RuntimeMetrics } from "./metrics/runtime-metrics.ts";
import { turnFields } from "./logging/log-fields.ts";
import { terminalSnapshot } from "./terminal-snapshot.ts";

const ACK_RETRIES = 5;

export class OrchestrationDispatcher {
  private readonly loops: DispatchLoops<FetchedOrchestration>;
  private readonly filter: DispatcherCapabilityFilter;
  private readonly slowTurns = new SlowTurns();
  /** Live states of instances whose last turn committed here (docs/runtime-semantics.md §2.12). */
  private readonly cache: InstanceCache;
  /** Ends this dispatcher's mark on the provider's signal hub (waiting clients then poll faster again). */
  private detachDriver: () => void = () => {};

  constructor(
    private readonly provider: Provider,
    private readonly registry: OrchestrationRegistry,
    private readonly options: ResolvedRuntimeOptions,
    private readonly runtimeVersion: string,
    runtimeId: string,
    /** Told about activities a committed turn cancelled, so local workers can stop them at once. */
    private readonly onActivitiesCancelled: (ids: ScheduledActivityIdentifier[]) => void,
    private readonly metrics: RuntimeMetrics,
  ) {
    this.filter = { supported_duroxide_versions: [options.supportedReplayVersions] };
    this.cache = new InstanceCache(options.instanceCacheSize);
    this.loops = new DispatchLoops({
      name: `orch-${runtimeId}`,
      concurrency: options.orchestrationConcurrency,
      pollIntervalMs: options.dispatcherPollIntervalMs,
      logger: options.logger,
      fetch: (_slot, signal) => provider.fetchOrchestrationItem(options.orchestratorLockTimeoutMs, options.dispatcherLongPollTimeoutMs, this.filter, signal),
      process: (f) => this.process(f),
      release: (f) => provider.abandonOrchestrationItem(f.lockToken, null, true),
    });
  }

  start(): void {
    this.detachDriver = instanceSignals(this.provider).attachDriver();
    this.loops.start();
  }

  /**
   * Stops fetching (idle long polls are cancelled) and resolves when every loop has ended: turns
   * in flight committed or were handed back, late claims were abandoned (docs/runtime-semantics.md §1.9).
   */
  async shutdown(): Promise<void> {
    this.detachDriver();
    this.loops.stopFetching();
    await this.loops.finished();
    this.cache.clear();
  }

  instanceCacheStats(): InstanceCacheStats {
    return this.cache.stats();
  }

  private async process(f: FetchedOrchestration): Promise<Processed> {
    const o = this.options;
    const instance = f.item.instance;
    // Every line about this turn carries its instance, execution, orchestration and attempt (§10.2).
    const log = (level: LogLevel, message: string, fields: Record<string, unknown>) => o.logger.log(level, message, turnFields(f, fields));
    const renewal = this.keepLockAlive(f);
    let handedOff = false;
    try {
      // A turn that outran its lock last time is not run again: it fails the instance (slow-turns.ts).
      const slow = this.slowTurns.take(f);
      let decision: TurnDecision;
      const turnStart = performance.now();
      try {
        decision = planTurn(f, {
          registry: this.registry,
          options: o,
          now: Date.now(),
          runtimeVersion: this.runtimeVersion,
          log,
          cache: this.cache,
          collectActivityRetries: this.metrics.enabled,
          ...(slow === undefined ? {} : { abort: slowTurnDetails(slow, o.orchestratorLockTimeoutMs) }),
        });
      } catch (err) {
        this.cache.evict(instance);
        // A bug in the engine or user code escaping it: let redelivery (and eventually poison) handle it.
        log("error", `turn of ${instance} crashed: ${(err as Error).stack ?? String(err)}`, { instance_id: instance });
        await this.provider.abandonOrchestrationItem(f.lockToken, 1_000, false).catch(() => {});
        return;
      }
      if (decision.type === "abandon") {
        await this.provider.abandonOrchestrationItem(f.lockToken, decision.delayMs, decision.ignoreAttempt).catch((err) => {
          log("warn", `abandon of ${instance} failed: ${(err as Error).message}`, { instance_id: instance });
        });
        return;
      }
      // The turn ran synchronously: no renewal could fire while it did. One that took as long as a
      // renewal interval may have let the lock lapse; its ack tells (docs/runtime-semantics.md §1.4.1).
      const turnMs = performance.now() - turnStart;
      this.metrics.turnRan(f, decision, turnMs, renewal.everyMs);
      let suspect: SlowTurn | null = null;
      if (turnMs >= renewal.everyMs) {
        suspect = this.slowTurns.remember(f, turnMs);
        log(
          "warn",
          `turn of ${instance} ran ${Math.round(turnMs)} ms of synchronous code; the instance lock ` +
            `(orchestratorLockTimeoutMs = ${o.orchestratorLockTimeoutMs} ms, renewed every ${renewal.everyMs} ms) could not be renewed meanwhile`,
          { instance_id: instance },
        );
      }
      // The commit continues while the loop fetches its next batch (same group commit).
      const committing = this.commit(f, decision, suspect, log).finally(() => renewal.stop());
      handedOff = true;
      return { committing };
    } finally {
      if (!handedOff) renewal.stop();
    }
  }

  /**
   * Acks with retries on retryable errors; a permanent error ends the instance as an infrastructure
   * failure. `suspect` is set when the turn ran long enough to block its lock's renewal.
   */
  private async commit(f: FetchedOrchestration, d: Extract<TurnDecision, { type: "ack" }>, suspect: SlowTurn | null, logTurn: (level: LogLevel, message: string, fields: Record<string, unknown>) => void): Promise<void> {
    const instance = f.item.instance;
    const log = { log: logTurn };
    // Before the first try: a retry may succeed on a commit its earlier try made (§4.2).
    const mark = instanceSignals(this.provider).mark();
    for (let attempt = 0; ; attempt++) {
      try {
        await this.provider.ackOrchestrationItem(f.lockToken, d.executionId, d.delta, d.workerItems, d.orchestratorItems, d.metadata, d.cancelledActivities);
        if (suspect !== null) this.slowTurns.clear(suspect);
        this.metrics.turnCommitted(f, d);
        // Committed: the turn's live state now stands for the stored history (§2.12).
        if (d.sticky !== undefined) this.cache.put(instance, d.sticky);
        const snapshot = terminalSnapshot(d.executionId, f.item.history_error === null ? f.item.history : null, d.delta);
        instanceSignals(this.provider).notify(instance, d.outcome.type !== "Continue", snapshot === undefined ? undefined : { snapshot, mark });
        if (d.cancelledActivities.length > 0) this.onActivitiesCancelled(d.cancelledActivities);
        return;
      } catch (err) {
        // Whatever happens next, this turn's live state is not known to be committed: forget it
        // before any retry or redelivery can fetch the instance again (§2.12).
        this.cache.evict(instance);
        const pe = err instanceof ProviderError ? err : ProviderError.from("ackOrchestrationItem", err);
        if (pe.retryable && attempt < ACK_RETRIES) {
          await sleep(10 * 2 ** attempt);
          continue;
        }
        // Only a lapse makes a slow turn a suspect; a batch the provider sent back itself (superseded) is run again.
        if ((pe.kind !== "LockLost" || pe.superseded) && suspect !== null) this.slowTurns.clear(suspect);
        if (pe.retryable) {
          // Still failing: give the batch back and let a later delivery retry the whole turn.
          await this.provider.abandonOrchestrationItem(f.lockToken, 50, false).catch(() => {});
          return;
        }
        if (pe.kind === "LockLost" && !pe.superseded && suspect !== null) {
          log.log(
            "warn",
            `turn of ${instance} lost its instance lock while its code ran (${Math.round(suspect.turnMs)} ms, orchestratorLockTimeoutMs = ` +
              `${this.options.orchestratorLockTimeoutMs} ms); the next delivery fails the instance instead of running the turn again`,
            { instance_id: instance },
          );
          return;
        }
        if (pe.kind === "LockLost" && attempt > 0) {
          // An earlier try hit a retryable error after the provider had committed (a lost reply):
          // the lock is gone because that commit released it. Nothing is wrong.
          log.log("info", `ack of ${instance}: the lock was released by an earlier try whose reply was lost (${pe.message}); the turn most likely committed`, { instance_id: instance });
          return;
        }
        // Lost lock (expired, stolen, instance deleted): another delivery owns the batch now.
        if (pe.kind === "LockLost" || pe.kind === "NotFound" || pe.kind === "Closed") {
          log.log("warn", `ack of ${instance} failed: ${pe.kind}: ${pe.message}; a later delivery redoes the turn`, { instance_id: instance });
          return;
        }
        log.log("error", `ack of ${instance} failed permanently: ${pe.kind}: ${pe.message}`, { instance_id: instance });
        await this.failInstance(f, d, pe);
        return;
      }
    }
  }

  private async failInstance(f: FetchedOrchestration, d: Extract<TurnDecision, { type: "ack" }>, err: ProviderError): Promise<void> {
    const instance = f.item.instance;
    const maxId = Math.max(0, ...f.item.history.map((e) => e.event_id), ...d.delta.filter((e) => e.type === "OrchestrationStarted").map((e) => e.event_id));
    const details = { type: "Infrastructure" as const, operation: err.operation, message: err.message, retryable: false };
    const started = d.delta.filter((e) => e.type === "OrchestrationStarted");
    const failed = {
      event_id: maxId + 1,
      source_event_id: null,
      instance_id: instance,
      execution_id: d.executionId,
      timestamp_ms: Date.now(),
      duroxide_version: this.runtimeVersion,
      type: "OrchestrationFailed" as const,
      details,
    };
    try {
      await this.provider.ackOrchestrationItem(f.lockToken, d.executionId, [...started, failed], [], [], { ...d.metadata, status: "Failed", output: `infrastructure:${err.operation}: ${err.message}` }, []);
      this.metrics.infrastructureFailure(f, d, details);
      instanceSignals(this.provider).notify(instance);
    } catch {
      await this.provider.abandonOrchestrationItem(f.lockToken, 1_000, false).catch(() => {});
    }
  }

  /**
   * Renews the instance lock every renewal interval until stopped (lease-renewal.ts): retryable
   * failures are retried, a permanent one (the lock is gone) ends it and the ack then reports.
   */
  private keepLockAlive(f: FetchedOrchestration): { stop(): void; everyMs: number } {
    const o = this.options;
    const token = f.lockToken;
    const instance = f.item.instance;
    return keepLeaseAlive({
      operation: "renewOrchestrationItemLock",
      everyMs: renewalIntervalMs(o.orchestratorLockTimeoutMs, o.orchestratorLockRenewalBufferMs),
      renew: () => this.provider.renewOrchestrationItemLock(token, o.orchestratorLockTimeoutMs),
      onRetryable: (pe, retryMs) =>
        o.logger.log("warn", `lock renewal of ${instance} failed (${pe.kind}: ${pe.message}); retrying in ${retryMs} ms`, turnFields(f, undefined)),
      onLost: (pe) => o.logger.log("debug", `lock renewal of ${instance} stopped: ${pe.kind}: ${pe.message}`, turnFields(f, undefined)),
    });
  }
}
