/**
 * The replay engine: one orchestration turn as a pure function.
 *
 *   runTurn(persisted history, this turn's messages, handler) -> history delta, outgoing work,
 *                                                                 cancellations, outcome
 *
 * No I/O. The orchestration code is re-run from the top on every turn: each scheduling call emits
 * an action, which is matched against the next schedule event of history (binding the task to that
 * event id) or, past the end of history, becomes a new event. Completions in history settle their
 * bound task, which synchronously resumes the waiting code before the next event is applied; so
 * exactly one completion is delivered between two runs of user code, in history order, and every
 * replay takes the same path.
 */
import type { ErrorDetails } from "../core/error-details.ts";
import { renderErrorDetails } from "../core/error-details.ts";
import type { Event, EventKind, EventOf } from "../core/events.ts";
import type { KvEntry, ScheduledActivityIdentifier } from "../core/queue-types.ts";
import type { WorkItem } from "../core/work-items.ts";
import { clip, describeAction, METADATA_ACTIONS, type Action } from "./actions.ts";
import { decodePayload, OrchestrationContext, type ContextHost, type LogLevel } from "./context.ts";
import type { OrchestrationHandler } from "./handler-types.ts";
import {
  ActivityFailedError,
  DurableTask,
  LeafTask,
  OrchestrationUsageError,
  SubOrchestrationFailedError,
  type Settlement,
} from "./tasks.ts";

/** Unconsumed queue messages carried into the next execution at most. */
export const MAX_CARRY_FORWARD = 20;
/** Reason recorded for tasks the code stopped waiting for. */
export const DROPPED_FUTURE = "dropped_future";

export interface TurnInput {
  instance: string;
  executionId: number;
  /** Persisted events of the current execution, ordered by event_id; starts with OrchestrationStarted unless empty. */
  history: Event[];
  /** For a new execution (empty history): its OrchestrationStarted event, written as the first delta event. */
  started?: Event;
  /** This turn's messages (completions, events, cancels), in queue order. Start/ContinueAsNew items are the caller's. */
  messages: WorkItem[];
  handler: OrchestrationHandler;
  /** Committed KV of completed executions. */
  kvSnapshot: Record<string, KvEntry>;
  /** Wall clock for new events (timer fire times, timestamps). */
  now: number;
  /** Runtime semver written into new events. */
  runtimeVersion: string;
  log?: (level: LogLevel, message: string, fields: Record<string, unknown>) => void;
  /** End the execution with this failure without running the code (poison, limit violations). */
  abort?: ErrorDetails;
}

export type TurnOutcome =
  | { type: "Continue" }
  | { type: "Completed"; output: string }
  | { type: "Failed"; details: ErrorDetails }
  | { type: "ContinueAsNew"; input: string; version: string | null }
  | { type: "Cancelled"; reason: string };

export interface TurnOutput {
  delta: Event[];
  workerItems: WorkItem[];
  orchestratorItems: WorkItem[];
  cancelledActivities: ScheduledActivityIdentifier[];
  outcome: TurnOutcome;
  /** The custom status after the turn (null = none). */
  customStatus: string | null;
  /** The instance's KV after the turn. */
  kv: Map<string, { value: string; updatedAtMs: number }>;
  /** The OrchestrationStarted event of the execution (persisted or new). */
  startedEvent: EventOf<"OrchestrationStarted"> | null;
}

/** Raised inside the engine to abandon user code on nondeterminism. */
class Nondeterminism extends Error {}

const SCHEDULE_EVENT: Partial<Record<Event["type"], Action["type"]>> = {
  ActivityScheduled: "CallActivity",
  TimerCreated: "CreateTimer",
  ExternalSubscribed: "WaitExternal",
  ExternalSubscribedPersistent: "DequeueEvent",
  SubOrchestrationScheduled: "StartSubOrchestration",
  OrchestrationChained: "StartOrchestrationDetached",
};

const COMPLETION_OF: Partial<Record<Event["type"], Event["type"]>> = {
  ActivityCompleted: "ActivityScheduled",
  ActivityFailed: "ActivityScheduled",
  TimerFired: "TimerCreated",
  SubOrchestrationCompleted: "SubOrchestrationScheduled",
  SubOrchestrationFailed: "SubOrchestrationScheduled",
};

const TERMINAL = new Set<Event["type"]>(["OrchestrationCompleted", "OrchestrationFailed", "OrchestrationContinuedAsNew"]);

/** Errors whose throw from orchestration code means a bug (Rust's panic), not a business failure. */
function isCrash(err: unknown): boolean {
  return err instanceof TypeError || err instanceof ReferenceError || err instanceof RangeError || err instanceof SyntaxError || err instanceof OrchestrationUsageError;
}

function errorOf(v: unknown): Error {
  return v instanceof Error ? v : new Error(typeof v === "string" ? v : JSON.stringify(v));
}

