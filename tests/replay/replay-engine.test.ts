/**
 * § numbers in this file refer to docs/runtime-semantics.md ("§8 item N" is §8.N there).
 * Unit tests of the pure replay engine (`runTurn`, §2, §3.4, §3.5) on hand-written
 * histories. No provider, no runtime, no I/O: every test builds a history and a batch of messages,
 * runs one turn, and checks the outcome, the history delta and the outgoing work.
 */
import { describe, expect, test } from "bun:test";
import type { ErrorDetails } from "../../src/core/error-details.ts";
import type { Event, EventKind, EventOf, EventType } from "../../src/core/events.ts";
import type { WorkItem, WorkItemOf } from "../../src/core/work-items.ts";
import { event } from "../../src/provider-tests/helpers.ts";
import type { OrchestrationContext } from "../../src/runtime/context.ts";
import { runTurn, type TurnInput, type TurnOutput } from "../../src/runtime/replay-engine.ts";
import { ActivityFailedError, SubOrchestrationFailedError, type DurableTask } from "../../src/runtime/tasks.ts";

// ------------------------------------------------------------------------------------------ helpers

const I = "inst-1";
const NOW = 1_700_000_000_000;
const RUNTIME = "0.1.0";

type Handler = TurnInput["handler"];
type Body = (ctx: OrchestrationContext, input: any) => Generator<DurableTask<any>, any, any>;
/** Types a generator function as an orchestration handler. */
const orch = (fn: Body): Handler => fn;

const j = (v: unknown) => JSON.stringify(v);

// Event kinds ---------------------------------------------------------------------------------------

function startedKind(input: unknown = null, extra: Partial<EventOf<"OrchestrationStarted">> = {}): EventKind {
  return { type: "OrchestrationStarted", name: "Orch", version: "1.0.0", input: j(input), parent_instance: null, parent_id: null, ...extra } as EventKind;
}
const K = {
  started: startedKind,
  act: (name: string, input: unknown = null, opts: { session_id?: string; tag?: string } = {}): EventKind => ({ type: "ActivityScheduled", name, input: j(input), ...opts }),
  actDone: (result: unknown): EventKind => ({ type: "ActivityCompleted", result: j(result) }),
  actFailed: (details: ErrorDetails): EventKind => ({ type: "ActivityFailed", details }),
  actCancel: (reason: string): EventKind => ({ type: "ActivityCancelRequested", reason }),
  timer: (fireAt = NOW + 10): EventKind => ({ type: "TimerCreated", fire_at_ms: fireAt }),
  fired: (fireAt = NOW + 10): EventKind => ({ type: "TimerFired", fire_at_ms: fireAt }),
  wait: (name: string): EventKind => ({ type: "ExternalSubscribed", name }),
  raised: (name: string, data: unknown): EventKind => ({ type: "ExternalEvent", name, data: j(data) }),
  dequeue: (name: string): EventKind => ({ type: "ExternalSubscribedPersistent", name }),
  queued: (name: string, data: unknown): EventKind => ({ type: "ExternalEventPersistent", name, data: j(data) }),
  sub: (name: string, instance: string, input: unknown = null): EventKind => ({ type: "SubOrchestrationScheduled", name, instance, input: j(input) }),
  subDone: (result: unknown): EventKind => ({ type: "SubOrchestrationCompleted", result: j(result) }),
  chained: (name: string, instance: string, input: unknown = null): EventKind => ({ type: "OrchestrationChained", name, instance, input: j(input) }),
  status: (status: string | null): EventKind => ({ type: "CustomStatusUpdated", status }),
  kvSet: (key: string, value: unknown): EventKind => ({ type: "KeyValueSet", key, value: j(value), last_updated_at_ms: NOW - 5 }),
  completed: (output: unknown): EventKind => ({ type: "OrchestrationCompleted", output: j(output) }),
};

/** A history with ids 1, 2, 3, ...; an entry is a kind or [kind, source event id]. */
function hist(entries: (EventKind | [EventKind, number])[], exec = 1): Event[] {
  return entries.map((en, i) => (Array.isArray(en) ? event(I, exec, i + 1, en[0], en[1]) : event(I, exec, i + 1, en)));
}

// Messages ------------------------------------------------------------------------------------------

const M = {
  done: (id: number, value: unknown, exec = 1): WorkItem => ({ type: "ActivityCompleted", instance: I, execution_id: exec, id, result: j(value) }),
  fail: (id: number, details: ErrorDetails, exec = 1): WorkItem => ({ type: "ActivityFailed", instance: I, execution_id: exec, id, details }),
  timer: (id: number, exec = 1): WorkItem => ({ type: "TimerFired", instance: I, execution_id: exec, id, fire_at_ms: NOW }),
  subDone: (id: number, value: unknown, exec = 1): WorkItem => ({ type: "SubOrchCompleted", parent_instance: I, parent_execution_id: exec, parent_id: id, result: j(value) }),
  subFail: (id: number, details: ErrorDetails, exec = 1): WorkItem => ({ type: "SubOrchFailed", parent_instance: I, parent_execution_id: exec, parent_id: id, details }),
  raise: (name: string, data: unknown): WorkItem => ({ type: "ExternalRaised", instance: I, name, data: j(data) }),
  enqueue: (name: string, data: unknown): WorkItem => ({ type: "QueueMessage", instance: I, name, data: j(data) }),
  cancel: (reason: string): WorkItem => ({ type: "CancelInstance", instance: I, reason }),
};

const appErr = (message: string, kind: "ActivityFailed" | "OrchestrationFailed" = "ActivityFailed"): ErrorDetails => ({ type: "Application", kind, message, retryable: false });
const infraErr: ErrorDetails = { type: "Infrastructure", operation: "ack", message: "disk on fire", retryable: false };
const configErr: ErrorDetails = { type: "Configuration", kind: "Nondeterminism", resource: "Child", message: "child changed" };
const poisonErr: ErrorDetails = {
  type: "Poison",
  attempt_count: 11,
  max_attempts: 10,
  message_type: { type: "Activity", instance: I, execution_id: 1, activity_name: "A", activity_id: 2 },
  message: "activity A#2 exceeded 10 attempts",
};

/** One turn on a persisted history. */
function turn(handler: Handler, history: Event[], messages: WorkItem[] = [], extra: Partial<TurnInput> = {}): TurnOutput {
  return runTurn({
    instance: I,
    executionId: history[0]?.execution_id ?? 1,
    history,
    messages,
    handler,
    kvSnapshot: {},
    now: NOW,
    runtimeVersion: RUNTIME,
    ...extra,
  });
}

/** Drives one execution turn by turn, appending each delta to the persisted history. */
class Sim {
  history: Event[] = [];
  constructor(
    readonly handler: Handler,
    readonly input: unknown = null,
    readonly opts: { exec?: number; started?: Partial<EventOf<"OrchestrationStarted">>; kv?: TurnInput["kvSnapshot"]; log?: TurnInput["log"] } = {},
  ) {}

  get exec(): number {
    return this.opts.exec ?? 1;
  }

  input_(messages: WorkItem[]): TurnInput {
    const first = this.history.length === 0;
    return {
      instance: I,
      executionId: this.exec,
      history: [...this.history],
      ...(first ? { started: { ...event(I, this.exec, 1, startedKind(this.input, this.opts.started ?? {})), timestamp_ms: NOW } } : {}),
      messages,
      handler: this.handler,
      kvSnapshot: this.opts.kv ?? {},
      now: NOW,
      runtimeVersion: RUNTIME,
      ...(this.opts.log ? { log: this.opts.log } : {}),
    };
  }

  step(messages: WorkItem[] = []): TurnOutput {
    const out = runTurn(this.input_(messages));
    this.history.push(...out.delta);
    return out;
  }
}

const types = (events: Event[]) => events.map((e) => e.type);
const ofType = <T extends EventType>(events: Event[], t: T) => events.filter((e): e is EventOf<T> => e.type === t);
const one = <T extends EventType>(events: Event[], t: T): EventOf<T> => {
  const found = ofType(events, t);
  expect(found.length).toBe(1);
  return found[0]!;
};
const items = <T extends WorkItem["type"]>(list: WorkItem[], t: T) => list.filter((w): w is WorkItemOf<T> => w.type === t);

function expectNondeterminism(out: TurnOutput, ...fragments: string[]): string {
  expect(out.outcome.type).toBe("Failed");
  const details = (out.outcome as { details: ErrorDetails }).details;
  expect(details.type).toBe("Configuration");
  const message = (details as { message: string | null }).message ?? "";
  for (const f of fragments) expect(message).toContain(f);
  const last = out.delta.at(-1)!;
  expect(last.type).toBe("OrchestrationFailed");
  expect((last as EventOf<"OrchestrationFailed">).details).toEqual(details);
  expect(types(out.delta)).not.toContain("OrchestrationCompleted");
  return message;
}

