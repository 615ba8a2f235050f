#!/usr/bin/env bun
/**
 * Provider micro-benchmarks (mitata): the two hot cycles every turn of the runtime goes through.
 *
 *   orchestration-cycle  enqueueForOrchestrator(1 ActivityCompleted) -> fetchOrchestrationItem ->
 *                        ackOrchestrationItem(3-event delta + 1 ActivityExecute, Running metadata)
 *   work-cycle           enqueueForWorker(1 ActivityExecute) -> fetchWorkItem ->
 *                        ackWorkItem(ActivityCompleted completion)
 *
 * Each runs against SqliteProvider in memory and/or on a file (temp dir, WAL, synchronous NORMAL
 * unless --sync FULL). Every benchmark gets its own fresh database so one cannot skew the other.
 *
 *   bun run scripts/bench_provider.ts [--help] [--mode mem|file|file-nogc|all] [--sync NORMAL|FULL] [--json]
 *                                     [--filter RE] [--orch-turns N]
 *
 * Numbers are mitata's p50 of its samples. Note: when one cycle takes < ~65 µs mitata times batches
 * of 4096 calls and a sample is the batch mean, so p50 is then the median of batch means.
 *
 * Bookkeeping that must not be timed (creating instances, draining the queues the cycle fills) is
 * done in mitata "computed parameters" (`[0]()` below): mitata calls them outside the timed region
 * and hands their result to the timed `bench(param)` call, always in the same order.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { bench, run } from "mitata";
import type { Event } from "../src/core/events.ts";
import { SqliteProvider } from "../src/providers/sqlite.ts";
import {
  activityCompletedItem,
  activityItem,
  defaultTags,
  event,
  runningMeta,
  startedEvent,
  startItem,
} from "../src/provider-tests/helpers.ts";

// ------------------------------------------------------------------ configuration

/**
 * Default turns per orchestration instance before the benchmark moves on to a fresh one (--orch-turns).
 * History is append-only and fetchOrchestrationItem returns all of it, so one instance driven for
 * the whole run (thousands of turns) would measure "load an ever-growing history", not a turn. 32
 * turns caps a history at 2 + 3*32 = 98 events (about 50 on average at fetch time), a realistic
 * mid-sized orchestration. The cycle's cost grows with this number (history load + decode).
 */
const DEFAULT_ORCH_TURNS = 32;

/** Work cycle: drain the orchestrator queue (the completions the acks enqueue) every N iterations. */
const WORK_DRAIN_EVERY = 256;

const LOCK_MS = 30_000;

const USAGE = `Usage: bun run scripts/bench_provider.ts [options]

Measures SqliteProvider's orchestration-item cycle and work-item cycle with mitata.

Options:
  --mode M             mem (in-memory), file (WAL file, group commit), file-nogc (WAL file,
                       every write its own commit) or all (default)
  --sync NORMAL|FULL    PRAGMA synchronous for file mode (default: NORMAL)
  --filter REGEX        only run benchmarks whose name matches, e.g. --filter work
                        (names: "orchestration-cycle [mem]", "work-cycle [file, NORMAL]", ...)
  --orch-turns N        orchestration cycle: turns per instance before a fresh one (default ${DEFAULT_ORCH_TURNS});
                        bounds the history each fetch loads to 2 + 3*N events
  --json                print one JSON line per benchmark instead of the tables
                        (each line carries the config: bun, cpu, cores, platform, sync)
  -h, --help            show this help

File mode puts its databases in a fresh directory under $TMPDIR (os.tmpdir()) and removes it
at exit; set TMPDIR to measure another filesystem (e.g. TMPDIR=/dev/shm to take the disk out).

Targets (file mode, p50): orchestration cycle <= ${150} us, work cycle <= ${60} us.`;

/** "file-nogc": a file store with group commit off (every write its own commit), for comparison. */
type Mode = "mem" | "file" | "file-nogc";
type Sync = "NORMAL" | "FULL";
type BenchName = "orchestration-cycle" | "work-cycle";

const TARGET_US: Record<BenchName, number> = { "orchestration-cycle": 150, "work-cycle": 60 };

