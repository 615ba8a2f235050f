// niceTicks, linearScale, formatTick (src/stress/report/scale.ts).
import { describe, expect, test } from "bun:test";
import { formatTick, linearScale, niceTicks } from "../../../src/stress/report/scale.ts";

describe("niceTicks", () => {
  test("widens the range to round steps covering it", () => {
    expect(niceTicks(0, 41.6, 5)).toEqual({ min: 0, max: 50, step: 10, values: [0, 10, 20, 30, 40, 50] });
    expect(niceTicks(523, 571, 5).values).toEqual([520, 530, 540, 550, 560, 570, 580]);
    expect(niceTicks(0, 1.1, 5).step).toBe(0.25);
  });
  test("a zero-width range still gets an axis; a non-finite one is refused", () => {
    expect(niceTicks(0, 0).values.length).toBeGreaterThan(1);
    expect(() => niceTicks(0, Number.NaN)).toThrow(RangeError);
  });
});

describe("linearScale and formatTick", () => {
  test("map data onto pixels (y grows downwards) and print ticks with the decimals their step needs", () => {
    const y = linearScale(0, 50, 260, 40);
    expect(y(0)).toBe(260);
    expect(y(50)).toBe(40);
    expect(y(25)).toBe(150);
    expect(formatTick(20, 10)).toBe("20");
    expect(formatTick(0.5, 0.25)).toBe("0.50");
    expect(formatTick(7.5, 2.5)).toBe("7.5");
  });
});