/** The terminal event is the last event of the delta: every breadcrumb comes before it. */
function expectTerminalLast(out: TurnOutput): void {
  const terminalAt = out.delta.findIndex((e) => e.type === "OrchestrationCompleted" || e.type === "OrchestrationFailed" || e.type === "OrchestrationContinuedAsNew");
  expect(terminalAt).toBe(out.delta.length - 1);
}

// ------------------------------------------------------------------------------------------ §2.2

describe("completion preparation (§2.2)", () => {
  const awaitA = orch(function* (ctx) {
    return yield* ctx.scheduleActivity("A", 1);
  });

  // §8 item 26
  test("completions, timers and child results addressed to an earlier execution are dropped", () => {
    const history = hist([K.started(null), K.act("A", 1)], 2);
    const stale = turn(awaitA, history, [M.done(2, "old", 1), M.timer(5, 1), M.subDone(7, "x", 1)]);
    expect(stale.outcome).toEqual({ type: "Continue" });
    expect(stale.delta).toEqual([]);

    const mixed = turn(awaitA, history, [M.done(2, "old", 1), M.done(2, "new", 2)]);
    expect(types(mixed.delta)).toEqual(["ActivityCompleted", "OrchestrationCompleted"]);
    expect(mixed.delta[0]).toMatchObject({ event_id: 3, source_event_id: 2, execution_id: 2, result: j("new") });
    expect(mixed.outcome).toEqual({ type: "Completed", output: j("new") });
  });

  // §8 item 5
  test("a completion already in persisted history is dropped when delivered again", () => {
    const h = orch(function* (ctx) {
      const a = yield* ctx.scheduleActivity("A");
      const b = yield* ctx.scheduleActivity("B");
      return [a, b];
    });
    const history = hist([K.started(), K.act("A"), [K.actDone("a"), 2], K.act("B")]);
    const dup = turn(h, history, [M.done(2, "again")]);
    expect(dup.outcome).toEqual({ type: "Continue" });
    expect(dup.delta).toEqual([]);
    expect(dup.workerItems).toEqual([]);

    const out = turn(h, history, [M.done(2, "again"), M.done(4, "b")]);
    expect(types(out.delta)).toEqual(["ActivityCompleted", "OrchestrationCompleted"]);
    expect(out.delta[0]).toMatchObject({ event_id: 5, source_event_id: 4 });
    expect(out.outcome).toEqual({ type: "Completed", output: j(["a", "b"]) });
  });

  // §8 item 5
  test("the same activity, timer and child completion twice in one batch are recorded once (first wins)", () => {
    const h = orch(function* (ctx) {
      return yield* ctx.all([ctx.scheduleActivity("A"), ctx.scheduleTimer(10), ctx.scheduleSubOrchestration("Child")]);
    });
    const sim = new Sim(h);
    sim.step();
    expect(types(sim.history)).toEqual(["OrchestrationStarted", "ActivityScheduled", "TimerCreated", "SubOrchestrationScheduled"]);
    const out = sim.step([M.done(2, "r1"), M.done(2, "r2"), M.timer(3), M.timer(3), M.subDone(4, "c1"), M.subDone(4, "c2")]);
    expect(types(out.delta)).toEqual(["ActivityCompleted", "TimerFired", "SubOrchestrationCompleted", "OrchestrationCompleted"]);
    expect(out.delta.map((e) => [e.event_id, e.source_event_id])).toEqual([[5, 2], [6, 3], [7, 4], [8, null]]);
    expect(out.outcome).toEqual({ type: "Completed", output: j(["r1", null, "c1"]) });
  });

  // §8 item 31
  test("a completion pointing at a missing event fails the instance as nondeterministic without running code", () => {
    let calls = 0;
    const h = orch(function* (ctx) {
      calls++;
      return yield* ctx.scheduleActivity("A");
    });
    const out = turn(h, hist([K.started(), K.act("A")]), [M.done(9, "x")]);
    expectNondeterminism(out, "no matching schedule", "9");
    expect(calls).toBe(0);
    expect(types(out.delta)).toEqual(["ActivityCancelRequested", "OrchestrationFailed"]);
    expect(out.delta[0]).toMatchObject({ source_event_id: 2, reason: "orchestration_terminal_failed" });
    expect(out.cancelledActivities).toEqual([{ instance: I, execution_id: 1, activity_id: 2 }]);
    expect(out.workerItems).toEqual([]);
  });

  // §8 item 31
  test.each([
    ["a TimerFired for an activity", M.timer(2), "ActivityScheduled"],
    ["an ActivityCompleted for a timer", M.done(3, "x"), "TimerCreated"],
    ["an ActivityCompleted for OrchestrationStarted", M.done(1, "x"), "OrchestrationStarted"],
    ["a SubOrchCompleted for an activity", M.subDone(2, "x"), "ActivityScheduled"],
  ])("%s is a completion kind mismatch (nondeterminism)", (_label, message, scheduledKind) => {
    const h = orch(function* (ctx) {
      const a = ctx.scheduleActivity("A");
      yield* ctx.scheduleTimer(10);
      return yield* a;
    });
    const out = turn(h, hist([K.started(), K.act("A"), K.timer()]), [message]);
    expectNondeterminism(out, "kind mismatch", scheduledKind);
  });

  // §8 item 12
  test("identical external events are never deduplicated: two waits get both", () => {
    const h = orch(function* (ctx) {
      return yield* ctx.all([ctx.scheduleWait("E"), ctx.scheduleWait("E")]);
    });
    const sim = new Sim(h);
    sim.step();
    const out = sim.step([M.raise("E", "same"), M.raise("E", "same")]);
    expect(types(out.delta)).toEqual(["ExternalEvent", "ExternalEvent", "OrchestrationCompleted"]);
    expect(out.outcome).toEqual({ type: "Completed", output: j(["same", "same"]) });
  });

  // §3.5
  test("identical queue messages are never deduplicated: two dequeues get both", () => {
    const h = orch(function* (ctx) {
      const a = yield* ctx.dequeueEvent("Q");
      const b = yield* ctx.dequeueEvent("Q");
      return [a, b];
    });
    const sim = new Sim(h);
    sim.step();
    const out = sim.step([M.enqueue("Q", "m"), M.enqueue("Q", "m")]);
    expect(ofType(out.delta, "ExternalEventPersistent").length).toBe(2);
    expect(out.outcome).toEqual({ type: "Completed", output: j(["m", "m"]) });
  });

  // §8 item 21
  test("several CancelInstance messages record one OrchestrationCancelRequested (the first reason)", () => {
    const sim = new Sim(awaitA);
    sim.step();
    const out = sim.step([M.cancel("first"), M.cancel("second")]);
    expect(ofType(out.delta, "OrchestrationCancelRequested").map((e) => e.reason)).toEqual(["first"]);
    expect(out.outcome).toEqual({ type: "Cancelled", reason: "first" });
  });

  test.each([
    ["Infrastructure", infraErr],
    ["Poison", poisonErr],
    ["Configuration", configErr],
  ])("an ActivityFailed with %s details aborts the turn with those details without running code", (_label, details) => {
    let calls = 0;
    const h = orch(function* (ctx) {
      calls++;
      try {
        return yield* ctx.all([ctx.scheduleActivity("A"), ctx.scheduleActivity("B")]);
      } catch (err) {
        return `caught ${(err as Error).message}`;
      }
    });
    const sim = new Sim(h);
    sim.step();
    calls = 0;
    const out = sim.step([M.fail(2, details)]);
    expect(calls).toBe(0);
    expect(out.outcome).toEqual({ type: "Failed", details });
    expect(types(out.delta)).toEqual(["ActivityFailed", "ActivityCancelRequested", "OrchestrationFailed"]);
    expect(out.delta[0]).toMatchObject({ source_event_id: 2, details });
    expect(out.delta[1]).toMatchObject({ source_event_id: 3, reason: "orchestration_terminal_failed" });
    expect((out.delta[2] as EventOf<"OrchestrationFailed">).details).toEqual(details);
    expect(out.cancelledActivities).toEqual([{ instance: I, execution_id: 1, activity_id: 3 }]);
  });

  // §8 item 18
  test("a SubOrchFailed with Poison details fails the parent with the same details", () => {
    const h = orch(function* (ctx) {
      try {
        return yield* ctx.scheduleSubOrchestration("Child");
      } catch {
        return "handled";
      }
    });
    const sim = new Sim(h);
    sim.step();
    const out = sim.step([M.subFail(2, poisonErr)]);
    expect(out.outcome).toEqual({ type: "Failed", details: poisonErr });
    expect(types(out.delta)).toEqual(["SubOrchestrationFailed", "OrchestrationFailed"]);
  });

  // §8 item 18
  test("Application failures reach the code as ActivityFailedError / SubOrchestrationFailedError with details", () => {
    const h = orch(function* (ctx) {
      const seen: unknown[] = [];
      try {
        yield* ctx.scheduleActivity("A");
      } catch (err) {
        seen.push([err instanceof ActivityFailedError, (err as ActivityFailedError).message, (err as ActivityFailedError).details]);
      }
      try {
        yield* ctx.scheduleSubOrchestration("Child");
      } catch (err) {
        seen.push([err instanceof SubOrchestrationFailedError, (err as SubOrchestrationFailedError).message, (err as SubOrchestrationFailedError).details]);
      }
      return seen;
    });
    const sim = new Sim(h);
    sim.step();
    sim.step([M.fail(2, appErr("card declined"))]);
    const childErr = appErr("child broke", "OrchestrationFailed");
    const out = sim.step([M.subFail(4, childErr)]);
    expect(out.outcome).toEqual({
      type: "Completed",
      output: j([
        [true, "card declined", appErr("card declined")],
        [true, "child broke", childErr],
      ]),
    });
  });

  // §8 item 21
  test("messages for a terminal history are a no-op: nothing recorded, code not run", () => {
    let calls = 0;
    const h = orch(function* (ctx) {
      calls++;
      return yield* ctx.scheduleActivity("A");
    });
    const history = hist([K.started(), K.act("A"), [K.actDone("a"), 2], K.completed("a")]);
    const out = turn(h, history, [M.done(2, "again"), M.raise("E", 1), M.enqueue("Q", 1), M.cancel("late")]);
    expect(out.outcome).toEqual({ type: "Continue" });
    expect(out.delta).toEqual([]);
    expect(out.orchestratorItems).toEqual([]);
    expect(calls).toBe(0);
  });

  test("a history that does not start with OrchestrationStarted is a corrupted-history nondeterminism", () => {
    const out = turn(awaitA, [event(I, 1, 1, K.act("A", 1))]);
    expectNondeterminism(out, "corrupted history");
    const empty = turn(awaitA, []);
    expectNondeterminism(empty, "corrupted history");
  });
});

