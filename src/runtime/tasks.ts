/**
 * Durable tasks: what orchestration code yields. A task settles at most once, synchronously, when
 * the replay engine applies the history event that completes it; settling resumes whoever waits on
 * it in the same call stack. That synchronous cascade is what delivers exactly one completion per
 * resume of user code, in history order.
 */
import type { ErrorDetails } from "../core/error-details.ts";
import { DuroxideError } from "../core/errors.ts";
import { toError } from "../core/thrown-value.ts";

export type Settlement<T> = { ok: true; value: T } | { ok: false; error: Error };

/** The error a failed task throws into orchestration code. */
export class TaskFailedError extends DuroxideError {
  override name = "TaskFailedError";
  constructor(
    message: string,
    /** The persisted failure, when the task failed durably (activity or sub-orchestration). */
    readonly details: ErrorDetails | null = null,
  ) {
    super(message);
  }
}

export class ActivityFailedError extends TaskFailedError {
  override name = "ActivityFailedError";
}

export class SubOrchestrationFailedError extends TaskFailedError {
  override name = "SubOrchestrationFailedError";
}

/** Thrown by a cancelled task (a race loser, or `task.cancel()`) if it is awaited afterwards. */
export class TaskCancelledError extends TaskFailedError {
  override name = "TaskCancelledError";
}

/** Misuse of the orchestration API (yielding a promise, withTag on a timer, ...). Fails the turn. */
export class OrchestrationUsageError extends DuroxideError {
  override name = "OrchestrationUsageError";
}

/** Hooks the owning turn provides; tasks never touch the engine otherwise. */
export interface TaskHost {
  /** Called when a task is cancelled so the turn can record a breadcrumb for it. */
  onCancel(task: DurableTask<unknown>): void;
}

export abstract class DurableTask<T> {
  // Typed loosely so DurableTask<string> is assignable to DurableTask<unknown> (covariant use).
  private state: Settlement<any> | null = null;
  private listeners: Array<(t: any) => void> = [];
  private cancelledFlag = false;

  constructor(protected readonly host: TaskHost) {}

  get settled(): boolean {
    return this.state !== null;
  }

  get cancelled(): boolean {
    return this.cancelledFlag;
  }

  /** The settlement; only valid once settled. */
  get settlement(): Settlement<T> {
    if (this.state === null) throw new Error("task is not settled");
    return this.state;
  }

  /** Lets `const v = yield* task` give the task's typed result. */
  *[Symbol.iterator](): Generator<DurableTask<T>, T, any> {
    return (yield this) as T;
  }

  /** @internal Settles once; later calls are ignored (a late completion of a cancelled task). */
  settle(s: Settlement<T>): void {
    if (this.state !== null) return;
    this.state = s;
    const ls = this.listeners;
    this.listeners = [];
    for (const l of ls) l(this);
  }

  /** @internal Registers a callback for settlement (called at once if already settled). */
  onSettle(fn: (t: DurableTask<T>) => void): void {
    if (this.state !== null) fn(this);
    else this.listeners.push(fn);
  }

  /**
   * Stops waiting for this task. Its scheduled work is cancelled durably (an activity's worker sees
   * its AbortSignal, a sub-orchestration is cancelled); awaiting it afterwards throws TaskCancelledError.
   */
  cancel(): void {
    if (this.state !== null || this.cancelledFlag) return;
    this.cancelledFlag = true;
    this.cancelChildren();
    this.host.onCancel(this);
    this.settle({ ok: false, error: new TaskCancelledError("task was cancelled") });
  }

  protected cancelChildren(): void {}

  /** A task with the same lifetime whose result is `fn(result)`. */
  map<U>(fn: (value: T) => U): DurableTask<U> {
    return new MappedTask(this.host, this, fn);
  }
}

/** A task bound to one scheduled action (activity, timer, wait, sub-orchestration, ...). */
export class LeafTask<T> extends DurableTask<T> {
  constructor(
    host: TaskHost,
    /** @internal The emitted action; mutable until the turn binds it (for withTag). */
    readonly action: import("./actions.ts").Action,
  ) {
    super(host);
  }