interface Schedule {
  kind: Event["type"];
  task: LeafTask<unknown> | null;
  event: Event;
}

/** Per-turn engine state. */
class Turn implements ContextHost {
  readonly instanceId: string;
  readonly executionId: number;
  orchestrationName = "";
  orchestrationVersion = "";
  customStatus: string | null = null;
  readonly kv = new Map<string, { value: string; updatedAtMs: number }>();

  private readonly history: Event[];
  private readonly persistedLen: number;
  private readonly delta: Event[] = [];
  private nextEventId: number;
  private replaying: boolean;

  /** Emitted actions not yet matched to history, in emission order. */
  private readonly fifo: { action: Action; task: LeafTask<unknown> | null }[] = [];
  private readonly schedules = new Map<number, Schedule>();
  private readonly completed = new Set<number>();
  /** Sources with a cancel breadcrumb in history (any reason). */
  private readonly cancelBreadcrumbs = new Map<number, string>();
  private readonly waits = new Map<string, LeafTask<unknown>[]>();
  private readonly dequeues = new Map<string, LeafTask<unknown>[]>();
  private readonly arrivals = new Map<string, string[]>();
  private readonly cancelledTasks: LeafTask<unknown>[] = [];

  private cancelRequested: string | null = null;
  private continueAsNew: { input: string; version: string | null } | null = null;
  private abortDetails: ErrorDetails | null = null;
  private nondeterminism: string | null = null;
  private rootResult: Settlement<unknown> | null = null;
  private started: EventOf<"OrchestrationStarted"> | null = null;
  private newWork: { action: Action; event: Event }[] = [];
  private readonly ctx: OrchestrationContext;

  constructor(private readonly input: TurnInput) {
    this.instanceId = input.instance;
    this.executionId = input.executionId;
    this.history = [...input.history];
    this.persistedLen = input.history.length;
    this.replaying = this.persistedLen > 0;
    let max = 0;
    for (const e of this.history) if (e.event_id > max) max = e.event_id;
    this.nextEventId = max + 1;
    for (const [k, e] of Object.entries(input.kvSnapshot)) this.kv.set(k, { value: e.value, updatedAtMs: e.last_updated_at_ms });
    this.ctx = new OrchestrationContext(this);
  }

  // ---------------------------------------------------------------- ContextHost

  isReplaying(): boolean {
    return this.replaying;
  }

  now(): number {
    return this.input.now;
  }

  log(level: LogLevel, message: string): void {
    this.input.log?.(level, message, {
      instance_id: this.instanceId,
      execution_id: this.executionId,
      orchestration_name: this.orchestrationName,
      orchestration_version: this.orchestrationVersion,
    });
  }

  emit<T>(action: Action): LeafTask<T> {
    const task = new LeafTask<T>(this, action);
    this.fifo.push({ action, task: task as LeafTask<unknown> });
    return task;
  }

  record(action: Action): void {
    if (action.type === "ContinueAsNew") {
      // Never an event of its own: it only decides the turn's outcome.
      if (this.continueAsNew === null) this.continueAsNew = { input: action.input, version: action.version };
      return;
    }
    this.fifo.push({ action, task: null });
  }

  onCancel(task: DurableTask<unknown>): void {
    if (task instanceof LeafTask) this.cancelledTasks.push(task);
  }

  spawn<T>(body: () => Generator<DurableTask<any>, T, any>): DurableTask<T> {
    const co = new Coroutine<T>(this);
    co.start(body());
    return co;
  }

  // ---------------------------------------------------------------- the turn

  run(): TurnOutput {
    try {
      this.prepare();
      const first = this.history[0];
      if (first?.type === "OrchestrationStarted") {
        this.started = first;
        this.orchestrationName = first.name;
        this.orchestrationVersion = first.version;
        this.customStatus = first.initial_custom_status ?? null;
      }
      if (this.input.abort) {
        this.abortDetails = this.input.abort;
        this.nondeterminism = null;
      }
      if (this.abortDetails !== null) return this.finish({ type: "Failed", details: this.abortDetails });
      if (this.nondeterminism !== null) return this.failNondeterministic();
      if (first === undefined || first.type !== "OrchestrationStarted") {
        this.nondeterminism = "corrupted history: the first event is not OrchestrationStarted";
        return this.failNondeterministic();
      }
      if (this.history.some((e) => TERMINAL.has(e.type))) return this.finish({ type: "Continue" }, true);

      this.startRoot(first);
      for (let i = 0; i < this.history.length && this.nondeterminism === null; i++) {
        // Code resumed by a persisted event already ran in an earlier turn: it is replaying.
        this.replaying = i < this.persistedLen;
        this.apply(this.history[i]!);
      }
      this.replaying = false;
      if (this.nondeterminism === null) this.convertNewActions();
      if (this.nondeterminism === null) this.checkDroppedFutures();
      if (this.nondeterminism !== null) return this.failNondeterministic();
      return this.finish(this.decideOutcome());
    } catch (err) {
      if (err instanceof Nondeterminism) return this.failNondeterministic();
      throw err;
    }
  }

