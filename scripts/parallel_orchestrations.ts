#!/usr/bin/env bun
/**
 * The stress comparison: runs the parallel-orchestrations scenario (duroxide/stress) over providers
 * and orch/worker configs and prints the comparison table. With no flags: in-memory and file
 * SQLite, 1/1 and 2/2, the testing guide's performance-baseline config (20 in flight, 10 s,
 * 5 tasks, 10 ms delay). `bun run scripts/parallel_orchestrations.ts --help` lists the flags.
 *
 * `--processes N` (N > 1) runs the runtimes in N child processes on one store (src/stress/
 * runtime-processes.ts) while this process pumps and measures; `--provider postgres` runs on
 * PostgreSQL (--pg-url, DUROXIDE_PG_URL, or a throw-away server), one fresh schema per run.
 * docs/stress-tests.md §6.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { parseFlags, UsageError, parseOrExit } from "../src/tools/cli-flags.ts";
import { Client } from "../src/client.ts";
import type { Provider } from "../src/provider.ts";
import { MemoryProvider } from "../src/providers/memory.ts";
import { SqliteProvider } from "../src/providers/sqlite.ts";
import { Runtime } from "../src/runtime/runtime.ts";
import { MAX_RUNTIME_PROCESSES, startRuntimeProcesses, type RuntimeProcesses, type ScenarioDescriptor } from "../src/stress/runtime-processes.ts";
import { closeStore, redactUrl, type StoreDescriptor } from "../src/stress/stores.ts";
import { DEFAULT_CHAOS_MODES, chaosRuntimeOptions, describeChaos, withChaos, type ChaosConfig } from "../src/stress/chaos.ts";
import { FAULT_MODES, type FaultMode } from "../src/testing/fault-injecting-provider.ts";
import { randomSeed } from "../src/testing/seeded-random.ts";
import { PostgresProvider } from "../src/providers/postgres.ts";
import { DEFAULT_POOL_MAX } from "../src/providers/postgres/options.ts";
import { startThrowawayPostgres, type ThrowawayPostgres } from "../src/testing/throwaway-postgres.ts";
import { STRESS_PRESET_NAMES, STRESS_PRESETS, stressPreset, type StressPreset } from "../src/stress/presets.ts";
import { judgeStressRun, verdictGateFailures, type FailOn, type VerdictRowInput } from "../src/stress/verdict.ts";
import { formatVerdict, shouldColor } from "../src/stress/verdict-format.ts";
import {
  PERFORMANCE_BASELINE,
  activitiesPerLargePayloadInstance,
  configLabel,
  createDefaultActivities,
  createDefaultOrchestrations,
  createLargePayloadActivities,
  createLargePayloadOrchestrations,
  describeConfig,
  formatComparisonTable,
  measureStressTest,
  resolveLargePayloadConfig,
  trackResults,
  workerCeilingOrchPerSec,
  FANOUT_ORCHESTRATION,
  LARGE_PAYLOAD_ORCHESTRATION,
  type ActivityCounter,
  type RunStressTestOptions,
  type StressProgress,
  type StressTestConfig,
  type StressTestResult,
} from "../src/stress/index.ts";
import { renderStressReport } from "../src/stress/report/html-report.ts";
import { checkReportPath, readCompareFiles } from "../src/stress/report/report-file.ts";
import { ReportInputError, reportRunFromResult, type ReportRun } from "../src/stress/report/report-run.ts";
import { trendFileName } from "../src/stress/report/trend-chart.ts";
import { shortHead } from "../src/stress/tracking.ts";

const ROOT = resolve(import.meta.dir, "..");

const USAGE = `Usage: bun run scripts/parallel_orchestrations.ts [options]
       bun run scripts/large_payload.ts [options]        (same as --large-payload)

Runs the parallel-orchestrations stress scenario (FanoutOrchestration: T ProcessTask activities
scheduled at once, each sleeping --delay-ms) for every provider x config and prints the
comparison table. Default: sqlite-mem and sqlite-file at 1/1 and 2/2 with the performance
baseline config (20 in flight, 10 s, 5 tasks, 10 ms delay, 60 s wait).

Options:
  --preset NAME        one of the testing guide's recommended configurations, exactly:
${STRESS_PRESET_NAMES.map((n) => `                         ${n.padEnd(12)} ${STRESS_PRESETS[n].summary}`).join("\n")}
                       (sets the config fields and --config; any of those flags given as well
                       overrides the preset's value, and the header says so)
  --fail-on LIST       exit 1 when the verdict finds: target (a minimum target of the guide failed),
                       warning (a warning sign was found), or target,warning
  --provider LIST      comma-separated: memory (MemoryProvider, plain JS objects: the baseline that
                       shows what storage costs), sqlite-mem, sqlite-file, postgres (PostgreSQL, see
                       --pg-url), or a path to a module exporting a provider factory (default export
                       or \`createProvider\`, an async function returning a fresh, empty Provider;
                       optional \`label\` string export)
                       (default: sqlite-mem,sqlite-file; with --large-payload: sqlite-mem;
                       with --processes > 1: sqlite-file)
  --config LIST        orch/worker slot pairs, e.g. 1/1,2/2 (default: 1/1,2/2; large payload: 1/1);
                       with --processes N these are the slots of each runtime process
  --processes N        runtime processes, 1 to ${MAX_RUNTIME_PROCESSES} (default 1: the runtime runs in this process).
                       N > 1: N child processes each run a Runtime with the --config slots on the same
                       store; this process only starts instances, measures and prints. Needs a store
                       other processes can open: sqlite-file or postgres (not memory, sqlite-mem or a
                       provider module). The Provider column then reads e.g. "File SQLite x2 proc"
  --pg-url URL         PostgreSQL server for --provider postgres (default: env DUROXIDE_PG_URL; with
                       neither, a throw-away server is started with default durability settings and
                       stopped at the end). Each provider x config run uses a fresh schema
                       stress_<random hex>, dropped afterwards
  --pool-max N         connection pool size of each PostgreSQL provider, 1 to 100 (default ${DEFAULT_POOL_MAX}; with
                       --processes N there are N + 1 pools)
  --duration N         seconds the pump launches instances (default 10)
  --instances N        launch exactly N instances instead, however long that takes (a run of
                       fixed work, for timing the whole command); not with --duration, --track,
                       --report or --bench
  --max-concurrent N   instances in flight at once (default 20; large payload 5)
  --tasks N            activities per instance (default 5)
  --delay-ms N         sleep inside each activity, ms (default 10; large payload 5)
  --wait-secs N        per-instance wait limit, s (default 60; large payload 120)
  --chaos RATE         0 to 1: the runtime's provider calls fail at this rate through
                       FaultInjectingProvider (duroxide/testing), the pump's client's do not; the run
                       must still complete 100 %. With --processes N each runtime process is faulted
                       (its own seed derived from --chaos-seed)
  --chaos-modes LIST   fault modes for --chaos, comma-separated: ${FAULT_MODES.join(", ")}
                       (default ${DEFAULT_CHAOS_MODES.join(",")})
  --chaos-seed N       seed of the fault schedule, 0 to 4294967295 (default random, printed in the
                       header: pass it again to repeat a run's faults)
  --chaos-lease-ms N   orchestrator and worker lock timeout of the faulted runtimes, ms, >= 1000
                       (default 2000: a fetch whose reply was lost holds its item until the lock
                       expires, which with the runtime's default 30 s worker lock stalls an instance)
  --no-metrics         start the runtimes with metrics: false (to measure what metrics cost: compare
                       a run with and without this flag; docs/runtime-semantics.md §9.4); not with
                       --processes > 1
  --instance-cache-size N
                       the runtimes' instanceCacheSize, 0 to 1000000 (default: the runtime's, 1000;
                       0 replays every turn: to measure what the instance cache buys,
                       docs/runtime-semantics.md §2.12); not with --processes > 1
  --json               one JSON line per row on stdout, then the verdict as one line {"verdict": ...},
                       nothing else (progress, table and verdict text go to stderr)
  --track              prepend the run to stress-test-results.md (commit, changes since the last
                       tracked commit, the table) and redraw stress-test-results-trend.svg (each
                       figure across the tracked commits), linked from it
  --report FILE.html   also write a self-contained HTML report of the run: the table, Orch/sec
                       against the ceiling, throughput and instances in flight per second, latency
                       distributions (p50/p95/p99 marked) and RSS over time (docs/stress-tests.md §10)
  --compare LIST       with --report: comma-separated files holding an earlier run's --json output;
                       their runs appear in the report beside this run's
  --large-payload      run the large-payload scenario instead (10/50/100 KB payloads, 20
                       activities, 5 child orchestrations per instance)
  --bench              run the mitata micro-benchmarks instead: scripts/bench_provider.ts (provider
                       cycles) and a single round trip (start -> wait of one fan-out(5)
                       orchestration on in-memory SQLite, 0 ms activities, 2/2)
  -h, --help           show this help

Reading the table: Completed / Failed count instances (Failed = Infra + Config + App + timeouts);
Success % = completed / launched; Orch/sec = completed / total time (pump + drain); Activity/sec =
Orch/sec x activities per instance; p50/p95/p99 lat ms = per-instance latency from the start call
to the completion being observed; Peak RSS MB = the process's resident memory (with --processes N:
this process's peak plus each runtime process's peak).
Ceiling: with activity delay d ms, T tasks and W worker slots, at most 1000*W/(T*d) orch/s
(20 at 1/1 and 40 at 2/2 for the default config); with --processes N, 1000*N*W/(T*d).

After the table comes the verdict: each of the guide's performance targets per row (and 1/1 -> 2/2
across rows) with PASS / FAIL / N/A, the measured figure and the bound that applies (the worker
ceiling; Little's law for latency: with M in flight the mean latency is M / throughput, so the
guide's < 200 ms cannot hold with 20 in flight), then the warning signs found on the per-second
timeline (zero throughput, falling throughput, variable latency, growing RSS) with likely causes.
N/A says why and which config would make the target meaningful. With --json the verdict is the
last line on stdout ({"verdict": ...}). README.md, "Reading the verdict", says more.

Exit status: 0 when every run completed 100 % (and, with --fail-on, the verdict found nothing it
names), 1 when a run failed or --fail-on's check did, 2 for bad flags.`;

interface ProviderSpec {
  key: string;
  label: string;
  create(): Promise<Provider>;
  /** How other processes open the store `p` (created by create()); absent when they cannot. */
  storeOf?(p: Provider): StoreDescriptor;
  dispose(p: Provider): void | Promise<void>;
}

