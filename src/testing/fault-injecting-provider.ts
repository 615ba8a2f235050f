/**
 * FaultInjectingProvider: wraps any Provider and makes a chosen share of its calls fail the ways a
 * real store fails, so that tests and stress runs can prove the runtime survives them
 * (docs/runtime-semantics.md §1.10; the error classes are those of docs/provider-contract.md §9).
 *
 *   const faulty = new FaultInjectingProvider(await SqliteProvider.inMemory(), {
 *     rate: 0.05,                                    // 5 % of every call...
 *     rates: { enqueueForOrchestrator: 0 },          // ...but never the client's starts
 *     modes: ["retryable-before", "reply-lost"],     // equal weights; or { "reply-lost": 3, latency: 1 }
 *     seed: 42,                                      // the same seed gives the same fault schedule
 *   });
 *
 * Fault modes:
 * - `retryable-before`: a retryable `ProviderError` ("Unavailable") before the call: the store is
 *   untouched (a busy database, a dropped connection).
 * - `reply-lost`: the call runs (and commits), then a retryable "Unavailable" error is thrown: the
 *   caller cannot tell it succeeded. A fetch whose reply is lost leaves its lock held until it expires.
 * - `plain-error`: a plain `Error` (not a ProviderError) before the call: a provider bug.
 * - `permanent`: a non-retryable `ProviderError` ("Internal") before the call.
 * - `latency`: the call is delayed by `latencyMs`, then runs normally.
 *
 * Decisions come from one seeded stream per method, so the n-th call of a method meets the same
 * fault whatever the interleaving with other methods; `seed` (a random one when not given) is
 * printed by the tools that use this class so a failing run can be repeated. The management
 * capability is wrapped the same way (its methods have their own rates), `capabilities()` is the
 * inner provider's, and a client on the inner provider is woken by a runtime on the wrapper (they
 * share in-process signals).
 */
import { describe } from "../core/describe.ts";
import { ConfigurationError, ProviderError } from "../core/errors.ts";
import type { DeleteInstanceResult, ExecutionInfo, InstanceFilter, InstanceInfo, InstanceTree, PruneOptions, PruneResult, QueueDepths, SystemMetrics } from "../core/admin-types.ts";
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
import { PROVIDER_DATA_METHODS, type Provider, type ProviderAdmin, type ProviderCapabilities } from "../provider.ts";
import { deriveSeed, randomSeed, seededRandom } from "./seeded-random.ts";

/** Every way a call can be made to fail. */
export const FAULT_MODES = ["retryable-before", "reply-lost", "plain-error", "permanent", "latency"] as const;
export type FaultMode = (typeof FAULT_MODES)[number];

/** The Provider methods that can be faulted (the identity methods and capabilities() never are). */
export const FAULTABLE_PROVIDER_METHODS = PROVIDER_DATA_METHODS;

/** The ProviderAdmin methods that can be faulted. */
export const FAULTABLE_ADMIN_METHODS = [
  "listInstances",
  "listInstancesByStatus",
  "listExecutions",
  "readHistoryWithExecutionId",
  "readHistory",
  "latestExecutionId",
  "getInstanceInfo",
  "getExecutionInfo",
  "getSystemMetrics",
  "getQueueDepths",
  "listChildren",
  "getParentId",
  "getInstanceTree",
  "deleteInstancesAtomic",
  "deleteInstance",
  "deleteInstanceBulk",
  "pruneExecutions",
  "pruneExecutionsBulk",
] as const;

export type FaultableMethod = (typeof FAULTABLE_PROVIDER_METHODS)[number] | (typeof FAULTABLE_ADMIN_METHODS)[number];
const FAULTABLE: readonly string[] = [...FAULTABLE_PROVIDER_METHODS, ...FAULTABLE_ADMIN_METHODS];

export interface FaultInjectingOptions {
  /** Share (0..1) of calls faulted, for every method without its own entry in `rates`. Default 0. */
  rate?: number;
  /** Per-method share (0..1), overriding `rate`: e.g. `{ fetchWorkItem: 0.2, enqueueForOrchestrator: 0 }`. */
  rates?: Partial<Record<FaultableMethod, number>>;
  /**
   * The modes a faulted call draws from: a list (equal weights) or weights per mode (≥ 0, at least
   * one > 0). Default `["retryable-before"]`.
   */
  modes?: readonly FaultMode[] | Partial<Record<FaultMode, number>>;
  /** Delay of the `latency` mode, ms: a fixed number, or `[min, max]` drawn uniformly. Default 20. */
  latencyMs?: number | readonly [number, number];
  /** Seed of the fault schedule (a 32-bit unsigned integer). Default: a random one, readable as `.seed`. */
  seed?: number;
}

