/**
 * Client: starts, signals, cancels and observes orchestration instances. Everything goes through
 * the Provider, so a client works the same beside the runtime or in another process.
 *
 * Payloads are JSON values: inputs and event data are encoded once into work items, and outputs /
 * KV values decoded back, with the codec the runtime uses (core/payload.ts). Every method validates
 * its arguments and throws ClientError (with a `code`) before touching the provider: ids follow the
 * shared id rule (core/ids.ts), and a payload the runtime would refuse (not JSON, or over
 * `maxPayloadBytes`) is refused here, so it can never reach, and fail, a running instance
 * (docs/runtime-semantics.md §4, §5.6).
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
import { renderErrorDetails, type ErrorDetails } from "./core/error-details.ts";
import { historyStats, type OrchestrationStats } from "./core/orchestration-stats.ts";
import { ClientError, ProviderError, type ClientErrorCode, type ProviderErrorKind } from "./core/errors.ts";
import { describe } from "./core/describe.ts";
import type { Event } from "./core/events.ts";
import { idProblem, nameProblem } from "./core/ids.ts";
import { decodePayload, DEFAULT_MAX_PAYLOAD_BYTES, encodePayload, payloadBytes } from "./core/payload.ts";
import type { ExecutionStatus } from "./core/status.ts";
import { SEMVER_RULE, tryParseSemver } from "./core/semver.ts";
import { EXECUTION_STATUSES, isExecutionStatus } from "./core/status.ts";
import type { WorkItem } from "./core/work-items.ts";
import { instanceSignals, type InstanceSignals, type TerminalSnapshot } from "./instance-signals.ts";
import type { Provider, ProviderAdmin } from "./provider.ts";

interface CustomStatusFields {
  /** The last value set with `ctx.setCustomStatus` (a string), or null. */
  customStatus: string | null;
  /** Bumped once per turn that changed the custom status; 0 = never set. */
  customStatusVersion: number;
}

/** An instance's status, computed from its latest execution's history. */
export type OrchestrationStatus<T = unknown> =
  | { status: "NotFound" }
  | ({
      status: "Running";
      /**
       * Present while the instance cannot make progress and the runtime recorded why: it waits for
       * an orchestration no runtime that fetched it has registered (docs/runtime-semantics.md §5.3).
       * Needs the provider's management capability (the instance row carries it).
       */
      message?: string;
    } & CustomStatusFields)
  | ({ status: "Completed"; output: T } & CustomStatusFields)
  | ({ status: "Failed"; details: ErrorDetails; message: string } & CustomStatusFields);

/** The terminal status a snapshot stands for, as `status()` would build it from a read (each caller gets its own objects). */
function fromSnapshot<T>(s: TerminalSnapshot): TerminalStatus<T> {
  const custom = { customStatus: s.customStatus, customStatusVersion: s.customStatusVersion };
  if (s.end.status === "Completed") return { status: "Completed", output: decodePayload(s.end.output) as T, ...custom };
  const details = structuredClone(s.end.details);
  return { status: "Failed", details, message: renderErrorDetails(details), ...custom };
}

/** The statuses a wait for completion returns. */
export type TerminalStatus<T = unknown> = Extract<OrchestrationStatus<T>, { status: "Completed" | "Failed" }>;

export interface WaitOptions {
  /** How long to wait before failing with ClientError code "Timeout". */
  timeoutMs: number;
}

/** Fallback re-check interval for runtimes in other processes (in-process ones signal at once). */
const BACKOFF_START_MS = 20;
const BACKOFF_MAX_MS = 500;

/** Methods a value needs for the client to use it as a Provider. */
const REQUIRED_PROVIDER_METHODS = [
  "enqueueForOrchestrator",
  "read",
  "readWithExecution",
  "getCustomStatus",
  "getKvValue",
  "getKvAllValues",
  "asManagementCapability",
] as const;

const invalid = (message: string) => new ClientError(message, "InvalidInput");

/** Longest cancellation reason, in UTF-8 bytes: it is stored in history and in the failure details. */
export const MAX_CANCEL_REASON_BYTES = 4096;

