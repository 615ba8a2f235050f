// activityFailureDetails (src/runtime/activity-failure.ts): whatever an activity throws becomes
// ActivityFailed details describing it, and describing it never throws (docs/runtime-semantics.md
// §1.5 step 6, §5.1). checkErrorDetails accepts the optional fields and refuses malformed ones.
import { describe, expect, test } from "bun:test";
import { checkErrorDetails } from "../../src/core/error-details.ts";
import { activityFailureDetails, MAX_ERROR_DATA_BYTES } from "../../src/runtime/activity-failure.ts";

const base = { type: "Application", kind: "ActivityFailed", retryable: false } as const;

describe("activityFailureDetails", () => {
  test("an Error keeps its message and name; a string is the message", () => {
    expect(activityFailureDetails(new RangeError("out of range"))).toEqual({ ...base, message: "out of range", error_name: "RangeError" });
    expect(activityFailureDetails("plain string")).toEqual({ ...base, message: "plain string" });
  });

  test("code and extra own properties are kept; stack, functions and symbols are not; BigInts become strings", () => {
    const err = Object.assign(new Error("declined"), { code: "E_CARD", status: 402, nested: { a: [1, 2] }, big: 7n, fn() {}, [Symbol("s")]: 1 });
    expect(activityFailureDetails(err)).toEqual({ ...base, message: "declined", error_name: "Error", code: "E_CARD", data: { status: 402, nested: { a: [1, 2] }, big: "7n" } });
    expect(activityFailureDetails(Object.assign(new Error("x"), { code: 104 })).code).toBe(104);
    expect(activityFailureDetails(Object.assign(new Error("x"), { code: Number.NaN })).code).toBeUndefined();
    expect(activityFailureDetails(Object.assign(new Error("x"), { code: { nested: true } })).code).toBeUndefined();
  });

  test("primitives that are not strings are described by kind", () => {
    expect(activityFailureDetails(Symbol("oops")).message).toBe("activity threw a non-Error value: Symbol(oops) (a Symbol)");
    expect(activityFailureDetails(12n).message).toBe("activity threw a non-Error value: 12n (a BigInt)");
    expect(activityFailureDetails(undefined).message).toBe("activity threw a non-Error value: undefined");
    expect(activityFailureDetails(null).message).toBe("activity threw a non-Error value: null");
    expect(activityFailureDetails(42).message).toBe("activity threw a non-Error value: 42");
  });

  test("objects that cannot be printed are described without throwing", () => {
    const nullProto = Object.assign(Object.create(null), { reason: "r" });
    expect(activityFailureDetails(nullProto)).toEqual({ ...base, message: 'activity threw a non-Error value: an object with a null prototype {"reason":"r"}', data: { reason: "r" } });
    const badToString = {
      toString() {
        throw new Error("no");
      },
    };
    expect(activityFailureDetails(badToString).message).toBe("activity threw a non-Error value: an object");
    const cyclic: Record<string, unknown> = { label: "loop" };
    cyclic.self = cyclic;
    expect(activityFailureDetails(cyclic)).toEqual({ ...base, message: 'activity threw a non-Error value: an object {"label":"loop","self":"[Circular]"}', data: { label: "loop", self: "[Circular]" } });
    const throwingToJson = { toJSON() { throw Object.create(null); } };
    expect(activityFailureDetails(throwingToJson).message).toBe("activity threw a non-Error value: an object");
    class Custom {
      constructor(readonly why: string) {}
    }
    expect(activityFailureDetails(new Custom("because")).message).toBe('activity threw a non-Error value: an instance of Custom {"why":"because"}');
  });

  test("a shared (not cyclic) reference is kept in full", () => {
    const shared = { v: 1 };
    expect(activityFailureDetails({ a: shared, b: shared }).data).toEqual({ a: { v: 1 }, b: { v: 1 } });
  });

  test("an Error whose message getter throws, and a Proxy whose every trap throws", () => {
    const err = new Error("hidden");
    Object.defineProperty(err, "message", {
      get() {
        throw new Error("no message for you");
      },
    });
    expect(activityFailureDetails(err)).toMatchObject({ message: "activity threw Error without a readable message", error_name: "Error" });
    const hostile = new Proxy(
      {},
      {
        get() {
          throw new Error("get");
        },
        getPrototypeOf() {
          throw new Error("proto");
        },
        ownKeys() {
          throw new Error("keys");
        },
      },
    );
    expect(activityFailureDetails(hostile)).toEqual({ ...base, message: "activity threw a value that cannot be inspected (its property access throws)" });
  });

  test(`extra properties larger than ${MAX_ERROR_DATA_BYTES} bytes are left out, the rest kept`, () => {
    const big = Object.assign(new Error("big"), { code: "E_BIG", blob: "x".repeat(MAX_ERROR_DATA_BYTES) });
    const d = activityFailureDetails(big);
    expect(d).toEqual({ ...base, message: "big", error_name: "Error", code: "E_BIG" });
  });

  test("the result always passes checkErrorDetails and survives JSON", () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.me = cyclic;
    for (const v of [new Error("e"), "s", 1n, Symbol(), cyclic, Object.create(null), [1, 2], () => 1, Object.assign(new Error("c"), { code: "C", extra: { deep: 1n } })]) {
      const d = activityFailureDetails(v);
      expect(checkErrorDetails(d)).toBeNull();
      expect(JSON.parse(JSON.stringify(d))).toEqual(d);
    }
  });
});

describe("checkErrorDetails: the optional Application fields", () => {
  const app = { type: "Application", kind: "ActivityFailed", message: "m", retryable: false };
  test("accepts them absent or well-formed", () => {
    expect(checkErrorDetails(app)).toBeNull();
    expect(checkErrorDetails({ ...app, error_name: "TypeError", code: "E", data: { a: 1 } })).toBeNull();
    expect(checkErrorDetails({ ...app, code: 500, data: null })).toBeNull();
  });
  test("refuses malformed ones, saying which", () => {
    expect(checkErrorDetails({ ...app, error_name: 5 })).toContain("error_name");
    expect(checkErrorDetails({ ...app, code: true })).toContain("code");
    expect(checkErrorDetails({ ...app, code: Number.POSITIVE_INFINITY })).toContain("code");
  });
});