/** What a FaultInjectingProvider has done so far. */
export interface FaultStats {
  /** Calls of faultable methods (including those made while disabled). */
  calls: number;
  /** Calls that met a fault (latency included). */
  faults: number;
  byMode: Record<FaultMode, number>;
  /** Per method with at least one call. */
  byMethod: Record<string, { calls: number; faults: number }>;
}

const OPTION_KEYS = ["rate", "rates", "modes", "latencyMs", "seed"];
const PROVIDER_REQUIRED = [...FAULTABLE_PROVIDER_METHODS, "name", "version", "asManagementCapability"] as const;

interface ResolvedFaults {
  rate: number;
  rates: Map<string, number>;
  modes: [FaultMode, number][];
  totalWeight: number;
  latency: readonly [number, number];
  seed: number;
}

function fail(message: string): never {
  throw new ConfigurationError(`FaultInjectingProvider: ${message}`);
}

function share(what: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || v > 1) fail(`${what} must be a number from 0 to 1, got ${describe(v)}`);
  return v;
}

function resolveOptions(options: unknown): ResolvedFaults {
  if (options === undefined) options = {};
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    fail(`options must be an object like { rate: 0.05, modes: ["retryable-before"], seed: 1 }, got ${describe(options)}`);
  }
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) if (!OPTION_KEYS.includes(key)) fail(`unknown option "${key}" (options: ${OPTION_KEYS.join(", ")})`);

  const rate = o.rate === undefined ? 0 : share("rate", o.rate);
  const rates = new Map<string, number>();
  if (o.rates !== undefined) {
    if (typeof o.rates !== "object" || o.rates === null || Array.isArray(o.rates)) fail(`rates must be an object of method -> share, got ${describe(o.rates)}`);
    for (const [method, r] of Object.entries(o.rates)) {
      if (!FAULTABLE.includes(method)) fail(`rates: "${method}" is not a faultable Provider or ProviderAdmin method (e.g. fetchWorkItem, ackOrchestrationItem, listInstances)`);
      rates.set(method, share(`rates.${method}`, r));
    }
  }

  let modes: [FaultMode, number][];
  const m = o.modes ?? ["retryable-before"];
  const checkMode = (name: unknown): FaultMode => {
    if (!(FAULT_MODES as readonly unknown[]).includes(name)) fail(`unknown fault mode ${describe(name)} (modes: ${FAULT_MODES.join(", ")})`);
    return name as FaultMode;
  };
  if (Array.isArray(m)) {
    if (m.length === 0) fail("modes must name at least one fault mode");
    const names = new Set(m.map(checkMode));
    modes = [...names].map((n) => [n, 1]);
  } else if (typeof m === "object" && m !== null) {
    modes = Object.entries(m).map(([name, w]) => {
      const mode = checkMode(name);
      if (typeof w !== "number" || !Number.isFinite(w) || w < 0) fail(`modes.${name} must be a weight >= 0, got ${describe(w)}`);
      return [mode, w] as [FaultMode, number];
    });
    modes = modes.filter(([, w]) => w > 0);
    if (modes.length === 0) fail("modes must give at least one fault mode a weight > 0");
  } else {
    fail(`modes must be a list of fault modes or an object of weights, got ${describe(m)}`);
  }
  const totalWeight = modes.reduce((s, [, w]) => s + w, 0);

  let latency: readonly [number, number] = [20, 20];
  const ms = (what: string, v: unknown): number => {
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) fail(`${what} must be a number of ms >= 0, got ${describe(v)}`);
    return v;
  };
  if (o.latencyMs !== undefined) {
    if (Array.isArray(o.latencyMs)) {
      if (o.latencyMs.length !== 2) fail(`latencyMs as a range must be [min, max], got ${describe(o.latencyMs)}`);
      const lo = ms("latencyMs[0]", o.latencyMs[0]);
      const hi = ms("latencyMs[1]", o.latencyMs[1]);
      if (hi < lo) fail(`latencyMs range [${lo}, ${hi}] has max < min`);
      latency = [lo, hi];
    } else {
      const v = ms("latencyMs", o.latencyMs);
      latency = [v, v];
    }
  }

  let seed: number;
  if (o.seed === undefined) seed = randomSeed();
  else if (typeof o.seed !== "number" || !Number.isSafeInteger(o.seed) || o.seed < 0 || o.seed > 0xffff_ffff) fail(`seed must be an integer from 0 to 4294967295, got ${describe(o.seed)}`);
  else seed = o.seed;

  return { rate, rates, modes, totalWeight, latency, seed };
}

