/**
 * The dashboard's timeline of one execution: its history (docs/runtime-semantics.md §1.2, the
 * events of provider-contract.md §2) turned into bars and marks. A bar is work that takes time,
 * from the event that scheduled it to the event that ended it: an activity, a timer, a
 * sub-orchestration, a wait for an external event or a queue message. A mark is an event at one
 * point in time (the start, a raised event, a custom status, a KV write, the end).
 *
 * Pure: a function of the events and "now", so it is tested against hand-written histories.
 */
import type { Event } from "../core/events.ts";

export type BarKind = "activity" | "timer" | "sub-orchestration" | "external-wait" | "queue-wait";

/**
 * How a bar ended: `completed`, `failed` (red), `cancelled` (a cancel request was recorded),
 * `pending` (still running: its end is "now"), `abandoned` (the execution ended without an answer).
 */
export type BarState = "completed" | "failed" | "cancelled" | "pending" | "abandoned";

export interface TimelineBar {
  kind: BarKind;
  /** Activity, orchestration, event or queue name. */
  label: string;
  /** The event that scheduled the work. */
  scheduledEventId: number;
  /** The event that ended it, when one did. */
  endEventId: number | null;
  startMs: number;
  endMs: number;
  state: BarState;
  /** A sub-orchestration's instance id, so the page can link to it. */
  childInstanceId?: string;
  /** A failure's rendered message, or a cancel reason. */
  message?: string;
}

export interface TimelineMark {
  eventId: number;
  atMs: number;
  /** The event type, e.g. "ExternalEvent". */
  type: string;
  label: string;
  failed: boolean;
}

export interface Timeline {
  startMs: number;
  endMs: number;
  bars: TimelineBar[];
  marks: TimelineMark[];
}

/** Events shown as marks, with the label they get. Other events only open or close bars. */
const MARK_LABEL: Partial<Record<Event["type"], (e: Event) => string>> = {
  OrchestrationStarted: (e) => `started ${(e as Extract<Event, { type: "OrchestrationStarted" }>).name}`,
  OrchestrationCompleted: () => "completed",
  OrchestrationFailed: (e) => `failed: ${failureMessage((e as Extract<Event, { type: "OrchestrationFailed" }>).details)}`,
  OrchestrationContinuedAsNew: () => "continued as new",
  OrchestrationCancelRequested: (e) => `cancel requested: ${(e as Extract<Event, { type: "OrchestrationCancelRequested" }>).reason}`,
  OrchestrationChained: (e) => `started ${(e as Extract<Event, { type: "OrchestrationChained" }>).instance}`,
  ExternalEvent: (e) => `event ${(e as Extract<Event, { type: "ExternalEvent" }>).name}`,
  ExternalEventPersistent: (e) => `message ${(e as Extract<Event, { type: "ExternalEventPersistent" }>).name}`,
  CustomStatusUpdated: (e) => `custom status ${JSON.stringify((e as Extract<Event, { type: "CustomStatusUpdated" }>).status)}`,
  KeyValueSet: (e) => `set ${(e as Extract<Event, { type: "KeyValueSet" }>).key}`,
  KeyValueCleared: (e) => `clear ${(e as Extract<Event, { type: "KeyValueCleared" }>).key}`,
  KeyValuesCleared: () => "clear all values",
};

/** The message of an ErrorDetails, whatever its type (docs/runtime-semantics.md §5.1). */
function failureMessage(details: { message?: string | null; type: string }): string {
  return typeof details.message === "string" ? details.message : details.type;
}

/**
 * Builds the timeline of one execution's events. `nowMs` ends the bars still pending while the
 * execution runs; a finished execution ends them at its last event ("abandoned").
 */