interface Cli {
  providers: ProviderSpec[];
  configs: [number, number][];
  processes: number;
  pgUrl: string | undefined;
  poolMax: number | undefined;
  durationSecs: number | undefined;
  /** --instances: launch exactly this many instances (the launch window is the count, not a duration). */
  instances: number | undefined;
  maxConcurrent: number | undefined;
  tasks: number | undefined;
  delayMs: number | undefined;
  waitSecs: number | undefined;
  json: boolean;
  track: boolean;
  largePayload: boolean;
  bench: boolean;
  chaos: ChaosConfig | null;
  preset: StressPreset | null;
  /** Flags that override a field of the preset. */
  presetOverrides: string[];
  failOn: FailOn[];
  noMetrics: boolean;
  /** --instance-cache-size: the runtimes' instanceCacheSize; null = the runtime's default. */
  instanceCacheSize: number | null;
  /** Absolute path of the HTML report (--report), checked writable before the run. */
  report: string | null;
  /** Runs of earlier --json outputs to show in the report (--compare). */
  compare: ReportRun[];
}

// ------------------------------------------------------------------ flags

function parseCli(argv: string[]): Cli | "help" {
  const values = parseFlags(argv, {
    provider: { type: "string" },
    config: { type: "string" },
    duration: { type: "string" },
    instances: { type: "string" },
    "max-concurrent": { type: "string" },
    tasks: { type: "string" },
    "delay-ms": { type: "string" },
    "wait-secs": { type: "string" },
    processes: { type: "string" },
    "pg-url": { type: "string" },
    "pool-max": { type: "string" },
    chaos: { type: "string" },
    "no-metrics": { type: "boolean" },
    "instance-cache-size": { type: "string" },
    "chaos-modes": { type: "string" },
    "chaos-seed": { type: "string" },
    "chaos-lease-ms": { type: "string" },
    json: { type: "boolean" },
    track: { type: "boolean" },
    report: { type: "string" },
    compare: { type: "string" },
    "large-payload": { type: "boolean" },
    bench: { type: "boolean" },
    help: { type: "boolean", short: "h" },
    preset: { type: "string" },
    "fail-on": { type: "string" },
  });
  if (values.help) return "help";
  const largePayload = values["large-payload"] === true;
  const bench = values.bench === true;
  const track = values.track === true;
  if (bench && (largePayload || track)) throw new UsageError("--bench runs the micro-benchmarks only; it cannot be combined with --large-payload or --track");
  if (largePayload && track) throw new UsageError("--track records the parallel-orchestrations scenario only; drop --track for --large-payload");
  if (largePayload && values.tasks !== undefined) throw new UsageError("--tasks does not apply to --large-payload (each instance runs 40 activities by design)");
  const { preset, presetOverrides, failOn } = verdictFlags(values, { largePayload, bench });

  const processes = num("--processes", values.processes, { min: 1, max: MAX_RUNTIME_PROCESSES, integer: true }) ?? 1;
  if (bench && values.processes !== undefined) throw new UsageError("--processes applies to the stress runs; --bench runs in this process only");
  const providerList = (values.provider as string | undefined) ?? (processes > 1 ? "sqlite-file" : largePayload ? "sqlite-mem" : "sqlite-mem,sqlite-file");
  const providers = splitList("--provider", providerList).map(providerSpec);
  if (processes > 1) {
    for (const p of providers) {
      if (p.storeOf !== undefined) continue;
      throw new UsageError(
        p.key === "memory" || p.key === "sqlite-mem"
          ? `--processes ${processes}: provider ${p.key} keeps its store in one process's memory, so runtime processes cannot share it; use sqlite-file or postgres`
          : `--processes ${processes}: provider ${p.key} is a provider module, whose factory returns a fresh store other processes cannot open; use sqlite-file or postgres`,
      );
    }
  }
  const hasPostgres = providers.some((p) => p.key === "postgres");
  const pgUrl = values["pg-url"] as string | undefined;
  if (pgUrl !== undefined && !hasPostgres) throw new UsageError("--pg-url applies to --provider postgres only");
  if (pgUrl !== undefined && !/^postgres(ql)?:\/\/\S+$/.test(pgUrl.trim())) throw new UsageError(`--pg-url must be a postgres:// or postgresql:// URL, got ${JSON.stringify(pgUrl)}`);
  if (values["pool-max"] !== undefined && !hasPostgres) throw new UsageError("--pool-max applies to --provider postgres only");
  const poolMax = num("--pool-max", values["pool-max"], { min: 1, max: 100, integer: true });
  const defaultConfigs = preset !== null ? configLabel(preset.config) : largePayload ? "1/1" : "1/1,2/2";
  const configs = splitList("--config", (values.config as string | undefined) ?? defaultConfigs).map((c) => {
    const m = /^(\d+)\/(\d+)$/.exec(c);
    const o = Number(m?.[1]);
    const w = Number(m?.[2]);
    if (m === null || !Number.isSafeInteger(o) || !Number.isSafeInteger(w) || o < 1 || w < 1) {
      throw new UsageError(`--config: "${c}" is not an orch/worker pair of positive integers like 1/1 or 2/2`);
    }
    return [o, w] as [number, number];
  });

  let chaos: ChaosConfig | null = null;
  if (values.chaos === undefined) {
    if (values["chaos-modes"] !== undefined || values["chaos-seed"] !== undefined || values["chaos-lease-ms"] !== undefined) {
      throw new UsageError("--chaos-modes, --chaos-seed and --chaos-lease-ms apply to --chaos only");
    }
  } else {
    if (bench) throw new UsageError("--chaos applies to the stress runs; --bench measures a healthy provider only");
    if (track) throw new UsageError("--track records healthy runs only; drop --track for a --chaos run");
    const rate = num("--chaos", values.chaos, { min: 0, max: 1 })!;
    const modes = splitList("--chaos-modes", (values["chaos-modes"] as string | undefined) ?? DEFAULT_CHAOS_MODES.join(","));
    for (const m of modes) {
      if (!(FAULT_MODES as readonly string[]).includes(m)) throw new UsageError(`--chaos-modes: unknown fault mode "${m}" (modes: ${FAULT_MODES.join(", ")})`);
    }
    const seed = num("--chaos-seed", values["chaos-seed"], { min: 0, max: 0xffff_ffff, integer: true }) ?? randomSeed();
    const leaseMs = num("--chaos-lease-ms", values["chaos-lease-ms"], { min: 1_000, integer: true }) ?? 2_000;
    chaos = { rate, modes: modes as FaultMode[], seed, leaseMs };
  }

  const noMetrics = values["no-metrics"] === true;
  if (noMetrics && processes > 1) throw new UsageError("--no-metrics applies to runtimes in this process; drop it with --processes > 1");
  const instanceCacheSize = num("--instance-cache-size", values["instance-cache-size"], { min: 0, max: 1_000_000, integer: true }) ?? null;
  if (instanceCacheSize !== null && processes > 1) {
    throw new UsageError("--instance-cache-size applies to runtimes in this process; drop it with --processes > 1");
  }
  let report: string | null = null;
  let compare: ReportRun[] = [];
  try {
    if (values.report !== undefined) {
      if (bench) throw new UsageError("--report draws the stress runs; --bench has none");
      report = checkReportPath(values.report as string);
    }
    if (values.compare !== undefined) {
      if (report === null) throw new UsageError("--compare adds earlier runs to the report: it needs --report FILE.html");
      compare = readCompareFiles(splitList("--compare", values.compare as string));
    }
  } catch (err) {
    if (err instanceof ReportInputError) throw new UsageError(err.message);
    throw err;
  }

  return {
    report,
    compare,
    chaos,
    noMetrics,
    instanceCacheSize,
    providers,
    configs,
    processes,
    pgUrl: pgUrl?.trim(),
    poolMax,
    durationSecs: num("--duration", values.duration, { min: 0, exclusive: true }),
    instances: instancesFlag(values),
    maxConcurrent: num("--max-concurrent", values["max-concurrent"], { min: 1, integer: true }),
    tasks: num("--tasks", values.tasks, { min: 0, integer: true }),
    delayMs: num("--delay-ms", values["delay-ms"], { min: 0, integer: true }),
    waitSecs: num("--wait-secs", values["wait-secs"], { min: 0, exclusive: true }),
    json: values.json === true,
    track,
    largePayload,
    bench,
    preset,
    presetOverrides,
    failOn,
  };
}

