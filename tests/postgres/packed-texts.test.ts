// packed-texts.ts (no server needed): how lists of JSON texts are joined for a statement and split
// from a result, and what may not be packed.
import { describe, expect, test } from "bun:test";
import { bigintList, PackedTexts, unpackTexts, wire } from "../../src/providers/postgres/packed-texts.ts";
import { checkStorable } from "../../src/providers/postgres/storable.ts";

describe("PackedTexts", () => {
  test("joins on U+001E, a null element as a lone U+001F; JSON.stringify never leaves either raw", () => {
    const texts = [JSON.stringify({ a: "x\u001ey" }), null, JSON.stringify("\u001f")];
    expect(texts[0]).not.toContain("\u001e");
    expect(texts[2]).not.toContain("\u001f");
    expect(PackedTexts.of(texts).text).toBe(`${texts[0]}\u001e\u001f\u001e${texts[2]}`);
    expect(PackedTexts.of([]).text).toBe("");
  });

  test("refuses an empty element, which would read back as no element", () => {
    expect(() => PackedTexts.of(["{}", ""])).toThrow(/empty element/);
  });

  test("wire hands Bun.SQL the packed text and leaves every other parameter, and the caller's array, as they were", () => {
    const packed = PackedTexts.of(['"a"', '"b"']);
    const params = ["id", packed, [1, 2]];
    expect(wire(params)).toEqual(["id", '"a"\u001e"b"', [1, 2]]);
    expect(params[1]).toBe(packed);
    const plain = ["x", 1];
    expect(wire(plain)).toBe(plain); // nothing packed: no copy
  });

  test("the storable check passes a packed list over but still checks the ids beside it", () => {
    expect(() => checkStorable("op", [PackedTexts.of(['"ok"'])])).not.toThrow();
    expect(() => checkStorable("op", [PackedTexts.of(['"ok"']), "bad\u0000id"])).toThrow(/NUL/);
  });
});

describe("unpackTexts and bigintList", () => {
  test("null is no element; '' is one empty element (a corrupt row must still fail to decode); arrays pass through", () => {
    expect(unpackTexts(null)).toEqual([]);
    expect(unpackTexts(undefined)).toEqual([]);
    expect(unpackTexts("")).toEqual([""]);
    expect(unpackTexts('"a"\u001e"b"')).toEqual(['"a"', '"b"']);
    expect(unpackTexts(['"a"'])).toEqual(['"a"']);
  });

  test("bigintList writes an array literal of safe integers", () => {
    expect(bigintList([])).toBe("{}");
    expect(bigintList([1, -5, 2 ** 53 - 1])).toBe("{1,-5,9007199254740991}");
  });
});
