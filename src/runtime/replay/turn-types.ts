/**
 * The replay engine's input and output: what one turn is given and what it decides. Shared by
 * runTurn (replay-engine.ts) and its phases (replay/*.ts), so neither imports the other for them.
 */
import type { ErrorDetails } from "../../core/error-details.ts";
import type { Event, EventOf } from "../../core/events.ts";
import type { KvEntry, ScheduledActivityIdentifier } from "../../core/queue-types.ts";
import type { WorkItem } from "../../core/work-items.ts";
import type { OrchestrationHandler } from "../handler-types.ts";
import type { LogLevel } from "../options.ts";

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
  /** Told when the code schedules another attempt of a failed activity, outside replay (metrics, docs/runtime-semantics.md §9.2). */
  onActivityRetry?: (activityName: string, tag: string | undefined) => void;
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
  /**
   * Events still to come from what the execution waits for after a Continue turn (one per open
   * activity, timer, sub-orchestration or event wait); 0 after a terminal turn. The history limit
   * counts them (docs/runtime-semantics.md §5.5).
   */
  pendingEvents: number;
}
