/**
 * The crash loop (docs/stress-tests.md §8): starts N instances of the mixed workload
 * (scenario-mixed.ts), runs a runtime in a child process and kills it with SIGKILL at random
 * intervals for a while, starting a new one after each kill; then lets a final runtime drain the
 * store and checks what a crash must never cause: every instance completed with the right output,
 * no history records two completions for one scheduled item, the queues are empty, and (SQLite)
 * the database file passes `PRAGMA integrity_check`. It reports how many activities ran more than
 * once (at-least-once execution: the price of a kill) and how long the drain took.
 */
import { Database } from "bun:sqlite";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "../client.ts";
import { describe } from "../core/describe.ts";
import { ConfigurationError } from "../core/errors.ts";
import type { RuntimeOptions } from "../runtime/options.ts";
import { Runtime } from "../runtime/runtime.ts";
import { seededRandom } from "../testing/seeded-random.ts";
import { crashLoopHandlers, type CrashLoopChildSpec } from "./crash-loop-child.ts";
import {
  MIXED_ACTIVITIES_PER_INSTANCE,
  createMixedActivities,
  createMixedOrchestrations,
  expectedMixedOutput,
  historyProblem,
  mixedInstanceId,
  startMixedInstance,
} from "./scenario-mixed.ts";
import { closeStore, openStore, type StoreDescriptor } from "./stores.ts";

const CHILD_ENTRY = join(import.meta.dir, "crash-loop-child.ts");

/**
 * Runtime options of every runtime in the loop: short leases, so the locks a killed runtime held
 * expire within a second and the next runtime gets on with the work.
 */
export const CRASH_LOOP_RUNTIME_OPTIONS: RuntimeOptions = Object.freeze({
  orchestrationConcurrency: 2,
  workerConcurrency: 4,
  dispatcherPollIntervalMs: 20,
  orchestratorLockTimeoutMs: 1_000,
  orchestratorLockRenewalBufferMs: 500,
  workerLockTimeoutMs: 1_000,
  workerLockRenewalBufferMs: 500,
  logLevel: "error",
});

export interface CrashLoopOptions {
  /** The store; it must exist and be empty (the caller created it). */
  store: StoreDescriptor;
  /** A directory for the activity-runs file. */
  workDir: string;
  /** Instances of the mixed workload, 1 to 10 000. */
  instances: number;
  /** How long runtimes are killed and restarted, ms (> 0). The final drain comes after. */
  durationMs: number;
  /** Each runtime lives a random time between these (after it reports ready), ms. */
  killMinMs: number;
  killMaxMs: number;
  /** Seed of the kill schedule (0 to 4294967295). */
  seed: number;
  /** Sleep inside each activity, ms (default 50). */
  activityDelayMs?: number;
  /** Timer of each instance, ms (default 300; instance i adds (i % 3) · 10). */
  timerMs?: number;
  /** How long the final drain may take, ms (default 60 000). */
  drainLimitMs?: number;
  /** Progress lines (one per kill, the drain, the checks). */
  log?: (line: string) => void;
}

export interface CrashLoopReport {
  instances: number;
  /** Runtimes killed with SIGKILL. */
  kills: number;
  /** Parent instances already completed when the final runtime started. */
  completedBeforeDrain: number;
  /** Final runtime start to every instance terminal, ms. */
  drainMs: number;
  /** Activity executions over all runtimes, and the distinct activities they executed. */
  activityRuns: number;
  distinctActivities: number;
  /** Activities that ran more than once, and the most runs of one activity. */
  rerunActivities: number;
  maxRunsOfOne: number;
  /** Queue depths after the drain. */
  queues: { orchestrator: number; worker: number };
  /** `PRAGMA integrity_check` of the SQLite file ("ok" when sound); null for PostgreSQL. */
  integrity: string | null;
  /** Everything the checks found wrong; empty when the run passed. */
  problems: string[];
}

const int = (name: string, v: unknown, min: number, max: number): number => {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max) throw new ConfigurationError(`crash loop: ${name} must be an integer from ${min} to ${max}, got ${describe(v)}`);
  return v;
};