/** --instances N: a fixed count instead of a launch window; it replaces --duration and suits no duration-based record. */
function instancesFlag(values: Record<string, string | boolean | undefined>): number | undefined {
  if (values.instances === undefined) return undefined;
  for (const [flag, why] of [
    ["duration", "it replaces the launch window --duration sets"],
    ["track", "--track records runs of a launch window, compared by duration"],
    ["report", "--report draws runs of a launch window"],
    ["bench", "--bench runs the micro-benchmarks only"],
  ] as const) {
    if (values[flag] !== undefined) throw new UsageError(`--instances cannot be combined with --${flag}: ${why}`);
  }
  return num("--instances", values.instances, { min: 1, max: 10_000_000, integer: true });
}

/** --preset and --fail-on (docs/stress-tests.md §9): the preset by name, the flags that override its fields, the kinds of finding that fail the run. */
function verdictFlags(values: Record<string, string | boolean | undefined>, mode: { largePayload: boolean; bench: boolean }): { preset: StressPreset | null; presetOverrides: string[]; failOn: FailOn[] } {
  let preset: StressPreset | null = null;
  if (values.preset !== undefined) {
    if (mode.bench || mode.largePayload) throw new UsageError(`--preset chooses a parallel-orchestrations config; it cannot be combined with ${mode.bench ? "--bench" : "--large-payload"}`);
    try {
      preset = stressPreset(String(values.preset).trim());
    } catch (err) {
      throw new UsageError(`--preset: ${(err as Error).message}`);
    }
  }
  const presetOverrides = preset === null ? [] : ["config", "duration", "instances", "max-concurrent", "tasks", "delay-ms", "wait-secs"].filter((f) => values[f] !== undefined).map((f) => `--${f}`);
  let failOn: FailOn[] = [];
  if (values["fail-on"] !== undefined) {
    if (mode.bench) throw new UsageError("--fail-on judges stress runs; --bench has no verdict");
    failOn = splitList("--fail-on", String(values["fail-on"])).map((k) => {
      if (k !== "target" && k !== "warning") throw new UsageError(`--fail-on: unknown kind "${k}" (use target, warning, or target,warning)`);
      return k;
    });
  }
  return { preset, presetOverrides, failOn };
}

