// A PostgreSQL server restart mid-run (`pg_ctl restart -m fast`: every connection is cut, running
// transactions roll back) is survived: a runtime with 60 instances in flight (fan-out/join and
// durable timers) finishes every one exactly once with the right output, and afterwards the
// provider's listening connection is back: another "process" (a second PostgresProvider) starts an
// instance, this provider's listener hears the notification, and its idle fetch looks at once
// (its fallback poll is 60 s; the runtime's long poll 5 s, so the look is matched to the
// notification, not just timed).
// Needs the throw-away server (it restarts it); skipped with the reason on DUROXIDE_PG_URL.
//
// Two ways to restart: `pg.restart()` (the test helper: it runs pg_ctl with spawnSync, so this
// process, runtime included, is frozen during the outage and only sees its connections gone once
// the server is back), and the same `pg_ctl restart -m fast` run asynchronously, so the runtime,
// its client calls and the listener keep running through the outage (refused connections,
// reconnect back-off). Until the provider wakes fetches when a lock expires (see wakeups.test.ts
// (e)), work whose ack the outage lost sits behind its expired lock until a long poll ends: the
// runtime's long poll is 5 s here to bound that.
import { expect, test } from "bun:test";
import { dirname, join } from "node:path";
import { tmpdir } from "node:os";
import { SQL } from "bun";
import { Client } from "../../src/client.ts";
import { ClientError, ProviderError } from "../../src/core/errors.ts";
import { decodeEvent } from "../../src/core/events.ts";
import { PostgresProvider } from "../../src/providers/postgres.ts";
import type { OrchestrationContext } from "../../src/runtime/context.ts";
import type { Logger } from "../../src/runtime/options.ts";
import { ActivityRegistry, OrchestrationRegistry } from "../../src/runtime/registry.ts";
import { Runtime } from "../../src/runtime/runtime.ts";
import { findPostgresBinaries, pgTestUrl } from "../../src/testing/throwaway-postgres.ts";
import { postgresForTests } from "../providers/postgres-server.ts";
import { freshSchema, spyQueries } from "./helpers.ts";

const pg = await postgresForTests();
const N = 60;
const RESTART_AFTER = 15;
/** The runtime's long poll: bounds the stall of the lock-expiry bug (wakeups.test.ts (e)). */
const LONG_POLL_MS = 5_000;
const title = (how: string) =>
  `a server restart mid-run (${how}): ${N} instances each complete exactly once, and the listener reconnects (cross-process wake-ups work after it)`;

/**
 * `pg_ctl restart -m fast` on the throw-away server without blocking this process (the server's
 * original options come from its postmaster.opts; its log goes where the helper put it).
 */
async function restartWhileRunning(): Promise<void> {
  const r = await pgTestUrl();
  if (!("server" in r) || r.server === null) throw new Error("no throw-away server to restart");
  const bin = findPostgresBinaries();
  if (bin === null) throw new Error("no pg_ctl");
  const dataDir = r.server.dataDir;
  const argv = [join(bin, "pg_ctl"), "-D", dataDir, "-w", "-t", "60", "-l", join(dirname(dataDir), "server.log"), "restart", "-m", "fast"];
  const asRoot = typeof process.getuid === "function" && process.getuid() === 0;
  const proc = Bun.spawn(asRoot ? ["runuser", "-u", "postgres", "--", ...argv] : argv, { stdout: "ignore", stderr: "pipe", cwd: tmpdir() });
  const code = await proc.exited;
  if (code !== 0) throw new Error(`pg_ctl restart failed (${code}): ${await new Response(proc.stderr).text()}`);
}

const id = (i: number) => `restart-${i}`;
const step = (i: number, j: number, prev = 0) => i * 100 + j + prev;
function expected(i: number): { i: number; sum: number; last: number } {
  const sum = step(i, 0) + step(i, 1) + step(i, 2);
  return { i, sum, last: step(i, 9, sum) };
}