export interface ClientOptions {
  /**
   * Largest input or event payload (UTF-8 bytes of its JSON) the client sends. Set it to the
   * runtime's `maxPayloadBytes` when that is not the default (1 MiB): a larger payload would fail
   * the instance it is sent to, so the client refuses it up front.
   */
  maxPayloadBytes?: number;
}

export class Client {
  private readonly provider: Provider;
  private readonly signals: InstanceSignals;
  private readonly maxPayloadBytes: number;

  constructor(provider: Provider, options: ClientOptions = {}) {
    const p = provider as unknown as Record<string, unknown> | null;
    const missing =
      typeof p !== "object" || p === null ? ["(not an object)"] : REQUIRED_PROVIDER_METHODS.filter((m) => typeof p[m] !== "function");
    if (missing.length > 0) {
      throw invalid(`new Client(provider): expected a Provider (e.g. await SqliteProvider.inMemory()), missing ${missing.join(", ")}`);
    }
    if (typeof options !== "object" || options === null) throw invalid("new Client(provider, options): options must be an object like { maxPayloadBytes: 1048576 }");
    const unknown = Object.keys(options).filter((k) => k !== "maxPayloadBytes");
    if (unknown.length > 0) throw invalid(`new Client(provider, options): unknown option ${unknown.join(", ")} (known: maxPayloadBytes)`);
    const max = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
    if (!Number.isSafeInteger(max) || max < 1) {
      throw invalid(`new Client(provider, options): maxPayloadBytes must be a positive integer (the runtime's maxPayloadBytes), got ${describe(options.maxPayloadBytes)}`);
    }
    this.provider = provider;
    this.signals = instanceSignals(provider);
    this.maxPayloadBytes = max;
  }

  // ------------------------------------------------------------------ commands

  /**
   * Enqueues a start. Starting an id that already has history does not restart it. Without
   * `options.version` the runtime picks the version by its registry policy.
   */
  async startOrchestration(instanceId: string, name: string, input?: unknown, options: { version?: string } = {}): Promise<void> {
    const op = "startOrchestration";
    checkId(op, "instanceId", instanceId);
    checkName(op, "name", name);
    if (typeof options !== "object" || options === null) throw invalid(`${op}: options must be an object like { version: "1.0.0" }`);
    const version = options.version ?? null;
    if (version !== null) checkVersion(op, version);
    await this.enqueue(op, {
      type: "StartOrchestration",
      instance: instanceId,
      orchestration: name,
      input: this.payload(op, "input", input),
      version,
      parent_instance: null,
      parent_id: null,
      execution_id: 1,
    });
  }

  /**
   * Starts pinned to exactly `version`: "MAJOR.MINOR.PATCH", the same rule `registerVersioned`
   * applies, so a pre-release like "1.0.0-rc.1" is refused here (ClientError "InvalidInput").
   */
  async startOrchestrationVersioned(instanceId: string, name: string, version: string, input?: unknown): Promise<void> {
    if (typeof version !== "string") throw invalid(`startOrchestrationVersioned: version must be a string like "1.0.0", got ${describe(version)}`);
    await this.startOrchestration(instanceId, name, input, { version });
  }

  /** Raises a positional external event; dropped if the instance is not subscribed when it arrives. */
  async raiseEvent(instanceId: string, eventName: string, data?: unknown): Promise<void> {
    const op = "raiseEvent";
    checkId(op, "instanceId", instanceId);
    checkName(op, "eventName", eventName);
    await this.enqueue(op, { type: "ExternalRaised", instance: instanceId, name: eventName, data: this.payload(op, "data", data) });
  }

  /** Appends a message to the instance's FIFO mailbox `queueName` (read with `ctx.dequeueEvent`). */
  async enqueueEvent(instanceId: string, queueName: string, data?: unknown): Promise<void> {
    const op = "enqueueEvent";
    checkId(op, "instanceId", instanceId);
    checkName(op, "queueName", queueName);
    await this.enqueue(op, { type: "QueueMessage", instance: instanceId, name: queueName, data: this.payload(op, "data", data) });
  }