function splitList(flag: string, text: string): string[] {
  const items = text.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  if (items.length === 0) throw new UsageError(`${flag} needs at least one value`);
  return items;
}

function num(flag: string, raw: unknown, rule: { min: number; max?: number; integer?: boolean; exclusive?: boolean }): number | undefined {
  if (raw === undefined) return undefined;
  const text = String(raw).trim();
  const n = text === "" ? NaN : Number(text);
  const bad =
    !Number.isFinite(n) ||
    (rule.integer === true && !Number.isSafeInteger(n)) ||
    (rule.exclusive === true ? n <= rule.min : n < rule.min) ||
    (rule.max !== undefined && n > rule.max);
  if (bad) {
    const kind = rule.integer ? "an integer" : "a number";
    const want = rule.max !== undefined ? `${kind} from ${rule.min} to ${rule.max}` : `${kind} ${rule.exclusive ? ">" : ">="} ${rule.min}`;
    throw new UsageError(`${flag} must be ${want}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

// ------------------------------------------------------------------ providers

let tempDir: string | null = null;
let fileSeq = 0;
/** Providers open now, with the spec that disposes of each (Ctrl-C and exit clean them up). */
const liveProviders = new Map<Provider, ProviderSpec | null>();
/** Runtime processes running now. */
const liveHosts = new Set<RuntimeProcesses>();
/** Set by Ctrl-C / SIGTERM: the run in progress is being torn down, its failures are not news. */
let interrupted = false;

/** PostgreSQL settings (--pg-url, --pool-max) and the URL once resolved (a throw-away server is started at most once). */
const postgres = {
  flagUrl: undefined as string | undefined,
  poolMax: DEFAULT_POOL_MAX,
  url: null as Promise<string> | null,
  source: "",
  server: null as ThrowawayPostgres | null,
};

/** --pg-url, else DUROXIDE_PG_URL, else a throw-away server with default (durable) settings, started on first call. */
function postgresUrl(): Promise<string> {
  postgres.url ??= (async () => {
    if (postgres.flagUrl !== undefined) {
      postgres.source = "--pg-url";
      return postgres.flagUrl;
    }
    const env = process.env.DUROXIDE_PG_URL?.trim();
    if (env) {
      postgres.source = "DUROXIDE_PG_URL";
      return env;
    }
    // Not `fast`: a benchmark's commits must cost what they cost on a real server (fsync on).
    postgres.server = await startThrowawayPostgres();
    postgres.source = `throw-away server on port ${postgres.server.port}, stopped at the end`;
    return postgres.server.url;
  })();
  return postgres.url;
}

function closeProvider(p: Provider): void {
  liveProviders.delete(p);
  try {
    void Promise.resolve((p as { close?: () => unknown }).close?.()).catch(() => {});
  } catch {
    // best effort
  }
}

/** At exit (synchronous): children get SIGTERM, stores are closed, the temp dir goes (a throw-away server stops itself). */
function cleanupAll(): void {
  for (const h of [...liveHosts]) h.kill();
  liveHosts.clear();
  for (const p of [...liveProviders.keys()]) closeProvider(p);
  if (tempDir !== null) rmSync(tempDir, { recursive: true, force: true });
  tempDir = null;
}

/** The full clean-up (end of run, Ctrl-C): stops runtime processes, disposes of stores (drops PostgreSQL schemas), stops a throw-away server. */
async function cleanupAsync(): Promise<void> {
  await Promise.allSettled([...liveHosts].map((h) => h.stop(5_000)));
  liveHosts.clear();
  await Promise.allSettled(
    [...liveProviders].map(async ([p, spec]) => {
      liveProviders.delete(p);
      await (spec === null ? closeStore(p) : spec.dispose(p));
    }),
  );
  const server = postgres.server;
  postgres.server = null;
  await server?.stop();
  cleanupAll();
}

function randomHex(bytes: number): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
}

function providerSpec(key: string): ProviderSpec {
  if (key === "memory") {
    return { key: "memory", label: "Memory", create: () => MemoryProvider.create(), dispose: closeProvider };
  }
  if (key === "sqlite-mem" || key === "sqlite-memory" || key === "mem") {
    return { key: "sqlite-mem", label: "In-Memory SQLite", create: () => SqliteProvider.inMemory(), dispose: closeProvider };
  }
  if (key === "sqlite-file" || key === "file") {
    const paths = new WeakMap<Provider, string>();
    return {
      key: "sqlite-file",
      label: "File SQLite",
      async create() {
        tempDir ??= mkdtempSync(join(os.tmpdir(), "duroxide-stress-"));
        const path = join(tempDir, `duroxide_stress_${process.pid}_${++fileSeq}.db`);
        const p = await SqliteProvider.open(path); // WAL, synchronous NORMAL
        paths.set(p, path);
        return p;
      },
      storeOf(p) {
        return { kind: "sqlite-file", path: paths.get(p)! };
      },
      dispose(p) {
        closeProvider(p);
        const path = paths.get(p);
        if (path !== undefined) for (const suffix of ["", "-wal", "-shm"]) rmSync(path + suffix, { force: true });
      },
    };
  }
  if (key === "postgres" || key === "postgresql" || key === "pg") {
    const stores = new WeakMap<Provider, { url: string; schema: string }>();
    return {
      key: "postgres",
      label: "PostgreSQL",
      async create() {
        const url = await postgresUrl();
        const schema = `stress_${randomHex(6)}`;
        try {
          const p = await PostgresProvider.connect(url, { schema, poolMax: postgres.poolMax });
          stores.set(p, { url, schema });
          return p;
        } catch (err) {
          await PostgresProvider.dropSchema(url, schema).catch(() => {}); // whatever connect created
          throw err;
        }
      },
      storeOf(p) {
        const s = stores.get(p)!;
        return { kind: "postgres", url: s.url, schema: s.schema, poolMax: postgres.poolMax };
      },
      async dispose(p) {
        liveProviders.delete(p);
        const s = stores.get(p);
        try {
          await closeStore(p);
        } catch (err) {
          process.stderr.write(`warning: closing the PostgreSQL provider failed: ${(err as Error).message}\n`);
        }
        if (s === undefined) return;
        try {
          await PostgresProvider.dropSchema(s.url, s.schema);
        } catch (err) {
          process.stderr.write(`warning: could not drop schema ${s.schema} (drop it by hand: DROP SCHEMA ${s.schema} CASCADE): ${(err as Error).message}\n`);
        }
      },
    };
  }
  if (!/[/\\]|\.[cm]?[jt]sx?$/.test(key)) {
    throw new UsageError(`--provider: unknown provider "${key}" (use memory, sqlite-mem, sqlite-file, postgres, or a path to a module like ./my-provider.ts)`);
  }
  const path = resolve(process.cwd(), key);
  let label = basename(path).replace(/\.[^.]+$/, "");
  let factory: (() => Promise<Provider>) | null = null;
  return {
    key,
    get label() {
      return label;
    },
    async create() {
      if (factory === null) {
        const mod = (await import(path)) as Record<string, unknown>;
        const def = mod.default as unknown;
        const candidate =
          typeof mod.createProvider === "function"
            ? mod.createProvider
            : typeof def === "function"
              ? def
              : typeof (def as { createProvider?: unknown } | undefined)?.createProvider === "function"
                ? (def as { createProvider: Function }).createProvider.bind(def)
                : null;
        if (candidate === null) throw new Error(`${key}: the module exports no provider factory (a default export or \`createProvider\` async function)`);
        if (typeof mod.label === "string" && mod.label.length > 0) label = mod.label;
        factory = candidate as () => Promise<Provider>;
      }
      const p = await factory();
      if (p === null || typeof p !== "object" || typeof (p as Provider).fetchOrchestrationItem !== "function") {
        throw new Error(`${key}: the factory did not return a Provider`);
      }
      return p;
    },
    dispose: closeProvider,
  };
}