  private failNondeterministic(): TurnOutput {
    return this.finish({
      type: "Failed",
      details: { type: "Configuration", kind: "Nondeterminism", resource: this.orchestrationName, message: this.nondeterminism },
    }, false, true);
  }

  private newEvent(kind: EventKind, source: number | null = null, eventId?: number): Event {
    const e = {
      event_id: eventId ?? this.nextEventId++,
      source_event_id: source,
      instance_id: this.instanceId,
      execution_id: this.executionId,
      timestamp_ms: this.input.now,
      duroxide_version: this.input.runtimeVersion,
      ...kind,
    } as Event;
    this.delta.push(e);
    return e;
  }

  /** Turns this turn's messages into staged history events (dedup, validation, abort errors). */
  private prepare(): void {
    if (this.input.started) {
      const s = this.input.started;
      this.history.push(s);
      this.delta.push(s);
      this.nextEventId = Math.max(this.nextEventId, s.event_id + 1);
    }
    const byId = new Map<number, Event>();
    const completedSources = new Set<number>();
    let cancelSeen = false;
    let terminal = false;
    for (const e of this.history) {
      byId.set(e.event_id, e);
      if (COMPLETION_OF[e.type] !== undefined && e.source_event_id !== null) completedSources.add(e.source_event_id);
      if (e.type === "OrchestrationCancelRequested") cancelSeen = true;
      if (TERMINAL.has(e.type)) terminal = true;
    }
    const stage = (kind: EventKind, source: number | null) => {
      const e = this.newEvent(kind, source);
      this.history.push(e);
      byId.set(e.event_id, e);
      return e;
    };
    const completion = (
      source: number,
      execution: number,
      expect: Event["type"],
      kind: EventKind,
      label: string,
    ) => {
      if (execution !== this.executionId) return; // for an earlier execution: stale
      if (completedSources.has(source)) return; // duplicate delivery
      const scheduled = byId.get(source);
      if (scheduled === undefined) {
        this.nondeterminism ??= `no matching schedule for ${label} (source event ${source})`;
        return;
      }
      if (scheduled.type !== expect) {
        this.nondeterminism ??= `completion kind mismatch: ${label} for event ${source}, which is ${scheduled.type}`;
        return;
      }
      completedSources.add(source);
      stage(kind, source);
      const details = "details" in kind ? (kind.details as ErrorDetails) : null;
      if (details !== null && details.type !== "Application") this.abortDetails ??= details;
    };
    for (const m of this.input.messages) {
      switch (m.type) {
        case "ActivityCompleted":
          completion(m.id, m.execution_id, "ActivityScheduled", { type: "ActivityCompleted", result: m.result }, "ActivityCompleted");
          break;
        case "ActivityFailed":
          completion(m.id, m.execution_id, "ActivityScheduled", { type: "ActivityFailed", details: m.details }, "ActivityFailed");
          break;
        case "TimerFired":
          completion(m.id, m.execution_id, "TimerCreated", { type: "TimerFired", fire_at_ms: m.fire_at_ms }, "TimerFired");
          break;
        case "SubOrchCompleted":
          completion(m.parent_id, m.parent_execution_id, "SubOrchestrationScheduled", { type: "SubOrchestrationCompleted", result: m.result }, "SubOrchCompleted");
          break;
        case "SubOrchFailed":
          completion(m.parent_id, m.parent_execution_id, "SubOrchestrationScheduled", { type: "SubOrchestrationFailed", details: m.details }, "SubOrchFailed");
          break;
        case "ExternalRaised":
          if (!terminal) stage({ type: "ExternalEvent", name: m.name, data: m.data }, null);
          break;
        case "QueueMessage":
          if (!terminal) stage({ type: "ExternalEventPersistent", name: m.name, data: m.data }, null);
          break;
        case "CancelInstance":
          if (!terminal && !cancelSeen) {
            cancelSeen = true;
            stage({ type: "OrchestrationCancelRequested", reason: m.reason }, null);
          }
          break;
        default:
          break; // StartOrchestration / ContinueAsNew are the caller's business
      }
    }
  }

  private startRoot(started: EventOf<"OrchestrationStarted">): void {
    const root = new Coroutine<unknown>(this);
    root.onSettle((t) => {
      this.rootResult = t.settlement;
    });
    let gen: Generator<DurableTask<any>, unknown, unknown>;
    try {
      gen = this.input.handler(this.ctx, decodePayload(started.input));
    } catch (err) {
      this.rootResult = { ok: false, error: errorOf(err) };
      return;
    }
    if (gen === null || typeof gen !== "object" || typeof (gen as Generator).next !== "function") {
      this.rootResult = { ok: false, error: new OrchestrationUsageError("an orchestration must be a generator function (function*), it returned " + typeof gen) };
      return;
    }
    root.start(gen);
  }