/** Resolves with the instance's terminal status, retrying calls that fail while the server is away. */
async function waitRetrying(client: Client, instance: string, deadline: number, onRetry: () => void) {
  for (;;) {
    try {
      return await client.waitForOrchestration(instance, { timeoutMs: Math.max(Math.ceil(deadline - performance.now()), 1) });
    } catch (err) {
      const retryable = (err instanceof ClientError || err instanceof ProviderError) && err.retryable;
      if (!retryable || (err instanceof ClientError && err.code === "Timeout")) throw err;
      onRetry();
      await Bun.sleep(50);
    }
  }
}

/** Prints the phase a hung run is in, and what its queues hold. */
async function reportHang(url: string, schema: string, how: string, phase: string): Promise<void> {
  let queues = "";
  try {
    const sql = new SQL(url, { max: 1, connectionTimeout: 5 });
    const q = `"${schema}"`;
    const rows = await sql.unsafe(
      `SELECT 'orchestrator' AS queue, instance_id, kind AS what, visible_at - ${q}.now_ms() AS visible_in, NULL::bigint AS locked_for FROM ${q}.orchestrator_queue
       UNION ALL SELECT 'worker', instance_id, substr(work_item, 1, 60), visible_at - ${q}.now_ms(), locked_until - ${q}.now_ms() FROM ${q}.worker_queue
       UNION ALL SELECT 'instance lock', instance_id, lock_token, NULL, locked_until - ${q}.now_ms() FROM ${q}.instance_locks`,
    );
    queues = JSON.stringify(rows);
    await sql.close({ timeout: 1 });
  } catch (err) {
    queues = `(could not read the queues: ${(err as Error).message})`;
  }
  console.error(`[restart: ${how}] HUNG for 170 s in phase "${phase}"; queues: ${queues}`);
}

/** Polls `cond` every 20 ms (no event exists for it) until it holds or `ms` pass. */
async function eventually(what: string, cond: () => boolean, ms: number): Promise<void> {
  const deadline = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await Bun.sleep(20);
  }
}

const ways: [string, (() => Promise<void>) | null][] = [
  ["pg.restart(), this process frozen meanwhile", pg.restart],
  ["pg_ctl restart run asynchronously, the runtime running through the outage", pg.restart && restartWhileRunning],
];

