// The verdict on real runs: one short run on file SQLite whose every applicable target passes with
// no warning sign, and the CLI's --preset and --fail-on (scripts/parallel_orchestrations.ts).
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { SqliteProvider } from "../../src/providers/sqlite.ts";
import { judgeStressRun, measureStressTest, type StressTestConfig, type TargetId } from "../../src/stress/index.ts";

const ROOT = resolve(import.meta.dir, "../..");
const SCRIPT = join(ROOT, "scripts/parallel_orchestrations.ts");
const tmp = mkdtempSync(join(tmpdir(), "duroxide-verdict-test-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn([process.execPath, "run", SCRIPT, ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

describe("judgeStressRun on a real run", () => {
  test(
    "a short file-SQLite run whose targets are reachable on a loaded machine: every applicable target passes, the impossible ones say so, no warning sign",
    async () => {
      // 1/1 with 1 task of 20 ms: worker ceiling 50 orch/s (the 10 orch/s target needs 20 % of it);
      // 5 in flight: Little's law puts the mean latency at >= 100 ms, so < 200 ms needs half the
      // ceiling and < 100 ms is impossible. 4 s give 3 steady seconds and ~150 latencies.
      const config: StressTestConfig = { maxConcurrent: 5, durationSecs: 4, tasksPerInstance: 1, activityDelayMs: 20, orchConcurrency: 1, workerConcurrency: 1, waitTimeoutSecs: 30 };
      const provider = await SqliteProvider.open(join(tmp, "verdict.db"));
      let result;
      try {
        result = await measureStressTest("File SQLite", provider, config, { log: null, runtimeOptions: { logLevel: "off" } });
      } finally {
        provider.close();
      }
      const verdict = judgeStressRun([{ ...result, storage: "durable" }]);
      const status = (id: TargetId) => verdict.rows[0]!.targets.find((t) => t.id === id)!.status;
      const why = JSON.stringify(verdict.rows[0], null, 1);

      expect(status("success-rate"), why).toBe("pass");
      expect(status("baseline-throughput"), why).toBe("pass");
      expect(status("average-latency"), why).toBe("pass");
      expect(verdict.rows[0]!.targets.find((t) => t.id === "high-latency")).toMatchObject({ status: "not-applicable", impossible: true });
      expect(status("high-throughput")).toBe("not-applicable"); // the 2/2 config's
      expect(verdict.scaling[0]!.targets.map((t) => t.status)).toEqual(["not-applicable", "not-applicable"]);
      // every detector had enough to judge, and found nothing
      expect(verdict.rows[0]!.warnings.map((w) => [w.id, w.status]), why).toEqual([
        ["success-below-100", "ok"],
        ["zero-throughput", "ok"],
        ["decreasing-throughput", "ok"],
        ["variable-latency", "ok"],
        ["rss-growth", "ok"],
      ]);
      expect(verdict.summary).toMatchObject({ fail: 0, warnings: 0, status: "pass", pass: 3 });
      // the timeline the detectors read adds up to the run's totals
      expect(result.timeline.reduce((n, s) => n + s.completed, 0)).toBe(result.completed);
      expect(result.timeline.reduce((n, s) => n + s.launched, 0)).toBe(result.launched);
      expect(result.timeline.at(-1)!.inFlight).toBe(0);
    },
    30_000,
  );
});

describe("scripts/parallel_orchestrations.ts --preset, --fail-on", () => {
  test("--help lists the presets; a bad --preset or --fail-on exits 2 saying what is allowed", async () => {
    const help = await cli(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("--preset NAME");
    expect(help.stdout).toContain("baseline     20 in flight, 10 s, 5 tasks x 10 ms, 1/1 (Performance Baseline)");
    expect(help.stdout).toContain("--fail-on LIST");
    const preset = await cli(["--preset", "fast"]);
    expect(preset.code).toBe(2);
    expect(preset.stderr).toContain('--preset: unknown stress preset "fast": the presets are quick, baseline, concurrency');
    const withPayload = await cli(["--preset", "quick", "--large-payload"]);
    expect(withPayload.code).toBe(2);
    expect(withPayload.stderr).toContain("--preset chooses a parallel-orchestrations config; it cannot be combined with --large-payload");
    const failOn = await cli(["--fail-on", "targets"]);
    expect(failOn.code).toBe(2);
    expect(failOn.stderr).toContain('--fail-on: unknown kind "targets" (use target, warning, or target,warning)');
  });

  test(
    "--fail-on target exits 1 when a minimum target fails (a provider too slow for 10 orch/s at 1/1); without it the same run exits 0; the verdict is the last --json line",
    async () => {
      // Every orchestration turn's commit takes 60 ms: two turns per instance, one at a time, so
      // at most ~8 orch/s, far from the 1000 orch/s worker ceiling of 1 task of 1 ms.
      const mod = join(tmp, "slow-provider.ts");
      writeFileSync(
        mod,
        `import { SqliteProvider } from ${JSON.stringify(join(ROOT, "src/providers/sqlite.ts"))};\n` +
          `export const label = "Slow Provider";\n` +
          `export async function createProvider() {\n` +
          `  const p = await SqliteProvider.inMemory();\n` +
          `  const ack = p.ackOrchestrationItem.bind(p);\n` +
          `  p.ackOrchestrationItem = async (...args) => { await Bun.sleep(60); return ack(...args); };\n` +
          `  return p;\n}\n`,
      );
      const args = ["--json", "--provider", mod, "--preset", "baseline", "--duration", "1", "--max-concurrent", "1", "--tasks", "1", "--delay-ms", "1"];
      const [gated, plain] = await Promise.all([cli([...args, "--fail-on", "target"]), cli(args)]);

      expect(plain.code).toBe(0);
      expect(gated.code).toBe(1);
      const lines = gated.stdout.trim().split("\n");
      expect(lines).toHaveLength(2);
      expect(JSON.parse(lines[0]!)).toMatchObject({ provider: "Slow Provider", config_label: "1/1", failed: 0 });
      const { verdict } = JSON.parse(lines[1]!);
      const tp = verdict.rows[0].targets.find((t: { id: string }) => t.id === "baseline-throughput");
      expect(tp.status).toBe("fail");
      expect(tp.value).toBeLessThan(10);
      expect(verdict.summary).toMatchObject({ status: "fail", minimumFailed: 1 });
      expect(gated.stderr).toContain("=== Verdict ===");
      expect(gated.stderr).toContain("FAIL  Baseline throughput >= 10 orch/s (file-based provider, 1/1)");
      expect(gated.stderr).toContain("✗ --fail-on target: 1 finding");
      expect(gated.stderr).toContain('preset    baseline: the guide\'s "Performance Baseline (10 seconds)", overridden by --duration --max-concurrent --tasks --delay-ms');
      expect(gated.stderr).not.toContain("\x1b["); // NO_COLOR, and not a terminal
    },
    30_000,
  );
});