/** Checks the options; throws ConfigurationError naming the first bad one. */
export function validateCrashLoopOptions(o: CrashLoopOptions): Required<Omit<CrashLoopOptions, "log">> & Pick<CrashLoopOptions, "log"> {
  if (typeof o !== "object" || o === null) throw new ConfigurationError("crash loop: options must be an object");
  const s = o.store as StoreDescriptor | undefined;
  if (s === undefined || (s.kind !== "sqlite-file" && s.kind !== "postgres")) throw new ConfigurationError(`crash loop: store must be a sqlite-file or postgres store descriptor, got ${describe(s)}`);
  if (typeof o.workDir !== "string" || o.workDir === "") throw new ConfigurationError("crash loop: workDir must be a directory path");
  const killMinMs = int("killMinMs", o.killMinMs, 0, 3_600_000);
  const killMaxMs = int("killMaxMs", o.killMaxMs, 0, 3_600_000);
  if (killMaxMs < killMinMs) throw new ConfigurationError(`crash loop: killMaxMs (${killMaxMs}) must be >= killMinMs (${killMinMs})`);
  return {
    store: s,
    workDir: o.workDir,
    instances: int("instances", o.instances, 1, 10_000),
    durationMs: int("durationMs", o.durationMs, 1, 86_400_000),
    killMinMs,
    killMaxMs,
    seed: int("seed", o.seed, 0, 0xffff_ffff),
    activityDelayMs: int("activityDelayMs", o.activityDelayMs ?? 50, 0, 60_000),
    timerMs: int("timerMs", o.timerMs ?? 300, 0, 3_600_000),
    drainLimitMs: int("drainLimitMs", o.drainLimitMs ?? 60_000, 1, 3_600_000),
    log: o.log,
  };
}

/** Runs the loop and the checks. Resolves with the report (check `problems`); rejects only when it cannot run at all. */
export async function runCrashLoop(options: CrashLoopOptions): Promise<CrashLoopReport> {
  const o = validateCrashLoopOptions(options);
  const log = o.log ?? (() => {});
  const runsFile = join(o.workDir, "activity-runs.txt");
  writeFileSync(runsFile, "");
  const prefix = "crash-";
  const rand = seededRandom(o.seed);
  const problems: string[] = [];

  const provider = await openStore(o.store);
  const client = new Client(provider);
  let child: ReturnType<typeof Bun.spawn> | null = null;
  const killChild = () => child?.kill("SIGKILL");
  process.on("exit", killChild);
  try {
    // 1. Every instance is started (and sent its event) durably before any runtime runs.
    for (let i = 0; i < o.instances; i++) await startMixedInstance(client, prefix, i);
    const completed = async () => (await client.listInstancesByStatus("Completed")).filter((id) => id.startsWith(prefix) && !id.includes("::")).length;

    // 2. Runtimes in child processes, each killed with SIGKILL after a random time.
    const spec: CrashLoopChildSpec = { store: o.store, runsFile, activityDelayMs: o.activityDelayMs, timerMs: o.timerMs, runtimeOptions: CRASH_LOOP_RUNTIME_OPTIONS };
    const loopEnd = performance.now() + o.durationMs;
    let kills = 0;
    while (performance.now() < loopEnd) {
      const proc = Bun.spawn([process.execPath, CHILD_ENTRY, JSON.stringify(spec)], { stdout: "pipe", stderr: "pipe" });
      child = proc;
      await waitForReady(proc, 30_000);
      const life = o.killMinMs + rand() * (o.killMaxMs - o.killMinMs);
      await Bun.sleep(Math.max(0, Math.min(life, loopEnd - performance.now())));
      proc.kill("SIGKILL");
      await proc.exited;
      child = null;
      kills++;
      const done = await completed();
      log(`kill ${kills} after ${Math.round(life)} ms: ${done}/${o.instances} instances completed`);
      if (done === o.instances) {
        log("every instance completed: no more kills");
        break;
      }
    }

    // 3. A final runtime (in this process) drains what is left.
    const completedBeforeDrain = await completed();
    const handlers = crashLoopHandlers({ runsFile, activityDelayMs: o.activityDelayMs, timerMs: o.timerMs });
    const drainStart = performance.now();
    const runtime = await Runtime.start(provider, createMixedActivities(handlers), createMixedOrchestrations(handlers), CRASH_LOOP_RUNTIME_OPTIONS);
    let drainMs = 0;
    let queues = { orchestrator: -1, worker: -1 };
    try {
      const statuses = await Promise.all(
        Array.from({ length: o.instances }, (_, i) => client.waitForOrchestration(mixedInstanceId(prefix, i), { timeoutMs: o.drainLimitMs }).catch((err: Error) => err)),
      );
      drainMs = performance.now() - drainStart;
      log(`drain: ${o.instances - completedBeforeDrain} instances finished by the final runtime in ${Math.round(drainMs)} ms`);
      statuses.forEach((s, i) => {
        const id = mixedInstanceId(prefix, i);
        if (s instanceof Error) problems.push(`${id}: ${s.message}`);
        else if (s.status !== "Completed") problems.push(`${id}: ended ${s.status}: ${s.message}`);
        else if (!Bun.deepEquals(s.output, expectedMixedOutput(i))) problems.push(`${id}: output ${JSON.stringify(s.output)}, expected ${JSON.stringify(expectedMixedOutput(i))}`);
      });
      // Late duplicates (a completion a killed runtime acked twice, say) are dropped by the
      // runtime as they come: give it a moment to empty the queues.
      queues = await queuesWhenEmpty(client, 5_000);
    } finally {
      await runtime.shutdown(1_000);
    }

    // 4. The checks.
    if (queues.orchestrator !== 0 || queues.worker !== 0) problems.push(`queues not empty after the drain: orchestrator ${queues.orchestrator}, worker ${queues.worker}`);
    for (const id of await client.listAllInstances()) {
      const info = await client.getInstanceInfo(id);
      if (info.status !== "Completed") problems.push(`${id}: status ${info.status}`);
      const executions = await client.listExecutions(id);
      if (executions.length !== 1) problems.push(`${id}: executions ${executions.join(",")}, expected one`);
      const p = historyProblem(await client.readExecutionHistory(id));
      if (p !== null) problems.push(`${id}: ${p}`);
    }
    const runs = new Map<string, number>();
    for (const line of readFileSync(runsFile, "utf8").split("\n")) if (line !== "") runs.set(line, (runs.get(line) ?? 0) + 1);
    const activityRuns = [...runs.values()].reduce((a, b) => a + b, 0);
    const expectedActivities = o.instances * MIXED_ACTIVITIES_PER_INSTANCE;
    if (runs.size !== expectedActivities) problems.push(`${runs.size} distinct activities ran, expected ${expectedActivities}`);
    await closeStore(provider);
    const integrity = o.store.kind === "sqlite-file" ? integrityCheck(o.store.path) : null;
    if (integrity !== null && integrity !== "ok") problems.push(`PRAGMA integrity_check: ${integrity}`);
    return {
      instances: o.instances,
      kills,
      completedBeforeDrain,
      drainMs,
      activityRuns,
      distinctActivities: runs.size,
      rerunActivities: [...runs.values()].filter((n) => n > 1).length,
      maxRunsOfOne: Math.max(0, ...runs.values()),
      queues,
      integrity,
      problems,
    };
  } finally {
    killChild();
    process.off("exit", killChild);
    await closeStore(provider).catch(() => {});
  }
}