// ------------------------------------------------------------------------------------------ §2.3 / §2.4

describe("replay loop and action/event matching (§2.3, §2.4)", () => {
  test("two completions in one batch are delivered one at a time, in history order (not argument order)", () => {
    const h = orch(function* (ctx) {
      const seen: string[] = [];
      const a = ctx.scheduleActivity("A");
      const b = ctx.scheduleActivity("B");
      const watchA = ctx.run(function* () {
        const v = yield* a;
        seen.push(`A=${v} while B settled=${b.settled}`);
      });
      const watchB = ctx.run(function* () {
        const v = yield* b;
        seen.push(`B=${v} while A settled=${a.settled}`);
      });
      yield* ctx.all([watchA, watchB]);
      return seen;
    });
    const sim = new Sim(h);
    sim.step();
    const out = sim.step([M.done(3, "b"), M.done(2, "a")]);
    expect(out.delta.slice(0, 2).map((e) => e.source_event_id)).toEqual([3, 2]);
    expect(out.outcome).toEqual({ type: "Completed", output: j(["B=b while A settled=false", "A=a while B settled=true"]) });

    // The other batch order gives the other observation order.
    const sim2 = new Sim(h);
    sim2.step();
    expect(sim2.step([M.done(2, "a"), M.done(3, "b")]).outcome).toEqual({ type: "Completed", output: j(["A=a while B settled=false", "B=b while A settled=true"]) });

    // Replaying the persisted history in one go shows the code the same order again.
    const replay = turn(h, sim.history.slice(0, -1));
    expect(replay.outcome).toEqual(out.outcome);
  });

  // §8 item 2
  test("all returns results in argument order whatever the completion order", () => {
    const h = orch(function* (ctx) {
      return yield* ctx.all([ctx.scheduleActivity("A"), ctx.scheduleActivity("B"), ctx.scheduleActivity("C")]);
    });
    const sim = new Sim(h);
    sim.step();
    expect(sim.step([M.done(4, "c")]).outcome.type).toBe("Continue");
    const out = sim.step([M.done(2, "a"), M.done(3, "b")]);
    expect(out.outcome).toEqual({ type: "Completed", output: j(["a", "b", "c"]) });
  });

  // §8 item 30
  test("an activity name change at a recorded position is nondeterminism naming both activities", () => {
    const h = orch(function* (ctx) {
      return yield* ctx.scheduleActivity("Charge", 1);
    });
    expectNondeterminism(turn(h, hist([K.started(), K.act("Refund", 1)])), "event 2", 'activity "Refund"', 'activity "Charge"');
  });

  test.each([
    ["activity", orch(function* (ctx) { return yield* ctx.scheduleActivity("A", { amount: 2 }); }), K.act("A", { amount: 1 })],
    ["sub-orchestration", orch(function* (ctx) { return yield* ctx.scheduleSubOrchestration("C", { amount: 2 }); }), K.sub("C", `${I}::sub::2`, { amount: 1 })],
  ])("an %s input change is nondeterminism whose message shows both inputs", (_label, h, recorded) => {
    expectNondeterminism(turn(h, hist([K.started(), recorded])), j({ amount: 1 }), j({ amount: 2 }));
  });

  test("a session change is nondeterminism naming both sessions", () => {
    const h = orch(function* (ctx) {
      return yield* ctx.scheduleActivity("A", null, { sessionId: "s-2" });
    });
    expectNondeterminism(turn(h, hist([K.started(), K.act("A", null, { session_id: "s-1" })])), "s-1", "s-2");
    const dropped = orch(function* (ctx) {
      return yield* ctx.scheduleActivity("A", null);
    });
    expectNondeterminism(turn(dropped, hist([K.started(), K.act("A", null, { session_id: "s-1" })])), "s-1");
  });

  // §8 item 42
  test("a tag change is nondeterminism naming both tags", () => {
    const h = orch(function* (ctx) {
      return yield* ctx.scheduleActivity("A").withTag("cpu");
    });
    expectNondeterminism(turn(h, hist([K.started(), K.act("A", null, { tag: "gpu" })])), "gpu", "cpu");
  });

  test.each([
    ["a timer where history has an activity", orch(function* (ctx) { yield* ctx.scheduleTimer(5); }), K.act("A"), ['activity "A"', "timer"]],
    ["a different wait name", orch(function* (ctx) { yield* ctx.scheduleWait("Approve"); }), K.wait("Reject"), ['"Reject"', '"Approve"']],
    ["a different queue name", orch(function* (ctx) { yield* ctx.dequeueEvent("Q2"); }), K.dequeue("Q1"), ['"Q1"', '"Q2"']],
    ["a different child name", orch(function* (ctx) { yield* ctx.scheduleSubOrchestration("Kid"); }), K.sub("Child", `${I}::sub::2`), ['"Child"', '"Kid"']],
    [
      "a different detached instance id",
      orch(function* (ctx) { ctx.scheduleOrchestration("Other", "other-2"); yield* ctx.scheduleTimer(5); }),
      K.chained("Other", "other-1"),
      ["other-1", "other-2"],
    ],
  ] as [string, Handler, EventKind, string[]][])("%s is nondeterminism naming both sides", (_label, h, recorded, fragments) => {
    expectNondeterminism(turn(h, hist([K.started(), recorded])), "schedule mismatch", ...fragments);
  });

  test("a schedule event in history with no action emitted at that point is nondeterminism", () => {
    const h = orch(function* (ctx) {
      return yield* ctx.scheduleActivity("A");
    });
    const history = hist([K.started(), K.act("A"), [K.actDone("a"), 2], K.act("B")]);
    expectNondeterminism(turn(h, history), "event 4", "did not schedule anything");
  });

  test("orchestration code cannot catch nondeterminism", () => {
    const h = orch(function* (ctx) {
      try {
        return yield* ctx.scheduleActivity("New");
      } catch {
        return "caught";
      }
    });
    expectNondeterminism(turn(h, hist([K.started(), K.act("Old")])));
  });

  test("extra actions after the recorded ones are new work, not nondeterminism", () => {
    const v2 = orch(function* (ctx) {
      const a = yield* ctx.scheduleActivity("A");
      const b = yield* ctx.scheduleActivity("B", a);
      return b;
    });
    const out = turn(v2, hist([K.started(), K.act("A")]), [M.done(2, "a")]);
    expect(out.outcome).toEqual({ type: "Continue" });
    expect(types(out.delta)).toEqual(["ActivityCompleted", "ActivityScheduled"]);
    expect(out.delta[1]).toMatchObject({ event_id: 4, name: "B", input: j("a") });
    expect(out.workerItems).toMatchObject([{ type: "ActivityExecute", id: 4, name: "B" }]);
  });

  test("metadata events in history that the code no longer emits are tolerated", () => {
    const h = orch(function* (ctx) {
      return yield* ctx.scheduleActivity("A");
    });
    const out = turn(h, hist([K.started(), K.status("old"), K.kvSet("k", 1), K.act("A")]));
    expect(out.outcome).toEqual({ type: "Continue" });
    expect(out.delta).toEqual([]);
  });

  test("metadata actions the history lacks are tolerated before a recorded schedule", () => {
    const h = orch(function* (ctx) {
      ctx.setCustomStatus("new");
      ctx.setValue("k", 1);
      return yield* ctx.scheduleActivity("A");
    });
    const out = turn(h, hist([K.started(), K.act("A")]));
    expect(out.outcome).toEqual({ type: "Continue" });
    expect(types(out.delta)).not.toContain("OrchestrationFailed");
  });

  test("a changed timer duration is not detected (timers match by position only)", () => {
    const h = orch(function* (ctx) {
      yield* ctx.scheduleTimer(99_999);
      return "done";
    });
    const out = turn(h, hist([K.started(), K.timer(NOW + 5)]), [M.timer(2)]);
    expect(out.outcome).toEqual({ type: "Completed", output: j("done") });
  });
});