  /** Requests cancellation; a no-op for terminal instances, idempotent when repeated. */
  async cancelInstance(instanceId: string, reason = "cancelled by client"): Promise<void> {
    const op = "cancelInstance";
    checkId(op, "instanceId", instanceId);
    if (typeof reason !== "string") throw invalid(`${op}: reason must be a string, got ${describe(reason)}`);
    const reasonBytes = payloadBytes(reason);
    if (reasonBytes > MAX_CANCEL_REASON_BYTES) {
      throw invalid(`${op}: reason is ${reasonBytes} bytes of UTF-8, over the limit of ${MAX_CANCEL_REASON_BYTES} (MAX_CANCEL_REASON_BYTES); keep details elsewhere and pass a short reason`);
    }
    await this.enqueue(op, { type: "CancelInstance", instance: instanceId, reason });
  }

  // ------------------------------------------------------------------ status and waiting

  async getOrchestrationStatus<T = unknown>(instanceId: string): Promise<OrchestrationStatus<T>> {
    checkId("getOrchestrationStatus", "instanceId", instanceId);
    return this.status<T>(instanceId);
  }

  /** Resolves with the first terminal status; an unknown instance keeps waiting (it may be starting). */
  async waitForOrchestration<T = unknown>(instanceId: string, options: WaitOptions): Promise<TerminalStatus<T>> {
    const op = "waitForOrchestration";
    checkId(op, "instanceId", instanceId);
    const timeoutMs = checkWait(op, options);
    return this.waitForStatus<T, TerminalStatus<T>>(op, instanceId, timeoutMs, (s) => (isTerminal(s) ? s : undefined), true);
  }

  /** Resolves with the full status once `customStatusVersion > lastSeenVersion` or the instance is terminal. */
  async waitForStatusChange<T = unknown>(instanceId: string, lastSeenVersion: number, options: WaitOptions): Promise<OrchestrationStatus<T>> {
    const op = "waitForStatusChange";
    checkId(op, "instanceId", instanceId);
    if (!Number.isSafeInteger(lastSeenVersion) || lastSeenVersion < 0) {
      throw invalid(`${op}: lastSeenVersion must be a non-negative integer (0 = never seen), got ${describe(lastSeenVersion)}`);
    }
    const timeoutMs = checkWait(op, options);
    return this.waitForStatus<T, OrchestrationStatus<T>>(op, instanceId, timeoutMs, (s) =>
      isTerminal(s) || (s.status === "Running" && s.customStatusVersion > lastSeenVersion) ? s : undefined,
    );
  }

  // ------------------------------------------------------------------ history

  /** Events of one execution; the latest one when `executionId` is omitted. */
  async readExecutionHistory(instanceId: string, executionId?: number): Promise<Event[]> {
    const op = "readExecutionHistory";
    checkId(op, "instanceId", instanceId);
    if (executionId === undefined) return this.call(op, () => this.provider.read(instanceId));
    checkExecutionId(op, executionId);
    return this.call(op, () => this.provider.readWithExecution(instanceId, executionId));
  }

  /** Execution ids, ascending. Requires the management capability. */
  async listExecutions(instanceId: string): Promise<number[]> {
    const op = "listExecutions";
    checkId(op, "instanceId", instanceId);
    return this.admin(op, (a) => a.listExecutions(instanceId));
  }

  // ------------------------------------------------------------------ KV

  /** The instance's current value for `key` (JSON-decoded), or null when unset. */
  async getKvValue<T = unknown>(instanceId: string, key: string): Promise<T | null> {
    const op = "getKvValue";
    checkId(op, "instanceId", instanceId);
    checkName(op, "key", key);
    const raw = await this.call(op, () => this.provider.getKvValue(instanceId, key));
    return raw === null ? null : (decodePayload(raw) as T);
  }

  /** Alias of getKvValue. */
  async getValue<T = unknown>(instanceId: string, key: string): Promise<T | null> {
    return this.getKvValue<T>(instanceId, key);
  }