  // ---------------------------------------------------------------- applying history

  private fail(message: string): never {
    this.nondeterminism ??= message;
    throw new Nondeterminism(message);
  }

  private apply(e: Event): void {
    const actionType = SCHEDULE_EVENT[e.type];
    if (actionType !== undefined) return this.applySchedule(e, actionType);
    const scheduleType = COMPLETION_OF[e.type];
    if (scheduleType !== undefined) return this.applyCompletion(e, scheduleType);
    switch (e.type) {
      case "OrchestrationStarted":
        for (const [name, data] of e.carry_forward_events ?? []) this.pushArrival(name, data);
        return;
      case "ExternalEvent": {
        // The first live subscription for this name gets it; cancelled ones do not consume events.
        const waiting = this.waits.get(e.name);
        let task = waiting?.shift();
        while (task && task.settled) task = waiting?.shift();
        if (task) task.settle({ ok: true, value: decodePayload(e.data) });
        return;
      }
      case "ExternalEventPersistent":
        this.pushArrival(e.name, e.data);
        this.matchQueue(e.name);
        return;
      case "ActivityCancelRequested":
      case "SubOrchestrationCancelRequested":
      case "ExternalSubscribedCancelled":
      case "ExternalSubscribedPersistentCancelled":
        if (e.source_event_id !== null) {
          this.cancelBreadcrumbs.set(e.source_event_id, e.reason);
          const s = this.schedules.get(e.source_event_id);
          if (s?.task) this.removeSubscription(s.task);
        }
        return;
      case "OrchestrationCancelRequested":
        this.cancelRequested ??= e.reason;
        return;
      case "CustomStatusUpdated":
      case "KeyValueSet":
      case "KeyValueCleared":
      case "KeyValuesCleared":
        this.applyMetadata(e);
        return;
      default:
        return;
    }
  }

  private applySchedule(e: Event, actionType: Action["type"]): void {
    // Metadata actions emitted before this schedule but not in history are tolerated: skip them.
    while (this.fifo.length > 0 && METADATA_ACTIONS.has(this.fifo[0]!.action.type)) this.fifo.shift();
    const front = this.fifo.shift();
    if (front === undefined) {
      this.fail(`history has ${e.type} at event ${e.event_id} but the orchestration did not schedule anything there (code changed?)`);
    }
    const a = front.action;
    if (a.type !== actionType || !this.sameSchedule(a, e)) {
      this.fail(`schedule mismatch at event ${e.event_id}: history has ${describeEvent(e)} but the orchestration scheduled ${describeAction(a)}`);
    }
    if (front.task) {
      front.task.eventId = e.event_id;
      if (a.type === "WaitExternal" && !front.task.cancelled) this.listFor(this.waits, a.name).push(front.task);
    }
    this.schedules.set(e.event_id, { kind: e.type, task: front.task, event: e });
    if (a.type === "DequeueEvent" && front.task && !front.task.cancelled) {
      this.listFor(this.dequeues, a.name).push(front.task);
      this.matchQueue(a.name);
    }
  }

  private sameSchedule(a: Action, e: Event): boolean {
    switch (a.type) {
      case "CallActivity":
        return e.type === "ActivityScheduled" && e.name === a.name && e.input === a.input && (e.session_id ?? undefined) === a.sessionId && (e.tag ?? undefined) === a.tag;
      case "CreateTimer":
        return e.type === "TimerCreated";
      case "WaitExternal":
        return e.type === "ExternalSubscribed" && e.name === a.name;
      case "DequeueEvent":
        return e.type === "ExternalSubscribedPersistent" && e.name === a.name;
      case "StartSubOrchestration":
        return e.type === "SubOrchestrationScheduled" && e.name === a.name && e.input === a.input;
      case "StartOrchestrationDetached":
        return e.type === "OrchestrationChained" && e.name === a.name && e.instance === a.instance && e.input === a.input;
      default:
        return false;
    }
  }

  private applyCompletion(e: Event, scheduleType: Event["type"]): void {
    const source = e.source_event_id;
    const s = source === null ? undefined : this.schedules.get(source);
    if (s === undefined || s.kind !== scheduleType || this.completed.has(source!)) {
      this.fail(`${e.type} at event ${e.event_id} completes event ${String(source)}, which is not an open ${scheduleType} (code changed?)`);
    }
    this.completed.add(source!);
    const task = s.task;
    if (task === null) return;
    switch (e.type) {
      case "ActivityCompleted":
        return task.settle({ ok: true, value: decodePayload(e.result) });
      case "ActivityFailed":
        return task.settle({ ok: false, error: new ActivityFailedError(renderErrorDetails(e.details), e.details) });
      case "TimerFired":
        return task.settle({ ok: true, value: undefined });
      case "SubOrchestrationCompleted":
        return task.settle({ ok: true, value: decodePayload(e.result) });
      case "SubOrchestrationFailed":
        return task.settle({ ok: false, error: new SubOrchestrationFailedError(renderErrorDetails(e.details), e.details) });
    }
  }

