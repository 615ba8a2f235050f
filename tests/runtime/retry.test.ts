import { describe, expect, test } from "bun:test";
import { ValidationError } from "../../src/core/errors.ts";
import { RetryPolicy, backoffDelayMs, resolveRetryPolicy, type RetryPolicyInput } from "../../src/runtime/retry.ts";

function expectValidationError(input: unknown, ...fragments: string[]): void {
  let caught: unknown;
  try {
    resolveRetryPolicy(input as RetryPolicyInput);
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(ValidationError);
  for (const f of fragments) expect((caught as Error).message).toContain(f);
}

const delays = (p: RetryPolicy, n: number) => Array.from({ length: n }, (_, i) => backoffDelayMs(p, i + 1));

describe("RetryPolicy defaults and helpers", () => {
  test("default: 3 attempts, exponential 100 ms ×2 capped at 30 s, no timeout", () => {
    const d = RetryPolicy.default();
    expect(d).toEqual({ maxAttempts: 3, backoff: { type: "Exponential", baseMs: 100, multiplier: 2, maxMs: 30_000 } });
    expect(d.timeoutMs).toBeUndefined();
    expect(resolveRetryPolicy()).toEqual(d);
    expect(resolveRetryPolicy({})).toEqual(d);
    expect(resolveRetryPolicy({ maxAttempts: 5 })).toEqual({ ...d, maxAttempts: 5 });
  });

  test("helpers build the matching shapes", () => {
    expect(RetryPolicy.exponential(4)).toEqual({
      maxAttempts: 4,
      backoff: { type: "Exponential", baseMs: 100, multiplier: 2, maxMs: 30_000 },
    });
    expect(RetryPolicy.exponential(4, 50, 3, 1000).backoff).toEqual({ type: "Exponential", baseMs: 50, multiplier: 3, maxMs: 1000 });
    expect(RetryPolicy.linear(2, 200, 500)).toEqual({ maxAttempts: 2, backoff: { type: "Linear", baseMs: 200, maxMs: 500 } });
    expect(RetryPolicy.fixed(3, 250)).toEqual({ maxAttempts: 3, backoff: { type: "Fixed", delayMs: 250 } });
    expect(RetryPolicy.none(1)).toEqual({ maxAttempts: 1, backoff: { type: "None" } });
    expect(RetryPolicy.withTimeout(RetryPolicy.fixed(2, 10), 5_000)).toEqual({
      maxAttempts: 2,
      backoff: { type: "Fixed", delayMs: 10 },
      timeoutMs: 5_000,
    });
    expect(RetryPolicy.withTimeout({}, 100).maxAttempts).toBe(3);
  });

  test("helpers validate their arguments", () => {
    expect(() => RetryPolicy.exponential(0)).toThrow(ValidationError);
    expect(() => RetryPolicy.fixed(2, -1)).toThrow(ValidationError);
    expect(() => RetryPolicy.linear(2, 100, 50)).toThrow(ValidationError);
    expect(() => RetryPolicy.withTimeout(RetryPolicy.none(1), 0)).toThrow(ValidationError);
  });

  test("resolve returns a fresh copy", () => {
    const input: RetryPolicyInput = { maxAttempts: 2, backoff: { type: "Fixed", delayMs: 5 } };
    const p = resolveRetryPolicy(input);
    expect(p).toEqual({ maxAttempts: 2, backoff: { type: "Fixed", delayMs: 5 } });
    expect(p.backoff).not.toBe(input.backoff);
  });
});

describe("resolveRetryPolicy validation", () => {
  test("policy must be an object with known fields", () => {
    expectValidationError(5, "retry policy must be an object");
    expectValidationError([], "retry policy must be an object");
    expectValidationError({ attempts: 3 }, 'unknown retry policy field "attempts"');
  });

  test("maxAttempts ≥ 1 integer", () => {
    for (const bad of [0, -1, 1.5, Number.NaN, "3"]) expectValidationError({ maxAttempts: bad }, "maxAttempts", "positive integer");
  });

  test("timeoutMs > 0 integer", () => {
    for (const bad of [0, -5, 2.5, "100"]) expectValidationError({ timeoutMs: bad }, "timeoutMs", "positive integer");
    expect(resolveRetryPolicy({ timeoutMs: 1 }).timeoutMs).toBe(1);
  });

  test("backoff type and fields", () => {
    expectValidationError({ backoff: "Exponential" }, "backoff must be an object");
    expectValidationError({ backoff: null }, "backoff must be an object");
    expectValidationError({ backoff: { type: "Random" } }, "backoff.type", '"Random"');
    expectValidationError({ backoff: {} }, "backoff.type", "undefined");
    expectValidationError({ backoff: { type: "Fixed" } }, "backoff.delayMs", "undefined");
    expectValidationError({ backoff: { type: "Fixed", delayMs: -1 } }, "backoff.delayMs", "non-negative");
    expectValidationError({ backoff: { type: "Fixed", delay: 5 } }, 'backoff.delay"', "delayMs");
    expectValidationError({ backoff: { type: "None", delayMs: 5 } }, "backoff.delayMs");
    expectValidationError({ backoff: { type: "Linear", baseMs: 10 } }, "backoff.maxMs");
    expectValidationError({ backoff: { type: "Linear", baseMs: 1.5, maxMs: 10 } }, "backoff.baseMs", "1.5");
    expectValidationError({ backoff: { type: "Linear", baseMs: 100, maxMs: 10 } }, "backoff.maxMs (10)", "backoff.baseMs (100)");
    expectValidationError({ backoff: { type: "Exponential", baseMs: 10, maxMs: 100 } }, "backoff.multiplier", "undefined");
    expectValidationError({ backoff: { type: "Exponential", baseMs: 10, multiplier: 0.5, maxMs: 100 } }, "backoff.multiplier", "0.5");
    expectValidationError(
      { backoff: { type: "Exponential", baseMs: 10, multiplier: Number.POSITIVE_INFINITY, maxMs: 100 } },
      "backoff.multiplier",
    );
    expectValidationError({ backoff: { type: "Exponential", baseMs: 10, multiplier: 2, maxMs: 5 } }, "backoff.maxMs (5)");
    expect(resolveRetryPolicy({ backoff: { type: "Exponential", baseMs: 0, multiplier: 1, maxMs: 0 } }).backoff.type).toBe("Exponential");
  });
});

describe("backoffDelayMs", () => {
  test("None is always 0", () => {
    expect(delays(RetryPolicy.none(5), 4)).toEqual([0, 0, 0, 0]);
  });

  test("Fixed is always the delay", () => {
    expect(delays(RetryPolicy.fixed(5, 250), 4)).toEqual([250, 250, 250, 250]);
  });

  test("Linear is min(base·n, max)", () => {
    expect(delays(RetryPolicy.linear(10, 100, 350), 5)).toEqual([100, 200, 300, 350, 350]);
  });

  test("Exponential is min(base·multiplier^(n−1), max)", () => {
    expect(delays(RetryPolicy.default(), 6)).toEqual([100, 200, 400, 800, 1600, 3200]);
    expect(backoffDelayMs(RetryPolicy.default(), 9)).toBe(25_600);
    expect(backoffDelayMs(RetryPolicy.default(), 10)).toBe(30_000);
    expect(backoffDelayMs(RetryPolicy.default(), 2000)).toBe(30_000);
    expect(delays(RetryPolicy.exponential(5, 10, 3, 200), 4)).toEqual([10, 30, 90, 200]);
    // fractional multipliers give whole milliseconds
    expect(delays(RetryPolicy.exponential(5, 100, 1.5, 10_000), 3)).toEqual([100, 150, 225]);
    expect(backoffDelayMs(RetryPolicy.exponential(5, 100, 1.5, 10_000), 4)).toBe(337);
  });

  test("attempt below 1 counts as the first failure", () => {
    expect(backoffDelayMs(RetryPolicy.linear(3, 100, 1000), 0)).toBe(100);
    expect(backoffDelayMs(RetryPolicy.default(), -3)).toBe(100);
  });
});
