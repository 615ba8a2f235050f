// What the CLI writes for hostile text (src/cli/output.ts, docs/cli.md "Output"): the text output
// and --json escape the same characters, and the JSON stays parseable to the original string.
import { describe, expect, test } from "bun:test";
import { safe, toJson } from "../../src/cli/output.ts";

/** ESC (ANSI, OSC 8), CSI as one C1 byte, DEL, bidi marks, overrides, isolates, separators. */
const HOSTILE = "a\u001b]8;;http://evil/\u0007b\u009b31mc\u007fd\u061ce\u200ef\u200fg\u202eh\u2067i\u2028j\u2029k";
const ESCAPED = ["\\u001b", "\\u0007", "\\u009b", "\\u007f", "\\u061c", "\\u200e", "\\u200f", "\\u202e", "\\u2067", "\\u2028", "\\u2029"];

describe("terminal-safe output", () => {
  test("text: every control, bidi mark and separator is shown as an escape", () => {
    const shown = safe(HOSTILE);
    expect(shown).toBe("a\\x1b]8;;http://evil/\\x07b\\x9b31mc\\x7fd\\u061ce\\u200ef\\u200fg\\u202eh\\u2067i\\u2028j\\u2029k");
  });
  // (the newlines of the indentation are the only raw control characters)
  test("--json escapes the same set, and parses back to the original (lone surrogates and NUL too)", () => {
    const json = toJson({ id: HOSTILE, odd: "x\u0000y\ud800z" });
    expect(json).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800]/);
    for (const e of ESCAPED) expect(json.toLowerCase()).toContain(e);
    expect(JSON.parse(json)).toEqual({ id: HOSTILE, odd: "x\u0000y\ud800z" });
  });
});