  private applyMetadata(e: Event): void {
    const front = this.fifo[0];
    if (front === undefined) return;
    const a = front.action;
    const matches =
      (e.type === "CustomStatusUpdated" && a.type === "UpdateCustomStatus") ||
      (e.type === "KeyValueSet" && a.type === "SetKeyValue" && a.key === e.key) ||
      (e.type === "KeyValueCleared" && a.type === "ClearKeyValue" && a.key === e.key) ||
      (e.type === "KeyValuesCleared" && a.type === "ClearKeyValues");
    if (!matches) return;
    this.fifo.shift();
    // On replay keep the recorded timestamp rather than this turn's clock.
    if (e.type === "KeyValueSet" && e.value === (a as { value: string }).value) {
      const cur = this.kv.get(e.key);
      if (cur && cur.value === e.value) cur.updatedAtMs = e.last_updated_at_ms ?? cur.updatedAtMs;
    }
  }

  private listFor<T>(m: Map<string, T[]>, name: string): T[] {
    let l = m.get(name);
    if (l === undefined) m.set(name, (l = []));
    return l;
  }

  private pushArrival(name: string, data: string): void {
    this.listFor(this.arrivals, name).push(data);
  }

  /** Pairs queue arrivals with waiting dequeues, FIFO on both sides. */
  private matchQueue(name: string): void {
    const arrivals = this.arrivals.get(name);
    const subs = this.dequeues.get(name);
    while (arrivals && subs && arrivals.length > 0 && subs.length > 0) {
      const task = subs.shift()!;
      if (task.settled) continue; // a cancelled dequeue does not consume
      const data = arrivals.shift()!;
      task.settle({ ok: true, value: decodePayload(data) });
    }
  }

  private removeSubscription(task: LeafTask<unknown>): void {
    for (const m of [this.waits, this.dequeues]) {
      for (const list of m.values()) {
        const i = list.indexOf(task);
        if (i >= 0) list.splice(i, 1);
      }
    }
  }

  // ---------------------------------------------------------------- new actions

  /** Everything still in the FIFO is new: give it an event id and (maybe) outgoing work. */
  private convertNewActions(): void {
    let guard = 0;
    while (this.fifo.length > 0) {
      if (++guard > 1_000_000) {
        this.abortDetails = { type: "Infrastructure", operation: "quiescence_loop", message: "orchestration kept scheduling work without end in one turn", retryable: false };
        return;
      }
      const { action: a, task } = this.fifo.shift()!;
      const e = this.actionEvent(a);
      if (task) task.eventId = e.event_id;
      if (SCHEDULE_EVENT[e.type] !== undefined) {
        this.schedules.set(e.event_id, { kind: e.type, task, event: e });
        this.newWork.push({ action: a, event: e });
      }
      if (a.type === "WaitExternal" && task && !task.cancelled) this.listFor(this.waits, a.name).push(task);
      if (a.type === "DequeueEvent" && task && !task.cancelled) {
        this.listFor(this.dequeues, a.name).push(task);
        this.matchQueue(a.name); // may resume code, which may emit more actions: handled by this loop
      }
    }
  }

  private actionEvent(a: Action): Event {
    switch (a.type) {
      case "CallActivity": {
        const kind: EventKind = { type: "ActivityScheduled", name: a.name, input: a.input };
        if (a.sessionId !== undefined) kind.session_id = a.sessionId;
        if (a.tag !== undefined) kind.tag = a.tag;
        return this.newEvent(kind);
      }
      case "CreateTimer":
        return this.newEvent({ type: "TimerCreated", fire_at_ms: this.input.now + a.delayMs });
      case "WaitExternal":
        return this.newEvent({ type: "ExternalSubscribed", name: a.name });
      case "DequeueEvent":
        return this.newEvent({ type: "ExternalSubscribedPersistent", name: a.name });
      case "StartSubOrchestration": {
        const id = this.nextEventId;
        return this.newEvent({ type: "SubOrchestrationScheduled", name: a.name, instance: a.instance ?? `${this.instanceId}::sub::${id}`, input: a.input });
      }
      case "StartOrchestrationDetached":
        return this.newEvent({ type: "OrchestrationChained", name: a.name, instance: a.instance, input: a.input });
      case "UpdateCustomStatus":
        return this.newEvent({ type: "CustomStatusUpdated", status: a.status });
      case "SetKeyValue":
        return this.newEvent({ type: "KeyValueSet", key: a.key, value: a.value, last_updated_at_ms: a.timestampMs });
      case "ClearKeyValue":
        return this.newEvent({ type: "KeyValueCleared", key: a.key });
      case "ClearKeyValues":
        return this.newEvent({ type: "KeyValuesCleared" });
      case "ContinueAsNew":
        throw new Error("unreachable: continue-as-new is not queued");
    }
  }