  /** All keys of the instance with their JSON-decoded values. */
  async getKvAllValues(instanceId: string): Promise<Record<string, unknown>> {
    const op = "getKvAllValues";
    checkId(op, "instanceId", instanceId);
    const raw = await this.call(op, () => this.provider.getKvAllValues(instanceId));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(raw)) out[k] = decodePayload(v);
    return out;
  }

  /** Resolves with the value of `key` once it is set (non-null). */
  async waitForKvValue<T = unknown>(instanceId: string, key: string, options: WaitOptions): Promise<T> {
    const op = "waitForKvValue";
    checkId(op, "instanceId", instanceId);
    checkName(op, "key", key);
    const timeoutMs = checkWait(op, options);
    return this.waitUntil(op, instanceId, timeoutMs, async () => {
      const raw = await this.call(op, () => this.provider.getKvValue(instanceId, key));
      // A stored JSON null still counts as "not set yet": callers wait for a real value.
      const value = raw === null ? null : decodePayload(raw);
      return value === null ? undefined : (value as T);
    });
  }

  /** Alias of waitForKvValue. */
  async waitForValue<T = unknown>(instanceId: string, key: string, options: WaitOptions): Promise<T> {
    return this.waitForKvValue<T>(instanceId, key, options);
  }

  // ------------------------------------------------------------------ management

  async hasManagementCapability(): Promise<boolean> {
    return this.provider.asManagementCapability() !== null;
  }

  /** All instance ids, newest first. */
  async listAllInstances(): Promise<string[]> {
    return this.admin("listAllInstances", (a) => a.listInstances());
  }

  /** Instances whose current execution has `status`. */
  async listInstancesByStatus(status: ExecutionStatus): Promise<string[]> {
    const op = "listInstancesByStatus";
    if (!isExecutionStatus(status)) {
      throw invalid(`${op}: status must be one of ${EXECUTION_STATUSES.join(", ")}, got ${describe(status)}`);
    }
    return this.admin(op, (a) => a.listInstancesByStatus(status));
  }

  async getInstanceInfo(instanceId: string): Promise<InstanceInfo> {
    const op = "getInstanceInfo";
    checkId(op, "instanceId", instanceId);
    return this.admin(op, (a) => a.getInstanceInfo(instanceId));
  }

  async getExecutionInfo(instanceId: string, executionId: number): Promise<ExecutionInfo> {
    const op = "getExecutionInfo";
    checkId(op, "instanceId", instanceId);
    checkExecutionId(op, executionId);
    return this.admin(op, (a) => a.getExecutionInfo(instanceId, executionId));
  }

  async getSystemMetrics(): Promise<SystemMetrics> {
    return this.admin("getSystemMetrics", (a) => a.getSystemMetrics());
  }

  /**
   * How big an instance has grown: the current execution's history (events, bytes), executions,
   * KV keys and bytes, and mailbox messages not yet dequeued; null when the instance does not
   * exist. Computed from the history and KV reads every provider has (core/orchestration-stats.ts),
   * so it works without the management capability (executionCount then is the current execution id).
   */
  async getOrchestrationStats(instanceId: string): Promise<OrchestrationStats | null> {
    const op = "getOrchestrationStats";
    checkId(op, "instanceId", instanceId);
    const history = await this.call(op, () => this.provider.read(instanceId));
    const started = history[0];
    if (started === undefined || started.type !== "OrchestrationStarted") return null;
    const kv = await this.call(op, () => this.provider.getKvAllValues(instanceId));
    let kvBytes = 0;
    for (const v of Object.values(kv)) kvBytes += payloadBytes(v);
    const admin = this.provider.asManagementCapability();
    const executionCount = admin === null ? started.execution_id : (await this.call(op, () => admin.listExecutions(instanceId))).length;
    return {
      instanceId,
      orchestrationName: started.name,
      orchestrationVersion: started.version,
      currentExecutionId: started.execution_id,
      executionCount,
      ...historyStats(history),
      kvUserKeyCount: Object.keys(kv).length,
      kvTotalValueBytes: kvBytes,
    };
  }

  /** Unlocked message counts per queue. */
  async getQueueDepths(): Promise<QueueDepths> {
    return this.admin("getQueueDepths", (a) => a.getQueueDepths());
  }

  /** The instance and all its descendants. */
  async getInstanceTree(instanceId: string): Promise<InstanceTree> {
    const op = "getInstanceTree";
    checkId(op, "instanceId", instanceId);
    return this.admin(op, (a) => a.getInstanceTree(instanceId));
  }

  /**
   * Deletes a root instance and its whole tree atomically. Refuses sub-orchestrations (delete the
   * root) and running trees unless `force`.
   */
  async deleteInstance(instanceId: string, options: { force?: boolean } = {}): Promise<DeleteInstanceResult> {
    const op = "deleteInstance";
    checkId(op, "instanceId", instanceId);
    if (typeof options !== "object" || options === null) throw invalid(`${op}: options must be an object like { force: true }`);
    const force = options.force ?? false;
    if (typeof force !== "boolean") throw invalid(`${op}: force must be a boolean, got ${describe(force)}`);
    return this.admin(op, (a) => a.deleteInstance(instanceId, force));
  }

  /** Deletes terminal root instances matching every given filter field; running ones are skipped. */
  async deleteInstanceBulk(filter: InstanceFilter): Promise<DeleteInstanceResult> {
    const op = "deleteInstanceBulk";
    checkFilter(op, filter);
    return this.admin(op, (a) => a.deleteInstanceBulk(filter));
  }

  /** Deletes old executions; the current and running executions are never pruned. */
  async pruneExecutions(instanceId: string, options: PruneOptions): Promise<PruneResult> {
    const op = "pruneExecutions";
    checkId(op, "instanceId", instanceId);
    checkPruneOptions(op, options);
    return this.admin(op, (a) => a.pruneExecutions(instanceId, options));
  }

  async pruneExecutionsBulk(filter: InstanceFilter, options: PruneOptions): Promise<PruneResult> {
    const op = "pruneExecutionsBulk";
    checkFilter(op, filter);
    checkPruneOptions(op, options);
    return this.admin(op, (a) => a.pruneExecutionsBulk(filter, options));
  }

  // ------------------------------------------------------------------ internals

  /**
   * A payload as the runtime will store it: strict JSON (core/payload.ts) within maxPayloadBytes.
   * The runtime fails an instance whose turn would store a larger one, so it is refused here.
   */
  private payload(op: string, what: "input" | "data", value: unknown): string {
    const text = encodePayload(value, `${op}: ${what}`, invalid, what);
    const bytes = payloadBytes(text);
    if (bytes > this.maxPayloadBytes) {
      throw invalid(
        `${op}: ${what} is ${bytes} bytes of JSON, over the limit of ${this.maxPayloadBytes} bytes (maxPayloadBytes); the runtime would fail the instance on it. ` +
          "Store large data elsewhere and send a reference, or raise maxPayloadBytes in both the runtime options and new Client(provider, { maxPayloadBytes })",
      );
    }
    return text;
  }

  private async enqueue(op: string, item: WorkItem): Promise<void> {
    await this.call(op, () => this.provider.enqueueForOrchestrator(item, null));
  }

  /** Status of the latest execution: its last terminal event decides; ContinuedAsNew means Running. */
  private async status<T>(instanceId: string): Promise<OrchestrationStatus<T>> {
    const quick = await this.statusFromInstanceRow<T>(instanceId);
    if (quick !== null) return quick;
    let history: Event[];
    try {
      history = await this.call("getOrchestrationStatus", () => this.provider.read(instanceId));
    } catch (err) {
      const fallback = await this.statusFromMetadata<T>(instanceId, err);
      if (fallback === null) throw err;
      return fallback;
    }
    if (history.length === 0) return { status: "NotFound" };
    const custom = await this.customStatus(instanceId);
    for (let i = history.length - 1; i >= 0; i--) {
      const e = history[i]!;
      if (e.type === "OrchestrationCompleted") return { status: "Completed", output: decodePayload(e.output) as T, ...custom };
      if (e.type === "OrchestrationFailed") return { status: "Failed", details: e.details, message: renderErrorDetails(e.details), ...custom };
      if (e.type === "OrchestrationContinuedAsNew") break;
    }
    return { status: "Running", ...custom };
  }

  /**
   * Fast path for providers with the management capability: the instance row already records the
   * current execution's status and output, so a running or completed instance needs no history
   * read (status checks run after every turn of a waited-on instance). Failed instances fall
   * through to the history for their ErrorDetails; null means "use the history".
   */
  private async statusFromInstanceRow<T>(instanceId: string): Promise<OrchestrationStatus<T> | null> {
    const admin = this.provider.asManagementCapability();
    if (admin === null) return null;
    let info: InstanceInfo;
    try {
      info = await admin.getInstanceInfo(instanceId);
    } catch (err) {
      // No instance row: the instance has not started (its first turn creates the row with its history).
      if (ProviderError.isKind(err, "NotFound")) return { status: "NotFound" };
      return null;
    }
    if (info.status === "Running" || info.status === "ContinuedAsNew") {
      // A Running execution has an output only while it waits for an unregistered orchestration (§5.3).
      const waiting = info.status === "Running" && info.output !== null ? { message: info.output } : {};
      return { status: "Running", ...waiting, ...(await this.customStatusOf(info)) };
    }
    if (info.status === "Completed" && info.output !== null) {
      return { status: "Completed", output: decodePayload(info.output) as T, ...(await this.customStatusOf(info)) };
    }
    return null;
  }

  /** The custom status the instance row carries, when the provider includes it; else a second read. */
  private customStatusOf(info: InstanceInfo): Promise<CustomStatusFields> | CustomStatusFields {
    if (info.custom_status_version !== undefined && info.custom_status !== undefined) {
      return { customStatus: info.custom_status, customStatusVersion: info.custom_status_version };
    }
    return this.customStatus(info.instance_id);
  }

  /**
   * When the history cannot be decoded (an instance poisoned for corrupt history), the stored
   * execution status still says how it ended: report that rather than an error.
   */
  private async statusFromMetadata<T>(instanceId: string, readError: unknown): Promise<OrchestrationStatus<T> | null> {
    const cause = readError instanceof ClientError ? readError.cause : readError;
    const admin = this.provider.asManagementCapability();
    if (admin === null || !ProviderError.isKind(cause, "Corrupt")) return null;
    let info: InstanceInfo;
    try {
      info = await admin.getInstanceInfo(instanceId);
    } catch {
      return null;
    }
    const custom = await this.customStatus(instanceId);
    if (info.status !== "Failed") return null;
    const message = info.output ?? "failed (history unreadable)";
    const details: ErrorDetails = {
      type: "Poison",
      attempt_count: 0,
      max_attempts: 0,
      message_type: { type: "FailedDeserialization", instance: instanceId, execution_id: info.current_execution_id, error: cause.message },
      message,
    };
    return { status: "Failed", details, message, ...custom };
  }

  /** Best effort: a status read must not fail just because custom status could not be read. */
  private async customStatus(instanceId: string): Promise<CustomStatusFields> {
    try {
      const cs = await this.provider.getCustomStatus(instanceId, 0);
      return cs === null ? { customStatus: null, customStatusVersion: 0 } : { customStatus: cs.status, customStatusVersion: cs.version };
    } catch {
      return { customStatus: null, customStatusVersion: 0 };
    }
  }

  /**
   * Waits until `accept` takes the instance's status. A wake-up that says what a read would now
   * return (the turn that ended the instance, docs/runtime-semantics.md §4.2) is offered to
   * `accept` without reading. `terminalOnly`: `accept` takes terminal statuses only.
   */
  private waitForStatus<T, R extends OrchestrationStatus<T>>(
    op: string,
    instanceId: string,
    timeoutMs: number,
    accept: (s: OrchestrationStatus<T>) => R | undefined,
    terminalOnly = false,
  ): Promise<R> {
    return this.waitUntil(op, instanceId, timeoutMs, async () => accept(await this.status<T>(instanceId)), terminalOnly, (snapshot) => accept(fromSnapshot<T>(snapshot)));
  }

  /**
   * Re-runs `check` until it returns a value or the deadline passes. Between checks it sleeps on the
   * instance's in-process signal (the runtime notifies after each committed turn), capped by a slow
   * backoff so runtimes in other processes, which cannot signal us, are still noticed.
   */
  private async waitUntil<R>(
    op: string,
    instanceId: string,
    timeoutMs: number,
    check: () => Promise<R | undefined>,
    /** Only a terminal state can satisfy `check`: a turn that did not end the instance needs no re-read. */
    terminalOnly = false,
    /** What `check` would return after a wake-up that carried a snapshot (then no read is made); undefined: check. */
    fromTerminal?: (snapshot: TerminalSnapshot) => R | undefined,
  ): Promise<R> {
    const deadline = performance.now() + timeoutMs;
    // A provider that signals terminal states from every process, or a runtime of this process
    // running turns on this provider (it signals every commit), wakes this wait when it can be
    // satisfied: polling is then only a safety net from the start (docs/runtime-semantics.md §4.2).
    const signalled = this.signals.hasDriver || (terminalOnly && this.provider.capabilities?.().terminalWakeups === true);
    let backoff = signalled ? BACKOFF_MAX_MS : BACKOFF_START_MS;
    let skipCheck = false;
    for (;;) {
      // Subscribe before checking: a notify that lands while the check reads is then not lost.
      const sub = this.signals.subscribe(instanceId, Math.min(Math.max(deadline - performance.now(), 0), backoff));
      let result: R | undefined;
      try {
        result = skipCheck ? undefined : await check();
      } catch (err) {
        sub.cancel();
        throw err;
      }
      if (result !== undefined) {
        sub.cancel();
        return result;
      }
      if (performance.now() >= deadline) {
        sub.cancel();
        throw new ClientError(`${op}: instance ${instanceId} did not reach the awaited state within ${timeoutMs} ms`, "Timeout", { retryable: true });
      }
      const reason = await sub.woken;
      // The turn that ended the instance said what a read would now return (the runtime of this
      // process, right after its commit): no read (docs/runtime-semantics.md §4.2).
      const known = sub.snapshot === undefined ? undefined : fromTerminal?.(sub.snapshot);
      if (known !== undefined) return known;
      skipCheck = terminalOnly && reason === "turn";
      // A signal proves a runtime in this process drives the instance and will signal again:
      // polling is then only a safety net, so back off fully.
      backoff = reason === "timeout" ? Math.min(backoff * 2, BACKOFF_MAX_MS) : BACKOFF_MAX_MS;
    }
  }

  private async admin<R>(op: string, fn: (admin: ProviderAdmin) => Promise<R>): Promise<R> {
    const admin = this.provider.asManagementCapability();
    if (admin === null) {
      throw new ClientError(`${op}: provider ${this.provider.name()} has no management capability (asManagementCapability() returned null)`, "ManagementNotAvailable");
    }
    return this.call(op, () => fn(admin));
  }

  /** Runs a provider call, turning its ProviderErrors into ClientErrors with a code callers can branch on. */
  private async call<R>(op: string, fn: () => Promise<R>): Promise<R> {
    try {
      return await fn();
    } catch (err) {
      throw toClientError(op, err);
    }
  }
}

