/**
 * OrchestrationContext: the API orchestration code uses. Every scheduling call records an action
 * at call time and returns a durable task; results come from history, never from live I/O, so a
 * replay of the same history takes exactly the same path.
 */
import { describe } from "../core/describe.ts";
import { CHILD_ID_SUFFIX_BYTES, idProblem, MAX_ID_BYTES, nameProblem } from "../core/ids.ts";
import { decodePayload, encodePayload } from "../core/payload.ts";
import { SEMVER_RULE, tryParseSemver } from "../core/semver.ts";
import type { Action } from "./actions.ts";
import type { LogLevel } from "./options.ts";
import { backoffDelayMs, resolveRetryPolicy, type RetryPolicy } from "./retry.ts";
import {
  AllSettledTask,
  AllTask,
  NeverTask,
  OrchestrationUsageError,
  RaceTask,
  TaskFailedError,
  type DurableTask,
  type LeafTask,
  type RaceResult,
  type Settlement,
  type TaskHost,
} from "./tasks.ts";

/** Reserved names of the built-in system activities. */
export const SYSCALL_NEW_GUID = "__duroxide_syscall:new_guid";
export const SYSCALL_UTC_NOW = "__duroxide_syscall:utc_now_ms";
export const SYSCALL_GET_KV = "__duroxide_syscall:get_kv_value";

/** The result type of a durable task. */
export type TaskValue<X> = X extends DurableTask<infer V> ? V : never;

/** What the replay engine provides to a context. */
export interface ContextHost extends TaskHost {
  readonly instanceId: string;
  readonly executionId: number;
  readonly orchestrationName: string;
  readonly orchestrationVersion: string;
  isReplaying(): boolean;
  /** Records an action that completes through history and returns its task. */
  emit<T>(action: Action): LeafTask<T>;
  /** Records a fire-and-forget action (metadata, detached start). */
  record(action: Action): void;
  /** Starts a coroutine task running `body`. */
  spawn<T>(body: () => Generator<DurableTask<any>, T, any>): DurableTask<T>;
  customStatus: string | null;
  readonly kv: Map<string, { value: string; updatedAtMs: number }>;
  /** Wall clock for new KV timestamps. */
  now(): number;
  log(level: LogLevel, message: string): void;
  /** A retry policy scheduled another attempt of a failed activity (counted for metrics). */
  activityRetried?(name: string, tag: string | undefined): void;
}

export interface ActivityOptions {
  /** Pin the activity to whichever worker owns this session. */
  sessionId?: string;
  /** Route the activity to workers whose tag filter accepts this tag. */
  tag?: string;
}

export interface SubOrchestrationOptions {
  /** Explicit child id; default `<parent>::sub::<event id>` (from execution 2 on `<parent>::sub::<execution>::<event id>`, docs/runtime-semantics.md §3.6). */
  instanceId?: string;
  /** Exact version ("MAJOR.MINOR.PATCH", as registered); default the registry policy when the child starts. */
  version?: string;
}

function usage(message: string): never {
  throw new OrchestrationUsageError(message);
}

/** Names, keys and tags: non-empty, well-formed text (the shared rule, src/core/ids.ts). */
function checkName(what: string, name: unknown): string {
  const problem = nameProblem(what, name);
  if (problem !== null) usage(problem);
  return name as string;
}

/** Instance and session ids the code chooses: the shared id rule (src/core/ids.ts, docs/runtime-semantics.md §5.7). */
function checkId(what: string, id: unknown): string {
  const problem = idProblem(what, id);
  if (problem !== null) usage(problem);
  return id as string;
}

/**
 * Longest timer delay: about 100 years. Beyond it the fire time stops being a time any store or
 * Date can hold (2 ** 53 ms from now is not even a safe integer), so the call is refused with the
 * range rather than failing the turn later (docs/runtime-semantics.md §3.3).
 */
export const MAX_TIMER_DELAY_MS = 100 * 365.25 * 24 * 60 * 60 * 1000;

/**
 * Payloads user code hands over are encoded once, here; a value JSON cannot carry is a usage error
 * naming its path from `root` (`input.items[3] is NaN`, docs/runtime-semantics.md §5.6).
 */
function encode(what: string, value: unknown, root = "input"): string {
  return encodePayload(value, what, (message) => new OrchestrationUsageError(message), root);
}

