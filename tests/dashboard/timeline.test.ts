import { describe, expect, test } from "bun:test";
import type { Event, EventKind } from "../../src/core/events.ts";
import { buildTimeline } from "../../src/dashboard/timeline.ts";

/** A history written by hand: each entry is [event id, source event id, time, kind]. */
function history(...rows: [number, number | null, number, EventKind][]): Event[] {
  return rows.map(([event_id, source_event_id, timestamp_ms, kind]) => ({
    event_id,
    source_event_id,
    instance_id: "i",
    execution_id: 1,
    timestamp_ms,
    duroxide_version: "0.1.0",
    ...kind,
  })) as Event[];
}

const started: EventKind = { type: "OrchestrationStarted", name: "O", version: "1.0.0", input: "null", parent_instance: null, parent_id: null };
const appFailure = (message: string) => ({ type: "Application", kind: "ActivityFailed", message, retryable: false }) as const;

describe("buildTimeline", () => {
  test("an activity is a bar from its ActivityScheduled to its completion, a failed one carries the error", () => {
    const t = buildTimeline(
      history(
        [1, null, 1000, started],
        [2, null, 1000, { type: "ActivityScheduled", name: "A", input: "1" }],
        [3, null, 1000, { type: "ActivityScheduled", name: "B", input: "2" }],
        [4, 3, 1040, { type: "ActivityFailed", details: appFailure("boom") }],
        [5, 2, 1050, { type: "ActivityCompleted", result: "1" }],
        [6, null, 1050, { type: "OrchestrationCompleted", output: "1" }],
      ),
      99_999,
    );
    expect(t.bars.map((b) => [b.label, b.startMs, b.endMs, b.state, b.endEventId])).toEqual([
      ["A", 1000, 1050, "completed", 5],
      ["B", 1000, 1040, "failed", 4],
    ]);
    expect(t.bars[1]!.message).toBe("boom");
    expect(t.startMs).toBe(1000);
    expect(t.endMs).toBe(1050); // a finished execution ends at its last event, not at "now"
    expect(t.marks.map((m) => m.type)).toEqual(["OrchestrationStarted", "OrchestrationCompleted"]);
  });

  test("timers and sub-orchestrations are bars; a child keeps its instance id; a cancelled child is marked cancelled", () => {
    const t = buildTimeline(
      history(
        [1, null, 0, started],
        [2, null, 0, { type: "TimerCreated", fire_at_ms: 30 }],
        [3, 2, 31, { type: "TimerFired", fire_at_ms: 30 }],
        [4, null, 31, { type: "SubOrchestrationScheduled", name: "Child", instance: "i::sub::4", input: "0" }],
        [5, null, 31, { type: "SubOrchestrationScheduled", name: "Child", instance: "i::sub::5", input: "0" }],
        [6, 4, 60, { type: "SubOrchestrationFailed", details: appFailure("child broke") }],
        [7, 5, 61, { type: "SubOrchestrationCancelRequested", reason: "dropped_future" }],
      ),
      100,
    );
    expect(t.bars.map((b) => [b.kind, b.label, b.state])).toEqual([
      ["timer", "timer 30 ms", "completed"],
      ["sub-orchestration", "Child (i::sub::4)", "failed"],
      ["sub-orchestration", "Child (i::sub::5)", "cancelled"],
    ]);
    expect(t.bars[1]!.childInstanceId).toBe("i::sub::4");
    expect(t.bars[2]!.message).toBe("dropped_future");
  });

  test("work still open is pending up to now while the execution runs, abandoned once it ended", () => {
    const rows: [number, number | null, number, EventKind][] = [
      [1, null, 0, started],
      [2, null, 10, { type: "ActivityScheduled", name: "Slow", input: "0" }],
    ];
    const running = buildTimeline(history(...rows), 500);
    expect(running.bars[0]).toMatchObject({ state: "pending", endMs: 500, endEventId: null });
    expect(running.endMs).toBe(500);

    const failed = buildTimeline(history(...rows, [3, null, 40, { type: "OrchestrationFailed", details: appFailure("gave up") }]), 500);
    expect(failed.bars[0]).toMatchObject({ state: "abandoned", endMs: 40 });
    expect(failed.marks.at(-1)).toMatchObject({ type: "OrchestrationFailed", failed: true, label: "failed: gave up" });
  });

  test("external events go to the first live wait of their name; a cancelled wait takes none (docs/runtime-semantics.md §3.4)", () => {
    const t = buildTimeline(
      history(
        [1, null, 0, started],
        [2, null, 0, { type: "ExternalEvent", name: "go", data: "0" }], // before any wait: unused
        [3, null, 5, { type: "ExternalSubscribed", name: "go" }],
        [4, null, 5, { type: "ExternalSubscribed", name: "go" }],
        [5, null, 5, { type: "ExternalSubscribed", name: "go" }],
        [6, 3, 8, { type: "ExternalSubscribedCancelled", reason: "dropped_future" }],
        [7, null, 20, { type: "ExternalEvent", name: "go", data: "1" }],
      ),
      50,
    );
    expect(t.bars.map((b) => [b.scheduledEventId, b.state, b.endEventId])).toEqual([
      [3, "cancelled", 6],
      [4, "completed", 7],
      [5, "pending", null],
    ]);
    expect(t.marks.filter((m) => m.type === "ExternalEvent").map((m) => m.eventId)).toEqual([2, 7]);
  });

  test("queue messages are taken FIFO, also when they arrived before the dequeue (docs/runtime-semantics.md §3.5)", () => {
    const t = buildTimeline(
      history(
        [1, null, 0, started],
        [2, null, 3, { type: "ExternalEventPersistent", name: "q", data: "1" }],
        [3, null, 5, { type: "ExternalSubscribedPersistent", name: "q" }],
        [4, null, 5, { type: "ExternalSubscribedPersistent", name: "q" }],
        [5, null, 9, { type: "ExternalEventPersistent", name: "q", data: "2" }],
      ),
      10,
    );
    expect(t.bars.map((b) => [b.kind, b.startMs, b.endMs, b.state])).toEqual([
      ["queue-wait", 5, 5, "completed"],
      ["queue-wait", 5, 9, "completed"],
    ]);
  });

  test("an empty history is an empty timeline at now", () => {
    expect(buildTimeline([], 7)).toEqual({ startMs: 7, endMs: 7, bars: [], marks: [] });
  });
});