/**
 * Resolves when the child prints `ready`; rejects (with the tail of its stderr) when it exits first
 * or takes too long. Both pipes are read to the end in the background, so a chatty child never
 * blocks on a full pipe.
 */
async function waitForReady(proc: ReturnType<typeof Bun.spawn>, timeoutMs: number): Promise<void> {
  let stderrTail = "";
  const stderrDone = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) stderrTail = (stderrTail + decoder.decode(chunk, { stream: true })).slice(-4_000);
  })().catch(() => {});
  let ready: () => void = () => {};
  const isReady = new Promise<void>((r) => (ready = r));
  const stdoutDone = (async () => {
    const decoder = new TextDecoder();
    let text = "";
    for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) {
      if (text.includes("ready\n")) continue;
      text += decoder.decode(chunk, { stream: true });
      if (text.includes("ready\n")) ready();
    }
  })().catch(() => {});
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), timeoutMs)));
  try {
    const first = await Promise.race([isReady.then(() => "ready" as const), proc.exited.then(() => "exited" as const), timeout]);
    if (first === "ready") return;
    proc.kill("SIGKILL");
    await Promise.all([stdoutDone, stderrDone]);
    throw new Error(
      first === "timeout"
        ? `a runtime process did not report ready within ${timeoutMs} ms:\n${stderrTail.trim()}`
        : `a runtime process exited (code ${proc.exitCode}) before it was ready:\n${stderrTail.trim()}`,
    );
  } finally {
    clearTimeout(timer);
  }
}

async function queuesWhenEmpty(client: Client, limitMs: number): Promise<{ orchestrator: number; worker: number }> {
  const end = performance.now() + limitMs;
  for (;;) {
    const d = await client.getQueueDepths();
    const q = { orchestrator: d.orchestrator_queue, worker: d.worker_queue };
    if ((q.orchestrator === 0 && q.worker === 0) || performance.now() >= end) return q;
    await Bun.sleep(50);
  }
}

function integrityCheck(path: string): string {
  const db = new Database(path, { readonly: true });
  try {
    const rows = db.query("PRAGMA integrity_check").all() as { integrity_check: string }[];
    return rows.map((r) => r.integrity_check).join("; ");
  } finally {
    db.close();
  }
}
