#!/usr/bin/env bun
/**
 * How fast the runtime recovers from transient provider faults (docs/runtime-semantics.md §1.10):
 * runs the mixed workload (src/stress/scenario-mixed.ts: fan-out, timer, sub-orchestration,
 * external event) once on a healthy store and once with the runtime's provider calls failing at
 * --rate through FaultInjectingProvider, checks both runs (every output right, every history
 * clean), and prints both times and their ratio. `--help` lists the flags.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Provider } from "../src/provider.ts";
import { MemoryProvider } from "../src/providers/memory.ts";
import { SqliteProvider } from "../src/providers/sqlite.ts";
import { closeStore } from "../src/stress/stores.ts";
import { runMixedBatch } from "../src/stress/scenario-mixed.ts";
import { FAULT_MODES, FaultInjectingProvider, type FaultMode } from "../src/testing/fault-injecting-provider.ts";
import { randomSeed } from "../src/testing/seeded-random.ts";
import { numberFlag, parseFlags, UsageError, parseOrExit } from "../src/tools/cli-flags.ts";

const USAGE = `Usage: bun run scripts/fault_recovery.ts [options]

Runs N instances of the mixed workload (3-activity fan-out, a timer, a sub-orchestration with one
activity, a mailbox event) on a healthy store, then on a fresh store with the runtime's provider
calls failing at --rate (the client's calls are not faulted), and prints both times and the ratio.

Options:
  --instances N     instances per run, 1 to 10000 (default 100)
  --rate R          share of the runtime's provider calls that fail, 0 to 1 (default 0.05)
  --modes LIST      fault modes, comma-separated: ${FAULT_MODES.join(", ")}
                    (default retryable-before: a retryable error before the store is touched)
  --seed N          seed of the fault schedule, 0 to 4294967295 (default: random, printed)
  --provider P      memory, sqlite-mem or sqlite-file (default sqlite-mem)
  --runs K          measured pairs of runs, 1 to 50 (default 3); the figures are medians. A small
                    unmeasured warm-up run comes first. Run i uses seed + i - 1
  --max-ratio X     exit 1 when the median faulty time / median healthy time exceeds X
                    (default: report only)
  -h, --help        show this help

Exit status: 0 when both runs completed every instance correctly (and the ratio is within
--max-ratio), 1 otherwise, 2 for bad flags.`;


interface Cli {
  instances: number;
  rate: number;
  modes: FaultMode[];
  seed: number;
  provider: "memory" | "sqlite-mem" | "sqlite-file";
  maxRatio: number | null;
  runs: number;
}

function parseCli(argv: string[]): Cli | "help" {
  const values = parseFlags(argv, {
    instances: { type: "string" },
    rate: { type: "string" },
    modes: { type: "string" },
    seed: { type: "string" },
    provider: { type: "string" },
    "max-ratio": { type: "string" },
    runs: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) return "help";
  const modes = ((values.modes as string | undefined) ?? "retryable-before").split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (modes.length === 0) throw new UsageError("--modes needs at least one fault mode");
  for (const m of modes) if (!(FAULT_MODES as readonly string[]).includes(m)) throw new UsageError(`--modes: unknown fault mode "${m}" (modes: ${FAULT_MODES.join(", ")})`);
  const provider = (values.provider as string | undefined) ?? "sqlite-mem";
  if (provider !== "memory" && provider !== "sqlite-mem" && provider !== "sqlite-file") throw new UsageError(`--provider must be memory, sqlite-mem or sqlite-file, got ${JSON.stringify(provider)}`);
  return {
    instances: numberFlag("--instances", values.instances, { min: 1, max: 10_000, integer: true, default: 100 }),
    rate: numberFlag("--rate", values.rate, { min: 0, max: 1, integer: false, default: 0.05 }),
    modes: modes as FaultMode[],
    seed: numberFlag("--seed", values.seed, { min: 0, max: 0xffff_ffff, integer: true, default: randomSeed() }),
    provider,
    runs: numberFlag("--runs", values.runs, { min: 1, max: 50, integer: true, default: 3 }),
    maxRatio: values["max-ratio"] === undefined ? null : numberFlag("--max-ratio", values["max-ratio"], { min: 1, max: 1e6, integer: false, default: 0 }),
  };
}

export async function main(argv: string[]): Promise<number> {
  const parsed = parseOrExit(argv, parseCli, USAGE);
  if ("exit" in parsed) return parsed.exit;
  const cli = parsed.cli;
  const dir = cli.provider === "sqlite-file" ? mkdtempSync(join(tmpdir(), "duroxide-fault-recovery-")) : null;
  let files = 0;
  const open = async (): Promise<Provider> =>
    cli.provider === "memory" ? MemoryProvider.create() : cli.provider === "sqlite-mem" ? SqliteProvider.inMemory() : SqliteProvider.open(join(dir!, `run-${++files}.db`));
  const say = (line: string) => process.stdout.write(`${line}\n`);
  try {
    say(`duroxide fault recovery: ${cli.instances} mixed instances (fan-out 3, timer, sub-orchestration, event), ${cli.provider}, runtime defaults`);
    say(`  faults    runtime's provider calls only: rate ${cli.rate}, modes ${cli.modes.join(",")}, seeds ${cli.seed}..${cli.seed + cli.runs - 1}`);
    const run = async (faultSeed: number | null, prefix: string, instances = cli.instances) => {
      const provider = await open();
      const faults = faultSeed === null ? null : new FaultInjectingProvider(provider, { rate: cli.rate, modes: cli.modes, seed: faultSeed });
      try {
        const r = await runMixedBatch({ provider, runtimeProvider: faults ?? provider, instances, prefix });
        return { r, faults };
      } finally {
        await closeStore(provider);
      }
    };
    // Warm-up (JIT, SQLite statement caches), not measured: otherwise the first run pays for it.
    await run(null, "warmup-", Math.min(cli.instances, 20));
    await run(cli.seed, "warmup-faulty-", Math.min(cli.instances, 20));
    const healthyMs: number[] = [];
    const faultyMs: number[] = [];
    const problems: string[] = [];
    for (let k = 0; k < cli.runs; k++) {
      const healthy = await run(null, "healthy-");
      const faulty = await run(cli.seed + k, "faulty-");
      const st = faulty.faults!.stats();
      healthyMs.push(healthy.r.elapsedMs);
      faultyMs.push(faulty.r.elapsedMs);
      say(
        `  run ${k + 1}     healthy ${healthy.r.elapsedMs.toFixed(0).padStart(6)} ms (${healthy.r.completed}/${cli.instances} ok, ${healthy.r.activityRuns} activity runs)` +
          `   faulty ${faulty.r.elapsedMs.toFixed(0).padStart(6)} ms (${faulty.r.completed}/${cli.instances} ok, ${faulty.r.activityRuns} activity runs, ` +
          `${st.faults} of ${st.calls} calls faulted, seed ${faulty.faults!.seed})`,
      );
      for (const [label, r] of [["healthy", healthy.r], ["faulty", faulty.r]] as const) problems.push(...r.problems.map((p) => `run ${k + 1} ${label}: ${p}`));
    }
    const h = median(healthyMs);
    const f = median(faultyMs);
    const ratio = f / h;
    say(`  median    healthy ${h.toFixed(0)} ms, faulty ${f.toFixed(0)} ms: ratio ${ratio.toFixed(2)}x${cli.maxRatio === null ? "" : ` (limit ${cli.maxRatio}x)`}`);
    for (const p of problems.slice(0, 10)) say(`✗ ${p}`);
    let ok = problems.length === 0;
    if (cli.maxRatio !== null && ratio > cli.maxRatio) {
      say(`✗ the faulty runs took ${ratio.toFixed(2)}x the healthy ones (limit ${cli.maxRatio}x)`);
      ok = false;
    }
    return ok ? 0 : 1;
  } finally {
    if (dir !== null) rmSync(dir, { recursive: true, force: true });
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

if (import.meta.main) {
  process.exit(await main(Bun.argv.slice(2)));
}