// ------------------------------------------------------------------------------------------ §2.5

describe("new actions become events and work items (§2.5)", () => {
  test("new event ids continue from the highest id in history (+1), even across gaps", () => {
    const h = orch(function* (ctx) {
      yield* ctx.scheduleActivity("A");
      return yield* ctx.scheduleActivity("B");
    });
    const history = [event(I, 1, 1, K.started()), event(I, 1, 5, K.act("A"))];
    const out = turn(h, history, [M.done(5, "a")]);
    expect(out.delta.map((e) => [e.type, e.event_id])).toEqual([
      ["ActivityCompleted", 6],
      ["ActivityScheduled", 7],
    ]);
    expect(out.workerItems).toMatchObject([{ id: 7 }]);
  });

  test("an activity becomes ActivityScheduled and an ActivityExecute with session, tag and orchestration identity", () => {
    const h = orch(function* (ctx) {
      return yield* ctx.scheduleActivity("A", { n: 1 }, { sessionId: "s-1", tag: "gpu" });
    });
    const out = new Sim(h).step();
    expect(out.delta[1]).toMatchObject({ type: "ActivityScheduled", event_id: 2, name: "A", input: j({ n: 1 }), session_id: "s-1", tag: "gpu", timestamp_ms: NOW, duroxide_version: RUNTIME });
    expect(out.workerItems).toEqual([
      { type: "ActivityExecute", instance: I, execution_id: 1, id: 2, name: "A", input: j({ n: 1 }), session_id: "s-1", tag: "gpu", orchestration_name: "Orch", orchestration_version: "1.0.0" },
    ]);
    expect(out.orchestratorItems).toEqual([]);
  });

  test("a timer records fire_at = now + delay and enqueues TimerFired for that time", () => {
    const h = orch(function* (ctx) {
      yield* ctx.all([ctx.scheduleTimer(1_500), ctx.scheduleTimer(0)]);
    });
    const out = new Sim(h, null, { exec: 3 }).step();
    expect(ofType(out.delta, "TimerCreated").map((e) => [e.event_id, e.fire_at_ms])).toEqual([
      [2, NOW + 1_500],
      [3, NOW],
    ]);
    expect(out.orchestratorItems).toEqual([
      { type: "TimerFired", instance: I, execution_id: 3, id: 2, fire_at_ms: NOW + 1_500 },
      { type: "TimerFired", instance: I, execution_id: 3, id: 3, fire_at_ms: NOW },
    ]);
    expect(out.workerItems).toEqual([]);
  });

  // §8 item 16
  test("an auto-named child of execution 3 gets <parent>::sub::3::<eventId> (§3.6), a parent link and the parent's execution id", () => {
    const h = orch(function* (ctx) {
      yield* ctx.scheduleTimer(1);
      return yield* ctx.all([ctx.scheduleSubOrchestration("Child", { x: 1 }), ctx.scheduleSubOrchestration("Child", { x: 2 }, { version: "2.0.0" })]);
    });
    const sim = new Sim(h, null, { exec: 3 });
    sim.step();
    const out = sim.step([M.timer(2, 3)]);
    const subs = ofType(out.delta, "SubOrchestrationScheduled");
    expect(subs.map((e) => [e.event_id, e.instance])).toEqual([
      [4, `${I}::sub::3::4`],
      [5, `${I}::sub::3::5`],
    ]);
    expect(out.orchestratorItems).toEqual([
      { type: "StartOrchestration", instance: `${I}::sub::3::4`, orchestration: "Child", input: j({ x: 1 }), version: null, parent_instance: I, parent_id: 4, parent_execution_id: 3, execution_id: 1 },
      { type: "StartOrchestration", instance: `${I}::sub::3::5`, orchestration: "Child", input: j({ x: 2 }), version: "2.0.0", parent_instance: I, parent_id: 5, parent_execution_id: 3, execution_id: 1 },
    ]);
  });

  // §8 item 17
  test("a child with an explicit id uses it verbatim", () => {
    const h = orch(function* (ctx) {
      return yield* ctx.scheduleSubOrchestration("Child", 7, { instanceId: "my-child" });
    });
    const out = new Sim(h).step();
    expect(one(out.delta, "SubOrchestrationScheduled")).toMatchObject({ event_id: 2, instance: "my-child", name: "Child", input: "7" });
    expect(out.orchestratorItems).toMatchObject([{ type: "StartOrchestration", instance: "my-child", parent_instance: I, parent_id: 2 }]);
  });

  // §8 item 17
  test("a detached start records OrchestrationChained and starts a root with the exact id, once", () => {
    const h = orch(function* (ctx) {
      ctx.scheduleOrchestration("Other", "other-1", { y: 1 });
      return yield* ctx.scheduleActivity("A");
    });
    const sim = new Sim(h);
    const first = sim.step();
    expect(first.delta[1]).toMatchObject({ type: "OrchestrationChained", event_id: 2, name: "Other", instance: "other-1", input: j({ y: 1 }) });
    expect(first.orchestratorItems).toEqual([
      { type: "StartOrchestration", instance: "other-1", orchestration: "Other", input: j({ y: 1 }), version: null, parent_instance: null, parent_id: null, execution_id: 1 },
    ]);
    expect(first.workerItems).toMatchObject([{ id: 3, name: "A" }]);
    const second = sim.step([M.done(3, "a")]);
    expect(second.outcome).toEqual({ type: "Completed", output: j("a") });
    expect(second.orchestratorItems).toEqual([]);
  });

  test("detached starts are honoured in a terminal turn; activities emitted there are recorded but not dispatched", () => {
    const h = orch(function* (ctx) {
      ctx.scheduleOrchestration("Other", "other-1");
      ctx.scheduleActivity("NeverRuns");
      ctx.scheduleTimer(10);
      return "bye";
    });
    const out = new Sim(h).step();
    expect(out.outcome).toEqual({ type: "Completed", output: j("bye") });
    expect(out.workerItems).toEqual([]);
    expect(out.orchestratorItems).toMatchObject([{ type: "StartOrchestration", instance: "other-1" }]);
    expect(types(out.delta)).toContain("ActivityScheduled");
    const cancel = one(out.delta, "ActivityCancelRequested");
    expect(cancel.source_event_id).toBe(3);
    expect(["dropped_future", "orchestration_terminal_completed"]).toContain(cancel.reason);
    expectTerminalLast(out);
  });
});

// ------------------------------------------------------------------------------------------ §2.7