// ------------------------------------------------------------------ helpers

function isTerminal<T>(s: OrchestrationStatus<T>): s is TerminalStatus<T> {
  return s.status === "Completed" || s.status === "Failed";
}

function toClientError(op: string, err: unknown): unknown {
  if (err instanceof ClientError) return err;
  // Only ProviderErrors should cross the provider boundary; classify anything else the same way.
  if (!(err instanceof ProviderError)) err = ProviderError.from(op, err);
  if (!(err instanceof ProviderError)) return err;
  const message = `${op}: ${err.message}`;
  const code = CLIENT_CODE_OF_KIND[err.kind];
  if (code !== undefined) return new ClientError(message, code, { cause: err });
  return new ClientError(message, "Provider", { retryable: err.retryable, cause: err });
}

/** Provider refusals a client caller can act on; every other kind is a "Provider" error. */
const CLIENT_CODE_OF_KIND: Partial<Record<ProviderErrorKind, ClientErrorCode>> = {
  NotFound: "InstanceNotFound",
  InstanceRunning: "InstanceStillRunning",
  NotRoot: "CannotDeleteSubOrchestration",
  WouldOrphan: "CannotDeleteSubOrchestration",
};

/** Instance ids: the shared id rule (core/ids.ts). */
function checkId(op: string, what: string, v: unknown): asserts v is string {
  const problem = idProblem(what, v);
  if (problem !== null) throw invalid(`${op}: ${problem}`);
}

