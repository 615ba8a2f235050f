// scripts/crash_loop.ts and its library (docs/stress-tests.md §8): a short crash loop on a SQLite
// file (runtimes in child processes killed with SIGKILL, then a final drain) passes every check,
// and the script validates its flags.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigurationError } from "../../src/core/errors.ts";
import { SqliteProvider } from "../../src/providers/sqlite.ts";
import { MIXED_ACTIVITIES_PER_INSTANCE } from "../../src/stress/scenario-mixed.ts";
import { runCrashLoop, validateCrashLoopOptions, type CrashLoopOptions } from "../../src/stress/crash-loop.ts";

const ROOT = join(import.meta.dir, "..", "..");
const dir = mkdtempSync(join(tmpdir(), "duroxide-crash-loop-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("runCrashLoop", () => {
  test(
    "runtimes killed with SIGKILL over and over, then a final drain: every instance completes with the right output, each scheduled item completes once, queues are empty, the file is sound",
    async () => {
      const path = join(dir, "loop.db");
      (await SqliteProvider.open(path)).close();
      const lines: string[] = [];
      const report = await runCrashLoop({
        store: { kind: "sqlite-file", path },
        workDir: dir,
        instances: 100,
        durationMs: 5_000,
        killMinMs: 300,
        killMaxMs: 900,
        seed: 5,
        activityDelayMs: 50,
        timerMs: 300,
        log: (l) => lines.push(l),
      });
      console.log(lines.join("\n"));
      console.log(JSON.stringify({ ...report, problems: report.problems.length }));
      expect(report.problems).toEqual([]);
      expect(report.kills).toBeGreaterThanOrEqual(3);
      expect(report.integrity).toBe("ok");
      expect(report.queues).toEqual({ orchestrator: 0, worker: 0 });
      expect(report.distinctActivities).toBe(100 * MIXED_ACTIVITIES_PER_INSTANCE);
      expect(report.activityRuns).toBeGreaterThanOrEqual(report.distinctActivities);
    },
    60_000,
  );

  test("options are validated with a ConfigurationError naming the bad one", () => {
    const ok: CrashLoopOptions = { store: { kind: "sqlite-file", path: "x.db" }, workDir: dir, instances: 1, durationMs: 1, killMinMs: 1, killMaxMs: 2, seed: 1 };
    expect(() => validateCrashLoopOptions(ok)).not.toThrow();
    expect(() => validateCrashLoopOptions({ ...ok, instances: 0 })).toThrow(new ConfigurationError("crash loop: instances must be an integer from 1 to 10000, got 0"));
    expect(() => validateCrashLoopOptions({ ...ok, killMinMs: 500, killMaxMs: 100 })).toThrow(/killMaxMs \(100\) must be >= killMinMs \(500\)/);
    expect(() => validateCrashLoopOptions({ ...ok, store: { kind: "memory" } as never })).toThrow(/store must be a sqlite-file or postgres store descriptor/);
    expect(() => validateCrashLoopOptions({ ...ok, seed: -1 })).toThrow(/seed must be an integer from 0 to 4294967295/);
  });
});

describe("scripts/crash_loop.ts flags", () => {
  const run = (...args: string[]) => Bun.spawnSync([process.execPath, "run", join(ROOT, "scripts/crash_loop.ts"), ...args], { cwd: ROOT });

  test("--help prints the usage and exits 0", () => {
    const r = run("--help");
    expect(r.exitCode).toBe(0);
    expect(r.stdout.toString()).toContain("Usage: bun run scripts/crash_loop.ts");
  });

  for (const [args, message] of [
    [["--instances", "0"], "--instances must be an integer from 1 to 10000, got \"0\""],
    [["--duration", "0"], "--duration must be a number > 0"],
    [["--kill-min-ms", "900", "--kill-max-ms", "100"], "--kill-max-ms (100) must be >= --kill-min-ms (900)"],
    [["--provider", "mysql"], "--provider must be sqlite or postgres"],
    [["--pg-url", "postgres://x@y/z"], "--pg-url applies to --provider postgres only"],
    [["--provider", "postgres", "--pg-url", "http://x"], "--pg-url must be a postgres:// or postgresql:// URL"],
    [["--bogus"], "Unknown option '--bogus'"],
  ] as const) {
    test(`refuses ${args.join(" ")} with exit 2 and says why`, () => {
      const r = run(...args);
      expect(r.exitCode).toBe(2);
      expect(r.stderr.toString()).toContain(message);
    });
  }
});