describe("turn outcome and precedence (§2.7)", () => {
  const awaitThenReturn = orch(function* (ctx) {
    return yield* ctx.scheduleActivity("A");
  });

  test.each([
    ["cancel after the completion", [M.done(2, "r"), M.cancel("stop")]],
    ["cancel before the completion", [M.cancel("stop"), M.done(2, "r")]],
  ])("a cancel request beats a completed orchestration (%s)", (_label, batch) => {
    const sim = new Sim(awaitThenReturn, null, { started: { parent_instance: "parent-x", parent_id: 7, parent_execution_id: 2 } });
    sim.step();
    const out = sim.step(batch);
    expect(out.outcome).toEqual({ type: "Cancelled", reason: "stop" });
    const cancelled: ErrorDetails = { type: "Application", kind: { Cancelled: { reason: "stop" } }, message: "canceled: stop", retryable: false };
    expect(one(out.delta, "OrchestrationFailed").details).toEqual(cancelled);
    expect(types(out.delta)).not.toContain("OrchestrationCompleted");
    expect(one(out.delta, "OrchestrationCancelRequested").reason).toBe("stop");
    expectTerminalLast(out);
    expect(out.orchestratorItems).toEqual([{ type: "SubOrchFailed", parent_instance: "parent-x", parent_execution_id: 2, parent_id: 7, details: cancelled }]);
  });

  // §8 item 22
  test("a cancel in the very first batch ends the instance as Cancelled; its new work is not dispatched", () => {
    const out = new Sim(awaitThenReturn).step([M.cancel("early")]);
    expect(out.outcome).toEqual({ type: "Cancelled", reason: "early" });
    expect(types(out.delta)).toEqual(["OrchestrationStarted", "OrchestrationCancelRequested", "ActivityScheduled", "ActivityCancelRequested", "OrchestrationFailed"]);
    expect(out.workerItems).toEqual([]);
  });

  test("a cancel request beats continue-as-new", () => {
    const h = orch(function* (ctx) {
      yield* ctx.scheduleActivity("A");
      return yield* ctx.continueAsNew("next");
    });
    const sim = new Sim(h);
    sim.step();
    const out = sim.step([M.done(2, "a"), M.cancel("stop")]);
    expect(out.outcome).toEqual({ type: "Cancelled", reason: "stop" });
    expect(types(out.delta)).not.toContain("OrchestrationContinuedAsNew");
    expect(items(out.orchestratorItems, "ContinueAsNew")).toEqual([]);
  });

  // §8 item 25
  test("continue-as-new beats a returned value", () => {
    const h = orch(function* (ctx) {
      ctx.continueAsNew({ n: 2 }, { version: "2.0.0" });
      return "ignored";
    });
    const out = new Sim(h).step();
    expect(out.outcome).toEqual({ type: "ContinueAsNew", input: j({ n: 2 }), version: "2.0.0" });
    expect(types(out.delta)).toEqual(["OrchestrationStarted", "OrchestrationContinuedAsNew"]);
    expect(out.delta[1]).toMatchObject({ event_id: 2, input: j({ n: 2 }) });
    expect(out.orchestratorItems).toEqual([
      { type: "ContinueAsNew", instance: I, orchestration: "Orch", input: j({ n: 2 }), version: "2.0.0", carry_forward_events: [] },
    ]);
  });

  test("a returned value is JSON-encoded as the output (undefined becomes null)", () => {
    const obj = new Sim(orch(function* () { return { a: [1, "x"] }; })).step();
    expect(obj.outcome).toEqual({ type: "Completed", output: j({ a: [1, "x"] }) });
    expect(one(obj.delta, "OrchestrationCompleted")).toMatchObject({ event_id: 2, output: j({ a: [1, "x"] }) });
    const none = new Sim(orch(function* () {})).step();
    expect(none.outcome).toEqual({ type: "Completed", output: "null" });
  });

  // §8 item 32
  test("a thrown Error fails with Application/OrchestrationFailed and its message", () => {
    const h = orch(function* (ctx) {
      yield* ctx.scheduleActivity("A");
      throw new Error("out of stock");
    });
    const sim = new Sim(h);
    sim.step();
    const out = sim.step([M.done(2, "a")]);
    const details: ErrorDetails = { type: "Application", kind: "OrchestrationFailed", message: "out of stock", retryable: false };
    expect(out.outcome).toEqual({ type: "Failed", details });
    expect(one(out.delta, "OrchestrationFailed").details).toEqual(details);
  });

  // §8 item 32
  test.each([
    ["TypeError", () => (null as any).field],
    ["RangeError", () => new Array(-1)],
    ["ReferenceError", () => { throw new ReferenceError("nope is not defined"); }],
  ])("an internal crash (%s) fails with Panicked", (_label, crash) => {
    const out = new Sim(orch(function* () { crash(); })).step();
    expect(out.outcome.type).toBe("Failed");
    const details = (out.outcome as { details: ErrorDetails }).details;
    expect(details).toMatchObject({ type: "Application", kind: "Panicked", retryable: false });
    expect((details as { message: string }).message).toContain("orchestration panicked");
  });

  // §8 item 50
  test("yielding a Promise fails the turn with a clear usage error (Panicked)", () => {
    const out = new Sim(orch(function* () { yield Promise.resolve(1) as any; return "never"; })).step();
    expect(out.outcome.type).toBe("Failed");
    const message = ((out.outcome as { details: ErrorDetails }).details as { message: string }).message;
    expect(message).toContain("Promise");
    expect(message).toContain("durable tasks");
    expect((out.outcome as { details: ErrorDetails }).details).toMatchObject({ kind: "Panicked" });
  });

  // §8 item 25, 15, 37
  test("continue-as-new tail: in-flight activities and waits cancelled, children kept, queue and status carried, breadcrumbs first", () => {
    const h = orch(function* (ctx) {
      ctx.scheduleActivity("Slow");
      ctx.scheduleWait("E");
      ctx.scheduleSubOrchestration("Child");
      yield* ctx.scheduleTimer(100);
      ctx.setCustomStatus("phase-2");
      return yield* ctx.continueAsNew("next");
    });
    const sim = new Sim(h);
    sim.step();
    expect(types(sim.history)).toEqual(["OrchestrationStarted", "ActivityScheduled", "ExternalSubscribed", "SubOrchestrationScheduled", "TimerCreated"]);
    const out = sim.step([M.enqueue("Q", "q1"), M.enqueue("Q", "q2"), M.timer(5)]);
    expect(out.outcome).toEqual({ type: "ContinueAsNew", input: j("next"), version: null });
    expectTerminalLast(out);
    expect(one(out.delta, "ActivityCancelRequested")).toMatchObject({ source_event_id: 2, reason: "orchestration_terminal_continued_as_new" });
    expect(one(out.delta, "ExternalSubscribedCancelled")).toMatchObject({ source_event_id: 3, reason: "orchestration_terminal" });
    expect(ofType(out.delta, "SubOrchestrationCancelRequested")).toEqual([]);
    expect(out.cancelledActivities).toEqual([{ instance: I, execution_id: 1, activity_id: 2 }]);
    expect(out.orchestratorItems).toEqual([
      {
        type: "ContinueAsNew",
        instance: I,
        orchestration: "Orch",
        input: j("next"),
        version: null,
        carry_forward_events: [
          ["Q", j("q1")],
          ["Q", j("q2")],
        ],
        initial_custom_status: "phase-2",
      },
    ]);
    expect(out.workerItems).toEqual([]);
  });

  // §8 item 15
  test("continue-as-new carries at most 20 unconsumed queue messages (the first 20, in order) and warns", () => {
    const logs: string[] = [];
    const h = orch(function* (ctx) {
      return yield* ctx.continueAsNew(null);
    });
    const msgs = Array.from({ length: 25 }, (_, i) => M.enqueue("Q", `m${i}`));
    const out = new Sim(h, null, { started: { initial_custom_status: "kept" }, log: (level, message) => logs.push(`${level}:${message}`) }).step(msgs);
    const can = items(out.orchestratorItems, "ContinueAsNew")[0]!;
    expect(can.carry_forward_events).toEqual(Array.from({ length: 20 }, (_, i) => ["Q", j(`m${i}`)]));
    expect(can.initial_custom_status).toBe("kept");
    expect(logs.some((l) => l.startsWith("warn:") && l.includes("5"))).toBe(true);
  });

  // §8 item 19
  test("cancelled tail: open children get CancelInstance('parent canceled'), activities are cancelled, parent is told", () => {
    const h = orch(function* (ctx) {
      return yield* ctx.all([ctx.scheduleActivity("A"), ctx.scheduleSubOrchestration("Done"), ctx.scheduleSubOrchestration("Kid", null, { instanceId: "kid" }), ctx.scheduleWait("E")]);
    });
    const history = hist([
      K.started(null, { parent_instance: "parent-x", parent_id: 7, parent_execution_id: 2 }),
      K.act("A"),
      K.sub("Done", `${I}::sub::3`),
      K.sub("Kid", "kid"),
      K.wait("E"),
      [K.subDone("ok"), 3],
    ]);
    const out = turn(h, history, [M.cancel("user")]);
    expect(out.outcome).toEqual({ type: "Cancelled", reason: "user" });
    expectTerminalLast(out);
    expect(one(out.delta, "ActivityCancelRequested")).toMatchObject({ source_event_id: 2, reason: "orchestration_terminal_failed" });
    expect(one(out.delta, "SubOrchestrationCancelRequested")).toMatchObject({ source_event_id: 4 });
    expect(one(out.delta, "ExternalSubscribedCancelled")).toMatchObject({ source_event_id: 5 });
    expect(out.cancelledActivities).toEqual([{ instance: I, execution_id: 1, activity_id: 2 }]);
    const cancelled: ErrorDetails = { type: "Application", kind: { Cancelled: { reason: "user" } }, message: "canceled: user", retryable: false };
    expect(out.orchestratorItems).toEqual([
      { type: "CancelInstance", instance: "kid", reason: "parent canceled", from: { instance: I, execution_id: 1, event_id: 4 } },
      { type: "SubOrchFailed", parent_instance: "parent-x", parent_execution_id: 2, parent_id: 7, details: cancelled },
    ]);
  });

  // §8 item 16
  test("a completed child reports SubOrchCompleted to its parent's execution", () => {
    const h = orch(function* (ctx, input) {
      return `child got ${input}`;
    });
    const out = new Sim(h, "x", { started: { parent_instance: "parent-x", parent_id: 4, parent_execution_id: 3 } }).step();
    expect(out.orchestratorItems).toEqual([{ type: "SubOrchCompleted", parent_instance: "parent-x", parent_execution_id: 3, parent_id: 4, result: j("child got x") }]);
    // Without a recorded parent execution the result goes to execution 1.
    const legacy = new Sim(h, "y", { started: { parent_instance: "parent-x", parent_id: 4 } }).step();
    expect(legacy.orchestratorItems).toMatchObject([{ type: "SubOrchCompleted", parent_execution_id: 1 }]);
  });

  // §8 item 18
  test("a failed child reports SubOrchFailed with its details", () => {
    const out = new Sim(orch(function* () { throw new Error("bad input"); }), null, { started: { parent_instance: "p", parent_id: 2, parent_execution_id: 1 } }).step();
    expect(out.orchestratorItems).toEqual([
      { type: "SubOrchFailed", parent_instance: "p", parent_execution_id: 1, parent_id: 2, details: { type: "Application", kind: "OrchestrationFailed", message: "bad input", retryable: false } },
    ]);
  });

  // §8 item 24
  test("completing with an activity and a child still pending cancels both (one breadcrumb each, before the terminal event)", () => {
    const h = orch(function* (ctx) {
      ctx.scheduleActivity("Slow");
      ctx.scheduleSubOrchestration("Child");
      return yield* ctx.scheduleActivity("Fast");
    });
    const sim = new Sim(h);
    sim.step();
    const out = sim.step([M.done(4, "f")]);
    expect(out.outcome).toEqual({ type: "Completed", output: j("f") });
    expectTerminalLast(out);
    const acr = one(out.delta, "ActivityCancelRequested");
    expect(acr.source_event_id).toBe(2);
    expect(out.cancelledActivities).toEqual([{ instance: I, execution_id: 1, activity_id: 2 }]);
    expect(one(out.delta, "SubOrchestrationCancelRequested").source_event_id).toBe(3);
    expect(items(out.orchestratorItems, "CancelInstance")).toEqual([{ type: "CancelInstance", instance: `${I}::sub::3`, reason: "parent dropped sub-orchestration future", from: { instance: I, execution_id: 1, event_id: 3 } }]);
  });
});