/** Orchestration, event and queue names and KV keys: non-empty, well-formed text (core/ids.ts). */
function checkName(op: string, what: string, v: unknown): asserts v is string {
  const problem = nameProblem(what, v);
  if (problem !== null) throw invalid(`${op}: ${problem}`);
}

function checkExecutionId(op: string, v: unknown): asserts v is number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1) throw invalid(`${op}: executionId must be a positive integer, got ${describe(v)}`);
}

function checkVersion(op: string, v: unknown): void {
  if (tryParseSemver(v) === undefined) throw invalid(`${op}: version must be ${SEMVER_RULE}, got ${describe(v)}`);
}

/**
 * A wait's `timeoutMs`: an integer number of ms from 0 to 2^31−1, the range every timeout of the
 * public API shares (docs/runtime-semantics.md §6.5); a longer wait is a loop of shorter ones.
 */
function checkWait(op: string, options: unknown): number {
  const t = typeof options === "object" && options !== null ? (options as { timeoutMs?: unknown }).timeoutMs : undefined;
  if (typeof t !== "number" || !Number.isSafeInteger(t) || t < 0 || t > MAX_WAIT_MS) {
    throw invalid(`${op}: pass { timeoutMs } with an integer number of milliseconds from 0 to ${MAX_WAIT_MS} (2^31−1), got ${describe(t)}`);
  }
  return t;
}

