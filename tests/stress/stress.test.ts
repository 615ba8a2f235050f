// The stress harness (duroxide/stress) and its CLI, scripts/parallel_orchestrations.ts: short runs only.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ConfigurationError, ProviderError } from "../../src/core/errors.ts";
import type { Event } from "../../src/core/events.ts";
import type { Provider } from "../../src/provider.ts";
import { SqliteProvider } from "../../src/providers/sqlite.ts";
import {
  MINIMAL_LARGE_PAYLOAD_CONFIG,
  StressTestFailedError,
  formatComparisonTable,
  generatePayload,
  lastTrackedCommit,
  percentile,
  prependEntry,
  formatEntry,
  runLargePayloadTest,
  runStressTest,
  startRuntimeProcesses,
  summarizeLatencies,
  tableHeader,
  trackResults,
  workerCeilingOrchPerSec,
  type StressTestConfig,
  type StressTestResult,
} from "../../src/stress/index.ts";

const ROOT = resolve(import.meta.dir, "../..");
const SCRIPT = join(ROOT, "scripts/parallel_orchestrations.ts");
const tmp = mkdtempSync(join(tmpdir(), "duroxide-stress-test-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const SHORT: StressTestConfig = {
  maxConcurrent: 5,
  durationSecs: 1,
  tasksPerInstance: 3,
  activityDelayMs: 2,
  orchConcurrency: 2,
  workerConcurrency: 2,
  waitTimeoutSecs: 20,
};

const quiet = { log: null, runtimeOptions: { logLevel: "off" } } as const;

/** The row lines of --json output: every line but the final `{"verdict": ...}` one. */
function jsonRows(stdout: string): string[] {
  return stdout.trim().split("\n").filter((l) => !l.startsWith('{"verdict":'));
}

/** Every count and figure of a result agrees with the others. */
function expectConsistent(r: StressTestResult): void {
  expect(r.launched).toBe(r.completed + r.failed + r.unfinished);
  expect(r.failed).toBe(r.failedInfrastructure + r.failedConfiguration + r.failedApplication + r.failedOther);
  expect(r.latency.count).toBe(r.completed);
  expect(r.latency.p50Ms).toBeLessThanOrEqual(r.latency.p95Ms);
  expect(r.latency.p95Ms).toBeLessThanOrEqual(r.latency.p99Ms);
  expect(r.latency.p99Ms).toBeLessThanOrEqual(r.latency.maxMs);
  expect(r.totalTimeMs).toBeGreaterThanOrEqual(r.config.durationSecs * 1000 - 5);
  expect(r.orchThroughput).toBeCloseTo(r.completed / (r.totalTimeMs / 1000), 1);
  expect(r.activityThroughput).toBeCloseTo(r.orchThroughput * r.config.tasksPerInstance, 1);
  expect(r.successRate).toBeCloseTo(r.launched === 0 ? 0 : (100 * r.completed) / r.launched, 6);
  expect(r.peakRssMb).toBeGreaterThan(0);
  expect(r.cpuPercent).toBeGreaterThanOrEqual(0);
}

/** Acks that would complete an instance whose id ends in "7" fail permanently (the failure ack itself goes through). */
function failingAcks(inner: SqliteProvider): Provider {
  return new Proxy(inner, {
    get(target, prop) {
      if (prop === "ackOrchestrationItem") {
        return async (lockToken: string, executionId: number, delta: Event[], ...rest: unknown[]) => {
          if (delta.some((e) => e.type === "OrchestrationCompleted" && e.instance_id.endsWith("7"))) {
            throw new ProviderError("Internal", "ackOrchestrationItem", "injected failure: commit refused for this instance");
          }
          return (target.ackOrchestrationItem as (...a: unknown[]) => Promise<void>)(lockToken, executionId, delta, ...rest);
        };
      }
      const v = Reflect.get(target, prop, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  }) as unknown as Provider;
}

describe("runStressTest", () => {
  test("a short in-memory run completes 100 % with consistent counts, ordered latencies and throughput = completed / time", async () => {
    const p = await SqliteProvider.inMemory();
    try {
      const r = await runStressTest("In-Memory SQLite", p, SHORT, quiet);
      expect(r.name).toBe("In-Memory SQLite");
      expect(r.config).toEqual({ ...SHORT, waitTimeoutSecs: 20 });
      expect(r.launched).toBeGreaterThan(SHORT.maxConcurrent);
      expect(r.completed).toBe(r.launched);
      expect(r.failed).toBe(0);
      expect(r.successRate).toBe(100);
      expect(r.activitiesExecuted).toBe(r.completed * SHORT.tasksPerInstance);
      expect(r.latency.meanMs).toBeGreaterThan(0);
      // Every instance waits at least for its activities (2 ms each, 2 slots).
      expect(r.latency.p50Ms).toBeGreaterThanOrEqual(SHORT.activityDelayMs);
      expectConsistent(r);
    } finally {
      p.close();
    }
  });

  test("acks that fail permanently end instances Failed/Infrastructure: counted in the Infra column, and the run throws with the result", async () => {
    const inner = await SqliteProvider.inMemory();
    try {
      const err = await runStressTest("Failing Acks", failingAcks(inner), { ...SHORT, tasksPerInstance: 2, activityDelayMs: 1 }, quiet).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(StressTestFailedError);
      const r = (err as StressTestFailedError).result;
      expect(r.launched).toBeGreaterThanOrEqual(7);
      const expectedFailures = Array.from({ length: r.launched }, (_, i) => i + 1).filter((n) => String(n).endsWith("7")).length;
      expect(r.failedInfrastructure).toBe(expectedFailures);
      expect(r.failed).toBe(expectedFailures);
      expect(r.failedConfiguration).toBe(0);
      expect(r.failedApplication).toBe(0);
      expect(r.completed).toBe(r.launched - expectedFailures);
      expect(r.successRate).toBeLessThan(100);
      expect(r.failureSamples[0]).toMatchObject({ instanceId: "stress-test-7", category: "Infrastructure" });
      expect(r.failureSamples[0]!.message).toContain("injected failure");
      expect((err as Error).message).toContain("infra " + expectedFailures);
      expectConsistent(r);
      const row = formatComparisonTable([r]).split("\n").find((l) => l.startsWith("Failing Acks"))!;
      const cells = row.split(/\s+/);
      // Provider(2 words) Config Completed Failed Infra Config App
      expect(cells.slice(2, 8)).toEqual(["2/2", String(r.completed), String(expectedFailures), String(expectedFailures), "0", "0"]);
    } finally {
      inner.close();
    }
  });

  test("custom orchestrations and activities plug into the same runner", async () => {
    const p = await SqliteProvider.inMemory();
    try {
      const r = await runStressTest("Custom", p, { ...SHORT, durationSecs: 0.5 }, {
        ...quiet,
        activities: { Double: async (_ctx: unknown, n: number) => n * 2 },
        orchestrations: {
          Doubler: function* (ctx, input: { n: number }) {
            return (yield* ctx.scheduleActivity<number>("Double", input.n)) + 1;
          },
        },
        orchestrationName: "Doubler",
        input: (n: number) => ({ n }),
        activitiesPerInstance: 1,
      });
      expect(r.completed).toBeGreaterThan(0);
      expect(r.successRate).toBe(100);
      expect(r.activitiesExecuted).toBeNull();
      expect(r.activityThroughput).toBeCloseTo(r.orchThroughput, 6);
    } finally {
      p.close();
    }
  });

  test("the large-payload scenario (minimal CI variant) completes 100 % and counts its 24 activities per instance", async () => {
    const p = await SqliteProvider.inMemory();
    try {
      const r = await runLargePayloadTest("LP", p, MINIMAL_LARGE_PAYLOAD_CONFIG, quiet);
      expect(r.completed).toBeGreaterThan(0);
      expect(r.successRate).toBe(100);
      expect(r.activitiesExecuted).toBe(r.completed * 24);
      expect(r.activityThroughput).toBeCloseTo(r.orchThroughput * 24, 6);
    } finally {
      p.close();
    }
    expect(generatePayload(2)).toHaveLength(2048);
    expect(generatePayload(1).slice(0, 12)).toBe("0123456789ab");
  });

  test("launchLimit: exactly that many instances launch and complete, the duration no longer bounding the launches", async () => {
    const p = await SqliteProvider.inMemory();
    try {
      // A 0.05 s window would launch far fewer than 60 instances of 3 ms activities on 1 worker slot.
      const r = await runStressTest("Fixed Count", p, { ...SHORT, durationSecs: 0.05, maxConcurrent: 4, tasksPerInstance: 2, activityDelayMs: 3 }, { ...quiet, launchLimit: 60 });
      expect(r.launched).toBe(60);
      expect(r.completed).toBe(60);
      expect(r.activitiesExecuted).toBe(120);
      expect(r.totalTimeMs).toBeGreaterThan(50);
      expectConsistent(r);
    } finally {
      p.close();
    }
  });

  test("launchLimit must be a positive integer: anything else is a ConfigurationError naming it, before any instance starts", async () => {
    const p = await SqliteProvider.inMemory();
    try {
      for (const bad of [0, -1, 2.5, Number.NaN]) {
        const err = await runStressTest("Bad Limit", p, SHORT, { ...quiet, launchLimit: bad }).then(
          () => null,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(ConfigurationError);
        expect((err as Error).message).toContain("launchLimit must be a positive integer");
      }
      expect(await p.asManagementCapability()!.listInstances()).toEqual([]);
    } finally {
      p.close();
    }
  });

  test("a bad config is a ConfigurationError naming the field", async () => {
    const p = await SqliteProvider.inMemory();
    try {
      await expect(runStressTest("x", p, { ...SHORT, maxConcurrent: 0 })).rejects.toThrow(ConfigurationError);
      await expect(runStressTest("x", p, { ...SHORT, durationSecs: -1 })).rejects.toThrow(/durationSecs/);
    } finally {
      p.close();
    }
  });
});

describe("metrics, table, tracking", () => {
  test("percentiles are nearest-rank and the ceiling is 1000·W/(T·d)", () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(xs, 50)).toBe(50);
    expect(percentile(xs, 95)).toBe(95);
    expect(percentile(xs, 99)).toBe(99);
    expect(summarizeLatencies([3, 1, 2])).toMatchObject({ meanMs: 2, p50Ms: 2, p99Ms: 3, maxMs: 3, count: 3 });
    expect(summarizeLatencies([])).toMatchObject({ meanMs: 0, p50Ms: 0, count: 0 });
    expect(workerCeilingOrchPerSec({ workerConcurrency: 1, tasksPerInstance: 5, activityDelayMs: 10 })).toBe(20);
    expect(workerCeilingOrchPerSec({ workerConcurrency: 2, tasksPerInstance: 5, activityDelayMs: 10 })).toBe(40);
    expect(workerCeilingOrchPerSec({ workerConcurrency: 2, tasksPerInstance: 5, activityDelayMs: 0 })).toBe(Infinity);
  });

  test("the table prints the seed's columns, then the latency and RSS columns", () => {
    const seed = ["Provider", "Config", "Completed", "Failed", "Infra", "Config", "App", "Success %", "Orch/sec", "Activity/sec"];
    const widths = [20, 10, 10, 10, 8, 8, 8, 10, 15, 15];
    const prefix = seed.map((h, i) => h.padEnd(widths[i]!)).join(" ");
    expect(tableHeader().startsWith(prefix)).toBe(true);
    expect(tableHeader().slice(prefix.length)).toMatch(/^ p50 lat ms\s+p95 lat ms\s+p99 lat ms\s+Peak RSS MB$/);
    const text = formatComparisonTable([]);
    const lines = text.split("\n");
    expect(lines[0]).toBe("");
    expect(lines[1]).toBe("=== Comparison Table ===");
    expect(lines[2]).toBe(tableHeader());
    expect(lines[3]).toMatch(/^-{150,}$/);
  });

  test("tracking prepends entries under the title, newest first, and reads the last tracked commit", () => {
    const e1 = formatEntry({ commit: "aaaaaaa", changes: "aaaaaaa first", table: "T1", date: new Date(Date.UTC(2026, 0, 2, 3, 4, 5)) });
    const e2 = formatEntry({ commit: "bbbbbbb", changes: "No commits since last test", table: "T2" });
    expect(e1).toContain("## Commit: aaaaaaa - Timestamp: 2026-01-02 03:04:05 UTC");
    const f1 = prependEntry(null, e1);
    const f2 = prependEntry(f1, e2);
    expect(f2.startsWith("# Duroxide Stress Test Results\n")).toBe(true);
    expect(f2.indexOf("bbbbbbb")).toBeLessThan(f2.indexOf("aaaaaaa"));
    expect(lastTrackedCommit(f2)).toBe("bbbbbbb");
    expect(f2.match(/^# Duroxide/gm)).toHaveLength(1);
    // trackResults outside a git checkout: commit "unknown", the table lines after the marker.
    const path = trackResults(tmp, `noise\n=== Comparison Table ===\n\nHEADER\n----\nrow\n`);
    const text = readFileSync(path, "utf8");
    expect(text).toContain("## Commit: unknown");
    expect(text).toContain("```\nHEADER\n----\nrow\n```");
  });
});

describe("scripts/parallel_orchestrations.ts", () => {
  async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const proc = Bun.spawn([process.execPath, "run", SCRIPT, ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    return { code, stdout, stderr };
  }

  test("--json prints one parseable JSON line per row and nothing else on stdout", async () => {
    const r = await cli(["--json", "--duration", "1", "--provider", "sqlite-mem", "--config", "1/1"]);
    expect(r.code).toBe(0);
    const lines = jsonRows(r.stdout);
    expect(lines).toHaveLength(1);
    expect(r.stdout.trim().split("\n")).toHaveLength(2); // the row, then the verdict
    expect(JSON.parse(r.stdout.trim().split("\n")[1]!).verdict.rows).toHaveLength(1);
    const row = JSON.parse(lines[0]!);
    expect(row).toMatchObject({ provider: "In-Memory SQLite", config_label: "1/1", failed: 0, successRate: 100 });
    expect(row.config).toMatchObject({ maxConcurrent: 20, durationSecs: 1, tasksPerInstance: 5, activityDelayMs: 10, orchConcurrency: 1, workerConcurrency: 1 });
    expect(row.completed).toBeGreaterThan(0);
    expect(row.latency.p50Ms).toBeLessThanOrEqual(row.latency.p99Ms);
    expect(r.stderr).toContain("=== Comparison Table ===");
  });

  test("--provider memory runs on MemoryProvider and completes every instance", async () => {
    const r = await cli(["--json", "--duration", "1", "--provider", "memory", "--config", "2/2", "--max-concurrent", "5", "--tasks", "3", "--delay-ms", "1"]);
    expect(r.code).toBe(0);
    const lines = jsonRows(r.stdout);
    expect(lines).toHaveLength(1);
    const row = JSON.parse(lines[0]!);
    expect(row).toMatchObject({ provider: "Memory", config_label: "2/2", failed: 0, successRate: 100 });
    expect(row.completed).toBeGreaterThan(0);
    expect(row.completed).toBe(row.launched);
    expect(row.activitiesExecuted).toBe(row.completed * 3);
  });

  test("--provider accepts a module exporting a provider factory (label from its `label` export)", async () => {
    const mod = join(tmp, "my-provider.ts");
    writeFileSync(
      mod,
      `import { SqliteProvider } from ${JSON.stringify(join(ROOT, "src/providers/sqlite.ts"))};\n` +
        `export const label = "My Provider";\nexport async function createProvider() { return SqliteProvider.inMemory(); }\n`,
    );
    const r = await cli(["--json", "--duration", "0.5", "--provider", mod, "--config", "2/2", "--max-concurrent", "3", "--tasks", "1", "--delay-ms", "1"]);
    expect(r.code).toBe(0);
    const row = JSON.parse(jsonRows(r.stdout)[0]!);
    expect(row).toMatchObject({ provider: "My Provider", config_label: "2/2", failed: 0 });
  });

  test("--help exits 0 with the usage; an unknown flag or a bad number exits 2 with a clear error", async () => {
    const help = await cli(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("Usage: bun run scripts/parallel_orchestrations.ts");
    const unknown = await cli(["--frobnicate"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("frobnicate");
    expect(unknown.stderr).toContain("Usage:");
    const bad = await cli(["--duration", "soon"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--duration must be a number > 0, got "soon"');
    const badConfig = await cli(["--config", "2-2"]);
    expect(badConfig.code).toBe(2);
    expect(badConfig.stderr).toContain("--config");
  });

  test("--instances N launches exactly N and says so in the config line; it refuses --duration, --track, --report, --bench and a bad count", async () => {
    const r = await cli(["--json", "--instances", "25", "--provider", "sqlite-mem", "--config", "2/2", "--max-concurrent", "5", "--tasks", "2", "--delay-ms", "1"]);
    expect(r.code).toBe(0);
    const row = JSON.parse(jsonRows(r.stdout)[0]!);
    expect(row).toMatchObject({ launched: 25, completed: 25, failed: 0, activitiesExecuted: 50 });
    expect(r.stderr).toContain("max_concurrent=5 instances=25 tasks=2");
    expect(r.stderr).not.toContain("duration=");
    for (const [flag, value] of [["--duration", "1"], ["--track", undefined], ["--report", join(tmp, "r.html")], ["--bench", undefined]] as const) {
      const bad = await cli(["--instances", "10", flag, ...(value === undefined ? [] : [value])]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain(`--instances cannot be combined with ${flag}`);
    }
    for (const value of ["0", "1.5", "many", "10000001"]) {
      const bad = await cli(["--instances", value]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain(`--instances must be an integer from 1 to 10000000, got "${value}"`);
    }
  });

  test("the --json row of an --instances run, fed to --compare, is not drawn with a 10 s launch window it never had", async () => {
    // 25 instances of 2 x 1 ms: the pump stops launching well before 1 s.
    const first = await cli(["--json", "--instances", "25", "--provider", "sqlite-mem", "--config", "2/2", "--max-concurrent", "5", "--tasks", "2", "--delay-ms", "1"]);
    expect(first.code).toBe(0);
    const saved = join(tmp, "fixed-count.jsonl");
    writeFileSync(saved, first.stdout);
    const row = JSON.parse(first.stdout.trim().split("\n")[0]!);
    expect(row.launched).toBe(25);
    expect(row.totalTimeMs).toBeLessThan(5_000);

    // A later sitting draws it beside a run of its own (--report is refused with --instances, --compare is not).
    const html = join(tmp, "r.html");
    const second = await cli(["--duration", "0.3", "--provider", "sqlite-mem", "--config", "2/2", "--max-concurrent", "5", "--tasks", "2", "--delay-ms", "1", "--report", html, "--compare", saved]);
    expect(second.code).toBe(0);
    const page = readFileSync(html, "utf8");
    // The --instances run's row carries config.durationSecs = 10 (the default it never used), so
    // the time charts mark "launch window ends (10 s)" for a run whose pump stopped in < 1 s.
    expect(page).not.toContain("launch window ends (10 s)");
  }, 60_000);

  test("--preset with --instances: the header does not claim the guide's preset (a 30 s window) ran exactly", async () => {
    const r = await cli(["--preset", "quick", "--instances", "3", "--provider", "sqlite-mem"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("instances=3");
    // The window of "Quick Validation (30 seconds)" was replaced by a count, yet it says "exactly".
    expect(r.stdout).not.toMatch(/preset\s+quick: the guide's "Quick Validation \(30 seconds\)" exactly/);
  }, 60_000);

  test("the verdict of an --instances run does not advise --duration, a flag --instances refuses", async () => {
    // Fewer than 20 instances: no warning sign, so the verdict lists what it did not check, and why.
    const r = await cli(["--instances", "5", "--provider", "sqlite-mem", "--config", "1/1", "--max-concurrent", "5", "--tasks", "1", "--delay-ms", "1"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("no warning signs; not checked:");
    // e.g. "needs at least 3 whole seconds of launching after the first completion: run for 5 s or more (--duration)"
    expect(r.stdout).not.toContain("(--duration)");
    const again = await cli(["--instances", "25", "--duration", "5"]);
    expect(again.code).toBe(2); // the advice cannot be followed
  }, 60_000);

  test("--processes, --pool-max and --pg-url are validated: --processes must be 1..16 and refuses stores in one process's memory", async () => {
    for (const value of ["0", "17", "1.5", "two"]) {
      const r = await cli(["--processes", value]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`--processes must be an integer from 1 to 16, got "${value}"`);
    }
    for (const provider of ["sqlite-mem", "memory"]) {
      const r = await cli(["--processes", "2", "--provider", provider]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`--processes 2: provider ${provider} keeps its store in one process's memory`);
    }
    const pool = await cli(["--pool-max", "4", "--provider", "sqlite-file"]);
    expect(pool.code).toBe(2);
    expect(pool.stderr).toContain("--pool-max applies to --provider postgres only");
    const badPool = await cli(["--pool-max", "0", "--provider", "postgres"]);
    expect(badPool.code).toBe(2);
    expect(badPool.stderr).toContain('--pool-max must be an integer from 1 to 100, got "0"');
    const badUrl = await cli(["--pg-url", "localhost:5432", "--provider", "postgres"]);
    expect(badUrl.code).toBe(2);
    expect(badUrl.stderr).toContain("--pg-url must be a postgres:// or postgresql:// URL");
  });

  test(
    "--processes 2 on sqlite-file: two runtime processes run every instance (100 %), their activities are counted, the row says 2 processes",
    async () => {
      const r = await cli(["--json", "--processes", "2", "--provider", "sqlite-file", "--duration", "2", "--config", "2/2"]);
      expect(r.code).toBe(0);
      const lines = jsonRows(r.stdout);
      expect(lines).toHaveLength(1);
      const row = JSON.parse(lines[0]!);
      expect(row).toMatchObject({ provider: "File SQLite x2 proc", config_label: "2/2", processes: 2, failed: 0, successRate: 100 });
      expect(row.completed).toBeGreaterThan(0);
      expect(row.completed).toBe(row.launched);
      expect(row.activitiesExecuted).toBe(row.completed * 5);
      expect(row.ceiling_orch_per_sec).toBe(80); // 1000 * 2 processes * 2 slots / (5 tasks * 10 ms)
      expect(r.stderr).toContain("processes=2");
      expect(r.stderr).toContain("2 runtime processes");
    },
    60_000,
  );
});

describe("startRuntimeProcesses", () => {
  test("a runtime process that cannot start rejects the start with a message naming it, its exit code and its output", async () => {
    const err = await startRuntimeProcesses({
      count: 2,
      store: { kind: "sqlite-file", path: join(tmp, "no-such-dir", "x.db") },
      scenario: { kind: "parallel", activityDelayMs: 1 },
      orchConcurrency: 1,
      workerConcurrency: 1,
      output: () => {},
    }).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(Error);
    expect(err!.message).toMatch(/^runtime process [12] of 2 \(pid \d+\) ended before the run did: exited with code 1; last output:/);
    expect(err!.message).toContain("failed to start");
  }, 30_000);
});
