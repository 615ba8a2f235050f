/**
 * Coroutines: orchestration code (a generator) run as a durable task. The root orchestration and
 * every `ctx`-spawned body is one; it settles when its generator returns or throws.
 */
import { isInstance, toError } from "../core/thrown-value.ts";
import { DurableTask, OrchestrationUsageError, type Settlement, type TaskHost } from "./tasks.ts";

/**
 * Raised inside the engine to abandon user code on nondeterminism. It can surface in a coroutine's
 * call stack (a settle cascade), so coroutines let it pass rather than hand it to the code.
 */
export class Nondeterminism extends Error {}

/**
 * What orchestration code threw, as the Error its awaiter (or the turn's outcome) sees. Any value
 * may be thrown; describing it never throws (a BigInt or a cyclic object used to crash the turn
 * here, so the batch was redelivered until poisoned: docs/runtime-semantics.md §2.7).
 */
export function errorOf(v: unknown): Error {
  return toError(v, "orchestration");
}

/**
 * Drives one generator: resumes it with each settled task's outcome until it blocks on an unsettled
 * task or finishes. Tasks it yields that are already settled resume it at once, in a loop (no
 * recursion), so long replays do not grow the stack.
 */
export class Coroutine<T> extends DurableTask<T> {
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
      let done: boolean;
      let yielded: unknown;
      try {
        const r = next.ok ? gen.next(next.value) : gen.throw(next.error);
        // Read inside the try: a hand-written iterator may return anything (docs/runtime-semantics.md §7).
        done = r.done === true;
        yielded = r.value;
      } catch (err) {
        if (isInstance(err, Nondeterminism)) throw err;
        this.settle({ ok: false, error: errorOf(err) });
        return;
      }
      if (done) {
        this.settle({ ok: true, value: yielded as T });
        return;
      }
      if (!isInstance(yielded, DurableTask)) {
        next = { ok: false, error: notADurableTask(yielded) };
        continue;
      }
      const task: DurableTask<unknown> = yielded;
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

/** Thrown back into code that yielded something else, so it fails where the mistake is. */
function notADurableTask(value: unknown): OrchestrationUsageError {
  const what = isThenable(value) ? "a Promise" : typeof value;
  return new OrchestrationUsageError(`orchestrations may only yield durable tasks from ctx (yield* ctx.scheduleActivity(...)), not ${what}; use activities for I/O`);
}

/** Whether `value` looks like a Promise; false when even asking throws (a getter or a Proxy trap). */
function isThenable(value: unknown): boolean {
  try {
    return value !== null && typeof value === "object" && typeof (value as { then?: unknown }).then === "function";
  } catch {
    return false;
  }
}

/** Whether `start()` gave something with a `next` method; false when asking throws. */
function isIterator(value: unknown): value is Generator<DurableTask<any>, unknown, unknown> {
  try {
    return value !== null && typeof value === "object" && typeof (value as Generator).next === "function";
  } catch {
    return false;
  }
}

/**
 * Runs orchestration code as the root coroutine. `onDone` receives its settlement, including when
 * `start` throws or does not return a generator, so the turn always learns how the code ended.
 */
export function startRootCoroutine(host: TaskHost, start: () => unknown, onDone: (s: Settlement<unknown>) => void): void {
  const root = new Coroutine<unknown>(host);
  root.onSettle((t) => onDone(t.settlement));
  let gen: unknown;
  try {
    gen = start();
  } catch (err) {
    onDone({ ok: false, error: errorOf(err) });
    return;
  }
  if (!isIterator(gen)) {
    onDone({ ok: false, error: new OrchestrationUsageError("an orchestration must be a generator function (function*), it returned " + typeof gen) });
    return;
  }
  root.start(gen);
}