  /** Persisted dropped-future breadcrumbs must be reproduced by the code (else it changed). */
  private checkDroppedFutures(): void {
    const droppedNow = new Set<number>();
    for (const t of this.cancelledTasks) if (t.eventId !== null) droppedNow.add(t.eventId);
    for (let i = 0; i < this.persistedLen; i++) {
      const e = this.history[i]!;
      if ((e.type === "ActivityCancelRequested" || e.type === "SubOrchestrationCancelRequested" || e.type === "ExternalSubscribedCancelled" || e.type === "ExternalSubscribedPersistentCancelled") && e.reason === DROPPED_FUTURE) {
        if (e.source_event_id !== null && !droppedNow.has(e.source_event_id)) {
          this.nondeterminism = `history records that the task of event ${e.source_event_id} was dropped, but the orchestration now keeps waiting for it (code changed?)`;
          return;
        }
      }
    }
  }

  private decideOutcome(): TurnOutcome {
    if (this.abortDetails !== null) return { type: "Failed", details: this.abortDetails };
    if (this.cancelRequested !== null) return { type: "Cancelled", reason: this.cancelRequested };
    if (this.continueAsNew !== null) return { type: "ContinueAsNew", ...this.continueAsNew };
    const r = this.rootResult;
    if (r === null) return { type: "Continue" };
    if (r.ok) {
      let output: string | undefined;
      try {
        output = JSON.stringify(r.value === undefined ? null : r.value);
      } catch (err) {
        return failed(`orchestration output is not JSON-serializable: ${(err as Error).message}`, "Panicked");
      }
      return output === undefined ? failed(`orchestration output is not JSON-serializable (${typeof r.value})`, "Panicked") : { type: "Completed", output };
    }
    const err = r.error;
    if (isCrash(err)) return failed(`orchestration panicked: ${err.message}`, "Panicked");
    return failed(err.message, "OrchestrationFailed");
  }

  // ---------------------------------------------------------------- end of turn