/** Decides, per call, whether and how to fail it; shared by a provider wrapper and its admin wrapper. */
class FaultPlan {
  private readonly streams = new Map<string, () => number>();
  enabled = true;
  readonly stats: FaultStats = { calls: 0, faults: 0, byMode: Object.fromEntries(FAULT_MODES.map((m) => [m, 0])) as Record<FaultMode, number>, byMethod: {} };

  constructor(readonly cfg: ResolvedFaults) {}

  /** The fault for this call of `method` (and the latency, for `latency`), or null. */
  decide(method: string): { mode: FaultMode; delayMs: number } | null {
    const s = this.stats;
    const per = (s.byMethod[method] ??= { calls: 0, faults: 0 });
    s.calls++;
    per.calls++;
    if (!this.enabled) return null;
    const rate = this.cfg.rates.get(method) ?? this.cfg.rate;
    if (rate === 0) return null;
    let rand = this.streams.get(method);
    if (rand === undefined) this.streams.set(method, (rand = seededRandom(deriveSeed(this.cfg.seed, method))));
    // Always three draws per call, so one call's outcome never shifts the next call's draws.
    const hit = rand();
    const pick = rand() * this.cfg.totalWeight;
    const lat = rand();
    if (hit >= rate) return null;
    let mode = this.cfg.modes[this.cfg.modes.length - 1]![0];
    let acc = 0;
    for (const [m, w] of this.cfg.modes) {
      acc += w;
      if (pick < acc) {
        mode = m;
        break;
      }
    }
    s.faults++;
    per.faults++;
    s.byMode[mode]++;
    const [lo, hi] = this.cfg.latency;
    return { mode, delayMs: lo + (hi - lo) * lat };
  }

  /** Runs `call` through the plan. */
  async run<T>(method: string, call: () => Promise<T>): Promise<T> {
    const fault = this.decide(method);
    if (fault === null) return call();
    const why = `injected fault (FaultInjectingProvider, ${fault.mode}, seed ${this.cfg.seed})`;
    switch (fault.mode) {
      case "retryable-before":
        throw ProviderError.unavailable(method, `${why}: the call failed before reaching the store; retry it`);
      case "plain-error":
        throw new Error(`${why}: ${method} failed with a plain Error before reaching the store`);
      case "permanent":
        throw new ProviderError("Internal", method, `${why}: the call failed permanently before reaching the store`, { retryable: false });
      case "latency":
        await Bun.sleep(fault.delayMs);
        return call();
      case "reply-lost":
        await call();
        throw ProviderError.unavailable(method, `${why}: the call ran and committed, but its reply was lost`);
    }
  }
}

export class FaultInjectingProvider implements Provider {
  private readonly plan: FaultPlan;
  private admin: ProviderAdmin | null | undefined;
  /** The inner provider's capabilities, unchanged; absent when the inner provider declares none. */
  readonly capabilities?: () => ProviderCapabilities;
  /** Present when the inner provider has it (an optional method, docs/provider-contract.md §5.3). */
  readonly releaseSessionLocks?: (ownerIds: string[], sessionIds?: string[] | null) => Promise<number>;

  constructor(
    readonly inner: Provider,
    options: FaultInjectingOptions = {},
  ) {
    const p = inner as unknown as Record<string, unknown> | null;
    if (typeof p !== "object" || p === null) fail(`the first argument must be a Provider to wrap, got ${describe(inner)}`);
    const missing = PROVIDER_REQUIRED.filter((m) => typeof p[m] !== "function");
    if (missing.length > 0) fail(`the wrapped value is not a Provider: it lacks ${missing.join(", ")}`);
    this.plan = new FaultPlan(resolveOptions(options));
    if (typeof inner.capabilities === "function") this.capabilities = () => inner.capabilities!();
    if (typeof inner.releaseSessionLocks === "function") {
      this.releaseSessionLocks = (ownerIds, sessionIds) =>
        this.plan.run("releaseSessionLocks", () => this.inner.releaseSessionLocks!(ownerIds, sessionIds));
    }
    shareInstanceSignals(this, inner);
  }

  /** The seed of this provider's fault schedule (pass it back as `seed` to repeat a run). */
  get seed(): number {
    return this.plan.cfg.seed;
  }

  /** Whether faults are being injected (true at construction). */
  get enabled(): boolean {
    return this.plan.enabled;
  }