// ------------------------------------------------------------------ output

function machineLine(): string {
  const cpus = os.cpus();
  return `bun ${Bun.version}, ${os.platform()} ${os.arch()}, ${cpus[0]?.model?.trim() ?? "unknown cpu"} x ${cpus.length}, load ${os.loadavg().map((x) => x.toFixed(2)).join(" ")}`;
}

function progressReporter(out: NodeJS.WriteStream, tag: string): { onProgress: (p: StressProgress) => void; finish(): void } {
  const tty = out.isTTY === true;
  let lastPlain = 0;
  const render = (p: StressProgress) =>
    `${tag} ${(p.elapsedMs / 1000).toFixed(1)}s ${p.phase.padEnd(9)} completed ${p.completed}  in flight ${p.inFlight}  failed ${p.failed}  ${p.orchPerSec.toFixed(2)} orch/s`;
  return {
    onProgress(p) {
      if (tty) {
        if (p.phase !== "done") out.write(`\r\x1b[K${render(p)}`);
      } else if (p.phase !== "done" && p.elapsedMs - lastPlain >= 2_000) {
        lastPlain = p.elapsedMs;
        out.write(`${render(p)}\n`);
      }
    },
    finish() {
      if (tty) out.write("\r\x1b[K");
    },
  };
}

