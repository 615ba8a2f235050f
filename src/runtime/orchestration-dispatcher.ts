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

const ACK_RETRIES = 5;

export class OrchestrationDispatcher {
  private readonly loops: DispatchLoops<FetchedOrchestration>;
  private readonly filter: DispatcherCapabilityFilter;

  constructor(
    private readonly provider: Provider,
    private readonly registry: OrchestrationRegistry,
    private readonly options: ResolvedRuntimeOptions,
    private readonly runtimeVersion: string,
    runtimeId: string,
    /** Told about activities a committed turn cancelled, so local workers can stop them at once. */
    private readonly onActivitiesCancelled: (ids: ScheduledActivityIdentifier[]) => void = () => {},
  ) {
    this.filter = { supported_duroxide_versions: [options.supportedReplayVersions] };
    this.loops = new DispatchLoops({
      name: `orch-${runtimeId}`,
      concurrency: options.orchestrationConcurrency,
      pollIntervalMs: options.dispatcherPollIntervalMs,
      logger: options.logger,
      fetch: () => provider.fetchOrchestrationItem(options.orchestratorLockTimeoutMs, options.dispatcherLongPollTimeoutMs, this.filter),
      process: (f) => this.process(f),
      release: (f) => provider.abandonOrchestrationItem(f.lockToken, null, true),
    });
  }

  start(): void {
    this.loops.start();
  }

  shutdown(): Promise<void> {
    return this.loops.shutdown();
  }

  private async process(f: FetchedOrchestration): Promise<Processed> {
    const o = this.options;
    const instance = f.item.instance;
    const log = (level: LogLevel, message: string, fields: Record<string, unknown>) => o.logger.log(level, message, fields);
    const renewal = this.keepLockAlive(f.lockToken);
    let handedOff = false;
    try {
      let decision: TurnDecision;
      try {
        decision = planTurn(f, { registry: this.registry, options: o, now: Date.now(), runtimeVersion: this.runtimeVersion, log });
      } catch (err) {
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
      // The commit continues while the loop fetches its next batch (same group commit).
      const committing = this.commit(f, decision).finally(() => renewal.stop());
      handedOff = true;
      return { committing };
    } finally {
      if (!handedOff) renewal.stop();
    }
  }

  /** Acks with retries on retryable errors; a permanent error ends the instance as an infrastructure failure. */
  private async commit(f: FetchedOrchestration, d: Extract<TurnDecision, { type: "ack" }>): Promise<void> {
    const instance = f.item.instance;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.provider.ackOrchestrationItem(f.lockToken, d.executionId, d.delta, d.workerItems, d.orchestratorItems, d.metadata, d.cancelledActivities);
        instanceSignals(this.provider).notify(instance, d.outcome.type !== "Continue");
        if (d.cancelledActivities.length > 0) this.onActivitiesCancelled(d.cancelledActivities);
        return;
      } catch (err) {
        const pe = err instanceof ProviderError ? err : ProviderError.from("ackOrchestrationItem", err);
        if (pe.retryable && attempt < ACK_RETRIES) {
          await sleep(10 * 2 ** attempt);
          continue;
        }
        if (pe.retryable) {
          // Still failing: give the batch back and let a later delivery retry the whole turn.
          await this.provider.abandonOrchestrationItem(f.lockToken, 50, false).catch(() => {});
          return;
        }
        this.options.logger.log("error", `ack of ${instance} failed permanently: ${pe.message}`, { instance_id: instance });
        // Lost lock (expired, stolen, instance deleted): another delivery owns the batch now.
        if (pe.kind === "LockLost" || pe.kind === "NotFound" || pe.kind === "Closed") return;
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
      instanceSignals(this.provider).notify(instance);
    } catch {
      await this.provider.abandonOrchestrationItem(f.lockToken, 1_000, false).catch(() => {});
    }
  }

  private keepLockAlive(token: string): { stop(): void } {
    const o = this.options;
    const every = renewalIntervalMs(o.orchestratorLockTimeoutMs, o.orchestratorLockRenewalBufferMs);
    const timer = setInterval(() => {
      this.provider.renewOrchestrationItemLock(token, o.orchestratorLockTimeoutMs).catch(() => clearInterval(timer));
    }, every);
    return { stop: () => clearInterval(timer) };
  }
}