export function buildTimeline(events: readonly Event[], nowMs: number): Timeline {
  const bars: TimelineBar[] = [];
  const marks: TimelineMark[] = [];
  /** Bars still open, by the event id that scheduled them (completions name it in source_event_id). */
  const open = new Map<number, TimelineBar>();
  /** Positional waits still open per event name, oldest first (docs/runtime-semantics.md §3.4). */
  const waits = new Map<string, TimelineBar[]>();
  /** Queue dequeues still waiting, and messages not yet taken, per queue (§3.5: i-th dequeue gets i-th arrival). */
  const dequeues = new Map<string, TimelineBar[]>();
  const unread = new Map<string, number>();
  let ended = false;

  const openBar = (e: Event, kind: BarKind, label: string, extra: Partial<TimelineBar> = {}): TimelineBar => {
    const bar: TimelineBar = { kind, label, scheduledEventId: e.event_id, endEventId: null, startMs: e.timestamp_ms, endMs: e.timestamp_ms, state: "pending", ...extra };
    bars.push(bar);
    open.set(e.event_id, bar);
    return bar;
  };
  const close = (bar: TimelineBar | undefined, e: Event, state: BarState, message?: string): void => {
    if (bar === undefined || bar.state !== "pending") return;
    bar.endEventId = e.event_id;
    bar.endMs = e.timestamp_ms;
    bar.state = state;
    if (message !== undefined) bar.message = message;
    open.delete(bar.scheduledEventId);
  };
  const bySource = (e: Event) => (e.source_event_id === null ? undefined : open.get(e.source_event_id));
  const removeFrom = (lists: Map<string, TimelineBar[]>, bar: TimelineBar | undefined) => {
    if (bar === undefined) return;
    const list = lists.get(bar.label);
    if (list !== undefined) lists.set(bar.label, list.filter((b) => b !== bar));
  };

  for (const e of events) {
    switch (e.type) {
      case "ActivityScheduled":
        openBar(e, "activity", e.name);
        break;
      case "ActivityCompleted":
        close(bySource(e), e, "completed");
        break;
      case "ActivityFailed":
        close(bySource(e), e, "failed", failureMessage(e.details));
        break;
      case "ActivityCancelRequested":
        close(bySource(e), e, "cancelled", e.reason);
        break;
      case "TimerCreated":
        openBar(e, "timer", `timer ${Math.max(0, e.fire_at_ms - e.timestamp_ms)} ms`);
        break;
      case "TimerFired":
        close(bySource(e), e, "completed");
        break;
      case "SubOrchestrationScheduled":
        openBar(e, "sub-orchestration", `${e.name} (${e.instance})`, { childInstanceId: e.instance });
        break;
      case "SubOrchestrationCompleted":
        close(bySource(e), e, "completed");
        break;
      case "SubOrchestrationFailed":
        close(bySource(e), e, "failed", failureMessage(e.details));
        break;
      case "SubOrchestrationCancelRequested":
        close(bySource(e), e, "cancelled", e.reason);
        break;
      case "ExternalSubscribed": {
        const bar = openBar(e, "external-wait", e.name);
        waits.set(e.name, [...(waits.get(e.name) ?? []), bar]);
        break;
      }
      case "ExternalSubscribedCancelled": {
        const bar = bySource(e);
        removeFrom(waits, bar);
        close(bar, e, "cancelled", e.reason);
        break;
      }
      case "ExternalEvent": {
        const [first, ...rest] = waits.get(e.name) ?? [];
        waits.set(e.name, rest);
        close(first, e, "completed");
        break;
      }
      case "ExternalSubscribedPersistent": {
        const bar = openBar(e, "queue-wait", e.name);
        const n = unread.get(e.name) ?? 0;
        if (n > 0) {
          unread.set(e.name, n - 1);
          close(bar, e, "completed");
        } else {
          dequeues.set(e.name, [...(dequeues.get(e.name) ?? []), bar]);
        }
        break;
      }
      case "ExternalSubscribedPersistentCancelled": {
        const bar = bySource(e);
        removeFrom(dequeues, bar);
        close(bar, e, "cancelled", e.reason);
        break;
      }
      case "ExternalEventPersistent": {
        const [first, ...rest] = dequeues.get(e.name) ?? [];
        if (first === undefined) unread.set(e.name, (unread.get(e.name) ?? 0) + 1);
        else {
          dequeues.set(e.name, rest);
          close(first, e, "completed");
        }
        break;
      }
      case "OrchestrationCompleted":
      case "OrchestrationFailed":
      case "OrchestrationContinuedAsNew":
        ended = true;
        break;
      default:
        break;
    }
    const label = MARK_LABEL[e.type];
    if (label !== undefined) {
      marks.push({ eventId: e.event_id, atMs: e.timestamp_ms, type: e.type, label: label(e), failed: e.type === "OrchestrationFailed" });
    }
  }

  const first = events[0]?.timestamp_ms ?? nowMs;
  const last = events.at(-1)?.timestamp_ms ?? first;
  const endMs = ended ? last : Math.max(last, nowMs);
  for (const bar of open.values()) {
    bar.endMs = endMs;
    bar.state = ended ? "abandoned" : "pending";
  }
  return { startMs: first, endMs, bars, marks };
}