// ------------------------------------------------------------------ stress runs

async function runStress(cli: Cli): Promise<number> {
  const out = cli.json ? process.stderr : process.stdout;
  const say = (line = "") => out.write(`${line}\n`);
  const lp = cli.largePayload ? resolveLargePayloadConfig({}) : null;
  const base = cli.preset?.config ?? lp?.base ?? PERFORMANCE_BASELINE;
  const baseConfig: Omit<StressTestConfig, "orchConcurrency" | "workerConcurrency"> = {
    maxConcurrent: cli.maxConcurrent ?? base.maxConcurrent,
    durationSecs: cli.durationSecs ?? base.durationSecs,
    tasksPerInstance: cli.tasks ?? base.tasksPerInstance,
    activityDelayMs: cli.delayMs ?? base.activityDelayMs,
    waitTimeoutSecs: cli.waitSecs ?? base.waitTimeoutSecs ?? 60,
  };
  const scenario = cli.largePayload ? "large-payload" : "parallel-orchestrations";
  const configText = (c: StressTestConfig) =>
    cli.largePayload
      ? describeConfig(c).replace(/ tasks=\d+/, "") +
        ` payloads=${lp!.smallPayloadKb}/${lp!.mediumPayloadKb}/${lp!.largePayloadKb}KB activities=${activitiesPerLargePayloadInstance(lp!)} children=${lp!.subOrchCount}`
      : describeConfig(c);
  const n = cli.processes;
  const windowText = (text: string) => (cli.instances === undefined ? text : text.replace(/ duration=\S+/, ` instances=${cli.instances}`));
  const allConfigsText = `${windowText(configText({ ...baseConfig, orchConcurrency: 1, workerConcurrency: 1 })).replace(/ orch\/worker=\S+/, "")} orch/worker=${cli.configs.map(([o, w]) => `${o}/${w}`).join(",")} processes=${n}${cli.chaos === null ? "" : ` chaos=${cli.chaos.rate}`}`;
  /** The worker ceiling of a run: N processes with W slots each. */
  const ceilingOf = (c: Pick<StressTestConfig, "workerConcurrency" | "tasksPerInstance" | "activityDelayMs">) =>
    workerCeilingOrchPerSec({ ...c, workerConcurrency: c.workerConcurrency * n });
  const labelOf = (spec: ProviderSpec) => (n > 1 ? `${spec.label} x${n} proc` : spec.label);

  say(`duroxide stress: ${scenario}`);
  say(`  machine   ${machineLine()}`);
  say(`  config    ${allConfigsText}`);
  if (cli.preset !== null) {
    say(`  preset    ${cli.preset.name}: the guide's "${cli.preset.title}"${cli.presetOverrides.length > 0 ? `, overridden by ${cli.presetOverrides.join(" ")}` : " exactly"}`);
  }
  say(`  providers ${cli.providers.map((p) => p.key).join(", ")}`);
  say(
    n > 1
      ? `  runtime   ${n} runtime processes, each with the orch/worker slots above, on one store; this process starts instances and measures`
      : "  runtime   in this process",
  );
  if (cli.chaos !== null) say(`  chaos     ${describeChaos(cli.chaos)}`);
  if (cli.providers.some((p) => p.key === "postgres")) {
    postgres.flagUrl = cli.pgUrl;
    postgres.poolMax = cli.poolMax ?? DEFAULT_POOL_MAX;
    try {
      const url = await postgresUrl();
      say(`  postgres  ${redactUrl(url)} (${postgres.source}), pool max ${postgres.poolMax}${n > 1 ? ` per process (${n + 1} pools)` : ""}, a fresh schema per run`);
    } catch (err) {
      process.stderr.write(`✗ PostgreSQL is not available: ${(err as Error).message}\n`);
      return 1;
    }
  }
  if (!cli.largePayload) {
    const ceilings = cli.configs.map(([o, w]) => {
      const c = ceilingOf({ workerConcurrency: w, tasksPerInstance: baseConfig.tasksPerInstance, activityDelayMs: baseConfig.activityDelayMs });
      return `${o}/${w}: ${Number.isFinite(c) ? `${c.toFixed(2)} orch/s` : "none (0 ms delay or 0 tasks)"}`;
    });
    say(`  ceiling   ${n > 1 ? `1000*N*W/(T*d), N = ${n}` : "1000*W/(T*d)"} -> ${ceilings.join(", ")}`);
  }
  say();

  const results: StressTestResult[] = [];
  const verdictRows: VerdictRowInput[] = [];
  let exit = 0;
  for (const spec of cli.providers) {
    for (const [o, w] of cli.configs) {
      if (interrupted) break;
      const config: StressTestConfig = { ...baseConfig, orchConcurrency: o, workerConcurrency: w };
      let label = labelOf(spec);
      let provider: Provider | null = null;
      let host: RuntimeProcesses | null = null;
      let runError: string | null = null;
      /** Once the run has ended: instances a failed run left in flight fail noisily as the store closes; not news. */
      let runOver = false;
      const quiet = () => interrupted || runOver;
      let progress = progressReporter(out, "");
      try {
        provider = await spec.create();
        liveProviders.set(provider, spec);
        label = labelOf(spec); // a provider module's label is known once it is loaded
        if (n > 1) {
          const scenarioSpec: ScenarioDescriptor =
            lp !== null ? { kind: "large-payload", config: { ...lp, base: config } } : { kind: "parallel", activityDelayMs: config.activityDelayMs };
          const p = provider;
          host = await startRuntimeProcesses({
            count: n,
            store: spec.storeOf!(p),
            scenario: scenarioSpec,
            orchConcurrency: o,
            workerConcurrency: w,
            ...(cli.chaos === null ? {} : { chaos: cli.chaos }),
            wakeClientsOf: p,
            output: (line) => {
              if (quiet()) return;
              progress.finish();
              process.stderr.write(`${line}\n`);
            },
          });
          liveHosts.add(host);
        }
        progress = progressReporter(out, `[${label} ${o}/${w}]`);
        const counter: ActivityCounter = { count: 0 };
        const options: RunStressTestOptions = {
          onProgress: (p) => {
            if (!quiet()) progress.onProgress(p);
          },
          log: (level, line) => {
            if (quiet()) return;
            progress.finish();
            (level === "warn" ? process.stderr : out).write(`${line}\n`);
          },
          activityCounter: counter,
          ...(host === null ? {} : { externalRuntimes: host }),
          ...(cli.instances === undefined ? {} : { launchLimit: cli.instances }),
        };
        const faulty = cli.chaos !== null && host === null ? withChaos(provider, cli.chaos) : null;
        if (faulty !== null) {
          options.runtimeProvider = faulty;
          options.runtimeOptions = chaosRuntimeOptions(cli.chaos!);
        }
        if (cli.noMetrics) options.runtimeOptions = { ...options.runtimeOptions, metrics: false };
        if (cli.instanceCacheSize !== null) options.runtimeOptions = { ...options.runtimeOptions, instanceCacheSize: cli.instanceCacheSize };
        if (lp !== null) {
          const c = { ...lp, base: config };
          Object.assign(options, {
            activities: createLargePayloadActivities(c, counter),
            orchestrations: createLargePayloadOrchestrations(c),
            orchestrationName: LARGE_PAYLOAD_ORCHESTRATION,
            input: { activity_count: c.activityCount, sub_orch_count: c.subOrchCount },
            activitiesPerInstance: activitiesPerLargePayloadInstance(c),
          } satisfies RunStressTestOptions);
        }
        const r = await measureStressTest(label, provider, config, options);
        progress.finish();
        results.push(r);
        verdictRows.push({ ...r, processes: n, storage: spec.key === "memory" || spec.key === "sqlite-mem" ? "in-memory" : "durable", scenario });
        if (faulty !== null) {
          const st = faulty.stats();
          const byMode = Object.entries(st.byMode).filter(([, n]) => n > 0).map(([m, n]) => `${m} ${n}`).join(", ");
          say(`  chaos: ${st.faults} of ${st.calls} runtime provider calls faulted${byMode === "" ? "" : ` (${byMode})`}, seed ${faulty.seed}`);
        }
        if (r.successRate < 100 || r.failed > 0) {
          exit = 1;
          say(`✗ ${label} ${o}/${w}: success ${r.successRate.toFixed(2)}% (below 100 %)`);
        }
        if (cli.json) {
          process.stdout.write(
            `${JSON.stringify({
              scenario,
              provider: label,
              config_label: configLabel(config),
              processes: n,
              chaos: cli.chaos,
              ...r,
              ceiling_orch_per_sec: cli.largePayload ? null : finiteOrNull(ceilingOf(r.config)),
              bun: Bun.version,
              platform: `${os.platform()} ${os.arch()}`,
              cpu: os.cpus()[0]?.model?.trim() ?? "unknown",
              cores: os.cpus().length,
              timestamp: new Date().toISOString(),
            })}\n`,
          );
        }
      } catch (err) {
        progress.finish();
        exit = 1;
        runError = (err as Error).message;
        // A dead runtime process is described in full by the message; other errors get their stack.
        const text = host !== null && host.failure.aborted && err === host.failure.reason ? runError : ((err as Error).stack ?? String(err));
        process.stderr.write(`✗ ${label} ${o}/${w}: run failed: ${text}\n`);
      } finally {
        runOver = true;
        if (host !== null) {
          try {
            await host.stop();
          } catch (err) {
            exit = 1;
            if ((err as Error).message !== runError) process.stderr.write(`✗ ${label} ${o}/${w}: runtime processes: ${(err as Error).message}\n`);
          }
          liveHosts.delete(host);
        }
        if (provider !== null) {
          liveProviders.delete(provider);
          await spec.dispose(provider);
        }
      }
      say();
    }
  }

  const table = formatComparisonTable(results);
  say(`Config: ${allConfigsText}`);
  say(table);
  if (!cli.largePayload) {
    const lines = results
      .map((r) => {
        const c = ceilingOf(r.config);
        return Number.isFinite(c) ? `  ${r.name} ${configLabel(r.config)}: ${r.orchThroughput.toFixed(2)} orch/s = ${((r.orchThroughput / c) * 100).toFixed(1)}% of the worker ceiling ${c.toFixed(2)}` : null;
      })
      .filter((l) => l !== null);
    if (lines.length > 0) {
      say(`Against the ceiling ${n > 1 ? "1000*N*W/(T*d)" : "1000*W/(T*d)"}:`);
      for (const l of lines) say(l);
    }
  }
  if (verdictRows.length > 0) {
    const verdict = judgeStressRun(verdictRows);
    say(formatVerdict(verdict, { color: shouldColor(out) }));
    if (cli.json) process.stdout.write(`${JSON.stringify({ verdict })}\n`);
    const gate = verdictGateFailures(verdict, cli.failOn);
    if (gate.length > 0) {
      exit = 1;
      say(`✗ --fail-on ${cli.failOn.join(",")}: ${gate.length} finding${gate.length === 1 ? "" : "s"}`);
      for (const line of gate) say(`  ${line}`);
    }
  }
  if (cli.track) {
    const path = trackResults(ROOT, table, { note: `Config: ${allConfigsText}` });
    say(`Recorded in ${path}; trend chart ${join(dirname(path), trendFileName(path))}`);
  }
  if (cli.report !== null) {
    // docs/stress-tests.md §10: this run's rows, then the --compare runs, in every figure.
    const runs = [...results.map((r) => reportRunFromResult(r, cli.largePayload ? null : ceilingOf(r.config))), ...cli.compare];
    const html = renderStressReport(runs, {
      scenario,
      config: allConfigsText,
      machine: machineLine(),
      commit: shortHead(ROOT),
      ceilingFormula: cli.largePayload ? null : n > 1 ? "1000*N*W/(T*d)" : "1000*W/(T*d)",
      generatedAt: new Date(),
    });
    writeFileSync(cli.report, html);
    say(`Report written to ${cli.report}`);
  }
  return exit;
}