  /** @internal Set when the action is matched to its schedule event. */
  eventId: number | null = null;

  /** Routes an activity to workers whose tag filter accepts `tag`. Call it right after scheduling. */
  withTag(tag: string): this {
    if (this.action.type !== "CallActivity") {
      throw new OrchestrationUsageError(`withTag applies to activities only, not to ${this.action.type}`);
    }
    if (this.eventId !== null) throw new OrchestrationUsageError("withTag must be called right after scheduleActivity, before yielding");
    if (typeof tag !== "string" || tag.length === 0) throw new OrchestrationUsageError("a tag must be a non-empty string");
    this.action.tag = tag;
    return this;
  }
}

class MappedTask<T, U> extends DurableTask<U> {
  constructor(
    host: TaskHost,
    private readonly inner: DurableTask<T>,
    fn: (value: T) => U,
  ) {
    super(host);
    inner.onSettle((t) => {
      const s = t.settlement;
      if (!s.ok) return this.settle(s);
      try {
        this.settle({ ok: true, value: fn(s.value) });
      } catch (err) {
        this.settle({ ok: false, error: toError(err, "orchestration") }); // any thrown value, described safely
      }
    });
  }

  protected override cancelChildren(): void {
    this.inner.cancel();
  }
}

/** All tasks, results in argument order; fails with the first failure to happen (history order). */
export class AllTask<T> extends DurableTask<T[]> {
  constructor(host: TaskHost, private readonly tasks: DurableTask<T>[]) {
    super(host);
    let remaining = tasks.length;
    if (remaining === 0) {
      this.settle({ ok: true, value: [] });
      return;
    }
    for (const t of tasks) {
      t.onSettle((done) => {
        const s = done.settlement;
        if (!s.ok) return this.settle(s);
        if (--remaining === 0) this.settle({ ok: true, value: tasks.map((x) => (x.settlement as { value: T }).value) });
      });
    }
  }

  protected override cancelChildren(): void {
    for (const t of this.tasks) t.cancel();
  }
}

/** All tasks, each outcome reported, in argument order; never fails. */
export class AllSettledTask<T> extends DurableTask<Settlement<T>[]> {
  constructor(host: TaskHost, private readonly tasks: DurableTask<T>[]) {
    super(host);
    let remaining = tasks.length;
    if (remaining === 0) {
      this.settle({ ok: true, value: [] });
      return;
    }
    for (const t of tasks) {
      t.onSettle(() => {
        if (--remaining === 0) this.settle({ ok: true, value: tasks.map((x) => x.settlement) });
      });
    }
  }

  protected override cancelChildren(): void {
    for (const t of this.tasks) t.cancel();
  }
}

export interface RaceResult<T> {
  /** Argument position of the winner. */
  index: number;
  value: T;
}

/**
 * The first task to settle wins (history order; if several are already settled, the earliest
 * argument); the others are cancelled. A failed winner makes the race fail with its error.
 */
export class RaceTask<T> extends DurableTask<RaceResult<T>> {
  constructor(host: TaskHost, private readonly tasks: DurableTask<T>[]) {
    super(host);
    if (tasks.length === 0) throw new OrchestrationUsageError("race needs at least one task");
    tasks.forEach((t, index) =>
      t.onSettle((done) => {
        if (this.settled) return;
        const s = done.settlement;
        // Settle first, so cancelling the losers cannot re-enter this race.
        if (s.ok) this.settle({ ok: true, value: { index, value: s.value } });
        else this.settle({ ok: false, error: s.error });
        tasks.forEach((other, j) => j !== index && other.cancel());
      }),
    );
  }

  protected override cancelChildren(): void {
    for (const t of this.tasks) t.cancel();
  }
}

/** A task that never settles (continue-as-new). */
export class NeverTask<T> extends DurableTask<T> {}
