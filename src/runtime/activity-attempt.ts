/**
 * One running attempt of an activity: its cancellation signal and the one-shot race that ends it
 * (docs/runtime-semantics.md §1.5 steps 4-6). The race ends with the first of:
 * - the handler's own result or error;
 * - TIMED_OUT, when the attempt ran past activityTimeoutMs (`timeOut`);
 * - GRACE_EXPIRED, a grace period after any other cancellation (`abort`) the handler did not end;
 * - SHUT_DOWN, when shutdown cuts the activities still running (`cut`).
 *
 * Why not `Promise.race` over a long-lived shutdown promise: every race adds a reaction to that
 * promise which is only released when it settles, so each attempt's outcome (its result value)
 * stayed reachable until shutdown, a leak of every activity's result in a long-running worker.
 * Each path here settles the attempt directly and leaves nothing behind.
 *
 * The AbortSignal is made only when the handler reads `ctx.signal`: most handlers never do, and an
 * AbortController per attempt was a measurable share of a 0 ms activity's cost.
 */
import type { ErrorDetails } from "../core/error-details.ts";
import { activityFailureDetails } from "./activity-failure.ts";

/** The attempt's cancellation grace period ran out (the handler ignored its signal). */
export const GRACE_EXPIRED = Symbol("grace expired");
/** The attempt ran past activityTimeoutMs. */
export const TIMED_OUT = Symbol("timed out");
/** Shutdown cut the activity (its item is handed back, not acked). */
export const SHUT_DOWN = Symbol("shut down");

export type HandlerOutcome = { ok: true; value: unknown } | { ok: false; details: ErrorDetails };
export type AttemptEnd = HandlerOutcome | typeof GRACE_EXPIRED | typeof TIMED_OUT | typeof SHUT_DOWN;

export class ActivityAttempt {
  private controller: AbortController | null = null;
  private reason: unknown = undefined;
  private isAborted = false;
  private isSettled = false;
  private resolveEnd: (end: AttemptEnd) => void = () => {};
  private graceTimer: ReturnType<typeof setTimeout> | null = null;
  /** Resolves once, with how the attempt ended. */
  readonly ended: Promise<AttemptEnd>;

  constructor(private readonly gracePeriodMs: number) {
    this.ended = new Promise<AttemptEnd>((resolve) => (this.resolveEnd = resolve));
  }

  /** The signal handed to the handler as `ctx.signal`; already aborted (with the reason) when the attempt was. */
  get signal(): AbortSignal {
    if (this.controller === null) {
      this.controller = new AbortController();
      if (this.isAborted) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  get aborted(): boolean {
    return this.isAborted;
  }

  /** Runs the handler (synchronously up to its first await, as an async function would). */
  run(call: () => unknown): void {
    let result: Promise<unknown>;
    try {
      // Promise.resolve inside the try too: adopting a hostile thenable or promise subclass (a
      // throwing `constructor` getter) may throw synchronously, as `await` would have rejected.
      result = Promise.resolve(call());
    } catch (err) {
      // Anything may be thrown; describing it never throws (docs/runtime-semantics.md §1.5 step 6).
      this.settle({ ok: false, details: activityFailureDetails(err) });
      return;
    }
    result.then(
      (value) => this.settle({ ok: true, value }),
      (err) => this.settle({ ok: false, details: activityFailureDetails(err) }),
    );
  }

  /** Cancels the attempt (lock lost, activity cancelled, shutting down): the signal fires and the grace period starts. */
  abort(reason: unknown): void {
    if (!this.fire(reason) || this.isSettled) return;
    this.graceTimer = setTimeout(() => this.settle(GRACE_EXPIRED), this.gracePeriodMs);
  }

  /** The attempt ran past its time limit: it ends now, then its signal fires with `reason`. */
  timeOut(reason: unknown): void {
    // Already cancelled or shutting down: the grace period and the abandon handle it.
    if (this.isAborted) return;
    // Settle first, so a handler that reacts to the signal at once cannot win the race.
    this.settle(TIMED_OUT);
    this.fire(reason);
  }

  /** Shutdown gave up waiting: the attempt ends now, whatever the handler does. */
  cut(): void {
    this.settle(SHUT_DOWN);
  }

  /** Marks the attempt aborted and fires the signal if one was handed out; false when it already was. */
  private fire(reason: unknown): boolean {
    if (this.isAborted) return false;
    this.isAborted = true;
    this.reason = reason;
    this.controller?.abort(reason);
    return true;
  }

  private settle(end: AttemptEnd): void {
    if (this.isSettled) return;
    this.isSettled = true;
    if (this.graceTimer !== null) clearTimeout(this.graceTimer);
    this.graceTimer = null;
    this.resolveEnd(end);
  }
}
