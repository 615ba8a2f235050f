/**
 * duroxide/testing: helpers for unit-testing orchestrations without a runtime or a store, a
 * fault-injecting provider wrapper, and a throw-away PostgreSQL server for tests that need one.
 *
 * The replay engine is a pure function from (history, new messages, handler) to the turn's
 * output: the events it appends, the work it schedules and how the execution ends. `replayHistory`
 * feeds it a recorded or hand-written history and the orchestrations a deploy would run, and throws
 * a NondeterminismError naming the first divergence when the code no longer fits (the CLI's
 * `duroxide replay` runs it over a whole store).
 */
/** The pre-deploy replay check: throws NondeterminismError at the first divergence. */
export { replayHistory, type ReplayOptions, type ReplayOrchestrations } from "./testing/replay-history.ts";
export { NondeterminismError } from "./core/errors.ts";
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