// ------------------------------------------------------------------------------------------ §2.9

describe("race, all and dropped futures (§2.9)", () => {
  const raceAB = orch(function* (ctx) {
    return yield* ctx.race([ctx.scheduleActivity("A"), ctx.scheduleActivity("B")]);
  });

  // §8 item 9
  test("the race winner is the completion earliest in history, even if it is the second argument", () => {
    const sim = new Sim(raceAB);
    sim.step();
    const out = sim.step([M.done(3, "b"), M.done(2, "a")]);
    expect(out.outcome).toEqual({ type: "Completed", output: j({ index: 1, value: "b" }) });
    // Both completed: nothing left to cancel.
    expect(ofType(out.delta, "ActivityCancelRequested")).toEqual([]);
    expect(out.cancelledActivities).toEqual([]);

    const sim2 = new Sim(raceAB);
    sim2.step();
    expect(sim2.step([M.done(2, "a"), M.done(3, "b")]).outcome).toEqual({ type: "Completed", output: j({ index: 0, value: "a" }) });
  });

  test("if both branches were already complete when the race is reached, the earliest argument wins", () => {
    const h = orch(function* (ctx) {
      const a = ctx.scheduleActivity("A");
      const b = ctx.scheduleActivity("B");
      yield* ctx.scheduleTimer(5);
      return yield* ctx.race([a, b]);
    });
    const history = hist([K.started(), K.act("A"), K.act("B"), K.timer(), [K.actDone("b"), 3], [K.actDone("a"), 2]]);
    expect(turn(h, history, [M.timer(4)]).outcome).toEqual({ type: "Completed", output: j({ index: 0, value: "a" }) });
  });

  // §8 items 8, 10
  test("an activity loser gets ActivityCancelRequested(dropped_future) and is lock-stolen; work after the race continues", () => {
    const h = orch(function* (ctx) {
      const r = yield* ctx.race([ctx.scheduleActivity("Slow"), ctx.scheduleTimer(50)]);
      const after = yield* ctx.scheduleActivity("After", r.index);
      return after;
    });
    const sim = new Sim(h);
    sim.step();
    const out = sim.step([M.timer(3)]);
    expect(out.outcome).toEqual({ type: "Continue" });
    expect(one(out.delta, "ActivityCancelRequested")).toMatchObject({ source_event_id: 2, reason: "dropped_future" });
    expect(out.cancelledActivities).toEqual([{ instance: I, execution_id: 1, activity_id: 2 }]);
    expect(out.workerItems).toMatchObject([{ name: "After", input: "1" }]);

    // Replaying the same history reproduces the drop: no new breadcrumbs, no new work.
    const replay = turn(h, sim.history);
    expect(replay.outcome).toEqual({ type: "Continue" });
    expect(replay.delta).toEqual([]);
    expect(replay.cancelledActivities).toEqual([]);
    expect(replay.workerItems).toEqual([]);

    // The loser's late completion is recorded and ignored; the orchestration carries on.
    const late = sim.step([M.done(2, "late")]);
    expect(types(late.delta)).toEqual(["ActivityCompleted"]);
    expect(late.outcome).toEqual({ type: "Continue" });
    const afterId = ofType(sim.history, "ActivityScheduled").find((e) => e.name === "After")!.event_id;
    expect(sim.step([M.done(afterId, "done")]).outcome).toEqual({ type: "Completed", output: j("done") });
  });

  test("a child loser gets SubOrchestrationCancelRequested(dropped_future) and a CancelInstance", () => {
    const h = orch(function* (ctx) {
      const r = yield* ctx.race([ctx.scheduleSubOrchestration("Child"), ctx.scheduleTimer(50)]);
      yield* ctx.scheduleTimer(1_000);
      return r.index;
    });
    const sim = new Sim(h);
    sim.step();
    const out = sim.step([M.timer(3)]);
    expect(one(out.delta, "SubOrchestrationCancelRequested")).toMatchObject({ source_event_id: 2, reason: "dropped_future" });
    expect(items(out.orchestratorItems, "CancelInstance")).toEqual([{ type: "CancelInstance", instance: `${I}::sub::2`, reason: "parent dropped sub-orchestration future", from: { instance: I, execution_id: 1, event_id: 2 } }]);
    expect(turn(h, sim.history).delta).toEqual([]);
  });

  test("a wait loser gets ExternalSubscribedCancelled(dropped_future); a dequeue loser gets its persistent breadcrumb", () => {
    const h = orch(function* (ctx) {
      const r = yield* ctx.race([ctx.scheduleWait("E"), ctx.dequeueEvent("Q"), ctx.scheduleTimer(50)]);
      yield* ctx.scheduleTimer(1_000);
      return r.index;
    });
    const sim = new Sim(h);
    sim.step();
    const out = sim.step([M.timer(4)]);
    expect(one(out.delta, "ExternalSubscribedCancelled")).toMatchObject({ source_event_id: 2, reason: "dropped_future" });
    expect(one(out.delta, "ExternalSubscribedPersistentCancelled")).toMatchObject({ source_event_id: 3, reason: "dropped_future" });
    expect(out.cancelledActivities).toEqual([]);
    expect(items(out.orchestratorItems, "CancelInstance")).toEqual([]);
    expect(turn(h, sim.history).delta).toEqual([]);
  });

  test("a timer loser leaves no breadcrumb; its later TimerFired is recorded and ignored", () => {
    const h = orch(function* (ctx) {
      const r = yield* ctx.race([ctx.scheduleActivity("A"), ctx.scheduleTimer(50)]);
      const next = yield* ctx.scheduleActivity("Next");
      return [r.index, next];
    });
    const sim = new Sim(h);
    sim.step();
    const out = sim.step([M.done(2, "a")]);
    expect(out.delta.filter((e) => e.source_event_id === 3)).toEqual([]);
    expect(out.cancelledActivities).toEqual([]);
    const fired = sim.step([M.timer(3)]);
    expect(types(fired.delta)).toEqual(["TimerFired"]);
    expect(fired.outcome).toEqual({ type: "Continue" });
    expect(sim.step([M.done(5, "n")]).outcome).toEqual({ type: "Completed", output: j([0, "n"]) });
  });

  test("a history whose dropped_future breadcrumb the code no longer reproduces is nondeterminism", () => {
    const v2 = orch(function* (ctx) {
      const a = ctx.scheduleActivity("A");
      yield* ctx.scheduleTimer(50);
      return yield* a; // v1 raced these and dropped A
    });
    const history = hist([K.started(), K.act("A"), K.timer(), [K.fired(), 3], [K.actCancel("dropped_future"), 2]]);
    expectNondeterminism(turn(v2, history), "event 2", "dropped");
  });

  test("all fails with the first failure in history order", () => {
    const h = orch(function* (ctx) {
      try {
        return yield* ctx.all([ctx.scheduleActivity("A"), ctx.scheduleActivity("B")]);
      } catch (err) {
        return (err as Error).message;
      }
    });
    const sim = new Sim(h);
    sim.step();
    expect(sim.step([M.fail(3, appErr("b broke")), M.fail(2, appErr("a broke"))]).outcome).toEqual({ type: "Completed", output: j("b broke") });
  });
});

// ------------------------------------------------------------------------------------------ §3.4 / §3.5

