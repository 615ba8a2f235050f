// The mixed workload's history check (src/stress/scenario-mixed.ts), which the crash loop and the
// fault-recovery measurement rely on: it accepts a clean execution and names each kind of damage.
import { describe, expect, test } from "bun:test";
import type { Event } from "../../src/core/events.ts";
import { historyProblem } from "../../src/stress/scenario-mixed.ts";

const header = (event_id: number, source_event_id: number | null = null) => ({ event_id, source_event_id, instance_id: "i", execution_id: 1, timestamp_ms: 1, duroxide_version: "0.1.0" });

/** Start, an activity and a timer scheduled, both completed, then completion. */
function clean(): Event[] {
  return [
    { ...header(1), type: "OrchestrationStarted", name: "F", version: "1.0.0", input: "0", parent_instance: null, parent_id: null },
    { ...header(2), type: "ActivityScheduled", name: "A", input: "1" },
    { ...header(3), type: "TimerCreated", fire_at_ms: 5 },
    { ...header(4, 2), type: "ActivityCompleted", result: "2" },
    { ...header(5, 3), type: "TimerFired", fire_at_ms: 5 },
    { ...header(6), type: "OrchestrationCompleted", output: "3" },
  ];
}

describe("historyProblem", () => {
  test("a clean completed execution has no problem", () => {
    expect(historyProblem(clean())).toBeNull();
  });

  test("two completions of one scheduled activity are named", () => {
    const h = clean();
    h.splice(4, 0, { ...header(5, 2), type: "ActivityCompleted", result: "2" });
    h.forEach((e, k) => (e.event_id = k + 1));
    expect(historyProblem(h)).toBe("ActivityScheduled 2 has two completions (the second is event 5)");
  });

  test("a completion pointing at the wrong kind of event, a scheduled item never completed, gaps in ids and a missing terminal are named", () => {
    const wrongSource = clean();
    wrongSource[4]!.source_event_id = 2;
    expect(historyProblem(wrongSource)).toBe("TimerFired (event 5) points at 2, which is not a TimerCreated");

    const pending = clean().filter((e) => e.type !== "TimerFired");
    pending.forEach((e, k) => (e.event_id = k + 1));
    expect(historyProblem(pending)).toBe("TimerCreated 3 never completed");

    const gap = clean();
    gap[5]!.event_id = 9;
    expect(historyProblem(gap)).toMatch(/^event ids are not 1..6/);

    expect(historyProblem(clean().slice(0, 5))).toBe("expected exactly one terminal event, last (found 0)");
  });
});