function parseCli(): { modes: Mode[]; sync: Sync; json: boolean; filter: RegExp; orchTurns: number } {
  let values: { mode?: string; sync?: string; json?: boolean; filter?: string; "orch-turns"?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: Bun.argv.slice(2),
      options: {
        mode: { type: "string" },
        sync: { type: "string" },
        json: { type: "boolean" },
        filter: { type: "string" },
        "orch-turns": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const mode = values.mode ?? "all";
  if (mode !== "mem" && mode !== "file" && mode !== "file-nogc" && mode !== "all") {
    console.error(`--mode must be mem, file, file-nogc or all (got ${JSON.stringify(mode)})\n\n${USAGE}`);
    process.exit(2);
  }
  const sync = (values.sync ?? "NORMAL").toUpperCase();
  if (sync !== "NORMAL" && sync !== "FULL") {
    console.error(`--sync must be NORMAL or FULL (got ${JSON.stringify(values.sync)})\n\n${USAGE}`);
    process.exit(2);
  }
  let filter: RegExp;
  try {
    filter = new RegExp(values.filter ?? ".");
  } catch (err) {
    console.error(`--filter: ${(err as Error).message}`);
    process.exit(2);
  }
  const orchTurns = Number(values["orch-turns"] ?? DEFAULT_ORCH_TURNS);
  if (!Number.isSafeInteger(orchTurns) || orchTurns < 1) {
    console.error(`--orch-turns must be a positive integer (got ${JSON.stringify(values["orch-turns"])})\n\n${USAGE}`);
    process.exit(2);
  }
  return { modes: mode === "all" ? ["mem", "file", "file-nogc"] : [mode], sync, json: values.json ?? false, filter, orchTurns };
}

const cli = parseCli();
const cpus = os.cpus();
const config = {
  bun: Bun.version,
  bun_revision: Bun.revision.slice(0, 12),
  platform: `${os.platform()} ${os.release()} ${os.arch()}`,
  cpu: cpus[0]?.model?.trim() ?? "unknown",
  cores: cpus.length,
  modes: cli.modes,
  sync: cli.sync,
  orch_turns_per_instance: cli.orchTurns,
  work_drain_every: WORK_DRAIN_EVERY,
};

// ------------------------------------------------------------------ providers and cleanup

let tempDir: string | null = null;
const openProviders = new Set<SqliteProvider>();

function cleanup(): void {
  for (const p of openProviders) {
    try {
      p.close();
    } catch {
      // best effort: the process is going away
    }
  }
  openProviders.clear();
  if (tempDir !== null) {
    rmSync(tempDir, { recursive: true, force: true });
    tempDir = null;
  }
}
process.on("exit", cleanup);
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    cleanup();
    process.exit(130);
  });
}

async function openProvider(mode: Mode, label: string): Promise<SqliteProvider> {
  let p: SqliteProvider;
  if (mode === "mem") {
    p = await SqliteProvider.inMemory();
  } else {
    tempDir ??= mkdtempSync(join(os.tmpdir(), "duroxide-bench-"));
    p = await SqliteProvider.open(join(tempDir, `${label}.db`), { synchronous: cli.sync, groupCommit: mode === "file" });
  }
  openProviders.add(p);
  return p;
}

function closeProvider(p: SqliteProvider): void {
  openProviders.delete(p);
  p.close();
}

// ------------------------------------------------------------------ benchmark plumbing

/** A benchmark with untimed per-iteration preparation (`prepare`) feeding the timed `cycle`. */
interface CycleBench<P> {
  prepare: () => Promise<P>;
  cycle: (param: P) => Promise<void>;
  teardown: () => void;
}

/**
 * Wraps setup / prepare / cycle / teardown into the generator shape mitata expects: setup runs
 * before the single yield, teardown after mitata resumes the generator, `[0]` is the computed
 * parameter. (mitata's typings only describe yielding a bare function, hence the cast.)
 */
function cycleBench<P>(setup: () => Promise<CycleBench<P>>) {
  async function* gen() {
    const b = await setup();
    try {
      yield {
        [0]: () => b.prepare(),
        bench: (param: P) => b.cycle(param),
      };
    } finally {
      b.teardown();
    }
  }
  return gen as unknown as () => AsyncGenerator<() => unknown, void, undefined>;
}

function expectFetched<T>(value: T | null, what: string): T {
  if (value === null) throw new Error(`benchmark invariant broken: ${what} returned null`);
  return value;
}

// ------------------------------------------------------------------ 1. orchestration-item cycle

interface OrchInstance {
  instance: string;
  /** next free event_id: history is append-only, ids must keep increasing */
  nextEventId: number;
  /** event_id of the ActivityScheduled whose completion the next turn delivers */
  pendingActivity: number;
  /** turns handed out by prepare() (may run ahead of executed turns while mitata batches) */
  assigned: number;
}

