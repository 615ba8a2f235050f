// tryEncodePayload is strict (docs/runtime-semantics.md §5.6): what JSON cannot carry exactly is
// refused with the path of the offending value instead of being stored as null or {}; JSON's own
// conventions (undefined, toJSON, class fields, shared references) are kept.
import { describe, expect, test } from "bun:test";
import { encodePayload, tryEncodePayload } from "../../src/core/payload.ts";

function problem(value: unknown, root?: string): string {
  const r = tryEncodePayload(value, root);
  if (r.ok) throw new Error(`expected a refusal, got ${r.text}`);
  return r.problem;
}

describe("tryEncodePayload refuses values JSON would change, naming their path", () => {
  const cyclic: Record<string, unknown> = { a: { b: {} } };
  ((cyclic.a as Record<string, unknown>).b as Record<string, unknown>).c = cyclic.a;
  class OnlyPrivate {
    #secret = 1;
    get secret() {
      return this.#secret;
    }
  }
  const cases: [string, unknown, string][] = [
    ["NaN deep in an array", { items: [1, 2, 3, Number.NaN] }, "value.items[3] is NaN"],
    ["Infinity at the top", Number.POSITIVE_INFINITY, "value is Infinity"],
    ["-Infinity under an odd key", { "a key": { n: Number.NEGATIVE_INFINITY } }, 'value["a key"].n is -Infinity'],
    ["a Map", { m: new Map() }, "value.m is a Map"],
    ["a Set", [new Set()], "value[0] is a Set"],
    ["a WeakMap", new WeakMap(), "value is a WeakMap"],
    ["an Error", new TypeError("x"), "value is a TypeError"],
    ["a RegExp", { r: /x/ }, "value.r is a RegExp"],
    ["a Promise", Promise.resolve(1), "value is a Promise"],
    ["a typed array", { b: new Float64Array(2) }, "value.b is a Float64Array"],
    ["an ArrayBuffer", new ArrayBuffer(4), "value is an ArrayBuffer"],
    ["a function field", { f() {} }, "value.f is a function (JSON would drop it)"],
    ["a function in an array", [() => 1], "value[0] is a function (JSON would store null)"],
    ["a symbol", { s: Symbol("s") }, "value.s is a symbol"],
    ["a BigInt", { n: [1n] }, "value.n[0] is a BigInt"],
    ["an invalid Date", { at: new Date("nope") }, "value.at is an invalid Date"],
    ["a class instance with no enumerable fields", { o: new OnlyPrivate() }, "value.o is an instance of OnlyPrivate with no enumerable fields"],
    ["a boxed NaN", { n: new Number(Number.NaN) }, "value.n is NaN"],
    ["a cycle", cyclic, "value.a.b.c is a reference back to value.a (a cycle)"],
  ];
  for (const [what, value, mention] of cases) {
    test(what, () => {
      const p = problem(value);
      expect(p).toStartWith("not JSON-serializable: ");
      expect(p).toContain(mention);
    });
  }

  test("the root name is the caller's; encodePayload builds the message '<what> is not JSON-serializable: <path> is ...'", () => {
    expect(problem({ x: Number.NaN }, "input")).toContain("input.x is NaN");
    expect(() => encodePayload({ list: [Number.NaN] }, 'input of activity "A"', (m) => new RangeError(m), "input")).toThrow(
      'input of activity "A" is not JSON-serializable: input.list[0] is NaN',
    );
  });
});

describe("tryEncodePayload keeps JSON's conventions", () => {
  test("undefined: null at the top and in arrays, left out as a field", () => {
    expect(tryEncodePayload(undefined)).toEqual({ ok: true, text: "null" });
    expect(tryEncodePayload([undefined, 1])).toEqual({ ok: true, text: "[null,1]" });
    expect(tryEncodePayload({ a: undefined, b: 1 })).toEqual({ ok: true, text: '{"b":1}' });
  });

  test("toJSON is honoured (Date, Buffer), class instances keep their fields, shared references are copied, boxed values unwrapped", () => {
    class Point {
      constructor(
        readonly x: number,
        readonly y: number,
      ) {}
    }
    const shared = { n: 1 };
    const value = { at: new Date(0), p: new Point(1, 2), a: shared, b: [shared], s: new String("s"), buf: Buffer.from("hi"), nul: Object.create(null) };
    const r = tryEncodePayload(value);
    expect(r).toEqual({ ok: true, text: JSON.stringify(value) });
  });

  test("well-formed values encode exactly as JSON.stringify does, fast path or not", () => {
    const plain = { a: [1, "two", null, true, { b: -0.5 }], c: "é😀\ud800" };
    expect(tryEncodePayload(plain)).toEqual({ ok: true, text: JSON.stringify(plain) });
    const withDate = { ...plain, d: new Date(5) };
    expect(tryEncodePayload(withDate)).toEqual({ ok: true, text: JSON.stringify(withDate) });
  });
});

describe("tryEncodePayload never throws", () => {
  test("a getter that throws is reported as a problem, not thrown", () => {
    const value = {
      get boom(): number {
        throw new Error("getter failed");
      },
    };
    expect(problem(value)).toContain("getter failed");
  });
});
