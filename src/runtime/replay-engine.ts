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
  return finishTurn(turn, decideOutcome(turn));
}

/** Runs one orchestration turn. Pure: same input, same output. */
export function runTurn(input: TurnInput): TurnOutput {
  const turn = new TurnState(input);
  try {
    return run(turn);
  } catch (err) {
    if (err instanceof Nondeterminism) return failNondeterministic(turn);
    throw err;
  }
}