/** Optional `version` of a start or continue-as-new: the registry's rule, checked before anything is recorded. */
function checkVersion(version: unknown): string | null {
  if (version === undefined) return null;
  if (tryParseSemver(version) === undefined) usage(`version must be ${SEMVER_RULE}, got ${describe(version)}`);
  return version as string;
}

export class OrchestrationContext {
  constructor(private readonly host: ContextHost) {}

  get instanceId(): string {
    return this.host.instanceId;
  }
  get executionId(): number {
    return this.host.executionId;
  }
  get orchestrationName(): string {
    return this.host.orchestrationName;
  }
  get orchestrationVersion(): string {
    return this.host.orchestrationVersion;
  }

  /** True while the code re-executes steps already recorded in history. */
  isReplaying(): boolean {
    return this.host.isReplaying();
  }

  // ------------------------------------------------------------ activities

  scheduleActivity<T = unknown>(name: string, input?: unknown, options: ActivityOptions = {}): LeafTask<T> {
    checkName("activity name", name);
    const action: Action = { type: "CallActivity", name, input: encode(`input of activity "${name}"`, input) };
    if (options.sessionId !== undefined) action.sessionId = checkId("sessionId", options.sessionId);
    if (options.tag !== undefined) action.tag = checkName("tag", options.tag);
    return this.host.emit<T>(action);
  }

  scheduleActivityOnSession<T = unknown>(name: string, input: unknown, sessionId: string): LeafTask<T> {
    return this.scheduleActivity<T>(name, input, { sessionId });
  }

  /**
   * Runs the activity up to `policy.maxAttempts` times, sleeping on durable timers between
   * failures, so every attempt is in history. A per-attempt timeout is final: it is not retried.
   */
  scheduleActivityWithRetry<T = unknown>(name: string, input: unknown, policy: RetryPolicy, options: ActivityOptions = {}): DurableTask<T> {
    checkName("activity name", name);
    const p = resolveRetryPolicy(policy);
    const ctx = this;
    return this.host.spawn<T>(function* () {
      let lastError: Error | null = null;
      for (let attempt = 1; attempt <= p.maxAttempts; attempt++) {
        const activity = ctx.scheduleActivity<T>(name, input, options);
        let outcome: Settlement<T>;
        if (p.timeoutMs !== undefined) {
          const race = ctx.allSettledRace(activity, ctx.scheduleTimer(p.timeoutMs));
          const r = yield* race;
          if (r.index === 1) throw new TaskFailedError("timeout: activity timed out");
          outcome = r.value as Settlement<T>;
        } else {
          outcome = yield* ctx.settledOf(activity);
        }
        if (outcome.ok) return outcome.value;
        lastError = outcome.error;
        if (attempt < p.maxAttempts) {
          ctx.traceWarn(`activity "${name}" attempt ${attempt} failed: ${lastError.message}; retrying`);
          if (!ctx.isReplaying()) ctx.host.activityRetried?.(name, options.tag);
          const delay = backoffDelayMs(p, attempt);
          if (delay > 0) yield* ctx.scheduleTimer(delay);
        }
      }
      throw lastError ?? new TaskFailedError(`activity "${name}" failed`);
    });
  }

  // ------------------------------------------------------------ timers and events

  /** Resolves after `delayMs`, durably: the fire time is recorded and survives restarts. */
  scheduleTimer(delayMs: number): LeafTask<void> {
    if (typeof delayMs !== "number" || !Number.isFinite(delayMs) || delayMs < 0 || delayMs > MAX_TIMER_DELAY_MS) {
      usage(`scheduleTimer: delayMs must be a number of ms from 0 to ${MAX_TIMER_DELAY_MS} (MAX_TIMER_DELAY_MS, about 100 years), got ${describe(delayMs)}`);
    }
    return this.host.emit<void>({ type: "CreateTimer", delayMs: Math.ceil(delayMs) });
  }

  /** The next event raised with this name after the wait is recorded (positional: k-th wait gets k-th raise). */
  scheduleWait<T = unknown>(name: string): LeafTask<T> {
    return this.host.emit<T>({ type: "WaitExternal", name: checkName("event name", name) });
  }