  /** Turns injection on or off, e.g. off to let a final check run on a healthy store. */
  setEnabled(on: boolean): void {
    if (typeof on !== "boolean") fail(`setEnabled needs a boolean, got ${describe(on)}`);
    this.plan.enabled = on;
  }

  /** A copy of the counts so far. */
  stats(): FaultStats {
    return structuredClone(this.plan.stats);
  }

  /** One line for logs: the configuration and the seed. */
  describe(): string {
    const c = this.plan.cfg;
    const modes = c.modes.map(([m, w]) => (c.modes.length > 1 && c.modes.some(([, x]) => x !== w) ? `${m}:${w}` : m)).join(",");
    const rates = [...c.rates].map(([m, r]) => ` ${m}=${r}`).join("");
    const latency = c.modes.some(([m]) => m === "latency") ? ` latency=${c.latency[0] === c.latency[1] ? c.latency[0] : `${c.latency[0]}-${c.latency[1]}`}ms` : "";
    return `rate=${c.rate}${rates} modes=${modes}${latency} seed=${c.seed}`;
  }

  name(): string {
    return `${this.inner.name()}+faults`;
  }

  version(): string {
    return this.inner.version();
  }

  /** Closes the inner provider (never faulted). */
  close(): unknown {
    return (this.inner as { close?: () => unknown }).close?.();
  }

  enqueueForOrchestrator(item: WorkItem, delayMs?: number | null): Promise<void> {
    return this.plan.run("enqueueForOrchestrator", () => this.inner.enqueueForOrchestrator(item, delayMs));
  }

  fetchOrchestrationItem(lockTimeoutMs: number, pollTimeoutMs: number, filter?: DispatcherCapabilityFilter | null, signal?: AbortSignal | null): Promise<FetchedOrchestration | null> {
    return this.plan.run("fetchOrchestrationItem", () => this.inner.fetchOrchestrationItem(lockTimeoutMs, pollTimeoutMs, filter, signal));
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
    return this.plan.run("ackOrchestrationItem", () =>
      this.inner.ackOrchestrationItem(lockToken, executionId, historyDelta, workerItems, orchestratorItems, metadata, cancelledActivities),
    );
  }

  abandonOrchestrationItem(lockToken: string, delayMs: number | null, ignoreAttempt: boolean): Promise<void> {
    return this.plan.run("abandonOrchestrationItem", () => this.inner.abandonOrchestrationItem(lockToken, delayMs, ignoreAttempt));
  }

  renewOrchestrationItemLock(lockToken: string, extendForMs: number): Promise<void> {
    return this.plan.run("renewOrchestrationItemLock", () => this.inner.renewOrchestrationItemLock(lockToken, extendForMs));
  }

  enqueueForWorker(item: WorkItem): Promise<void> {
    return this.plan.run("enqueueForWorker", () => this.inner.enqueueForWorker(item));
  }

  fetchWorkItem(lockTimeoutMs: number, pollTimeoutMs: number, session: SessionFetchConfig | null, tagFilter: TagFilter, signal?: AbortSignal | null): Promise<FetchedWorkItem | null> {
    return this.plan.run("fetchWorkItem", () => this.inner.fetchWorkItem(lockTimeoutMs, pollTimeoutMs, session, tagFilter, signal));
  }

  ackWorkItem(lockToken: string, completion: WorkItem | null): Promise<void> {
    return this.plan.run("ackWorkItem", () => this.inner.ackWorkItem(lockToken, completion));
  }

  abandonWorkItem(lockToken: string, delayMs: number | null, ignoreAttempt: boolean): Promise<void> {
    return this.plan.run("abandonWorkItem", () => this.inner.abandonWorkItem(lockToken, delayMs, ignoreAttempt));
  }

  renewWorkItemLock(lockToken: string, extendForMs: number): Promise<void> {
    return this.plan.run("renewWorkItemLock", () => this.inner.renewWorkItemLock(lockToken, extendForMs));
  }

  renewSessionLock(ownerIds: string[], extendForMs: number, idleTimeoutMs: number): Promise<number> {
    return this.plan.run("renewSessionLock", () => this.inner.renewSessionLock(ownerIds, extendForMs, idleTimeoutMs));
  }

  cleanupOrphanedSessions(idleTimeoutMs: number): Promise<number> {
    return this.plan.run("cleanupOrphanedSessions", () => this.inner.cleanupOrphanedSessions(idleTimeoutMs));
  }

  read(instance: string): Promise<Event[]> {
    return this.plan.run("read", () => this.inner.read(instance));
  }

