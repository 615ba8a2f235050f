/**
 * replayHistory: the pre-deploy replay check (docs/runtime-semantics.md §2.8, README "Replay
 * check"). It runs one recorded execution through the orchestration code a deploy would run it
 * on, with no store and no runtime, and throws a NondeterminismError naming the first divergence
 * when the code no longer fits: the event id, what history has there, what the code did.
 *
 * A running execution fits when the code replays every recorded event (what it does past the end
 * of history is simply its next step). A finished one must also end the same way: the terminal
 * event is held back, the rest replayed, and the code must reach that same end (the same output
 * for a completion, the same input for a continue-as-new, a failure for an application failure).
 * Failures the code did not cause (poison, infrastructure, configuration) end an execution
 * wherever it was, so for those only the events before them are checked.
 */
import { clip, describe } from "../core/describe.ts";
import { renderErrorDetails } from "../core/error-details.ts";
import { NondeterminismError, ValidationError } from "../core/errors.ts";
import type { Event, EventOf } from "../core/events.ts";
import { validateEvent } from "../core/events.ts";
import { isTerminalEvent } from "../core/status.ts";
import { validateWorkItem, type WorkItem } from "../core/work-items.ts";
import { describeEvent } from "../runtime/actions.ts";
import type { OrchestrationHandler } from "../runtime/handler-types.ts";
import { RUNTIME_VERSION } from "../runtime/options.ts";
import { OrchestrationRegistry } from "../runtime/registry.ts";
import { runLiveTurn, type TurnInput, type TurnOutcome, type TurnOutput } from "../runtime/replay-engine.ts";
import { SCHEDULE_EVENT, type Divergence } from "../runtime/replay/turn-state.ts";

/**
 * The orchestrations a history is replayed against:
 * - an `OrchestrationRegistry` (what `Runtime.start` takes): the execution's recorded name and
 *   version pick the handler, exactly as a runtime would;
 * - a plain object `{ Name: handler }`: no versions, a handler replays every version of its name;
 * - a single handler: replays whatever the history names (unit tests of one orchestration).
 */
export type ReplayOrchestrations = OrchestrationRegistry | Readonly<Record<string, OrchestrationHandler>> | OrchestrationHandler;

export interface ReplayOptions {
  /** Messages delivered in this turn (completions, raised events), after the history. Default none; not for a finished history. */
  messages?: WorkItem[];
  /** Wall clock the turn sees for new events; default the last history event's timestamp. */
  now?: number;
}

/**
 * Replays `history` (one execution, starting with OrchestrationStarted) through the orchestration
 * the history names and returns the turn's output (what the code does next: `workerItems`,
 * `outcome`, ...). Throws NondeterminismError when the code does not fit the history, and
 * ValidationError for a malformed history or arguments.
 */
export function replayHistory(orchestrations: ReplayOrchestrations, history: Event[], options: ReplayOptions = {}): TurnOutput {
  checkOrchestrations(orchestrations);
  if (!Array.isArray(history) || history.length === 0) throw new ValidationError("replayHistory needs a non-empty history (one execution's events) starting with OrchestrationStarted");
  if (typeof options !== "object" || options === null) throw new ValidationError("replayHistory options must be an object ({ messages?, now? })");
  const messages = options.messages ?? [];
  if (!Array.isArray(messages)) throw new ValidationError("replayHistory options.messages must be an array of work items");
  history.forEach((e, i) => {
    try {
      validateEvent(e);
    } catch (err) {
      throw new ValidationError(`replayHistory: history[${i}] is not an event: ${(err as Error).message}`);
    }
  });
  messages.forEach((m) => validateWorkItem(m));
  if (options.now !== undefined && !Number.isFinite(options.now)) throw new ValidationError(`replayHistory options.now must be a finite number of ms, got ${describe(options.now)}`);
  const first = history[0]!;
  if (first.type !== "OrchestrationStarted") throw new ValidationError(`history must start with OrchestrationStarted, got ${first.type}`);
  const executions = new Set(history.map((e) => e.execution_id));
  if (executions.size > 1) {
    throw new ValidationError(
      `replayHistory: the history holds events of executions ${[...executions].join(", ")}; pass one execution's events (client.readExecutionHistory(id, executionId))`,
    );
  }
  const terminalAt = history.findIndex(isTerminalEvent);
  if (terminalAt >= 0 && messages.length > 0) throw new ValidationError("replayHistory: a finished history takes no messages (its execution is over)");

  const mismatch = (d: Divergence) =>
    new NondeterminismError({
      instanceId: first.instance_id,
      executionId: first.execution_id,
      orchestrationName: first.name,
      orchestrationVersion: first.version,
      ...d,
    });
  const handler = pickHandler(orchestrations, first);
  if (typeof handler === "string") throw mismatch({ eventId: first.event_id, historyHas: `orchestration "${first.name}" version ${first.version}`, codeDid: handler });

  const replayed = terminalAt >= 0 ? history.slice(0, terminalAt) : history;
  const input: TurnInput = {
    instance: first.instance_id,
    executionId: first.execution_id,
    history: replayed,
    messages,
    handler,
    kvSnapshot: {},
    now: options.now ?? history[history.length - 1]!.timestamp_ms,
    runtimeVersion: RUNTIME_VERSION,
  };
  const { output, live } = runLiveTurn(input);
  const o = output.outcome;
  if (o.type === "Failed" && o.details.type === "Configuration" && o.details.kind === "Nondeterminism") {
    throw mismatch(live.divergence ?? { eventId: null, historyHas: "a different course", codeDid: `diverged: ${o.details.message ?? "nondeterminism"}` });
  }
  if (terminalAt >= 0) {
    const end = history[terminalAt]! as EventOf<"OrchestrationCompleted" | "OrchestrationFailed" | "OrchestrationContinuedAsNew">;
    if (!sameEnd(end, o)) throw mismatch({ eventId: end.event_id, historyHas: describeEnd(end), codeDid: describeOutcome(o, output) });
  }
  return output;
}

