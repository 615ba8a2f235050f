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
import { decodePayload } from "../core/payload.ts";
import { isTerminalEvent } from "../core/status.ts";
import { Nondeterminism, startRootCoroutine } from "./coroutine.ts";
import { checkDroppedFutures, replayHistory } from "./replay/apply-history.ts";
import { convertNewActions } from "./replay/new-actions.ts";
import { stageMessages } from "./replay/stage-messages.ts";
import { decideOutcome, finishTurn, turnOutput } from "./replay/turn-output.ts";
import { TurnState } from "./replay/turn-state.ts";
import type { TurnInput, TurnOutput } from "./replay/turn-types.ts";
import type { EventOf } from "../core/events.ts";

export { MAX_CARRY_FORWARD } from "./replay/turn-output.ts";
export { DROPPED_FUTURE } from "./replay/turn-state.ts";

export type { TurnInput, TurnOutcome, TurnOutput } from "./replay/turn-types.ts";
export { TurnState } from "./replay/turn-state.ts";

function failNondeterministic(turn: TurnState): TurnOutput {
  return finishTurn(turn, {
    type: "Failed",
    details: { type: "Configuration", kind: "Nondeterminism", resource: turn.orchestrationName, message: turn.nondeterminism },
  });
}

function startRoot(turn: TurnState, started: EventOf<"OrchestrationStarted">): void {
  startRootCoroutine(turn, () => turn.input.handler(turn.ctx, decodePayload(started.input)), (s) => {
    turn.rootResult = s;
  });
}

function run(turn: TurnState): TurnOutput {
  stageMessages(turn);
  const first = turn.history[0];
  if (first?.type === "OrchestrationStarted") turn.adoptStarted(first);
  if (turn.input.abort) {
    turn.abortDetails = turn.input.abort;
    turn.nondeterminism = null;
    turn.divergence = null;
  }
  if (turn.abortDetails !== null) return finishTurn(turn, { type: "Failed", details: turn.abortDetails });
  if (turn.nondeterminism !== null) return failNondeterministic(turn);
  if (first === undefined || first.type !== "OrchestrationStarted") {
    turn.nondeterminism = "corrupted history: the first event is not OrchestrationStarted";
    return failNondeterministic(turn);
  }
  // A finished execution only records late messages; the code does not run again.
  if (turn.history.some(isTerminalEvent)) return turnOutput(turn, { type: "Continue" });

  startRoot(turn, first);
  replayHistory(turn);
  if (turn.nondeterminism === null) convertNewActions(turn);
  if (turn.nondeterminism === null) checkDroppedFutures(turn);
  if (turn.nondeterminism !== null) return failNondeterministic(turn);
  return finishLive(turn);
}

/** Ends a turn whose code ran; the live state may serve the next turn only if it goes on waiting. */
function finishLive(turn: TurnState): TurnOutput {
  const outcome = decideOutcome(turn);
  const out = finishTurn(turn, outcome);
  turn.resumable = outcome.type === "Continue" && turn.nondeterminism === null && turn.abortDetails === null && turn.rootResult === null && turn.fifo.length === 0;
  return out;
}

/**
 * A resumed turn: the live state already applied the committed history, so only this turn's
 * messages are staged and applied, as a full replay would apply them after that history. Persisted
 * dropped-future breadcrumbs were reproduced by the live code itself, so they are not re-checked.
 * A terminal outcome the code reaches (return, throw, continue-as-new, cancellation) is finished
 * here like in a full replay: every phase of finishTurn reads state both paths build alike, and
 * running the code a second time would repeat its last step's traces. Null when the turn hit an
 * abort or nondeterminism: those paths read replay state a full replay would not have built (it
 * stops before running the code), so the caller redoes the turn with runTurn; if the messages
 * caused it, no user code ran here (docs/runtime-semantics.md §2.12).
 */
function resume(turn: TurnState): TurnOutput | null {
  const from = turn.history.length;
  stageMessages(turn);
  if (turn.abortDetails !== null || turn.nondeterminism !== null) return null;
  replayHistory(turn, from);
  if (turn.nondeterminism !== null) return null;
  convertNewActions(turn);
  if (turn.nondeterminism !== null || turn.abortDetails !== null) return null;
  return finishLive(turn);
}

function guarded(turn: TurnState, body: (t: TurnState) => TurnOutput): TurnOutput {
  try {
    return body(turn);
  } catch (err) {
    turn.resumable = false;
    if (err instanceof Nondeterminism) return failNondeterministic(turn);
    throw err;
  }
}

/** Runs one orchestration turn. Pure: same input, same output. */
export function runTurn(input: TurnInput): TurnOutput {
  return runLiveTurn(input).output;
}

/** A turn's output and the state it leaves; `live.resumable` says whether resumeTurn may continue it. */
export interface LiveTurnResult {
  output: TurnOutput;
  live: TurnState;
}

/** runTurn, also handing back the live state (generator, tasks, replay state) it ends with. */
export function runLiveTurn(input: TurnInput): LiveTurnResult {
  const turn = new TurnState(input);
  return { output: guarded(turn, run), live: turn };
}

/**
 * Continues a live state left by a resumable turn whose delta was committed and absorbed
 * (TurnState.absorbCommittedDelta), with the next turn's input. The caller proves that
 * `input.history` is exactly the history the live state stands for (instance-cache.ts); the
 * output is what runTurn(input) would give (docs/runtime-semantics.md §2.12); null means "run it
 * with runTurn instead". The state is consumed either way: only a returned `live` may be kept.
 */
export function resumeTurn(live: TurnState, input: TurnInput): LiveTurnResult | null {
  if (!live.resumable || live.persistedLen !== live.history.length || input.abort !== undefined || input.started !== undefined) {
    throw new Error("resumeTurn: the live state cannot be resumed with this input (a caller bug; use runTurn)");
  }
  live.beginResumedTurn(input);
  try {
    const output = resume(live);
    return output === null ? null : { output, live };
  } catch {
    // Whatever escaped (nondeterminism, an engine bug) the full replay meets again and handles.
    live.resumable = false;
    return null;
  }
}