  readWithExecution(instance: string, executionId: number): Promise<Event[]> {
    return this.plan.run("readWithExecution", () => this.inner.readWithExecution(instance, executionId));
  }

  appendWithExecution(instance: string, executionId: number, events: Event[]): Promise<void> {
    return this.plan.run("appendWithExecution", () => this.inner.appendWithExecution(instance, executionId, events));
  }

  getCustomStatus(instance: string, lastSeenVersion: number): Promise<{ status: string | null; version: number } | null> {
    return this.plan.run("getCustomStatus", () => this.inner.getCustomStatus(instance, lastSeenVersion));
  }

  getKvValue(instance: string, key: string): Promise<string | null> {
    return this.plan.run("getKvValue", () => this.inner.getKvValue(instance, key));
  }

  getKvAllValues(instance: string): Promise<Record<string, string>> {
    return this.plan.run("getKvAllValues", () => this.inner.getKvAllValues(instance));
  }

  /** The inner provider's admin behind the same fault plan, or null when the inner has none. */
  asManagementCapability(): ProviderAdmin | null {
    if (this.admin === undefined) {
      const inner = this.inner.asManagementCapability();
      this.admin = inner === null ? null : new FaultInjectingAdmin(inner, this.plan);
    }
    return this.admin;
  }
}

class FaultInjectingAdmin implements ProviderAdmin {
  constructor(
    private readonly inner: ProviderAdmin,
    private readonly plan: FaultPlan,
  ) {}

  listInstances(): Promise<string[]> {
    return this.plan.run("listInstances", () => this.inner.listInstances());
  }
  listInstancesByStatus(status: string): Promise<string[]> {
    return this.plan.run("listInstancesByStatus", () => this.inner.listInstancesByStatus(status));
  }
  listExecutions(instance: string): Promise<number[]> {
    return this.plan.run("listExecutions", () => this.inner.listExecutions(instance));
  }
  readHistoryWithExecutionId(instance: string, executionId: number): Promise<Event[]> {
    return this.plan.run("readHistoryWithExecutionId", () => this.inner.readHistoryWithExecutionId(instance, executionId));
  }
  readHistory(instance: string): Promise<Event[]> {
    return this.plan.run("readHistory", () => this.inner.readHistory(instance));
  }
  latestExecutionId(instance: string): Promise<number> {
    return this.plan.run("latestExecutionId", () => this.inner.latestExecutionId(instance));
  }
  getInstanceInfo(instance: string): Promise<InstanceInfo> {
    return this.plan.run("getInstanceInfo", () => this.inner.getInstanceInfo(instance));
  }
  getExecutionInfo(instance: string, executionId: number): Promise<ExecutionInfo> {
    return this.plan.run("getExecutionInfo", () => this.inner.getExecutionInfo(instance, executionId));
  }
  getSystemMetrics(): Promise<SystemMetrics> {
    return this.plan.run("getSystemMetrics", () => this.inner.getSystemMetrics());
  }
  getQueueDepths(): Promise<QueueDepths> {
    return this.plan.run("getQueueDepths", () => this.inner.getQueueDepths());
  }
  listChildren(instance: string): Promise<string[]> {
    return this.plan.run("listChildren", () => this.inner.listChildren(instance));
  }
  getParentId(instance: string): Promise<string | null> {
    return this.plan.run("getParentId", () => this.inner.getParentId(instance));
  }
  getInstanceTree(instance: string): Promise<InstanceTree> {
    return this.plan.run("getInstanceTree", () => this.inner.getInstanceTree(instance));
  }
  deleteInstancesAtomic(ids: string[], force: boolean): Promise<DeleteInstanceResult> {
    return this.plan.run("deleteInstancesAtomic", () => this.inner.deleteInstancesAtomic(ids, force));
  }
  deleteInstance(instance: string, force: boolean): Promise<DeleteInstanceResult> {
    return this.plan.run("deleteInstance", () => this.inner.deleteInstance(instance, force));
  }
  deleteInstanceBulk(filter: InstanceFilter): Promise<DeleteInstanceResult> {
    return this.plan.run("deleteInstanceBulk", () => this.inner.deleteInstanceBulk(filter));
  }
  pruneExecutions(instance: string, options: PruneOptions): Promise<PruneResult> {
    return this.plan.run("pruneExecutions", () => this.inner.pruneExecutions(instance, options));
  }
  pruneExecutionsBulk(filter: InstanceFilter, options: PruneOptions): Promise<PruneResult> {
    return this.plan.run("pruneExecutionsBulk", () => this.inner.pruneExecutionsBulk(filter, options));
  }
}
