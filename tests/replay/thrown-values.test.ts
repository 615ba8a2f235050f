/**
 * § numbers in this file refer to docs/runtime-semantics.md.
 * Whatever orchestration code throws, the turn ends with a failure that says what was thrown
 * (§2.7 rule 4): never a crashed turn, which the dispatcher would redeliver until poisoned.
 * Pure tests of `runTurn` and `planTurn` on hand-written inputs.
 */
import { describe, expect, test } from "bun:test";
import type { ErrorDetails } from "../../src/core/error-details.ts";
import type { FetchedOrchestration } from "../../src/core/queue-types.ts";
import type { OrchestrationContext } from "../../src/runtime/context.ts";
import { resolveRuntimeOptions } from "../../src/runtime/options.ts";
import { planTurn } from "../../src/runtime/orchestration-turn.ts";
import { OrchestrationRegistry } from "../../src/runtime/registry.ts";
import { runTurn, type TurnOutput } from "../../src/runtime/replay-engine.ts";
import type { DurableTask } from "../../src/runtime/tasks.ts";
import { event } from "../../src/provider-tests/helpers.ts";

const I = "thrower-1";
const NOW = 1_700_000_000_000;
type Body = (ctx: OrchestrationContext, input: unknown) => Generator<DurableTask<any>, any, any>;

/** The first turn of an orchestration whose code is `body`. */
function firstTurn(body: Body): TurnOutput {
  return runTurn({
    instance: I,
    executionId: 1,
    history: [],
    started: event(I, 1, 1, { type: "OrchestrationStarted", name: "Thrower", version: "1.0.0", input: "null", parent_instance: null, parent_id: null }),
    messages: [],
    handler: body,
    kvSnapshot: {},
    now: NOW,
    runtimeVersion: "0.1.0",
  });
}

function failure(out: TurnOutput): { kind: unknown; message: string } {
  expect(out.outcome.type).toBe("Failed");
  const details = (out.outcome as { details: ErrorDetails }).details;
  expect(details.type).toBe("Application");
  const terminal = out.delta.at(-1)!;
  expect(terminal.type).toBe("OrchestrationFailed");
  expect((terminal as { details: ErrorDetails }).details).toEqual(details);
  return details as { kind: unknown; message: string };
}

const cyclic: Record<string, unknown> = { name: "loop" };
cyclic.self = cyclic;
const nullProto = Object.create(null) as Record<string, unknown>;
const badToString = { toString() { throw new Error("no string for you"); }, toJSON() { throw Symbol("no json either"); } };
const revoked = Proxy.revocable({}, {});
revoked.revoke();

describe("a thrown non-Error value fails the execution at once, describing the value (§2.7)", () => {
  test.each([
    ["a BigInt", 123n, "123n (bigint)"],
    ["a Symbol", Symbol("oops"), "Symbol(oops) (symbol)"],
    ["a null-prototype object", nullProto, "{} (object)"],
    ["an object whose toString and toJSON throw", badToString, "(object)"],
    ["a cyclic object", cyclic, "[object Object] (object)"],
    ["a revoked Proxy", revoked.proxy, "(object)"],
    ["a number", 42, "42 (number)"],
    ["null", null, "null (null)"],
    ["undefined", undefined, "undefined (undefined)"],
    ["an array holding a BigInt", [1n], "(array)"],
  ])("throwing %s", (_label, value, described) => {
    const f = failure(firstTurn(function* () { throw value; }));
    expect(f.kind).toBe("OrchestrationFailed");
    expect(f.message).toStartWith("orchestration threw a non-Error value: ");
    expect(f.message).toContain(described);
  });

  test("thrown from a task.map callback when the task completes in a later turn", () => {
    const out = firstTurn(function* (ctx) {
      yield* ctx.scheduleTimer(0).map(() => { throw 7n; });
    });
    // The timer has not fired: the code still waits.
    expect(out.outcome).toEqual({ type: "Continue" });
    const timerId = out.delta.find((e) => e.type === "TimerCreated")!.event_id;
    const next = runTurn({
      instance: I,
      executionId: 1,
      history: out.delta,
      messages: [{ type: "TimerFired", instance: I, execution_id: 1, id: timerId, fire_at_ms: NOW }],
      handler: function* (ctx) {
        yield* ctx.scheduleTimer(0).map(() => { throw 7n; });
      },
      kvSnapshot: {},
      now: NOW,
      runtimeVersion: "0.1.0",
    });
    expect(failure(next).message).toBe("orchestration threw a non-Error value: 7n (bigint)");
  });

  test("a thrown string keeps being the message as it is", () => {
    expect(failure(firstTurn(function* () { throw "plain"; })).message).toBe("plain");
  });
});