function orchestrationCycle(mode: Mode) {
  return cycleBench<OrchInstance>(async () => {
    const p = await openProvider(mode, `orchestration-cycle-${mode}`);
    const meta = runningMeta();
    let seq = 0;
    let current: OrchInstance | null = null;

    /** Turn 0, as the runtime does it: Start -> [OrchestrationStarted, ActivityScheduled] + the activity. */
    async function createInstance(): Promise<OrchInstance> {
      const instance = `orch-bench-${++seq}`;
      await p.enqueueForOrchestrator(startItem(instance), null);
      const f = expectFetched(await p.fetchOrchestrationItem(LOCK_MS, 0), "fetchOrchestrationItem (start)");
      await p.ackOrchestrationItem(
        f.lockToken,
        1,
        [startedEvent(instance, 1), event(instance, 1, 2, { type: "ActivityScheduled", name: "TestActivity", input: "{}" })],
        [activityItem(instance, 2)],
        [],
        meta,
        [],
      );
      return { instance, nextEventId: 3, pendingActivity: 2, assigned: 0 };
    }

    /** The activities the turns schedule are not part of this benchmark: consume them like a worker would. */
    async function drainWorkerQueue(): Promise<void> {
      for (;;) {
        const w = await p.fetchWorkItem(LOCK_MS, 0, null, defaultTags);
        if (w === null) return;
        await p.ackWorkItem(w.lockToken, null);
      }
    }

    current = await createInstance();

    return {
      // Untimed: every cli.orchTurns turns, clear the worker queue and start a fresh
      // instance (between two timed cycles the orchestrator queue is empty, so its fetch is ours).
      async prepare() {
        if (current === null || current.assigned >= cli.orchTurns) {
          await drainWorkerQueue();
          current = await createInstance();
        }
        current.assigned++;
        return current;
      },

      // Timed: one turn of an existing instance.
      async cycle(st) {
        const { instance } = st;
        await p.enqueueForOrchestrator(activityCompletedItem(instance, st.pendingActivity), null);
        const f = expectFetched(await p.fetchOrchestrationItem(LOCK_MS, 0), "fetchOrchestrationItem");
        if (f.item.instance !== instance) throw new Error(`benchmark invariant broken: fetched ${f.item.instance}, expected ${instance}`);
        const e = st.nextEventId;
        // The turn's delta: the completion it consumed, the next activity, a timer.
        const delta: Event[] = [
          event(instance, 1, e, { type: "ActivityCompleted", result: "ok" }, st.pendingActivity),
          event(instance, 1, e + 1, { type: "ActivityScheduled", name: "TestActivity", input: "{}" }),
          event(instance, 1, e + 2, { type: "TimerCreated", fire_at_ms: Date.now() + 60_000 }),
        ];
        await p.ackOrchestrationItem(f.lockToken, f.item.execution_id, delta, [activityItem(instance, e + 1)], [], meta, []);
        st.pendingActivity = e + 1;
        st.nextEventId = e + 3;
      },

      teardown() {
        closeProvider(p);
      },
    };
  });
}

// ------------------------------------------------------------------ 2. work-item cycle

function workCycle(mode: Mode) {
  return cycleBench<number>(async () => {
    const p = await openProvider(mode, `work-cycle-${mode}`);
    const instance = "work-bench-1";

    // The instance the activities belong to exists (as in real life), so the completions the acks
    // enqueue are ordinary messages for it and the drain below can fetch them.
    await p.enqueueForOrchestrator(startItem(instance), null);
    const start = expectFetched(await p.fetchOrchestrationItem(LOCK_MS, 0), "fetchOrchestrationItem (start)");
    await p.ackOrchestrationItem(start.lockToken, 1, [startedEvent(instance, 1)], [], [], runningMeta(), []);

    let activityId = 1;
    let prepared = 0;

    return {
      // Untimed. Every ack enqueues an ActivityCompleted into the orchestrator queue; left alone that
      // table would grow by one row per iteration (hundreds of thousands in a run), so every
      // WORK_DRAIN_EVERY iterations we drain it the way the orchestrator would: one fetch takes the
      // instance's whole batch and one empty ack deletes it. This bounds the table to one mitata
      // batch (<= 4096 rows). A fresh instance per N iterations would not help: the completions of
      // the old instances would still sit in the same table and indexes.
      async prepare() {
        if (++prepared % WORK_DRAIN_EVERY === 0) {
          const f = await p.fetchOrchestrationItem(LOCK_MS, 0);
          if (f !== null) await p.ackOrchestrationItem(f.lockToken, f.item.execution_id, [], [], [], runningMeta(), []);
        }
        return ++activityId;
      },

      // Timed: one activity's trip through the worker queue.
      async cycle(id) {
        await p.enqueueForWorker(activityItem(instance, id));
        const w = expectFetched(await p.fetchWorkItem(LOCK_MS, 0, null, defaultTags), "fetchWorkItem");
        await p.ackWorkItem(w.lockToken, activityCompletedItem(instance, id));
      },

      teardown() {
        closeProvider(p);
      },
    };
  });
}