/** The longest timeout a wait takes: what a timer can represent. */
const MAX_WAIT_MS = 2 ** 31 - 1;

function checkFilter(op: string, f: unknown): void {
  if (typeof f !== "object" || f === null || Array.isArray(f)) throw invalid(`${op}: filter must be an object { instance_ids?, completed_before?, limit? }`);
  const { instance_ids, completed_before, limit } = f as InstanceFilter;
  if (instance_ids != null) {
    if (!Array.isArray(instance_ids)) throw invalid(`${op}: filter.instance_ids must be an array of instance ids, got ${describe(instance_ids)}`);
    instance_ids.forEach((id, i) => checkId(op, `filter.instance_ids[${i}]`, id));
  }
  if (completed_before != null && (typeof completed_before !== "number" || !Number.isFinite(completed_before))) {
    throw invalid(`${op}: filter.completed_before must be a time in ms, got ${describe(completed_before)}`);
  }
  if (limit != null && (!Number.isSafeInteger(limit) || limit < 0)) throw invalid(`${op}: filter.limit must be a non-negative integer, got ${describe(limit)}`);
}

function checkPruneOptions(op: string, o: unknown): void {
  if (typeof o !== "object" || o === null || Array.isArray(o)) throw invalid(`${op}: options must be an object { keep_last?, completed_before? }`);
  const { keep_last, completed_before } = o as PruneOptions;
  if (keep_last != null && (!Number.isSafeInteger(keep_last) || keep_last < 0)) throw invalid(`${op}: keep_last must be a non-negative integer, got ${describe(keep_last)}`);
  if (completed_before != null && (typeof completed_before !== "number" || !Number.isFinite(completed_before))) {
    throw invalid(`${op}: completed_before must be a time in ms, got ${describe(completed_before)}`);
  }
}
