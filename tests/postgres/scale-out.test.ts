// Scale-out on PostgreSQL (docs/provider-contract.md §16): three runtime processes and one client
// process share one schema. 300 orchestrations mix fan-out/join, durable timers, external events
// raised by the client process, sub-orchestrations and continue-as-new. Once the client has seen
// 30 % of them complete, one runtime process is killed with SIGKILL while it has activities in
// flight; the other two finish everything. Then: every instance completed with its expected
// output, no history completes one scheduled activity twice, every runtime did work, and only
// activities that were in the killed process ran twice (at most its worker slots' worth).
import { expect, test } from "bun:test";
import { join } from "node:path";
import { SQL } from "bun";
import { decodeEvent } from "../../src/core/events.ts";
import { PostgresProvider } from "../../src/providers/postgres.ts";
import { postgresForTests } from "../providers/postgres-server.ts";
import { activityRunsTable, createActivityRunsTable, expectedOutput, instanceId, plan } from "./fixtures/scale-flow.ts";
import { Child, freshSchema, until } from "./helpers.ts";

const pg = await postgresForTests();

const N = 300;
const RUNTIMES = 3;
const WORKER_CONCURRENCY = 4;
const KILL_AFTER_DONE = Math.round(N * 0.3);
const RUNTIME_SCRIPT = join(import.meta.dir, "fixtures", "scale-runtime.ts");
const CLIENT_SCRIPT = join(import.meta.dir, "fixtures", "scale-client.ts");

const title = `scale-out: ${RUNTIMES} runtime processes and a client process on one schema, one runtime SIGKILLed mid-run: ${N} instances complete correctly, no activity completed twice`;