  /** The next message of this queue (FIFO mailbox; messages wait for their dequeue). */
  dequeueEvent<T = unknown>(queue: string): LeafTask<T> {
    return this.host.emit<T>({ type: "DequeueEvent", name: checkName("queue name", queue) });
  }

  // ------------------------------------------------------------ orchestrations

  scheduleSubOrchestration<T = unknown>(name: string, input?: unknown, options: SubOrchestrationOptions = {}): LeafTask<T> {
    checkName("orchestration name", name);
    if (options.instanceId !== undefined) checkId("instanceId", options.instanceId);
    else if (Buffer.byteLength(this.instanceId, "utf8") + CHILD_ID_SUFFIX_BYTES > MAX_ID_BYTES) {
      // The automatic id `<parent>::sub::[<execution id>::]<event id>` could pass MAX_ID_BYTES and be refused by the store.
      usage(`scheduleSubOrchestration: this instance's id is too long for an automatic child id (<id>::sub::<execution id>::<event id> may exceed ${MAX_ID_BYTES} bytes); pass options.instanceId`);
    }
    const version = checkVersion(options.version);
    return this.host.emit<T>({
      type: "StartSubOrchestration",
      name,
      version,
      instance: options.instanceId ?? null,
      input: encode(`input of sub-orchestration "${name}"`, input),
    });
  }

  /** Starts an independent orchestration with this exact id (fire-and-forget, no result). */
  scheduleOrchestration(name: string, instanceId: string, input?: unknown, options: { version?: string } = {}): void {
    checkName("orchestration name", name);
    checkId("instanceId", instanceId);
    const version = checkVersion(options.version);
    this.host.record({
      type: "StartOrchestrationDetached",
      name,
      instance: instanceId,
      version,
      input: encode(`input of orchestration "${name}"`, input),
    });
  }

  /**
   * Ends this execution and starts a fresh one with `input` (empty history, same instance id).
   * Use `return yield* ctx.continueAsNew(input)`: the task never resolves.
   */
  continueAsNew(input?: unknown, options: { version?: string } = {}): DurableTask<never> {
    const version = checkVersion(options.version);
    this.host.record({ type: "ContinueAsNew", input: encode("continue-as-new input", input), version });
    return new NeverTask<never>(this.host);
  }

  // ------------------------------------------------------------ combinators

  /**
   * Every task's value in argument order; fails with the first failure (in history order).
   * Typed per position: `all([a, b])` with a string task and a number task gives `[string, number]`.
   */
  all<const Ts extends readonly DurableTask<any>[]>(tasks: Ts): DurableTask<{ -readonly [K in keyof Ts]: TaskValue<Ts[K]> }> {
    return new AllTask(this.host, this.checkTasks("all", tasks as unknown as DurableTask<unknown>[])) as DurableTask<any>;
  }

  /** Every task's outcome in argument order; never fails. */
  allSettled<const Ts extends readonly DurableTask<any>[]>(tasks: Ts): DurableTask<{ -readonly [K in keyof Ts]: Settlement<TaskValue<Ts[K]>> }> {
    return new AllSettledTask(this.host, this.checkTasks("allSettled", tasks as unknown as DurableTask<unknown>[])) as DurableTask<any>;
  }

  /** The first task to complete, in history order; the others are cancelled. Tasks may differ in type. */
  race<const Ts extends readonly DurableTask<any>[]>(tasks: Ts): DurableTask<RaceResult<TaskValue<Ts[number]>>> {
    return new RaceTask(this.host, this.checkTasks("race", tasks as unknown as DurableTask<unknown>[])) as DurableTask<any>;
  }

  /** Alias of race. */
  select<const Ts extends readonly DurableTask<any>[]>(tasks: Ts): DurableTask<RaceResult<TaskValue<Ts[number]>>> {
    return this.race(tasks);
  }

  /** Wraps a multi-step block as one task, so blocks compose inside all/race. */
  run<T>(body: () => Generator<DurableTask<any>, T, any>): DurableTask<T> {
    if (typeof body !== "function") usage("run needs a generator function");
    return this.host.spawn(body);
  }

  private checkTasks<T>(what: string, tasks: DurableTask<T>[]): DurableTask<T>[] {
    if (!Array.isArray(tasks)) usage(`${what} takes an array of tasks`);
    for (const t of tasks) {
      if (!(t && typeof t === "object" && "onSettle" in t)) usage(`${what} takes durable tasks from ctx, got ${typeof t}`);
    }
    return tasks;
  }