  private finish(outcome: TurnOutcome, alreadyTerminal = false, skipCancellations = false): TurnOutput {
    const workerItems: WorkItem[] = [];
    const orchestratorItems: WorkItem[] = [];
    const cancelled: ScheduledActivityIdentifier[] = [];
    const out: TurnOutput = {
      delta: this.delta,
      workerItems,
      orchestratorItems,
      cancelledActivities: cancelled,
      outcome,
      customStatus: this.customStatus,
      kv: this.kv,
      startedEvent: this.started,
    };
    if (alreadyTerminal) return out;
    const terminal = outcome.type !== "Continue";
    const codeDecided = outcome.type === "Continue" || (this.rootResult !== null && (outcome.type === "Completed" || outcome.type === "Failed") && this.abortDetails === null && this.nondeterminism === null);

    // Work from new actions: dispatched only while the orchestration continues; detached starts always.
    for (const { action: a, event: e } of this.newWork) {
      if (a.type === "StartOrchestrationDetached") {
        orchestratorItems.push({ type: "StartOrchestration", instance: a.instance, orchestration: a.name, input: a.input, version: a.version, parent_instance: null, parent_id: null, execution_id: 1 });
        continue;
      }
      if (terminal) continue;
      switch (a.type) {
        case "CallActivity": {
          const item: WorkItem = {
            type: "ActivityExecute",
            instance: this.instanceId,
            execution_id: this.executionId,
            id: e.event_id,
            name: a.name,
            input: a.input,
            orchestration_name: this.orchestrationName,
            orchestration_version: this.orchestrationVersion,
          };
          if (a.sessionId !== undefined) item.session_id = a.sessionId;
          if (a.tag !== undefined) item.tag = a.tag;
          workerItems.push(item);
          break;
        }
        case "CreateTimer":
          if (e.type === "TimerCreated") orchestratorItems.push({ type: "TimerFired", instance: this.instanceId, execution_id: this.executionId, id: e.event_id, fire_at_ms: e.fire_at_ms });
          break;
        case "StartSubOrchestration":
          if (e.type === "SubOrchestrationScheduled") {
            orchestratorItems.push({
              type: "StartOrchestration",
              instance: e.instance,
              orchestration: a.name,
              input: a.input,
              version: a.version,
              parent_instance: this.instanceId,
              parent_id: e.event_id,
              parent_execution_id: this.executionId, // child results are addressed to this execution
              execution_id: 1,
            });
          }
          break;
        default:
          break;
      }
    }

    // Tasks the code stopped waiting for: record breadcrumbs and cancel their work.
    if (codeDecided && !skipCancellations) this.recordDroppedFutures(orchestratorItems, cancelled);
    if (!terminal) return out;

    // Terminal: close open subscriptions, cancel in-flight activities, tell the parent.
    const reasonSuffix = outcome.type === "Completed" ? "completed" : outcome.type === "ContinueAsNew" ? "continued_as_new" : "failed";
    for (const s of this.openSchedules()) {
      const id = s.event.event_id;
      if (s.kind === "ActivityScheduled") {
        this.newEvent({ type: "ActivityCancelRequested", reason: `orchestration_terminal_${reasonSuffix}` }, id);
        cancelled.push({ instance: this.instanceId, execution_id: this.executionId, activity_id: id });
      } else if (s.kind === "SubOrchestrationScheduled" && outcome.type === "Cancelled" && s.event.type === "SubOrchestrationScheduled") {
        this.newEvent({ type: "SubOrchestrationCancelRequested", reason: "parent canceled" }, id);
        orchestratorItems.push({ type: "CancelInstance", instance: s.event.instance, reason: "parent canceled" });
      } else if (s.kind === "ExternalSubscribed") {
        this.newEvent({ type: "ExternalSubscribedCancelled", reason: "orchestration_terminal" }, id);
      } else if (s.kind === "ExternalSubscribedPersistent") {
        this.newEvent({ type: "ExternalSubscribedPersistentCancelled", reason: "orchestration_terminal" }, id);
      }
    }

    const parent = this.started?.parent_instance ?? null;
    const parentId = this.started?.parent_id ?? null;
    const parentExecution = this.started?.parent_execution_id ?? 1;
    switch (outcome.type) {
      case "Completed":
        this.newEvent({ type: "OrchestrationCompleted", output: outcome.output });
        if (parent !== null && parentId !== null) orchestratorItems.push({ type: "SubOrchCompleted", parent_instance: parent, parent_execution_id: parentExecution, parent_id: parentId, result: outcome.output });
        break;
      case "Failed":
      case "Cancelled": {
        const details: ErrorDetails = outcome.type === "Failed" ? outcome.details : { type: "Application", kind: { Cancelled: { reason: outcome.reason } }, message: `canceled: ${outcome.reason}`, retryable: false };
        this.newEvent({ type: "OrchestrationFailed", details });
        if (parent !== null && parentId !== null) orchestratorItems.push({ type: "SubOrchFailed", parent_instance: parent, parent_execution_id: parentExecution, parent_id: parentId, details });
        break;
      }
      case "ContinueAsNew": {
        this.newEvent({ type: "OrchestrationContinuedAsNew", input: outcome.input });
        const carry: [string, string][] = [];
        for (const [name, list] of this.arrivals) for (const data of list) carry.push([name, data]);
        if (carry.length > MAX_CARRY_FORWARD) this.log("warn", `continue-as-new: ${carry.length - MAX_CARRY_FORWARD} unconsumed queue messages dropped (max ${MAX_CARRY_FORWARD})`);
        const item: WorkItem = {
          type: "ContinueAsNew",
          instance: this.instanceId,
          orchestration: this.orchestrationName,
          input: outcome.input,
          version: outcome.version,
          carry_forward_events: carry.slice(0, MAX_CARRY_FORWARD),
        };
        if (this.customStatus !== null) item.initial_custom_status = this.customStatus;
        orchestratorItems.push(item);
        break;
      }
    }
    return out;
  }

  /**
   * Schedules with neither a completion nor a cancel breadcrumb, read from the events themselves
   * (not from replay state), so this also holds when the turn ended before replaying.
   */
  private openSchedules(): { kind: Event["type"]; event: Event }[] {
    const all = new Set<Event>([...this.history, ...this.delta]);
    const closed = new Set<number>();
    for (const e of all) {
      if (e.source_event_id !== null && (COMPLETION_OF[e.type] !== undefined || e.type.endsWith("Cancelled") || e.type.endsWith("CancelRequested"))) closed.add(e.source_event_id);
    }
    const open: { kind: Event["type"]; event: Event }[] = [];
    for (const e of all) {
      if (SCHEDULE_EVENT[e.type] === undefined || closed.has(e.event_id)) continue;
      if (e.type === "ExternalSubscribed" || e.type === "ExternalSubscribedPersistent") {
        // Deliveries carry no source id: only replay state knows whether a subscription is satisfied.
        const task = this.schedules.get(e.event_id)?.task;
        if (!task || task.settled) continue;
      }
      open.push({ kind: e.type, event: e });
    }
    return open.sort((a, b) => a.event.event_id - b.event.event_id);
  }

