/**
 * duroxide/testing: helpers for unit-testing orchestrations without a runtime or a store, a
 * fault-injecting provider wrapper, and a throw-away PostgreSQL server for tests that need one.
 *
 * The replay engine is a pure function from (history, new messages, handler) to the turn's
 * output: the events it appends, the work it schedules and how the execution ends. Feed it a
 * hand-written history to check that a new version of an orchestration still replays the old
 * one's histories (no nondeterminism), or what it does next.
 */
import type { Event } from "./core/events.ts";
import type { WorkItem } from "./core/work-items.ts";
import { ValidationError } from "./core/errors.ts";
import { validateEvent } from "./core/events.ts";
import { validateWorkItem } from "./core/work-items.ts";
import type { OrchestrationHandler } from "./runtime/handler-types.ts";
import { RUNTIME_VERSION } from "./runtime/options.ts";
import { runTurn, type TurnInput, type TurnOutput } from "./runtime/replay-engine.ts";

export { runTurn, type TurnInput, type TurnOutput, type TurnOutcome } from "./runtime/replay-engine.ts";
/** A Provider wrapper that injects faults (retryable, reply lost, plain, permanent, latency), reproducibly from a seed. */
export {
  FaultInjectingProvider,
  FAULT_MODES,
  FAULTABLE_PROVIDER_METHODS,
  FAULTABLE_ADMIN_METHODS,
  type FaultInjectingOptions,
  type FaultMode,
  type FaultStats,
  type FaultableMethod,
} from "./testing/fault-injecting-provider.ts";
/** A throw-away PostgreSQL server for a provider repo's tests (see the PostgreSQL section of the README). */
export {
  startThrowawayPostgres,
  findPostgresBinaries,
  type ThrowawayPostgres,
  type ThrowawayPostgresOptions,
} from "./testing/throwaway-postgres.ts";

export interface ReplayOptions {
  /** Messages delivered in this turn (completions, raised events), after the history. Default none. */
  messages?: WorkItem[];
  /** Wall clock the turn sees for new events; default the last history event's timestamp. */
  now?: number;
}

/**
 * Replays `history` (one execution, starting with OrchestrationStarted) through `handler` and
 * returns the turn's output. A nondeterministic handler ends with `outcome.type === "Failed"` and
 * a details message naming the mismatch.
 */
export function replayHistory(handler: OrchestrationHandler, history: Event[], options: ReplayOptions = {}): TurnOutput {
  if (typeof handler !== "function") throw new ValidationError("replayHistory needs an orchestration handler (a generator function)");
  if (!Array.isArray(history) || history.length === 0) throw new ValidationError("replayHistory needs a non-empty history starting with OrchestrationStarted");
  if (typeof options !== "object" || options === null) throw new ValidationError("replayHistory options must be an object ({ messages?, now? })");
  const messages = options.messages ?? [];
  if (!Array.isArray(messages)) throw new ValidationError("replayHistory options.messages must be an array of work items");
  history.forEach((e) => validateEvent(e));
  messages.forEach((m) => validateWorkItem(m));
  if (options.now !== undefined && !Number.isFinite(options.now)) throw new ValidationError(`replayHistory options.now must be a finite number of ms, got ${String(options.now)}`);
  const first = history[0]!;
  if (first.type !== "OrchestrationStarted") throw new ValidationError(`history must start with OrchestrationStarted, got ${first.type}`);
  const input: TurnInput = {
    instance: first.instance_id,
    executionId: first.execution_id,
    history,
    messages,
    handler,
    kvSnapshot: {},
    now: options.now ?? history[history.length - 1]!.timestamp_ms,
    runtimeVersion: RUNTIME_VERSION,
  };
  return runTurn(input);
}