function finiteOrNull(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

// ------------------------------------------------------------------ benchmarks

async function runBench(cli: Cli): Promise<number> {
  const out = cli.json ? process.stderr : process.stdout;
  out.write(cli.json ? "" : "== provider cycles (scripts/bench_provider.ts)\n");
  const child = Bun.spawn([process.execPath, "run", join(ROOT, "scripts/bench_provider.ts"), ...(cli.json ? ["--json"] : [])], {
    stdout: "inherit",
    stderr: "inherit",
  });
  const rc = await child.exited;
  if (rc !== 0) {
    process.stderr.write(`bench_provider.ts exited ${rc}\n`);
    return 1;
  }

  const { bench, run } = await import("mitata");
  if (!cli.json) out.write("\n== single round trip: start -> wait of one FanoutOrchestration (5 x ProcessTask, 0 ms), in-memory SQLite, 2/2\n");
  const provider = await SqliteProvider.inMemory();
  liveProviders.set(provider, null);
  const runtime = await Runtime.start(provider, createDefaultActivities(0), createDefaultOrchestrations(), {
    orchestrationConcurrency: 2,
    workerConcurrency: 2,
    logLevel: "warn",
  });
  const client = new Client(provider);
  let seq = 0;
  const alias = "round-trip fan-out(5) [mem, 2/2]";
  bench(alias, async () => {
    const id = `rt-${++seq}`;
    await client.startOrchestration(id, FANOUT_ORCHESTRATION, { task_count: 5 });
    const s = await client.waitForOrchestration(id, { timeoutMs: 10_000 });
    if (s.status !== "Completed") throw new Error(`${id} ended ${s.status}`);
  });
  try {
    const result = await run({ throw: true, colors: process.stdout.isTTY === true, format: cli.json ? "quiet" : "mitata" });
    for (const trial of result.benchmarks) {
      const stats = trial.runs[0]?.stats;
      if (stats === undefined) continue;
      const us = (ns: number) => Math.round(ns / 10) / 100;
      const row = { benchmark: "round-trip", alias: trial.alias, p50_us: us(stats.p50), avg_us: us(stats.avg), p99_us: us(stats.p99), samples: stats.samples.length, bun: Bun.version };
      if (cli.json) process.stdout.write(`${JSON.stringify(row)}\n`);
      else out.write(`\nround trip p50 ${(row.p50_us / 1000).toFixed(3)} ms, avg ${(row.avg_us / 1000).toFixed(3)} ms, p99 ${(row.p99_us / 1000).toFixed(3)} ms (${row.samples} samples)\n`);
    }
  } finally {
    await runtime.shutdown(1_000);
    closeProvider(provider);
  }
  return 0;
}

// ------------------------------------------------------------------ entry point

/** Runs the CLI with `argv` (flags only) and returns the exit status. */
export async function main(argv: string[]): Promise<number> {
  const parsed = parseOrExit(argv, parseCli, USAGE);
  if ("exit" in parsed) return parsed.exit;
  const cli = parsed.cli;
  process.on("exit", cleanupAll);
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.on(sig, () => {
      // First signal: clean up (stop runtime processes, drop PostgreSQL schemas, stop a throw-away
      // server), at most 10 s; a second one exits at once (the exit handler still does the basics).
      if (interrupted) process.exit(130);
      interrupted = true;
      process.stderr.write(`\n${sig}: cleaning up (again to exit at once)\n`);
      void Promise.race([cleanupAsync(), Bun.sleep(10_000)]).finally(() => process.exit(130));
    });
  }
  try {
    return cli.bench ? await runBench(cli) : await runStress(cli);
  } finally {
    await cleanupAsync();
  }
}

if (import.meta.main) {
  process.exit(await main(Bun.argv.slice(2)));
}
