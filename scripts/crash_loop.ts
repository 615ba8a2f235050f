#!/usr/bin/env bun
/**
 * The crash loop (src/stress/crash-loop.ts, docs/stress-tests.md §8): a runtime in a child
 * process is killed with SIGKILL at random intervals while N instances of the mixed workload run;
 * then a final runtime drains the store and the run is checked (outputs, exactly-once histories,
 * empty queues, SQLite integrity). `--help` lists the flags.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { PostgresProvider } from "../src/providers/postgres.ts";
import { SqliteProvider } from "../src/providers/sqlite.ts";
import { runCrashLoop, type CrashLoopReport } from "../src/stress/crash-loop.ts";
import { redactUrl, type StoreDescriptor } from "../src/stress/stores.ts";
import { randomSeed } from "../src/testing/seeded-random.ts";
import { startThrowawayPostgres, type ThrowawayPostgres } from "../src/testing/throwaway-postgres.ts";
import { numberFlag, parseFlags, UsageError, parseOrExit } from "../src/tools/cli-flags.ts";

const USAGE = `Usage: bun run scripts/crash_loop.ts [options]

Starts N instances of the mixed workload (a 3-activity fan-out, a timer, a sub-orchestration with
one activity, a mailbox event), runs a runtime in a child process and kills it with SIGKILL after
a random time, again and again for --duration seconds; then a final runtime drains the store and
the run is checked: every instance completed with the right output, no history records two
completions for one scheduled item, the queues are empty, and (SQLite) PRAGMA integrity_check is
ok. Prints the kills, the activities that ran more than once, and the drain time.

Options:
  --instances N       instances, 1 to 10000 (default 100)
  --duration S        seconds of kill-and-restart, > 0 (default 20)
  --kill-min-ms N     shortest life of a runtime after it is ready, ms (default 300)
  --kill-max-ms N     longest life of a runtime after it is ready, ms (default 1500)
  --activity-ms N     sleep inside each activity, ms (default 50)
  --timer-ms N        each instance's timer, ms (default 300)
  --seed N            seed of the kill schedule, 0 to 4294967295 (default random, printed)
  --provider P        sqlite (default: a fresh file in a temp dir) or postgres
  --db PATH           the SQLite file to use (must not exist yet; kept afterwards)
  --pg-url URL        PostgreSQL server for --provider postgres (default: env DUROXIDE_PG_URL;
                      with neither, a throw-away server is started and stopped at the end). The run
                      uses a fresh schema crash_<random hex>, dropped afterwards
  --json              print the report as one JSON line on stdout (progress goes to stderr)
  -h, --help          show this help

Exit status: 0 when every check passed, 1 when one failed (each problem is printed), 2 for bad
flags.`;


interface Cli {
  instances: number;
  durationMs: number;
  killMinMs: number;
  killMaxMs: number;
  activityDelayMs: number;
  timerMs: number;
  seed: number;
  provider: "sqlite" | "postgres";
  db: string | null;
  pgUrl: string | null;
  json: boolean;
}

function parseCli(argv: string[]): Cli | "help" {
  const values = parseFlags(argv, {
    instances: { type: "string" },
    duration: { type: "string" },
    "kill-min-ms": { type: "string" },
    "kill-max-ms": { type: "string" },
    "activity-ms": { type: "string" },
    "timer-ms": { type: "string" },
    seed: { type: "string" },
    provider: { type: "string" },
    db: { type: "string" },
    "pg-url": { type: "string" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) return "help";
  const provider = (values.provider as string | undefined) ?? "sqlite";
  if (provider !== "sqlite" && provider !== "postgres") throw new UsageError(`--provider must be sqlite or postgres, got ${JSON.stringify(provider)}`);
  const db = (values.db as string | undefined) ?? null;
  if (db !== null && provider !== "sqlite") throw new UsageError("--db applies to --provider sqlite only");
  if (db !== null && db.trim() === "") throw new UsageError("--db needs a file path");
  const pgUrl = (values["pg-url"] as string | undefined)?.trim() ?? null;
  if (pgUrl !== null && provider !== "postgres") throw new UsageError("--pg-url applies to --provider postgres only");
  if (pgUrl !== null && !/^postgres(ql)?:\/\/\S+$/.test(pgUrl)) throw new UsageError(`--pg-url must be a postgres:// or postgresql:// URL, got ${JSON.stringify(pgUrl)}`);
  const killMinMs = numberFlag("--kill-min-ms", values["kill-min-ms"], { min: 0, max: 3_600_000, integer: true, default: 300 });
  const killMaxMs = numberFlag("--kill-max-ms", values["kill-max-ms"], { min: 0, max: 3_600_000, integer: true, default: Math.max(1_500, killMinMs) });
  if (killMaxMs < killMinMs) throw new UsageError(`--kill-max-ms (${killMaxMs}) must be >= --kill-min-ms (${killMinMs})`);
  return {
    instances: numberFlag("--instances", values.instances, { min: 1, max: 10_000, integer: true, default: 100 }),
    durationMs: Math.round(numberFlag("--duration", values.duration, { min: 0, max: 86_400, integer: false, default: 20, exclusiveMin: true }) * 1000),
    killMinMs,
    killMaxMs,
    activityDelayMs: numberFlag("--activity-ms", values["activity-ms"], { min: 0, max: 60_000, integer: true, default: 50 }),
    timerMs: numberFlag("--timer-ms", values["timer-ms"], { min: 0, max: 3_600_000, integer: true, default: 300 }),
    seed: numberFlag("--seed", values.seed, { min: 0, max: 0xffff_ffff, integer: true, default: randomSeed() }),
    provider,
    db: db === null ? null : resolve(db),
    pgUrl,
    json: values.json === true,
  };
}

export async function main(argv: string[]): Promise<number> {
  const parsed = parseOrExit(argv, parseCli, USAGE);
  if ("exit" in parsed) return parsed.exit;
  const cli = parsed.cli;
  const out = cli.json ? process.stderr : process.stdout;
  const say = (line: string) => out.write(`${line}\n`);
  const workDir = mkdtempSync(join(tmpdir(), "duroxide-crash-loop-"));
  let server: ThrowawayPostgres | null = null;
  let dropSchema: (() => Promise<void>) | null = null;
  try {
    let store: StoreDescriptor;
    let where: string;
    if (cli.provider === "sqlite") {
      const path = cli.db ?? join(workDir, "crash-loop.db");
      if (await Bun.file(path).exists()) {
        process.stderr.write(`error: --db ${path} already exists; the crash loop needs a fresh store\n`);
        return 2;
      }
      (await SqliteProvider.open(path)).close(); // creates the schema (WAL) before any runtime opens it
      store = { kind: "sqlite-file", path };
      where = `SQLite file ${path}${cli.db === null ? " (temporary)" : ""}`;
    } else {
      let url = cli.pgUrl ?? process.env.DUROXIDE_PG_URL?.trim() ?? "";
      let source = cli.pgUrl !== null ? "--pg-url" : "DUROXIDE_PG_URL";
      if (url === "") {
        server = await startThrowawayPostgres();
        url = server.url;
        source = `throw-away server on port ${server.port}, stopped at the end`;
      }
      const schema = `crash_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
      await (await PostgresProvider.connect(url, { schema, poolMax: 2 })).close();
      const u = url;
      dropSchema = () => PostgresProvider.dropSchema(u, schema);
      store = { kind: "postgres", url, schema, poolMax: 4 };
      where = `PostgreSQL ${redactUrl(url)} (${source}), schema ${schema}`;
    }
    say(`duroxide crash loop: ${cli.instances} mixed instances (fan-out 3, timer ${cli.timerMs} ms, sub-orchestration, event; activities ${cli.activityDelayMs} ms)`);
    say(`  store     ${where}`);
    say(`  kills     SIGKILL ${cli.killMinMs}-${cli.killMaxMs} ms after each runtime is ready, for ${cli.durationMs / 1000} s; seed ${cli.seed} (--seed ${cli.seed} repeats the schedule)`);
    const report = await runCrashLoop({
      store,
      workDir,
      instances: cli.instances,
      durationMs: cli.durationMs,
      killMinMs: cli.killMinMs,
      killMaxMs: cli.killMaxMs,
      seed: cli.seed,
      activityDelayMs: cli.activityDelayMs,
      timerMs: cli.timerMs,
      log: (line) => say(`  ${line}`),
    });
    printReport(say, report);
    if (cli.json) process.stdout.write(`${JSON.stringify({ seed: cli.seed, provider: cli.provider, ...report })}\n`);
    return report.problems.length === 0 ? 0 : 1;
  } catch (err) {
    process.stderr.write(`✗ crash loop failed to run: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  } finally {
    if (dropSchema !== null) await dropSchema().catch((err) => process.stderr.write(`warning: could not drop the schema: ${(err as Error).message}\n`));
    server?.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
}

function printReport(say: (line: string) => void, r: CrashLoopReport): void {
  say(`  result    ${r.kills} kills; ${r.completedBeforeDrain}/${r.instances} instances completed before the final runtime; drain ${Math.round(r.drainMs)} ms`);
  say(
    `  re-runs   ${r.activityRuns} activity executions for ${r.distinctActivities} activities: ${r.rerunActivities} ran more than once ` +
      `(most: ${r.maxRunsOfOne} times), ${r.activityRuns - r.distinctActivities} extra executions`,
  );
  say(`  queues    orchestrator ${r.queues.orchestrator}, worker ${r.queues.worker}${r.integrity === null ? "" : `; integrity_check ${r.integrity}`}`);
  if (r.problems.length === 0) say("  verified  every instance completed with the right output, each scheduled item completed once, queues empty");
  else {
    say(`✗ ${r.problems.length} problem(s):`);
    for (const p of r.problems.slice(0, 50)) say(`  ✗ ${p}`);
  }
}

if (import.meta.main) {
  process.exit(await main(Bun.argv.slice(2)));
}