function checkOrchestrations(o: unknown): void {
  if (typeof o === "function" || o instanceof OrchestrationRegistry) return;
  if (typeof o !== "object" || o === null || Array.isArray(o)) {
    throw new ValidationError(
      `replayHistory needs the orchestrations to replay against: an OrchestrationRegistry, an object { Name: function* (ctx, input) {...} }, or one generator function; got ${describe(o)}`,
    );
  }
  for (const [name, h] of Object.entries(o)) {
    if (typeof h !== "function") throw new ValidationError(`replayHistory: orchestrations.${name} must be a generator function, got ${describe(h)}`);
  }
}

/** The handler the history's execution runs on, or why there is none (a divergence at its start). */
function pickHandler(o: ReplayOrchestrations, started: EventOf<"OrchestrationStarted">): OrchestrationHandler | string {
  if (typeof o === "function") return o;
  if (o instanceof OrchestrationRegistry) {
    const h = o.resolveExact(started.name, started.version);
    if (h !== undefined) return h;
    const versions = o.versions(started.name);
    return versions.length === 0
      ? `has no orchestration named "${started.name}" (registered: ${o.names().join(", ") || "none"})`
      : `has no version ${started.version} of "${started.name}" (registered: ${versions.join(", ")})`;
  }
  const h = Object.hasOwn(o, started.name) ? o[started.name] : undefined;
  return h ?? `has no orchestration named "${started.name}" (registered: ${Object.keys(o).join(", ") || "none"})`;
}

/** Does the code's outcome end the execution the way its recorded terminal event did? */
function sameEnd(end: EventOf<"OrchestrationCompleted" | "OrchestrationFailed" | "OrchestrationContinuedAsNew">, o: TurnOutcome): boolean {
  switch (end.type) {
    case "OrchestrationCompleted":
      return o.type === "Completed" && o.output === end.output;
    case "OrchestrationContinuedAsNew":
      return o.type === "ContinueAsNew" && o.input === end.input;
    case "OrchestrationFailed":
      // Only an application failure is the code's doing; poison or an infrastructure failure
      // stopped the execution wherever it was, so there is no end for the code to reproduce.
      return end.details.type !== "Application" || o.type === "Failed" || o.type === "Cancelled";
  }
}

function describeEnd(end: EventOf<"OrchestrationCompleted" | "OrchestrationFailed" | "OrchestrationContinuedAsNew">): string {
  switch (end.type) {
    case "OrchestrationCompleted":
      return `a completion with output ${clip(end.output, 80)}`;
    case "OrchestrationContinuedAsNew":
      return `a continue-as-new with input ${clip(end.input, 80)}`;
    case "OrchestrationFailed":
      return `a failure (${clip(renderErrorDetails(end.details), 80)})`;
  }
}

function describeOutcome(o: TurnOutcome, out: TurnOutput): string {
  switch (o.type) {
    case "Completed":
      return `completed with output ${clip(o.output, 80)}`;
    case "ContinueAsNew":
      return `continued as new with input ${clip(o.input, 80)}`;
    case "Failed":
      return `failed (${clip(renderErrorDetails(o.details), 80)})`;
    case "Cancelled":
      return `was cancelled (${clip(o.reason, 80)})`;
    case "Continue": {
      const next = out.delta.filter((e) => SCHEDULE_EVENT[e.type] !== undefined).map(describeEvent);
      return next.length === 0 ? "keeps waiting instead of ending" : `goes on instead of ending: scheduled ${next.slice(0, 3).join(", ")}${next.length > 3 ? ", ..." : ""}`;
    }
  }
}
