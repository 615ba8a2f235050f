// consoleLogger formats (docs/runtime-semantics.md §10): json is one object per line with the
// fields; pretty is coloured only on a terminal and never when NO_COLOR is set.
import { afterEach, expect, spyOn, test } from "bun:test";
import { ConfigurationError, consoleLogger } from "../../src/index.ts";
import { colorWanted, formatPrettyLine } from "../../src/runtime/logging/log-format.ts";

const ANSI = /\x1b\[/;
const spies: { mockRestore(): void }[] = [];
afterEach(() => {
  for (const s of spies.splice(0)) s.mockRestore();
});

function captureConsole() {
  const lines: { stream: string; text: string }[] = [];
  for (const method of ["debug", "info", "warn", "error"] as const) {
    spies.push(spyOn(console, method).mockImplementation((text: unknown) => void lines.push({ stream: method, text: String(text) })));
  }
  return lines;
}

test("consoleLogger json: one parseable object per line, core keys first and not overridable", () => {
  const lines = captureConsole();
  const log = consoleLogger("debug", { format: "json" });
  log.log("warn", "lock renewal failed", { instance_id: "i-1", execution_id: 2, attempt: 3, message: "spoof", err: new Error("boom"), big: 10n });
  expect(lines).toHaveLength(1);
  expect(lines[0]!.stream).toBe("warn");
  expect(lines[0]!.text.includes("\n")).toBe(false);
  const o = JSON.parse(lines[0]!.text);
  expect(Object.keys(o).slice(0, 4)).toEqual(["timestamp", "level", "target", "message"]);
  expect(o).toMatchObject({ level: "warn", target: "duroxide", message: "lock renewal failed", instance_id: "i-1", execution_id: 2, attempt: 3, err: "boom", big: "10" });
  expect(Number.isNaN(Date.parse(o.timestamp))).toBe(false);
});

test("consoleLogger json: a field that cannot be serialized does not lose the line", () => {
  const lines = captureConsole();
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  consoleLogger("info", { format: "json" }).log("info", "still here", { instance_id: "x", cyclic });
  expect(JSON.parse(lines[0]!.text)).toMatchObject({ message: "still here", instance_id: "x", cyclic: "[object Object]" });
});

test("consoleLogger json: only the bad field is stringified; numbers stay numbers; a throwing getter does not lose the line", () => {
  const lines = captureConsole();
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  const fields = { execution_id: 2, attempt: 3, cyclic, text: "a\nb \uD800" };
  Object.defineProperty(fields, "broken", { enumerable: true, get: () => { throw new Error("getter"); } });
  consoleLogger("info", { format: "json" }).log("info", "line\ntwo", fields);
  expect(lines).toHaveLength(1);
  expect(lines[0]!.text.includes("\n")).toBe(false);
  expect(JSON.parse(lines[0]!.text)).toMatchObject({ message: "line\ntwo", execution_id: 2, attempt: 3, cyclic: "[object Object]", text: "a\nb \uD800", broken: "[unreadable]" });
});

test("consoleLogger pretty: key=value fields, quoted when they contain spaces", () => {
  const lines = captureConsole();
  consoleLogger("info", { format: "pretty", color: false }).log("info", "turn done", { instance_id: "order-1", orchestration_name: "Process Order", attempt: 1 });
  expect(lines[0]!.text).toMatch(/^\d{4}-\d\d-\d\dT\S+Z INFO  duroxide turn done instance_id=order-1 orchestration_name="Process Order" attempt=1$/);
});

test("consoleLogger pretty: colours only when asked or on a terminal without NO_COLOR", () => {
  expect(ANSI.test(formatPrettyLine("error", "m", { a: 1 }, true))).toBe(true);
  expect(ANSI.test(formatPrettyLine("error", "m", { a: 1 }, false))).toBe(false);
  expect(colorWanted({ isTTY: true }, {})).toBe(true);
  expect(colorWanted({ isTTY: false }, {})).toBe(false);
  expect(colorWanted(undefined, {})).toBe(false);
  expect(colorWanted({ isTTY: true }, { NO_COLOR: "1" })).toBe(false);
  expect(colorWanted({ isTTY: true }, { NO_COLOR: "" })).toBe(true); // no-color.org: only a non-empty value counts
});

test("consoleLogger pretty: no ANSI codes when NO_COLOR is set, even on a terminal", () => {
  const lines = captureConsole();
  const saved = { env: process.env.NO_COLOR, out: process.stdout.isTTY, err: process.stderr.isTTY };
  process.env.NO_COLOR = "1";
  Object.defineProperty(process.stdout, "isTTY", { value: true, configurable: true });
  Object.defineProperty(process.stderr, "isTTY", { value: true, configurable: true });
  try {
    const log = consoleLogger("debug");
    log.log("info", "hello", { instance_id: "i" });
    log.log("error", "bad", { instance_id: "i" });
  } finally {
    if (saved.env === undefined) delete process.env.NO_COLOR;
    else process.env.NO_COLOR = saved.env;
    Object.defineProperty(process.stdout, "isTTY", { value: saved.out, configurable: true });
    Object.defineProperty(process.stderr, "isTTY", { value: saved.err, configurable: true });
  }
  expect(lines).toHaveLength(2);
  for (const l of lines) expect(ANSI.test(l.text)).toBe(false);
});

test("consoleLogger pretty: no ANSI codes when the stream is not a terminal", () => {
  const lines = captureConsole();
  const saved = { env: process.env.NO_COLOR, out: process.stdout.isTTY };
  delete process.env.NO_COLOR;
  Object.defineProperty(process.stdout, "isTTY", { value: false, configurable: true });
  try {
    consoleLogger("info").log("info", "hello", { instance_id: "i" });
  } finally {
    if (saved.env !== undefined) process.env.NO_COLOR = saved.env;
    Object.defineProperty(process.stdout, "isTTY", { value: saved.out, configurable: true });
  }
  expect(ANSI.test(lines[0]!.text)).toBe(false);
});

test("consoleLogger refuses an unknown format", () => {
  expect(() => consoleLogger("info", { format: "xml" as never })).toThrow(ConfigurationError);
  expect(() => consoleLogger("info", { color: "yes" as never })).toThrow(/color must be a boolean/);
});