  private recordDroppedFutures(orchestratorItems: WorkItem[], cancelled: ScheduledActivityIdentifier[]): void {
    const root = this.rootResult !== null;
    // When the code has returned, nothing can wait any more: every pending task is dropped.
    const dropped = new Set<LeafTask<unknown>>(this.cancelledTasks);
    if (root) for (const s of this.schedules.values()) if (s.task && !s.task.settled && s.kind !== "TimerCreated") dropped.add(s.task);
    const ordered = [...dropped].filter((t) => t.eventId !== null).sort((a, b) => a.eventId! - b.eventId!);
    for (const t of ordered) {
      const id = t.eventId!;
      const s = this.schedules.get(id);
      if (s === undefined || this.completed.has(id) || this.cancelBreadcrumbs.has(id)) continue;
      switch (s.kind) {
        case "ActivityScheduled":
          this.newEvent({ type: "ActivityCancelRequested", reason: DROPPED_FUTURE }, id);
          cancelled.push({ instance: this.instanceId, execution_id: this.executionId, activity_id: id });
          break;
        case "SubOrchestrationScheduled":
          if (s.event.type === "SubOrchestrationScheduled") {
            this.newEvent({ type: "SubOrchestrationCancelRequested", reason: DROPPED_FUTURE }, id);
            orchestratorItems.push({ type: "CancelInstance", instance: s.event.instance, reason: "parent dropped sub-orchestration future" });
          }
          break;
        case "ExternalSubscribed":
          this.newEvent({ type: "ExternalSubscribedCancelled", reason: DROPPED_FUTURE }, id);
          break;
        case "ExternalSubscribedPersistent":
          this.newEvent({ type: "ExternalSubscribedPersistentCancelled", reason: DROPPED_FUTURE }, id);
          break;
        default:
          break;
      }
      this.cancelBreadcrumbs.set(id, DROPPED_FUTURE);
    }
  }
}

function failed(message: string, kind: "OrchestrationFailed" | "Panicked"): TurnOutcome {
  return { type: "Failed", details: { type: "Application", kind, message, retryable: false } };
}

function describeEvent(e: Event): string {
  switch (e.type) {
    case "ActivityScheduled":
      return `activity "${e.name}" with input ${clip(e.input)}${e.tag ? ` tagged "${e.tag}"` : ""}${e.session_id ? ` on session "${e.session_id}"` : ""}`;
    case "TimerCreated":
      return "a timer";
    case "ExternalSubscribed":
      return `a wait for event "${e.name}"`;
    case "ExternalSubscribedPersistent":
      return `a dequeue from "${e.name}"`;
    case "SubOrchestrationScheduled":
      return `sub-orchestration "${e.name}" with input ${clip(e.input)}`;
    case "OrchestrationChained":
      return `detached orchestration "${e.name}" (${e.instance})`;
    default:
      return e.type;
  }
}

/**
 * Drives one generator: resumes it with each settled task's outcome until it blocks on an unsettled
 * task or finishes. Tasks it yields that are already settled resume it at once, in a loop (no
 * recursion), so long replays do not grow the stack.
 */
class Coroutine<T> extends DurableTask<T> {
  private gen: Generator<DurableTask<any>, T, unknown> | null = null;
  private waitingOn: DurableTask<unknown> | null = null;

  start(gen: Generator<DurableTask<any>, T, unknown>): void {
    this.gen = gen;
    this.step({ ok: true, value: undefined });
  }

  private step(input: Settlement<unknown>): void {
    const gen = this.gen!;
    let next = input;
    for (;;) {
      if (this.settled) return;
      let r: IteratorResult<DurableTask<unknown>, T>;
      try {
        r = next.ok ? gen.next(next.value) : gen.throw(next.error);
      } catch (err) {
        if (err instanceof Nondeterminism) throw err;
        this.settle({ ok: false, error: errorOf(err) });
        return;
      }
      if (r.done) {
        this.settle({ ok: true, value: r.value });
        return;
      }
      const task = r.value;
      if (!(task instanceof DurableTask)) {
        const what = task !== null && typeof task === "object" && typeof (task as { then?: unknown }).then === "function" ? "a Promise" : typeof task;
        next = { ok: false, error: new OrchestrationUsageError(`orchestrations may only yield durable tasks from ctx (yield* ctx.scheduleActivity(...)), not ${what}; use activities for I/O`) };
        continue;
      }
      if (task.settled) {
        next = task.settlement;
        continue;
      }
      this.waitingOn = task;
      task.onSettle((t) => {
        if (this.waitingOn !== t) return;
        this.waitingOn = null;
        this.step(t.settlement);
      });
      return;
    }
  }

  protected override cancelChildren(): void {
    this.waitingOn?.cancel();
  }
}

/** Runs one orchestration turn. Pure: same input, same output. */
export function runTurn(input: TurnInput): TurnOutput {
  return new Turn(input).run();
}