for (const [how, restart] of ways) {
  if (pg.url === null || restart === null) {
    test.skip(`${title(how)} [skipped: ${pg.reason ?? "DUROXIDE_PG_URL is an external server: the test cannot restart it"}]`, () => {});
  } else {
    const url = pg.url;
    test(
      title(how),
      async () => {
        const schema = freshSchema();
        // Should a run ever hang, say where (the test's own timeout would not).
        let phase = "connecting";
        const watchdog = setTimeout(() => void reportHang(url, schema, how, phase), 170_000);
        const a = await PostgresProvider.connect(url, { schema, poolMax: 6, fallbackPollIntervalMs: 60_000 });
        let b: PostgresProvider | null = null;
        let rt: Runtime | null = null;
        const logged: string[] = [];
        try {
          const runs = new Map<string, number>();
          let pongAt = 0;
          const activities = ActivityRegistry.builder()
            .register("Step", async (ctx, input: { i: number; j: number; prev?: number }) => {
              const k = `${ctx.instanceId} ${ctx.executionId} ${ctx.activityId}`;
              runs.set(k, (runs.get(k) ?? 0) + 1);
              await Bun.sleep(20 + ((input.i + input.j) % 4) * 20);
              return step(input.i, input.j, input.prev);
            })
            .register("Pong", async () => {
              pongAt = performance.now();
              return "pong";
            })
            .build();
          const orchestrations = OrchestrationRegistry.builder()
            .register("Batch", function* (ctx: OrchestrationContext, i: number) {
              const v = yield* ctx.all([0, 1, 2].map((j) => ctx.scheduleActivity<number>("Step", { i, j })));
              const sum = v[0]! + v[1]! + v[2]!;
              yield* ctx.scheduleTimer(300 + (i % 4) * 100);
              const last = yield* ctx.scheduleActivity<number>("Step", { i, j: 9, prev: sum });
              return { i, sum, last };
            })
            .register("Ping", function* (ctx: OrchestrationContext) {
              return yield* ctx.scheduleActivity<string>("Pong", null);
            })
            .build();
          const logger: Logger = { log: (level, message) => void logged.push(`${level} ${message}`) };
          rt = await Runtime.start(a, activities, orchestrations, {
            orchestrationConcurrency: 2,
            workerConcurrency: 4,
            orchestratorLockTimeoutMs: 2_000,
            orchestratorLockRenewalBufferMs: 500,
            workerLockTimeoutMs: 2_000,
            workerLockRenewalBufferMs: 500,
            dispatcherLongPollTimeoutMs: LONG_POLL_MS,
            logger,
            logLevel: "warn",
          });
          const client = new Client(a);
          const t0 = performance.now();
          for (let i = 0; i < N; i++) await client.startOrchestration(id(i), "Batch", i);

          // Wait for every instance; restart the server once RESTART_AFTER have completed.
          let completed = 0;
          let retries = 0;
          let reachedRestartPoint!: () => void;
          const restartPoint = new Promise<void>((r) => (reachedRestartPoint = r));
          const deadline = performance.now() + 120_000;
          const all = Promise.all(
            Array.from({ length: N }, async (_, i) => {
              const s = await waitRetrying(client, id(i), deadline, () => retries++);
              if (++completed === RESTART_AFTER) reachedRestartPoint();
              return s;
            }),
          );
          phase = "running until the restart point";
          await Promise.race([restartPoint, all]);
          const completedAtRestart = completed;
          expect(completedAtRestart).toBeLessThan(N); // the restart really is mid-run
          const tr = performance.now();
          phase = `restarting the server (${completedAtRestart} completed)`;
          await restart();
          phase = "waiting for every instance after the restart";
          const restartMs = performance.now() - tr;
          const statuses = await all;
          phase = "checking outputs and history";
          const totalMs = performance.now() - t0;
          const afterRestartMs = performance.now() - tr - restartMs;

          // Every instance completed with the output its input determines.
          const wrong = statuses
            .map((s, i) => (s.status === "Completed" && Bun.deepEquals(s.output, expected(i)) ? null : `${id(i)}: ${JSON.stringify(s)}`))
            .filter((x) => x !== null);
          expect(wrong).toEqual([]);

          // Exactly once: one terminal event and one execution per instance, one completion per scheduled activity.
          const sql = new SQL(url, { max: 1 });
          try {
            const rows = (await sql.unsafe(
              `SELECT instance_id, execution_id, event_data FROM "${schema}".history
                WHERE event_type IN ('ActivityScheduled', 'ActivityCompleted', 'ActivityFailed', 'OrchestrationCompleted', 'OrchestrationFailed')`,
            )) as { instance_id: string; execution_id: string | number; event_data: string }[];
            const terminal = new Map<string, number>();
            const scheduled = new Set<string>();
            const completions = new Map<string, number>();
            for (const row of rows) {
              const e = decodeEvent(row.event_data);
              if (e.type === "OrchestrationCompleted" || e.type === "OrchestrationFailed") {
                expect(e.type).toBe("OrchestrationCompleted");
                terminal.set(row.instance_id, (terminal.get(row.instance_id) ?? 0) + 1);
              } else if (e.type === "ActivityScheduled") scheduled.add(`${row.instance_id} ${row.execution_id} ${e.event_id}`);
              else {
                expect(e.type).toBe("ActivityCompleted");
                const k = `${row.instance_id} ${row.execution_id} ${e.source_event_id}`;
                completions.set(k, (completions.get(k) ?? 0) + 1);
              }
            }
            expect(terminal.size).toBe(N);
            expect([...terminal].filter(([, n]) => n !== 1)).toEqual([]);
            expect([...completions].filter(([, n]) => n !== 1)).toEqual([]);
            expect(completions.size).toBe(scheduled.size);
            expect(scheduled.size).toBe(4 * N);
            const execs = await sql.unsafe(`SELECT status, count(*)::int AS n FROM "${schema}".executions GROUP BY status`);
            expect(execs.map((r: { status: string; n: number }) => [r.status, r.n])).toEqual([["Completed", N]]);
          } finally {
            await sql.close({ timeout: 1 });
          }

          // The listening connection was lost and re-established (listener is TypeScript-private; its
          // counters are there for tests and diagnostics).
          type ListenerInternals = { connected: boolean; reconnects: number; dispatch(payload: string): void };
          const listener = (a as unknown as { listener: ListenerInternals }).listener;
          phase = "waiting for the listener to reconnect";
          await eventually("the listener to reconnect", () => listener.connected && listener.reconnects >= 1, 15_000);

          // Cross-process wake-up after the restart: another provider starts an instance; this
          // provider's listener must hear it and an idle orchestrator fetch look at once.
          const heard: { at: number; payload: string }[] = [];
          const dispatch = listener.dispatch.bind(listener);
          listener.dispatch = (payload) => {
            heard.push({ at: performance.now(), payload });
            dispatch(payload);
          };
          const spy = spyQueries(a);
          const fetchOps = new Set(["fetchOrchestrationItem", "fetchWorkItem"]);
          const quietSince = () => {
            const mine = spy.records.filter((r) => fetchOps.has(r.op));
            if (mine.some((r) => r.end === 0)) return 0;
            return mine.length === 0 ? Infinity : performance.now() - Math.max(...mine.map((r) => r.end));
          };
          // Idle fetches made their last look before the spy was installed; let any in-flight look
          // or turn settle: 300 ms without a look.
          phase = "waiting for the runtime to be idle";
          await eventually("the runtime to be idle", () => quietSince() >= 300, 15_000);
          phase = "the cross-process wake-up after the restart";
          b = await PostgresProvider.connect(url, { schema, poolMax: 2 });
          const clientB = new Client(b);
          const tw = performance.now();
          await clientB.startOrchestration("after-restart", "Ping");
          const s = await clientB.waitForOrchestration("after-restart", { timeoutMs: 30_000 });
          const pingMs = performance.now() - tw;
          expect(s.status === "Completed" && s.output).toBe("pong");
          const pickupMs = pongAt - tw;
          expect(pickupMs).toBeLessThan(2_000);
          // B's enqueue reached A's listener ("o": orchestrator work visible now) ...
          const notified = heard.find((h) => h.at >= tw && h.payload.endsWith(":o"));
          expect(notified).toBeDefined();
          // ... and A's first look after it came right after it (its fallback poll is a minute away).
          const firstLook = spy.records.find((r) => r.op === "fetchOrchestrationItem" && r.start >= notified!.at);
          expect(firstLook).toBeDefined();
          const lookDelayMs = firstLook!.start - notified!.at;
          expect(lookDelayMs).toBeLessThan(100);
          expect(spy.records.filter((r) => r.op === "fetchOrchestrationItem" && r.start >= tw && r.start < notified!.at)).toEqual([]);

          const reruns = [...runs.values()].filter((n) => n > 1).length;
          const warnings = logged.length;
          console.log(
            `[restart: ${how}] ${N} instances in ${Math.round(totalMs)} ms; restart after ${completedAtRestart} completed took ${Math.round(restartMs)} ms; ` +
              `client calls retried ${retries}x; activities run more than once: ${reruns} of ${runs.size}; ` +
              `runtime warnings/errors logged: ${warnings}${warnings > 0 ? ` (first: ${logged[0]!.slice(0, 200)})` : ""}; ` +
              `instances finished ${Math.round(afterRestartMs)} ms after the server was back` +
              `; listener reconnects ${listener.reconnects}; after the restart, B's start -> notification at A ${(notified!.at - tw).toFixed(1)} ms, ` +
              `A's look ${lookDelayMs.toFixed(1)} ms after it, activity on A at ${pickupMs.toFixed(1)} ms, B saw completion at ${pingMs.toFixed(1)} ms`,
          );
        } finally {
          phase = "cleaning up";
          await rt?.shutdown(500);
          await b?.close();
          await a.close();
          await PostgresProvider.dropSchema(url, schema);
          clearTimeout(watchdog);
        }
      },
      180_000,
    );
  }
}