describe("positional external events (§3.4)", () => {
  // §8 item 11
  test("an event raised before its subscription is ignored; raised again afterwards it is delivered", () => {
    const h = orch(function* (ctx) {
      return yield* ctx.scheduleWait("E");
    });
    const sim = new Sim(h);
    const first = sim.step([M.raise("E", "early")]);
    expect(types(first.delta)).toEqual(["OrchestrationStarted", "ExternalEvent", "ExternalSubscribed"]);
    expect(first.outcome).toEqual({ type: "Continue" });
    const second = sim.step([M.raise("E", "late")]);
    expect(second.outcome).toEqual({ type: "Completed", output: j("late") });
  });

  test("a positional event applied before a subscription created later in the same turn stays unmatched", () => {
    const h = orch(function* (ctx) {
      yield* ctx.scheduleTimer(10);
      return yield* ctx.scheduleWait("E");
    });
    const sim = new Sim(h);
    sim.step();
    const out = sim.step([M.timer(2), M.raise("E", "too soon")]);
    expect(out.outcome).toEqual({ type: "Continue" });
    expect(types(out.delta)).toEqual(["TimerFired", "ExternalEvent", "ExternalSubscribed"]);
    expect(sim.step([M.raise("E", "ok")]).outcome).toEqual({ type: "Completed", output: j("ok") });
  });

  // §8 item 12
  test("two open waits on one name get two raises in order", () => {
    const h = orch(function* (ctx) {
      return yield* ctx.all([ctx.scheduleWait("E"), ctx.scheduleWait("E")]);
    });
    const sim = new Sim(h);
    sim.step();
    expect(sim.step([M.raise("E", "first"), M.raise("E", "second")]).outcome).toEqual({ type: "Completed", output: j(["first", "second"]) });
  });

  test("sequential waits receive raises from successive turns", () => {
    const h = orch(function* (ctx) {
      const a = yield* ctx.scheduleWait("E");
      const b = yield* ctx.scheduleWait("E");
      return [a, b];
    });
    const sim = new Sim(h);
    sim.step();
    expect(sim.step([M.raise("E", "x")]).outcome).toEqual({ type: "Continue" });
    expect(sim.step([M.raise("Other", "noise"), M.raise("E", "y")]).outcome).toEqual({ type: "Completed", output: j(["x", "y"]) });
  });

  // §8 item 13
  test("a cancelled (losing) subscription does not consume a later event", () => {
    const h = orch(function* (ctx) {
      const r = yield* ctx.race([ctx.scheduleWait("E"), ctx.scheduleTimer(10)]);
      const v = yield* ctx.scheduleWait("E");
      return [r.index, v];
    });
    const sim = new Sim(h);
    sim.step();
    sim.step([M.timer(3)]);
    expect(ofType(sim.history, "ExternalSubscribed").length).toBe(2);
    expect(sim.step([M.raise("E", "v")]).outcome).toEqual({ type: "Completed", output: j([1, "v"]) });
  });
});

describe("queue events (§3.5)", () => {
  // §8 item 14
  test("messages buffered before any dequeue are delivered FIFO, all within one turn (quiescence)", () => {
    const h = orch(function* (ctx) {
      yield* ctx.scheduleTimer(10);
      const out: unknown[] = [];
      for (let i = 0; i < 3; i++) out.push(yield* ctx.dequeueEvent("Q"));
      out.push(yield* ctx.dequeueEvent("Other"));
      return out;
    });
    const sim = new Sim(h);
    sim.step();
    expect(sim.step([M.enqueue("Q", "q1"), M.enqueue("Other", "o1"), M.enqueue("Q", "q2")]).outcome).toEqual({ type: "Continue" });
    const out = sim.step([M.enqueue("Q", "q3"), M.timer(2)]);
    expect(out.outcome).toEqual({ type: "Completed", output: j(["q1", "q2", "q3", "o1"]) });
    expect(ofType(out.delta, "ExternalSubscribedPersistent").length).toBe(4);
  });

  test("a new dequeue consumes an arrival already in history within the same turn", () => {
    const h = orch(function* (ctx) {
      const a = yield* ctx.dequeueEvent("Q");
      const b = yield* ctx.dequeueEvent("Q");
      return [a, b];
    });
    const out = new Sim(h).step([M.enqueue("Q", "x"), M.enqueue("Q", "y")]);
    expect(out.outcome).toEqual({ type: "Completed", output: j(["x", "y"]) });
    expect(types(out.delta)).toEqual([
      "OrchestrationStarted",
      "ExternalEventPersistent",
      "ExternalEventPersistent",
      "ExternalSubscribedPersistent",
      "ExternalSubscribedPersistent",
      "OrchestrationCompleted",
    ]);
  });

  test("a cancelled dequeue does not consume: the message goes to the next dequeue", () => {
    const h = orch(function* (ctx) {
      const r = yield* ctx.race([ctx.dequeueEvent("Q"), ctx.scheduleTimer(10)]);
      const v = yield* ctx.dequeueEvent("Q");
      return [r.index, v];
    });
    const sim = new Sim(h);
    sim.step();
    sim.step([M.timer(3)]);
    expect(sim.step([M.enqueue("Q", "m")]).outcome).toEqual({ type: "Completed", output: j([1, "m"]) });
  });

  // §8 item 15
  test("carried-forward messages from continue-as-new come before new arrivals", () => {
    const h = orch(function* (ctx) {
      return [yield* ctx.dequeueEvent("Q"), yield* ctx.dequeueEvent("Q"), yield* ctx.dequeueEvent("Q")];
    });
    const out = new Sim(h, null, { exec: 2, started: { carry_forward_events: [["Q", j("old1")], ["Q", j("old2")]] } }).step([M.enqueue("Q", "new")]);
    expect(out.outcome).toEqual({ type: "Completed", output: j(["old1", "old2", "new"]) });
  });
});

// ------------------------------------------------------------------------------------------ §2.10

describe("isReplaying and tracing (§2.10)", () => {
  // §8 item 36
  test("false on the first turn; true before the newest completion and false after it", () => {
    let seen: string[] = [];
    const h = orch(function* (ctx) {
      seen.push(`start:${ctx.isReplaying()}`);
      yield* ctx.scheduleActivity("A");
      seen.push(`A:${ctx.isReplaying()}`);
      yield* ctx.scheduleActivity("B");
      seen.push(`B:${ctx.isReplaying()}`);
      yield* ctx.scheduleActivity("C");
      seen.push(`C:${ctx.isReplaying()}`);
    });
    const sim = new Sim(h);
    sim.step();
    expect(seen).toEqual(["start:false"]);
    seen = [];
    sim.step([M.done(2, 1)]);
    expect(seen).toEqual(["start:true", "A:false"]);
    seen = [];
    sim.step([M.done(4, 1)]);
    expect(seen).toEqual(["start:true", "A:true", "B:false"]);
    seen = [];
    sim.step([M.done(6, 1)]);
    expect(seen).toEqual(["start:true", "A:true", "B:true", "C:false"]);
  });

  test("code resumed by the last persisted event is still replaying: it already ran when that completion arrived", () => {
    const seen: string[] = [];
    const h = orch(function* (ctx) {
      seen.push(`start:${ctx.isReplaying()}`);
      yield* ctx.scheduleActivity("A");
      seen.push(`A:${ctx.isReplaying()}`);
      yield* ctx.scheduleActivity("B");
    });
    turn(h, hist([K.started(), K.act("A"), [K.actDone(1), 2]]));
    expect(seen).toEqual(["start:true", "A:true"]);
  });

  // §8 item 6
  test("trace lines are emitted only when not replaying, with instance fields", () => {
    const logs: [string, string, Record<string, unknown>][] = [];
    const h = orch(function* (ctx) {
      ctx.traceInfo("step-0");
      yield* ctx.scheduleActivity("A");
      ctx.traceWarn("step-1");
      yield* ctx.scheduleActivity("B");
      ctx.traceError("step-2");
    });
    const sim = new Sim(h, null, { log: (level, message, fields) => logs.push([level, message, fields]) });
    sim.step();
    sim.step([M.done(2, 1)]);
    sim.step([M.done(4, 1)]);
    expect(logs.map(([l, m]) => `${l}:${m}`)).toEqual(["info:step-0", "warn:step-1", "error:step-2"]);
    expect(logs[0]![2]).toMatchObject({ instance_id: I, execution_id: 1, orchestration_name: "Orch", orchestration_version: "1.0.0" });
  });
});

// ------------------------------------------------------------------------------------------ state seeding