// ------------------------------------------------------------------ run and report

interface Row {
  benchmark: BenchName;
  mode: Mode;
  sync: Sync | null;
  p50_us: number;
  avg_us: number;
  p75_us: number;
  p99_us: number;
  min_us: number;
  max_us: number;
  samples: number;
  iterations: number;
  target_us: number | null;
  meets_target: boolean | null;
}

const planned: { alias: string; benchmark: BenchName; mode: Mode }[] = [];
for (const mode of cli.modes) {
  for (const [benchmark, make] of [
    ["orchestration-cycle", orchestrationCycle],
    ["work-cycle", workCycle],
  ] as const) {
    const alias = `${benchmark} [${mode === "mem" ? "mem" : `file, ${cli.sync}${mode === "file-nogc" ? ", no group commit" : ""}`}]`;
    planned.push({ alias, benchmark, mode });
    bench(alias, make(mode));
  }
}

if (!cli.json) {
  console.log("duroxide provider benchmark (SqliteProvider)");
  console.log(`  bun        ${config.bun} (${config.bun_revision})`);
  console.log(`  platform   ${config.platform}`);
  console.log(`  machine    ${config.cpu}, ${config.cores} cores`);
  console.log(`  mode       ${cli.modes.join(", ")}`);
  console.log(`  sync       ${cli.sync}${cli.modes.includes("file") ? ` (file mode: WAL, temp dir under ${os.tmpdir()})` : " (unused: no file mode)"}`);
  console.log(`  orch cycle fresh instance every ${cli.orchTurns} turns; work cycle drains orchestrator queue every ${WORK_DRAIN_EVERY}`);
  console.log("");
}

const rows: Row[] = [];
try {
  const result = await run({ throw: true, filter: cli.filter, colors: process.stdout.isTTY === true, format: cli.json ? "quiet" : "mitata" });
  for (const trial of result.benchmarks) {
    const plan = planned.find((x) => x.alias === trial.alias);
    const stats = trial.runs[0]?.stats;
    if (plan === undefined || stats === undefined) throw new Error(`no result for ${trial.alias}`);
    const us = (ns: number) => Math.round(ns / 10) / 100; // ns -> µs, 2 decimals
    const target = plan.mode !== "mem" ? TARGET_US[plan.benchmark] : null;
    const p50 = us(stats.p50);
    rows.push({
      benchmark: plan.benchmark,
      mode: plan.mode,
      sync: plan.mode !== "mem" ? cli.sync : null,
      p50_us: p50,
      avg_us: us(stats.avg),
      p75_us: us(stats.p75),
      p99_us: us(stats.p99),
      min_us: us(stats.min),
      max_us: us(stats.max),
      samples: stats.samples.length,
      iterations: stats.ticks,
      target_us: target,
      meets_target: target === null ? null : p50 <= target,
    });
  }
} finally {
  cleanup();
}

if (cli.json) {
  for (const r of rows) {
    console.log(JSON.stringify({ ...r, bun: config.bun, cpu: config.cpu, cores: config.cores, platform: config.platform, orch_turns_per_instance: cli.orchTurns }));
  }
} else {
  const header = ["benchmark", "mode", "p50 µs", "avg µs", "p99 µs", "iterations", "target (file)", "result"];
  const body = rows.map((r) => [
    r.benchmark,
    r.mode === "mem" ? "mem" : `file/${r.sync}${r.mode === "file-nogc" ? "/no-gc" : ""}`,
    r.p50_us.toFixed(2),
    r.avg_us.toFixed(2),
    r.p99_us.toFixed(2),
    String(r.iterations),
    r.target_us === null ? "-" : `<= ${r.target_us}`,
    r.meets_target === null ? "-" : r.meets_target ? "OK" : "MISSED",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  console.log("");
  console.log(`summary (median = p50 per cycle; bun ${config.bun}, ${config.cpu}, ${config.cores} cores)`);
  console.log(line(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const b of body) console.log(line(b));
}
