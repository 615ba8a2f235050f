// The numeric flags every script and the duroxide CLI share (src/tools/cli-flags.ts): decimal
// numbers in range only, refused with a UsageError naming the flag (exit 2, docs/cli.md).
import { describe, expect, test } from "bun:test";
import { numberFlag, UsageError } from "../../src/tools/cli-flags.ts";

const limit = { min: 1, max: 100_000, integer: true, default: 50 };
const rate = { min: 0, max: 1, integer: false, default: 0.05 };

describe("numberFlag", () => {
  test("decimal values in range, and the default when absent", () => {
    expect(numberFlag("--limit", undefined, limit)).toBe(50);
    expect(numberFlag("--limit", "10", limit)).toBe(10);
    expect(numberFlag("--limit", " 7 ", limit)).toBe(7);
    expect(numberFlag("--rate", "0.25", rate)).toBe(0.25);
    expect(numberFlag("--rate", ".5", rate)).toBe(0.5);
    expect(numberFlag("--rate", "5e-1", rate)).toBe(0.5);
  });
  test("hex, binary, octal and exponent forms are not integers: refused naming the flag", () => {
    for (const raw of ["0x10", "0b11", "0o7", "1e3", "10.0", "Infinity", "", "ten"]) {
      expect(() => numberFlag("--limit", raw, limit), raw).toThrow(UsageError);
      expect(() => numberFlag("--limit", raw, limit), raw).toThrow(`--limit must be an integer from 1 to 100000, got ${JSON.stringify(raw)}`);
    }
    for (const raw of ["0x1", "0b1", "Infinity", "1/2"]) expect(() => numberFlag("--rate", raw, rate), raw).toThrow(/--rate must be a number from 0 to 1/);
  });
  test("out of range: negative, zero where 1 is the least, too large", () => {
    for (const raw of ["-1", "0", "100001", "1000000000"]) expect(() => numberFlag("--limit", raw, limit), raw).toThrow(UsageError);
  });
});
