/**
 * This turn's messages become history events, appended after the persisted ones, before any code
 * runs. Queues deliver at least once, so duplicates and completions for an earlier execution are
 * dropped here; a completion that fits no schedule is nondeterminism.
 */
import type { ErrorDetails } from "../../core/error-details.ts";
import type { Event, EventKind, EventOf } from "../../core/events.ts";
import type { WorkItem, WorkItemOf } from "../../core/work-items.ts";
import { isTerminalEvent } from "../../core/status.ts";
import { COMPLETION_OF, type TurnState } from "./turn-state.ts";
import { strayParentCancel } from "./parent-cancel.ts";

interface Completion {
  source: number;
  execution: number;
  kind: EventKind;
}

/** The event a completion message becomes and the schedule it is addressed to; null for other messages. */
function completionOf(m: WorkItem): Completion | null {
  switch (m.type) {
    case "ActivityCompleted":
      return { source: m.id, execution: m.execution_id, kind: { type: "ActivityCompleted", result: m.result } };
    case "ActivityFailed":
      return { source: m.id, execution: m.execution_id, kind: { type: "ActivityFailed", details: m.details } };
    case "TimerFired":
      return { source: m.id, execution: m.execution_id, kind: { type: "TimerFired", fire_at_ms: m.fire_at_ms } };
    case "SubOrchCompleted":
      return { source: m.parent_id, execution: m.parent_execution_id, kind: { type: "SubOrchestrationCompleted", result: m.result } };
    case "SubOrchFailed":
      return { source: m.parent_id, execution: m.parent_execution_id, kind: { type: "SubOrchestrationFailed", details: m.details } };
    default:
      return null;
  }
}

/** What the history already says, updated as messages are staged. */
class Staging {
  private readonly byId = new Map<number, Event>();
  private readonly completedSources = new Set<number>();
  private cancelSeen = false;
  private terminal: boolean;
  /** The execution's start, whose parent link decides whether a parent's cancel applies. */
  private started: EventOf<"OrchestrationStarted"> | null = null;

  /** History events already noted; a resumed turn notes only those committed since. */
  private noted = 0;

  constructor(private readonly turn: TurnState) {
    this.terminal = false;
    this.noteHistory();
  }

  /** Takes in the history events not noted yet (all of them for a new turn). */
  noteHistory(): void {
    const h = this.turn.history;
    for (; this.noted < h.length; this.noted++) this.note(h[this.noted]!);
  }

  private note(e: Event): void {
    this.byId.set(e.event_id, e);
    if (COMPLETION_OF[e.type] !== undefined && e.source_event_id !== null) this.completedSources.add(e.source_event_id);
    if (e.type === "OrchestrationCancelRequested") this.cancelSeen = true;
    if (e.type === "OrchestrationStarted") this.started = e;
    if (isTerminalEvent(e)) this.terminal = true;
  }

  add(m: WorkItem): void {
    const c = completionOf(m);
    if (c !== null) return this.complete(m.type, c);
    // A finished execution takes no more events; StartOrchestration / ContinueAsNew are the caller's.
    if (this.terminal) return;
    if (m.type === "ExternalRaised") this.stage({ type: "ExternalEvent", name: m.name, data: m.data }, null);
    else if (m.type === "QueueMessage") this.stage({ type: "ExternalEventPersistent", name: m.name, data: m.data }, null);
    else if (m.type === "CancelInstance" && !this.cancelSeen) this.cancel(m);
  }

  /** A parent's cancel that did not come from the call that started this instance is ignored (docs/runtime-semantics.md §3.10). */
  private cancel(m: WorkItemOf<"CancelInstance">): void {
    const stray = strayParentCancel(m, this.started);
    if (stray !== null) return this.turn.log("warn", stray);
    this.cancelSeen = true;
    this.stage({ type: "OrchestrationCancelRequested", reason: m.reason }, null);
  }

  private complete(label: string, c: Completion): void {
    const turn = this.turn;
    if (c.execution !== turn.executionId) return; // for an earlier execution: stale
    if (this.completedSources.has(c.source)) return; // duplicate delivery
    const scheduled = this.byId.get(c.source);
    if (scheduled === undefined) {
      turn.nondeterminism ??= `no matching schedule for ${label} (source event ${c.source})`;
      return;
    }
    if (scheduled.type !== COMPLETION_OF[c.kind.type]) {
      turn.nondeterminism ??= `completion kind mismatch: ${label} for event ${c.source}, which is ${scheduled.type}`;
      return;
    }
    this.completedSources.add(c.source);
    this.stage(c.kind, c.source);
    // Infrastructure and configuration failures are not the code's to handle: they end the execution.
    const details = "details" in c.kind ? (c.kind.details as ErrorDetails) : null;
    if (details !== null && details.type !== "Application") turn.abortDetails ??= details;
  }

  private stage(kind: EventKind, source: number | null): void {
    const e = this.turn.newEvent(kind, source);
    this.turn.history.push(e);
    this.byId.set(e.event_id, e);
    this.noted = this.turn.history.length;
  }
}

/** Appends a new execution's OrchestrationStarted, then this turn's messages, to the turn's history. */
export function stageMessages(turn: TurnState): void {
  const s = turn.input.started;
  if (s) {
    turn.history.push(s);
    turn.delta.push(s);
    turn.nextEventId = Math.max(turn.nextEventId, s.event_id + 1);
  }
  // A resumed turn keeps what an earlier turn of the same live state learned (docs/runtime-semantics.md §2.12).
  let staging = turn.staging instanceof Staging ? turn.staging : null;
  if (staging === null) turn.staging = staging = new Staging(turn);
  else staging.noteHistory();
  for (const m of turn.input.messages) staging.add(m);
}