if (pg.url === null) {
  test.skip(`${title} [skipped: ${pg.reason}]`, () => {});
} else {
  const url = pg.url;
  test(
    title,
    async () => {
      const schema = freshSchema();
      const t0 = performance.now();
      // Creates the schema (migrations) and the activity_runs table before any child starts.
      const setup = await PostgresProvider.connect(url, { schema, poolMax: 2 });
      const sql = new SQL(url, { max: 2 });
      const children: Child[] = [];
      try {
        await createActivityRunsTable(sql, schema);

        // Per runtime: activities started, and those started but not yet returned (in flight).
        const started = Array.from({ length: RUNTIMES }, () => new Set<string>());
        const inFlight = Array.from({ length: RUNTIMES }, () => new Set<string>());
        const runtimes = Array.from({ length: RUNTIMES }, (_, r) => {
          const c = new Child(`runtime-${r}`, RUNTIME_SCRIPT, [url, schema, String(r), String(WORKER_CONCURRENCY)]);
          let seen = 0;
          c.subscribe(() => {
            for (; seen < c.lines.length; seen++) {
              const line = c.lines[seen]!;
              if (line.startsWith("run ")) {
                started[r]!.add(line.slice(4));
                inFlight[r]!.add(line.slice(4));
              } else if (line.startsWith("end ")) inFlight[r]!.delete(line.slice(4));
            }
          });
          children.push(c);
          return c;
        });
        await until(runtimes, () => runtimes.every((c) => c.lines.some((l) => l.startsWith("ready "))), "all runtimes ready", 30_000);
        const tReady = performance.now();

        const client = new Child("client", CLIENT_SCRIPT, [url, schema, String(N)]);
        children.push(client);
        let done = 0;
        let seenClient = 0;
        client.subscribe(() => {
          for (; seenClient < client.lines.length; seenClient++) if (client.lines[seenClient]!.startsWith("done ")) done++;
        });

        // Kill point: 30 % completed (as the client saw them) and the victim has activities in flight.
        const victim = 0;
        await until([...runtimes, client], () => done >= KILL_AFTER_DONE && inFlight[victim]!.size >= 1, `${KILL_AFTER_DONE} completions with runtime-${victim} busy`, 120_000);
        const inFlightAtKill = new Set(inFlight[victim]);
        const doneAtKill = done;
        runtimes[victim]!.kill("SIGKILL");
        const tKill = performance.now();
        expect(await runtimes[victim]!.exited).not.toBe(0);
        const victimAcked = new Set(runtimes[victim]!.linesOf("acked"));

        await until([client], () => client.hasExited, "the client process to finish", 150_000, true);
        const tDone = performance.now();
        if ((await client.exited) !== 0) throw new Error(`client process failed\n${client.describe()}`);

        // Stop the survivors; each reports how many activities it started.
        for (const r of runtimes) if (r !== runtimes[victim]) r.kill("SIGTERM");
        const reports = await Promise.all(
          runtimes.map(async (r, i) => {
            if (i === victim) return null;
            const code = await r.exited;
            if (code !== 0) throw new Error(`${r.name} exited with ${code}\n${r.describe()}`);
            return Number(r.linesOf("runs")[0]);
          }),
        );

        // 1. Every instance completed with the output its input determines.
        const resultLine = client.linesOf("result")[0];
        expect(resultLine).toBeDefined();
        const results = JSON.parse(resultLine!) as Record<string, { status: string; output?: unknown; message?: string }>;
        expect(Object.keys(results).length).toBe(N);
        const wrong: string[] = [];
        for (let i = 0; i < N; i++) {
          const r = results[instanceId(i)];
          if (r?.status !== "Completed" || !Bun.deepEquals(r.output, expectedOutput(i))) {
            wrong.push(`${instanceId(i)}: ${JSON.stringify(r)} (expected ${JSON.stringify(expectedOutput(i))})`);
          }
        }
        expect(wrong).toEqual([]);

        // Every execution ended: roots (continue-as-new ones with two extra executions) and children.
        const statuses = (await sql.unsafe(`SELECT status, count(*)::int AS n FROM "${schema}".executions GROUP BY status`)) as { status: string; n: number }[];
        const byStatus = Object.fromEntries(statuses.map((s) => [s.status, s.n]));
        let canExtra = 0;
        let childCount = 0;
        for (let i = 0; i < N; i++) {
          canExtra += plan(i).rounds - 1;
          if (plan(i).child) childCount++;
        }
        expect(byStatus).toEqual({ Completed: N + childCount, ContinuedAsNew: canExtra });

        // 2. No history completes one scheduled activity twice, and every scheduled one is completed once.
        const rows = (await sql.unsafe(
          `SELECT instance_id, execution_id, event_data FROM "${schema}".history
            WHERE event_type IN ('ActivityScheduled', 'ActivityCompleted', 'ActivityFailed')`,
        )) as { instance_id: string; execution_id: string | number; event_data: string }[];
        const scheduled = new Set<string>();
        const completions = new Map<string, number>();
        let failed = 0;
        for (const row of rows) {
          const e = decodeEvent(row.event_data);
          if (e.type === "ActivityScheduled") scheduled.add(`${row.instance_id} ${row.execution_id} ${e.event_id}`);
          else {
            if (e.type === "ActivityFailed") failed++;
            const k = `${row.instance_id} ${row.execution_id} ${e.source_event_id}`;
            completions.set(k, (completions.get(k) ?? 0) + 1);
          }
        }
        const doubled = [...completions].filter(([, n]) => n > 1);
        expect(doubled).toEqual([]);
        expect(failed).toBe(0);
        expect(completions.size).toBe(scheduled.size);
        expect([...scheduled].filter((k) => !completions.has(k))).toEqual([]);

        // 3. Every runtime process did work.
        const perRuntime = started.map((s) => s.size);
        for (let r = 0; r < RUNTIMES; r++) expect(perRuntime[r]!).toBeGreaterThan(0);
        for (let r = 0; r < RUNTIMES; r++) if (r !== victim) expect(reports[r]).toBe(perRuntime[r]!);

        // 4. Activities run more than once. The killed process can only have lost activities it had
        //    started and whose completion it had not committed: each worker slot runs one activity
        //    and may still be committing the previous one's completion (the dispatch loop fetches
        //    its next item while the ack is in flight), so at most 2 per slot. The runs come from
        //    the activity_runs rows (authoritative even if the victim's last stdout lines were lost);
        //    "acked" lines lost with the victim only make the unacked set larger.
        const runs = (await sql.unsafe(
          `SELECT instance_id, execution_id::int AS execution_id, activity_id::int AS activity_id, array_agg(runtime ORDER BY run_id) AS runtimes
             FROM ${activityRunsTable(schema)} GROUP BY 1, 2, 3`,
        )) as { instance_id: string; execution_id: number; activity_id: number; runtimes: number[] }[];
        expect(runs.length).toBe(scheduled.size); // every scheduled activity ran
        const keyOf = (r: { instance_id: string; execution_id: number; activity_id: number }) => `${r.instance_id} ${r.execution_id} ${r.activity_id}`;
        const victimRuns = new Set(runs.filter((r) => r.runtimes.includes(victim)).map(keyOf));
        const unackedAtKill = new Set([...victimRuns].filter((k) => !victimAcked.has(k)));
        const duplicates = runs.filter((r) => r.runtimes.length > 1);
        const dupKeys = duplicates.map(keyOf);
        const rowsPerRuntime = (await sql.unsafe(`SELECT runtime, count(*)::int AS n FROM ${activityRunsTable(schema)} GROUP BY runtime ORDER BY runtime`)) as {
          runtime: number;
          n: number;
        }[];
        console.log(
          `[scale-out] ${N} instances, ${scheduled.size} activities; runtimes ready in ${Math.round(tReady - t0)} ms; ` +
            `runtime-${victim} SIGKILLed at ${Math.round(tKill - tReady)} ms (client had seen ${doneAtKill} done; ` +
            `${inFlightAtKill.size} activities running, ${unackedAtKill.size} started and not acked); ` +
            `all done at ${Math.round(tDone - tReady)} ms (${Math.round(tDone - tKill)} ms after the kill); ` +
            `activities started per runtime ${JSON.stringify(perRuntime)} (activity_runs rows ${JSON.stringify(rowsPerRuntime.map((r) => r.n))}); ` +
            `ran more than once: ${duplicates.length} ${JSON.stringify(dupKeys)}`,
        );
        for (const d of duplicates) {
          // Lost by the killed process, then run exactly once more, by a survivor.
          expect(unackedAtKill.has(keyOf(d)) ? keyOf(d) : `${keyOf(d)} was not in flight in the killed process`).toBe(keyOf(d));
          expect(d.runtimes.length).toBe(2);
          expect(d.runtimes[0]).toBe(victim);
          expect(d.runtimes[1]).not.toBe(victim);
        }
        expect(duplicates.length).toBeLessThanOrEqual(unackedAtKill.size);
        expect(unackedAtKill.size).toBeLessThanOrEqual(2 * WORKER_CONCURRENCY);
      } catch (err) {
        for (const c of children) console.error(c.describe());
        throw err;
      } finally {
        for (const c of children) c.kill("SIGKILL");
        await Promise.all(children.map((c) => c.exited));
        await setup.close();
        await sql.close({ timeout: 1 });
        await PostgresProvider.dropSchema(url, schema);
      }
    },
    180_000,
  );
}