describe("a thrown Error keeps its name and code in the failure message (§2.7)", () => {
  class ValidationFailure extends Error {
    override name = "ValidationFailure";
    code = "E_INPUT";
  }

  test("a plain Error: just its message", () => {
    expect(failure(firstTurn(function* () { throw new Error("out of stock"); })).message).toBe("out of stock");
  });

  test("a named Error with a code: `Name [code]: message`", () => {
    expect(failure(firstTurn(function* () { throw new ValidationFailure("bad order"); })).message).toBe("ValidationFailure [E_INPUT]: bad order");
  });

  test("a plain Error with a code keeps the code", () => {
    const err = Object.assign(new Error("disk full"), { code: "ENOSPC" });
    expect(failure(firstTurn(function* () { throw err; })).message).toBe("Error [ENOSPC]: disk full");
  });

  test("a crash names its class: `orchestration panicked: TypeError: ...`", () => {
    const f = failure(firstTurn(function* () { (null as unknown as { x: number }).x; }));
    expect(f.kind).toBe("Panicked");
    expect(f.message).toStartWith("orchestration panicked: TypeError: ");
  });

  test("an Error whose message getter throws, or whose name is not a string", () => {
    const err = new Error("hidden");
    Object.defineProperty(err, "message", { get() { throw 1n; } });
    Object.defineProperty(err, "name", { value: 5n });
    expect(failure(firstTurn(function* () { throw err; })).message).toBe("(its message could not be read)");
  });

  test("an Error whose cause is cyclic and holds a BigInt is still described", () => {
    const err = new Error("with baggage", { cause: cyclic });
    (err as Error & { extra: bigint }).extra = 9n;
    expect(failure(firstTurn(function* () { throw err; })).message).toBe("with baggage");
  });

  test("an uncaught activity failure keeps the activity's message (no class name added)", () => {
    const body: Body = function* (ctx) {
      return yield* ctx.scheduleActivity("Pay", null);
    };
    const first = firstTurn(body);
    const out = runTurn({
      instance: I,
      executionId: 1,
      history: first.delta,
      messages: [{ type: "ActivityFailed", instance: I, execution_id: 1, id: 2, details: { type: "Application", kind: "ActivityFailed", message: "card declined", retryable: false } }],
      handler: body,
      kvSnapshot: {},
      now: NOW,
      runtimeVersion: "0.1.0",
    });
    expect(failure(out).message).toBe("card declined");
  });
});

describe("planTurn acks the failure at the first delivery (§1.4.1, §5.2)", () => {
  test.each([
    ["BigInt", () => 5n],
    ["Symbol", () => Symbol("s")],
    ["null-prototype object", () => Object.create(null)],
    ["cyclic object", () => cyclic],
  ])("an orchestration throwing a %s is failed, not abandoned for redelivery", (_label, make) => {
    const reg = OrchestrationRegistry.builder().register("Thrower", function* () { throw make(); }).build();
    const fetched: FetchedOrchestration = {
      item: {
        instance: I,
        orchestration_name: "Thrower",
        execution_id: 1,
        version: "unknown",
        history: [],
        messages: [{ type: "StartOrchestration", instance: I, orchestration: "Thrower", input: "null", version: null, parent_instance: null, parent_id: null, execution_id: 1 }],
        history_error: null,
        kv_snapshot: {},
      },
      lockToken: "t",
      attemptCount: 1,
    };
    const d = planTurn(fetched, { registry: reg, options: resolveRuntimeOptions({ logLevel: "off" }), now: NOW, runtimeVersion: "0.1.0" });
    expect(d.type).toBe("ack");
    if (d.type !== "ack") return;
    expect(d.metadata.status).toBe("Failed");
    expect(d.metadata.output).toStartWith("orchestration threw a non-Error value: ");
    expect(d.delta.map((e) => e.type)).toEqual(["OrchestrationStarted", "OrchestrationFailed"]);
  });
});
