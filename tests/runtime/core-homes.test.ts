// The shared homes the client and the runtime both use: payload codec, value describer, statuses.
import { describe as group, expect, test } from "bun:test";
import { clip, describe } from "../../src/core/describe.ts";
import { decodePayload, encodePayload, tryEncodePayload } from "../../src/core/payload.ts";
import { EXECUTION_STATUSES, isExecutionStatus, isTerminalEvent, isTerminalStatus, TERMINAL_EVENT_TYPES, TERMINAL_STATUSES } from "../../src/core/status.ts";

group("payload codec", () => {
  test("encodes once as JSON; undefined becomes null", () => {
    expect(tryEncodePayload({ a: [1, "x"] })).toEqual({ ok: true, text: '{"a":[1,"x"]}' });
    expect(tryEncodePayload(undefined)).toEqual({ ok: true, text: "null" });
    expect(tryEncodePayload("s")).toEqual({ ok: true, text: '"s"' });
  });

  test("refuses what JSON cannot carry, saying why", () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const v of [() => 1, Symbol("s"), 10n, cyclic]) {
      const r = tryEncodePayload(v);
      expect(r.ok).toBe(false);
      expect(!r.ok && r.problem).toStartWith("not JSON-serializable");
    }
    expect(() => encodePayload(() => 1, "input of activity \"A\"", (m) => new RangeError(m))).toThrow(
      new RangeError('input of activity "A" is not JSON-serializable: value is a function (JSON would drop it)'),
    );
  });

  test("decodes JSON, and hands back non-JSON text as the raw string", () => {
    expect(decodePayload('{"a":1}')).toEqual({ a: 1 });
    expect(decodePayload("null")).toBeNull();
    expect(decodePayload("not json")).toBe("not json");
  });
});

group("describe", () => {
  test("renders each kind of value for error messages", () => {
    expect(describe(undefined)).toBe("undefined");
    expect(describe(null)).toBe("null");
    expect(describe("x")).toBe('"x"');
    expect(describe(1.5)).toBe("1.5");
    expect(describe(Number.NaN)).toBe("NaN");
    expect(describe(true)).toBe("true");
    expect(describe(3n)).toBe("3n");
    expect(describe(() => 1)).toBe("a function");
    expect(describe(Symbol("s"))).toBe("Symbol(s)");
    expect(describe(new Set([1, 2]))).toBe("Set(2)");
    expect(describe(new Map())).toBe("Map(0)");
    expect(describe({ a: 1 })).toBe('{"a":1}');
  });

  test("long renderings are clipped and say how long they were", () => {
    const long = describe("x".repeat(500));
    expect(long.length).toBeLessThan(120);
    expect(long).toEndWith("(502 chars)");
    expect(clip("abc", 5)).toBe("abc");
    expect(clip("abcdef", 3)).toBe("abc… (6 chars)");
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(describe(cyclic)).toBe("[object Object]");
  });
});

group("statuses", () => {
  test("terminal statuses and events", () => {
    expect(EXECUTION_STATUSES).toEqual(["Running", "Completed", "Failed", "ContinuedAsNew"]);
    expect(TERMINAL_STATUSES).toEqual(["Completed", "Failed", "ContinuedAsNew"]);
    expect(EXECUTION_STATUSES.filter(isTerminalStatus)).toEqual([...TERMINAL_STATUSES]);
    expect(isTerminalStatus(null)).toBe(false);
    expect(isExecutionStatus("Running")).toBe(true);
    expect(isExecutionStatus("Done")).toBe(false);
    for (const type of TERMINAL_EVENT_TYPES) expect(isTerminalEvent({ type })).toBe(true);
    expect(isTerminalEvent({ type: "OrchestrationStarted" })).toBe(false);
    expect(isTerminalEvent({ type: "OrchestrationCancelRequested" })).toBe(false);
  });
});