  private *settledOf<T>(task: DurableTask<T>): Generator<DurableTask<any>, Settlement<T>, any> {
    const [s] = (yield* this.allSettled([task] as const)) as [Settlement<T>];
    return s;
  }

  /** Race whose value is the winner's settlement (so a failed activity is data, not an exception). */
  private allSettledRace(a: DurableTask<unknown>, b: DurableTask<unknown>): DurableTask<RaceResult<Settlement<unknown>>> {
    const wrap = (t: DurableTask<unknown>): DurableTask<Settlement<unknown>> => this.allSettled([t] as const).map((r) => r[0] as Settlement<unknown>);
    return this.race([wrap(a), wrap(b)] as const);
  }

  // ------------------------------------------------------------ custom status

  setCustomStatus(status: string): void {
    if (typeof status !== "string") usage("custom status must be a string (JSON-encode structured status yourself)");
    this.host.customStatus = status;
    this.host.record({ type: "UpdateCustomStatus", status });
  }

  resetCustomStatus(): void {
    this.host.customStatus = null;
    this.host.record({ type: "UpdateCustomStatus", status: null });
  }

  getCustomStatus(): string | null {
    return this.host.customStatus;
  }

  // ------------------------------------------------------------ key-value store

  /** Stores a JSON value under `key`; visible to clients once this turn commits, kept across continue-as-new. */
  setValue(key: string, value: unknown): void {
    checkName("key", key);
    const encoded = encode(`value of "${key}"`, value, "value");
    const now = this.host.now();
    this.host.kv.set(key, { value: encoded, updatedAtMs: now });
    this.host.record({ type: "SetKeyValue", key, value: encoded, timestampMs: now });
  }

  getValue<T = unknown>(key: string): T | null {
    const e = this.host.kv.get(key);
    return e === undefined ? null : (decodePayload(e.value) as T);
  }

  clearValue(key: string): void {
    checkName("key", key);
    this.host.kv.delete(key);
    this.host.record({ type: "ClearKeyValue", key });
  }

  clearAllValues(): void {
    this.host.kv.clear();
    this.host.record({ type: "ClearKeyValues" });
  }

  getValues(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [k, e] of this.host.kv) out[k] = decodePayload(e.value);
    return out;
  }

  getKeys(): string[] {
    return [...this.host.kv.keys()];
  }

  getLength(): number {
    return this.host.kv.size;
  }

  /** Clears every key last written before `cutoffMs`; returns how many were cleared. */
  pruneValuesUpdatedBefore(cutoffMs: number): number {
    let n = 0;
    for (const [k, e] of [...this.host.kv]) {
      if (e.updatedAtMs < cutoffMs) {
        this.clearValue(k);
        n++;
      }
    }
    return n;
  }

  /** Another instance's value, read once through a system activity and replayed from history. */
  getValueFromInstance<T = unknown>(instanceId: string, key: string): DurableTask<T | null> {
    checkId("instanceId", instanceId);
    checkName("key", key);
    return this.scheduleActivity<string | null>(SYSCALL_GET_KV, { instanceId, key }).map((v) => (v === null ? null : (decodePayload(v) as T)));
  }

  // ------------------------------------------------------------ deterministic values

  /** A random UUID, recorded in history so replays see the same value. */
  newGuid(): DurableTask<string> {
    return this.scheduleActivity<string>(SYSCALL_NEW_GUID, null);
  }

  /** Wall-clock ms since the epoch, recorded in history so replays see the same value. */
  utcNow(): DurableTask<number> {
    return this.scheduleActivity<number>(SYSCALL_UTC_NOW, null);
  }

  // ------------------------------------------------------------ tracing (silent while replaying)

  traceInfo(message: string): void {
    this.trace("info", message);
  }
  traceWarn(message: string): void {
    this.trace("warn", message);
  }
  traceError(message: string): void {
    this.trace("error", message);
  }
  traceDebug(message: string): void {
    this.trace("debug", message);
  }

  private trace(level: LogLevel, message: string): void {
    if (!this.host.isReplaying()) this.host.log(level, String(message));
  }
}