describe("custom status and KV seeding", () => {
  test("custom status starts from initial_custom_status and KV from the snapshot; writes become events", () => {
    const h = orch(function* (ctx) {
      const before = [ctx.getCustomStatus(), ctx.getValue("count")];
      ctx.setValue("count", (ctx.getValue<number>("count") ?? 0) + 1);
      ctx.setCustomStatus("busy");
      return before;
    });
    const out = new Sim(h, null, { started: { initial_custom_status: "carried" }, kv: { count: { value: "41", last_updated_at_ms: 5 } } }).step();
    expect(out.outcome).toEqual({ type: "Completed", output: j(["carried", 41]) });
    expect(one(out.delta, "KeyValueSet")).toMatchObject({ key: "count", value: "42", last_updated_at_ms: NOW });
    expect(one(out.delta, "CustomStatusUpdated").status).toBe("busy");
    expect(out.customStatus).toBe("busy");
    expect(out.kv.get("count")).toEqual({ value: "42", updatedAtMs: NOW });
  });

  // §8 item 39
  test("a read-modify-write counter across turns replays to the same value", () => {
    const h = orch(function* (ctx) {
      for (let i = 0; i < 3; i++) {
        ctx.setValue("n", (ctx.getValue<number>("n") ?? 0) + 1);
        yield* ctx.scheduleTimer(1);
      }
      return ctx.getValue("n");
    });
    const sim = new Sim(h);
    sim.step();
    sim.step([M.timer(3)]);
    sim.step([M.timer(6)]);
    const out = sim.step([M.timer(9)]);
    expect(out.outcome).toEqual({ type: "Completed", output: "3" });
    expect(ofType(sim.history, "KeyValueSet").map((e) => e.value)).toEqual(["1", "2", "3"]);
  });

  test("on replay a KV write keeps its recorded timestamp, so pruning by age is deterministic", () => {
    const h = orch(function* (ctx) {
      ctx.setValue("k", 1);
      yield* ctx.scheduleTimer(1);
      return ctx.pruneValuesUpdatedBefore(NOW - 1);
    });
    const out = turn(h, hist([K.started(), K.kvSet("k", 1), K.timer()]), [M.timer(3)]);
    expect(out.outcome).toEqual({ type: "Completed", output: "1" });
    expect(one(out.delta, "KeyValueCleared").key).toBe("k");
    expect(out.kv.has("k")).toBe(false);
  });
});

// ------------------------------------------------------------------------------------------ determinism

/**
 * Runs an orchestration to its end against a simulated world: activities complete (or fail, for
 * names starting with "Flaky" on their first attempt), timers fire, children complete, and
 * `extra(history)` injects external/queue messages. Each turn delivers up to `batch` pending
 * completions, newest first, so completions land out of scheduling order.
 */
function drive(handler: Handler, extra: (history: Event[]) => WorkItem[] = () => [], batch = 2) {
  const sim = new Sim(handler, "in");
  const turns: { before: Event[]; messages: WorkItem[]; out: TurnOutput }[] = [];
  let pending: WorkItem[] = [];
  const flakySeen = new Set<string>();
  let messages: WorkItem[] = [];
  for (let k = 0; k < 60; k++) {
    const before = [...sim.history];
    const out = sim.step(messages);
    turns.push({ before, messages, out });
    if (out.outcome.type !== "Continue") return { sim, turns };
    for (const w of out.workerItems) {
      if (w.type !== "ActivityExecute") continue;
      if (w.name.startsWith("Flaky") && !flakySeen.has(w.name)) {
        flakySeen.add(w.name);
        pending.push(M.fail(w.id, appErr(`${w.name} flaked`)));
      } else pending.push(M.done(w.id, `${w.name}(${w.input})`));
    }
    for (const w of out.orchestratorItems) {
      if (w.type === "TimerFired") pending.push(M.timer(w.id));
      if (w.type === "StartOrchestration" && w.parent_id !== null) pending.push(M.subDone(w.parent_id, `child:${w.input}`));
    }
    const take = pending.splice(Math.max(pending.length - batch, 0)).reverse();
    pending = pending.filter((p) => !take.includes(p));
    messages = [...take, ...extra(sim.history)];
    if (messages.length === 0) throw new Error(`orchestration is stuck after turn ${k}`);
  }
  throw new Error("orchestration did not finish in 60 turns");
}

const fanOut = orch(function* (ctx, input) {
  const first = yield* ctx.scheduleActivity("Prep", input);
  const many = yield* ctx.all([1, 2, 3, 4].map((i) => ctx.scheduleActivity("Work", i)));
  yield* ctx.scheduleTimer(100);
  ctx.setCustomStatus(`did ${many.length}`);
  return [first, many];
});

const raceAndEvents = orch(function* (ctx) {
  const r = yield* ctx.race([ctx.scheduleActivity("SlowPay"), ctx.scheduleTimer(10)]);
  const approval = yield* ctx.scheduleWait("Approve");
  const msg = yield* ctx.dequeueEvent("Inbox");
  const [a, b] = yield* ctx.all([ctx.scheduleActivity("Ship", approval), ctx.run(function* () {
    const x = yield* ctx.scheduleActivity("Pack", msg);
    return yield* ctx.scheduleActivity("Label", x);
  })]);
  return { winner: r.index, a, b };
});

const childrenAndRetry = orch(function* (ctx) {
  const kid = yield* ctx.scheduleSubOrchestration("Child", { n: 1 });
  const retried = yield* ctx.scheduleActivityWithRetry("FlakyCharge", kid, { maxAttempts: 3, backoff: { type: "Fixed", delayMs: 50 } });
  ctx.setValue("charged", retried);
  ctx.scheduleOrchestration("Audit", "audit-1", retried);
  const pair = yield* ctx.all([ctx.scheduleSubOrchestration("Child", 2, { instanceId: "kid-2" }), ctx.scheduleActivity("Notify")]);
  return { kid, retried, pair };
});

const determinismCases: [string, Handler, (h: Event[]) => WorkItem[], number][] = [
  ["fan-out with timer and status", fanOut, () => [], 2],
  [
    "race, external event, queue and nested block",
    raceAndEvents,
    (h) => {
      const out: WorkItem[] = [];
      if (ofType(h, "ExternalSubscribed").length > 0 && ofType(h, "ExternalEvent").length === 0) out.push(M.raise("Approve", "yes"));
      if (ofType(h, "ExternalEventPersistent").length === 0) out.push(M.enqueue("Inbox", "hello"));
      return out;
    },
    1, // one completion per turn, newest first: the timer wins and SlowPay is dropped
  ],
  ["children, retry, KV and detached start", childrenAndRetry, () => [], 2],
];

describe("determinism: replay is a fixed point", () => {
  test.each(determinismCases)("%s: every persisted history replays with no new events", (_label, handler, extra, batch) => {
    const { turns } = drive(handler, extra, batch);
    expect(turns.length).toBeGreaterThan(2);
    for (const { before, out } of turns) {
      const after = [...before, ...out.delta];
      const replay = turn(handler, after);
      expect(replay.outcome).toEqual({ type: "Continue" });
      expect(replay.delta).toEqual([]);
      expect(replay.workerItems).toEqual([]);
      expect(replay.orchestratorItems).toEqual([]);
      expect(replay.cancelledActivities).toEqual([]);
    }
  });

  test.each(determinismCases)("%s: re-running any turn on the same input gives the same result", (_label, handler, extra, batch) => {
    const { turns } = drive(handler, extra, batch);
    for (const { before, messages, out } of turns) {
      const again = before.length === 0 ? new Sim(handler, "in").step(messages) : turn(handler, before, messages);
      expect(again.delta).toEqual(out.delta);
      expect(again.outcome).toEqual(out.outcome);
      expect(again.workerItems).toEqual(out.workerItems);
      expect(again.orchestratorItems).toEqual(out.orchestratorItems);
      expect(again.cancelledActivities).toEqual(out.cancelledActivities);
    }
  });

  test.each(determinismCases)("%s: the final history minus its terminal event replays in one turn to the same outcome", (_label, handler, extra, batch) => {
    const { sim, turns } = drive(handler, extra, batch);
    const finalOut = turns.at(-1)!.out;
    expect(finalOut.outcome.type).toBe("Completed");
    const terminal = sim.history.at(-1)!;
    expect(terminal.type).toBe("OrchestrationCompleted");
    const replay = turn(handler, sim.history.slice(0, -1));
    expect(replay.outcome).toEqual(finalOut.outcome);
    expect(replay.delta).toEqual([terminal]);
  });

  test("the race scenario really exercises a dropped loser and its late completion", () => {
    const { sim } = drive(raceAndEvents, determinismCases[1]![2], 1);
    const drop = one(sim.history, "ActivityCancelRequested");
    expect(drop).toMatchObject({ source_event_id: 2, reason: "dropped_future" });
    expect(sim.history.at(-1)).toMatchObject({ type: "OrchestrationCompleted" });
    expect(JSON.parse((sim.history.at(-1) as EventOf<"OrchestrationCompleted">).output)).toMatchObject({ winner: 1 });
  });

  test("a different completion order gives a different but equally replayable history", () => {
    const a = drive(fanOut, () => [], 1);
    const b = drive(fanOut, () => [], 3);
    expect(a.turns.at(-1)!.out.outcome).toEqual(b.turns.at(-1)!.out.outcome);
    expect(turn(fanOut, b.sim.history.slice(0, -1)).outcome).toEqual(b.turns.at(-1)!.out.outcome);
  });
});
