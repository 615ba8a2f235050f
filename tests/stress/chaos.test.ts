// Chaos stress runs (docs/stress-tests.md §7): the stress workload with the runtime's provider
// calls failing (retryable before the call, reply lost after it) still completes 100 %, in process
// and in runtime processes; the --chaos flags are validated and the run prints its chaos settings.
import { describe, expect, test } from "bun:test";
import { join, resolve } from "node:path";
import { ConfigurationError } from "../../src/core/errors.ts";
import { SqliteProvider } from "../../src/providers/sqlite.ts";
import { chaosRuntimeOptions, validateChaos, withChaos, type ChaosConfig } from "../../src/stress/chaos.ts";
import { runStressTest } from "../../src/stress/index.ts";

const ROOT = resolve(import.meta.dir, "../..");
const SCRIPT = join(ROOT, "scripts/parallel_orchestrations.ts");

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn([process.execPath, "run", SCRIPT, ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

describe("runStressTest under chaos", () => {
  test("with 10 % of the runtime's provider calls failing (retryable before, reply lost after) every instance completes", async () => {
    const provider = await SqliteProvider.inMemory();
    const chaos: ChaosConfig = { rate: 0.1, modes: ["retryable-before", "reply-lost"], seed: 3, leaseMs: 1_000 };
    const faulty = withChaos(provider, chaos);
    try {
      const r = await runStressTest(
        "chaos",
        provider,
        { maxConcurrent: 5, durationSecs: 1, tasksPerInstance: 3, activityDelayMs: 2, orchConcurrency: 2, workerConcurrency: 2, waitTimeoutSecs: 30 },
        { log: null, runtimeProvider: faulty, runtimeOptions: { logLevel: "off", ...chaosRuntimeOptions(chaos) } },
      );
      expect(r.successRate).toBe(100);
      expect(r.completed).toBeGreaterThan(0);
      const st = faulty.stats();
      expect(st.byMode["retryable-before"]).toBeGreaterThan(0);
      expect(st.byMode["reply-lost"]).toBeGreaterThan(0);
    } finally {
      provider.close();
    }
  }, 30_000);

  test("validateChaos names the bad field", () => {
    const ok: ChaosConfig = { rate: 0.1, modes: ["reply-lost"], seed: 1 };
    expect(validateChaos(ok)).toBe(ok);
    expect(() => validateChaos({ ...ok, rate: 1.2 })).toThrow(new ConfigurationError("chaos rate must be a number from 0 to 1, got 1.2"));
    expect(() => validateChaos({ ...ok, modes: [] })).toThrow(/at least one fault mode/);
    expect(() => validateChaos({ ...ok, modes: ["boom" as never] })).toThrow(/unknown chaos fault mode "boom"/);
    expect(() => validateChaos({ ...ok, seed: 2 ** 40 })).toThrow(/chaos seed must be an integer/);
    expect(() => validateChaos({ ...ok, leaseMs: 10 })).toThrow(/leaseMs must be an integer >= 1000/);
  });
});

describe("scripts/parallel_orchestrations.ts --chaos", () => {
  test("--chaos RATE runs the workload through FaultInjectingProvider, prints the chaos settings and the faults, and completes 100 %", async () => {
    const r = await cli(["--json", "--chaos", "0.1", "--chaos-seed", "5", "--duration", "1", "--provider", "sqlite-mem", "--config", "2/2", "--max-concurrent", "5", "--tasks", "3", "--delay-ms", "2"]);
    expect(r.code).toBe(0);
    const row = JSON.parse(r.stdout.trim().split("\n")[0]!);
    expect(row).toMatchObject({ successRate: 100, failed: 0, chaos: { rate: 0.1, modes: ["retryable-before", "reply-lost"], seed: 5, leaseMs: 2000 } });
    expect(r.stderr).toContain("  chaos     rate 0.1 of the runtime's provider calls (the pump's client is not faulted), modes retryable-before,reply-lost, seed 5");
    expect(r.stderr).toMatch(/chaos: \d+ of \d+ runtime provider calls faulted \(retryable-before \d+, reply-lost \d+\), seed 5/);
    expect(r.stderr).toContain("chaos=0.1");
  }, 30_000);

  test(
    "--chaos with --processes 2: each runtime process is faulted, the run completes 100 %",
    async () => {
      const r = await cli(["--json", "--chaos", "0.05", "--chaos-seed", "9", "--processes", "2", "--provider", "sqlite-file", "--duration", "1", "--config", "1/1", "--max-concurrent", "5", "--tasks", "2", "--delay-ms", "2"]);
      expect(r.code).toBe(0);
      const row = JSON.parse(r.stdout.trim().split("\n")[0]!);
      expect(row).toMatchObject({ processes: 2, successRate: 100, failed: 0, chaos: { rate: 0.05, seed: 9 } });
    },
    60_000,
  );

  test("the chaos flags are validated (exit 2 with what is wrong)", async () => {
    const cases: [string[], string][] = [
      [["--chaos", "1.5"], '--chaos must be a number from 0 to 1, got "1.5"'],
      [["--chaos", "lots"], '--chaos must be a number from 0 to 1, got "lots"'],
      [["--chaos-seed", "3"], "--chaos-modes, --chaos-seed and --chaos-lease-ms apply to --chaos only"],
      [["--chaos", "0.1", "--chaos-modes", "retryable-before,boom"], '--chaos-modes: unknown fault mode "boom"'],
      [["--chaos", "0.1", "--chaos-lease-ms", "10"], '--chaos-lease-ms must be an integer >= 1000, got "10"'],
      [["--chaos", "0.1", "--bench"], "--chaos applies to the stress runs"],
      [["--chaos", "0.1", "--track"], "--track records healthy runs only"],
    ];
    for (const [args, message] of cases) {
      const r = await cli(args);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(message);
    }
  });
});
