/**
 * What one turn's phases share: the event log (persisted history, then this turn's delta), the
 * tasks bound to schedule events, the open subscriptions, and what the code decided. It is also
 * the orchestration context's host, so the code's scheduling calls land here.
 */
import type { ErrorDetails } from "../../core/error-details.ts";
import type { Event, EventKind, EventOf } from "../../core/events.ts";
import type { Action } from "../actions.ts";
import { OrchestrationContext, type ContextHost } from "../context.ts";
import type { LogLevel } from "../options.ts";
import { Coroutine, Nondeterminism } from "../coroutine.ts";
import type { TurnInput } from "./turn-types.ts";
import { LeafTask, type DurableTask, type Settlement } from "../tasks.ts";
import { Subscriptions } from "./subscriptions.ts";

/** Reason recorded for tasks the code stopped waiting for. */
export const DROPPED_FUTURE = "dropped_future";

/** Schedule events, with the action each one records. */
export const SCHEDULE_EVENT: Partial<Record<Event["type"], Action["type"]>> = {
  ActivityScheduled: "CallActivity",
  TimerCreated: "CreateTimer",
  ExternalSubscribed: "WaitExternal",
  ExternalSubscribedPersistent: "DequeueEvent",
  SubOrchestrationScheduled: "StartSubOrchestration",
  OrchestrationChained: "StartOrchestrationDetached",
};

/** Completion events, with the schedule event each one completes. */
export const COMPLETION_OF: Partial<Record<Event["type"], Event["type"]>> = {
  ActivityCompleted: "ActivityScheduled",
  ActivityFailed: "ActivityScheduled",
  TimerFired: "TimerCreated",
  SubOrchestrationCompleted: "SubOrchestrationScheduled",
  SubOrchestrationFailed: "SubOrchestrationScheduled",
};


/** Where replay left history: the event, what history records there, what the code did instead. */
export interface Divergence {
  /** The history event where code and history part (null when no single event is to blame). */
  eventId: number | null;
  historyHas: string;
  codeDid: string;
}

export interface Schedule {
  kind: Event["type"];
  task: LeafTask<unknown> | null;
  event: Event;
}

export class TurnState implements ContextHost {
  readonly instanceId: string;
  readonly executionId: number;
  orchestrationName = "";
  orchestrationVersion = "";
  customStatus: string | null = null;
  readonly kv = new Map<string, { value: string; updatedAtMs: number }>();

  readonly history: Event[];
  /** History events already committed when the turn began (the rest of `history` is staged messages). */
  persistedLen: number;
  delta: Event[] = [];
  nextEventId: number;
  replaying: boolean;

  /** Emitted actions not yet matched to history, in emission order. */
  readonly fifo: { action: Action; task: LeafTask<unknown> | null }[] = [];
  readonly schedules = new Map<number, Schedule>();
  readonly completed = new Set<number>();
  /**
   * Schedules that may still append an event (no completion yet), so counting what the execution
   * waits for does not rescan the whole history every turn (turn-output.ts pendingEvents).
   */
  readonly unfinished = new Set<number>();
  /** Sources with a cancel breadcrumb in history (any reason). */
  readonly cancelBreadcrumbs = new Map<number, string>();
  readonly subscriptions = new Subscriptions();
  cancelledTasks: LeafTask<unknown>[] = [];
  /** Schedules created this turn, whose work the turn's output sends. */
  newWork: { action: Action; event: Event }[] = [];
  /**
   * Set when the turn ended with the code still running and nothing cut it short (outcome
   * Continue after a full run): only then may the live state serve the next turn
   * (docs/runtime-semantics.md §2.12).
   */
  resumable = false;
  /** What stageMessages knows about the history (stage-messages.ts), kept for a resumed turn. */
  staging: unknown = null;

  cancelRequested: string | null = null;
  continueAsNew: { input: string; version: string | null } | null = null;
  abortDetails: ErrorDetails | null = null;
  nondeterminism: string | null = null;
  /**
   * The first nondeterminism as parts (where, what history has, what the code did), for tools
   * that report it (duroxide/testing replayHistory, docs/runtime-semantics.md §2.8); set with
   * `nondeterminism` when the phase that found it knows the parts.
   */
  divergence: Divergence | null = null;
  rootResult: Settlement<unknown> | null = null;
  started: EventOf<"OrchestrationStarted"> | null = null;
  readonly ctx: OrchestrationContext;

  constructor(public input: TurnInput) {
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

  /**
   * After the turn's delta is committed: the delta becomes persisted history, as a full replay of
   * the committed history would have it. Cancel breadcrumbs written by the turn take effect as
   * apply() gives them on replay (apply-history.ts). Called once, by the instance cache.
   */
  absorbCommittedDelta(): void {
    const staged = this.history.length - this.persistedLen; // started + staged messages: delta's first events
    for (let i = staged; i < this.delta.length; i++) {
      const e = this.delta[i]!;
      this.history.push(e);
      if (e.source_event_id !== null && (e.type === "ActivityCancelRequested" || e.type === "SubOrchestrationCancelRequested" || e.type === "ExternalSubscribedCancelled" || e.type === "ExternalSubscribedPersistentCancelled")) {
        this.cancelBreadcrumbs.set(e.source_event_id, e.reason);
        const s = this.schedules.get(e.source_event_id);
        if (s?.task) this.subscriptions.remove(s.task);
      }
    }
    this.persistedLen = this.history.length;
  }

  /** Starts the next turn on this live state: new input, an empty delta, no work yet. */
  beginResumedTurn(input: TurnInput): void {
    this.input = input;
    this.delta = [];
    this.newWork = [];
    this.cancelledTasks = [];
    this.resumable = false;
    this.replaying = false;
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

  activityRetried(name: string, tag: string | undefined): void {
    this.input.onActivityRetry?.(name, tag);
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

  // ---------------------------------------------------------------- shared by the phases

  /** Takes the execution's identity and initial custom status from its OrchestrationStarted. */
  adoptStarted(e: EventOf<"OrchestrationStarted">): void {
    this.started = e;
    this.orchestrationName = e.name;
    this.orchestrationVersion = e.version;
    this.customStatus = e.initial_custom_status ?? null;
  }

  /** Appends an event of this execution to the delta, with the next event id. */
  newEvent(kind: EventKind, source: number | null = null): Event {
    const e = {
      event_id: this.nextEventId++,
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

  /** Records the first nondeterminism and abandons the code. */
  fail(message: string, divergence?: Divergence): never {
    this.diverge(message, divergence);
    throw new Nondeterminism(message);
  }

  /** Records the first nondeterminism (message and, when known, its parts) without unwinding. */
  diverge(message: string, divergence?: Divergence): void {
    if (this.nondeterminism !== null) return;
    this.nondeterminism = message;
    this.divergence = divergence ?? null;
  }

  /** Binds an action's task to its schedule event; a wait or dequeue also starts listening. */
  bindSchedule(a: Action, task: LeafTask<unknown> | null, e: Event): void {
    if (task) task.eventId = e.event_id;
    this.schedules.set(e.event_id, { kind: e.type, task, event: e });
    this.unfinished.add(e.event_id);
    if (task === null || task.cancelled) return;
    if (a.type === "WaitExternal") this.subscriptions.wait(a.name, task);
    else if (a.type === "DequeueEvent") this.subscriptions.dequeue(a.name, task); // may resume code
  }
}
