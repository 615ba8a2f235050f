/**
 * Small pools (poolMax defaults to 4): a runtime on a pool of 1 and of 2 under load, with admin
 * transactions and queries beside it, neither deadlocks nor stalls (nothing holds a connection while
 * it waits for another); and a provider opens at most the connections docs/provider-contract.md
 * §16.1 states: poolMax, and 2 for the listener.
 */
import { afterAll, expect, test } from "bun:test";
import { SQL } from "bun";
import { PostgresProvider } from "../../src/providers/postgres.ts";
import { runStressTest } from "../../src/stress/index.ts";
import { postgresForTests } from "../providers/postgres-server.ts";
import { freshSchema } from "./helpers.ts";

const pg = await postgresForTests();
const schemas: string[] = [];
afterAll(async () => {
  if (pg.url !== null) for (const s of schemas) await PostgresProvider.dropSchema(pg.url, s);
});

for (const poolMax of [1, 2]) {
  test.skipIf(pg.url === null)(`poolMax ${poolMax}: 150 instances at 4/8 with admin transactions running beside them all complete`, async () => {
    const schema = freshSchema();
    schemas.push(schema);
    const p = await PostgresProvider.connect(pg.url!, { schema, poolMax });
    const admin = p.asManagementCapability()!;
    let stop = false;
    let adminCalls = 0;
    // Transactions (sql.begin) and plain queries on the same pool, several at once.
    const beside = [0, 1, 2].map(async (k) => {
      while (!stop) {
        await admin.deleteInstancesAtomic([`nobody-${k}`], true);
        await admin.getQueueDepths();
        await admin.listInstances();
        adminCalls++;
      }
    });
    try {
      const r = await Promise.race([
        runStressTest(`pg pool ${poolMax}`, p, { maxConcurrent: 20, durationSecs: 1, tasksPerInstance: 5, activityDelayMs: 0, orchConcurrency: 4, workerConcurrency: 8, waitTimeoutSecs: 20 }, {
          log: null,
          runtimeOptions: { logLevel: "off" },
          launchLimit: 150,
          drainLimitMs: 20_000,
        }),
        Bun.sleep(25_000).then(() => {
          throw new Error("stalled");
        }),
      ]);
      expect(r.completed).toBe(150);
      expect(adminCalls).toBeGreaterThan(0);
    } finally {
      stop = true;
      await Promise.all(beside);
      await p.close();
    }
  }, 40_000);
}

test.skipIf(pg.url === null)("the provider's connections: poolMax, and 2 for the listener (provider-contract §16.1)", async () => {
  const schema = freshSchema();
  schemas.push(schema);
  const observer = new SQL(pg.url!, { max: 1 });
  try {
    const me = Number((await observer.unsafe("SELECT pg_backend_pid() AS pid"))[0].pid);
    const backends = async (): Promise<number[]> =>
      (await observer.unsafe("SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' AND datname = current_database() AND pid <> $1", [me])).map((r: { pid: number }) => Number(r.pid));
    const before = new Set(await backends());
    const p = await PostgresProvider.connect(pg.url!, { schema, poolMax: 1 });
    try {
      await Promise.all([p.asManagementCapability()!.listInstances(), p.asManagementCapability()!.getQueueDepths()]);
      const mine = (await backends()).filter((pid: number) => !before.has(pid));
      // Documented: 1 pooled + the listener's 2 (its LISTEN, its presence lock and counts). Test
      // files run one after another, so no other provider opens connections meanwhile.
      expect(mine.length).toBeGreaterThanOrEqual(2);
      expect(mine.length).toBeLessThanOrEqual(1 + 2);
    } finally {
      await p.close();
    }
  } finally {
    await observer.close();
  }
}, 30_000);
