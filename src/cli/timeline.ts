/**
 * `duroxide history`: one execution's events as a readable timeline (docs/cli.md): event id, time
 * since the execution started, the event, and what it names (activity, timer, event, child) with
 * its payload shortened; completions point back at the event that scheduled them.
 */
import { renderErrorDetails } from "../core/error-details.ts";
import type { Event } from "../core/events.ts";
import { offset, payload, safe, table, type Colors } from "./output.ts";

/** Longest payload shown on one timeline line. */
const PAYLOAD_CHARS = 60;

/** What an event names and carries, on one line. */
export function eventSummary(e: Event): string {
  const p = (t: string | null | undefined) => payload(t, PAYLOAD_CHARS);
  const name = (n: string) => `"${safe(n)}"`;
  switch (e.type) {
    case "OrchestrationStarted": {
      const parent = e.parent_instance === null ? "" : ` parent ${safe(e.parent_instance)}#${e.parent_id ?? "?"}`;
      return `${name(e.name)} ${safe(e.version)} input ${p(e.input)}${parent}`;
    }
    case "OrchestrationCompleted":
      return `output ${p(e.output)}`;
    case "OrchestrationFailed":
    case "ActivityFailed":
    case "SubOrchestrationFailed":
      return p(renderErrorDetails(e.details));
    case "OrchestrationContinuedAsNew":
      return `input ${p(e.input)}`;
    case "OrchestrationCancelRequested":
    case "ActivityCancelRequested":
    case "SubOrchestrationCancelRequested":
    case "ExternalSubscribedCancelled":
    case "ExternalSubscribedPersistentCancelled":
      return `reason ${p(e.reason)}`;
    case "OrchestrationChained":
      return `${name(e.name)} as ${safe(e.instance)} input ${p(e.input)}`;
    case "ActivityScheduled":
      return `${name(e.name)} input ${p(e.input)}${e.tag ? ` tag ${name(e.tag)}` : ""}${e.session_id ? ` session ${name(e.session_id)}` : ""}`;
    case "ActivityCompleted":
    case "SubOrchestrationCompleted":
      return `result ${p(e.result)}`;
    case "TimerCreated":
    case "TimerFired":
      return `fires at ${new Date(e.fire_at_ms).toISOString()}`;
    case "ExternalSubscribed":
    case "ExternalSubscribedPersistent":
      return name(e.name);
    case "ExternalEvent":
    case "ExternalEventPersistent":
      return `${name(e.name)} data ${p(e.data)}`;
    case "SubOrchestrationScheduled":
      return `${name(e.name)} as ${safe(e.instance)} input ${p(e.input)}`;
    case "CustomStatusUpdated":
      return e.status === null ? "cleared" : p(e.status);
    case "KeyValueSet":
      return `${name(e.key)} = ${p(e.value)}`;
    case "KeyValueCleared":
      return name(e.key);
    case "KeyValuesCleared":
      return "";
  }
}

function eventColor(c: Colors, e: Event): string {
  const t = e.type;
  if (t.endsWith("Failed")) return c.red(t);
  if (t === "OrchestrationCompleted") return c.green(t);
  if (t.endsWith("Completed") || t === "TimerFired" || t === "ExternalEvent" || t === "ExternalEventPersistent") return c.green(t);
  if (t.includes("Cancel")) return c.yellow(t);
  if (t === "OrchestrationStarted" || t === "OrchestrationContinuedAsNew") return c.bold(t);
  return c.cyan(t);
}

/** The timeline of one execution: `#ID  +TIME  EVENT  DETAILS`. */
export function renderTimeline(c: Colors, events: readonly Event[]): string {
  const t0 = events[0]?.timestamp_ms ?? 0;
  const rows = events.map((e) => [
    c.dim(`#${e.event_id}`),
    offset(e.timestamp_ms - t0),
    eventColor(c, e),
    eventSummary(e) + (e.source_event_id === null ? "" : c.dim(` (of #${e.source_event_id})`)),
  ]);
  return table(c, ["ID", "TIME", "EVENT", "DETAILS"], rows);
}
